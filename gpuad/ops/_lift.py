"""Turn op arguments into what ``apply`` takes: tensors stay, Python numbers stay (weakly typed), the rest become tensors."""
import numbers

import numpy as np

from ..tensor import Tensor
from ..factories import tensor


def as_tensor_like(x, like=None):
    """A tensor from ``x`` (list, array, number) on the device of ``like``."""
    return tensor(x, device=None if like is None else like._device)


def operands(a, b):
    """Both operands of a binary op: Python and NumPy scalars stay scalars (as in PyTorch), other data becomes tensors."""
    if not isinstance(a, Tensor):
        a = _scalar_or_tensor(a, b)
    if not isinstance(b, Tensor):
        b = _scalar_or_tensor(b, a)
    return a, b


def _scalar_or_tensor(x, other):
    if isinstance(x, np.generic):  # before the Python types: np.float64 is a float, but NumPy types it strongly
        return x.item()
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, numbers.Number):
        return float(x)
    return as_tensor_like(x, other if isinstance(other, Tensor) else None)


def one(x):
    """A unary op's argument as a tensor."""
    return x if isinstance(x, Tensor) else as_tensor_like(x)
