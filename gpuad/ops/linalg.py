"""Matrix products: ``matmul`` for 1-D, 2-D and batched N-D operands with broadcast batch dimensions, and ``dot``.

The VJP is the textbook pair g @ B^T and A^T @ g; 1-D operands are treated as a row (left) or a column (right) and the
engine sums the gradient over broadcast batch dimensions.
"""
from .core import Op, apply
from ._lift import one
from ..tensor import Tensor


def _matmul_vjp(n, g):
    a, b = n.inputs  # only what the needed gradients use is saved; the other's rank comes from its edge
    a_nd = a.ndim if a is not None else len(n.next[0][2])
    b_nd = b.ndim if b is not None else len(n.next[1][2])
    if a_nd == 1 and b_nd == 1:
        ga = g * b if n.needs[0] else None
        gb = g * a if n.needs[1] else None
    elif a_nd == 1:  # (k,) @ (..., k, m) -> (..., m)
        ga = (g.unsqueeze(-2) @ b.mT).squeeze(-2) if n.needs[0] else None
        gb = a.unsqueeze(-1) @ g.unsqueeze(-2) if n.needs[1] else None
    elif b_nd == 1:  # (..., n, k) @ (k,) -> (..., n)
        ga = g.unsqueeze(-1) @ b.unsqueeze(-2) if n.needs[0] else None
        gb = (a.mT @ g.unsqueeze(-1)).squeeze(-1) if n.needs[1] else None
    else:
        ga = g @ b.mT if n.needs[0] else None
        gb = a.mT @ g if n.needs[1] else None
    return ga, gb


MATMUL = Op("matmul", lambda xp, a, b: xp.matmul(a, b), _matmul_vjp, save=((1,), (0,)), promote="binary")


def _check_matmul(a, b, who):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{who}: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"{who}: shapes {a.shape} and {b.shape} are not aligned: {k_a} (last dim of the first) "
                         f"!= {k_b} ({'dim 0' if b.ndim == 1 else 'second-to-last dim'} of the second)")
    if a.ndim > 2 or b.ndim > 2:
        import numpy as np
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"{who}: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast") \
                from None


def matmul(a, b):
    """Matrix product with NumPy's rules for 1-D and batched operands."""
    a = one(a) if not isinstance(a, Tensor) else a
    b = one(b) if not isinstance(b, Tensor) else b
    if a._data.ndim != 2 or b._data.ndim != 2 or a._data.shape[1] != b._data.shape[0]:
        _check_matmul(a, b, "matmul")
    return apply(MATMUL, (a, b))


def dot(a, b):
    """Inner product of two 1-D tensors of equal length."""
    a, b = one(a), one(b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"dot: expects two 1-D tensors of equal length, got shapes {a.shape} and {b.shape}")
    return apply(MATMUL, (a, b))


def mm(a, b):
    a, b = one(a), one(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expects 2-D tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def outer(a, b):
    a, b = one(a), one(b)
    return a.unsqueeze(-1) * b
