"""``out=`` for the functions that take it in PyTorch: the result is written into the given tensor (resized if its
shape differs, as PyTorch does, with a warning unless it was empty), and, as in PyTorch, an ``out=`` call whose
result would need a gradient raises, because writing into ``out`` cannot be differentiated."""
import functools
import warnings

import numpy as np

from .._autograd.grad_mode import mode
from ..tensor import Tensor


def write_out(out, result, who):
    """Copy ``result`` (a tensor, or a tuple of them for ops with several outputs) into ``out`` and return it."""
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{who}(): out= must be a tuple of {len(result)} tensors")
        written = tuple(write_out(o, r, who) for o, r in zip(out, result))
        return type(result)(*written) if hasattr(result, "_fields") else written
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}(): argument 'out' must be a Tensor, not {type(out).__name__}")
    if not isinstance(result, Tensor):
        raise TypeError(f"{who}(): out= is not supported here (the result is a {type(result).__name__})")
    if mode.enabled and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{who}(): functions with out=... arguments don't support automatic differentiation, but "
                           f"one of the arguments requires grad.")
    if out._device is not result._device:
        raise RuntimeError(f"{who}(): out= is on {out.device} but the result is on {result.device}")
    if result.dtype != out.dtype and not np.can_cast(result.dtype, out.dtype, "same_kind"):
        raise RuntimeError(f"{who}(): result type {result.dtype} can't be cast to the desired output type "
                           f"{out.dtype}")
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(f"{who}(): an output with one or more elements was resized since it had shape "
                          f"{tuple(out.shape)}, which does not match the required output shape "
                          f"{tuple(result.shape)}", UserWarning, stacklevel=3)
        out._data = out._device.backend.xp.empty(result.shape, out.dtype)
    out._device.backend.write(out._data, result._data)
    out._version_counter.value += 1
    return out


def with_out(fn, who=None):
    """``fn`` accepting ``out=`` as a keyword (the wrapped function never sees it)."""
    name = who or fn.__name__

    @functools.wraps(fn)
    def wrapper(*args, out=None, **kwargs):
        result = fn(*args, **kwargs)
        return result if out is None else write_out(out, result, name)
    wrapper.__wrapped_for_out__ = fn
    return wrapper
