"""Argument normalising shared by tensor methods, ops and factories: shapes and dims as PyTorch accepts them.

A leaf module: it imports nothing from gpuad, so any layer can use it.
"""
import numpy as np


def shape_arg(args, who, size=None):
    """Shapes as varargs, one tuple/list, or ``size=`` (PyTorch habits)."""
    if size is not None:
        if args:
            raise TypeError(f"{who}: give the shape either positionally or as size=, not both")
        args = (size,)
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    try:
        return tuple(int(a) for a in args)
    except TypeError:
        raise TypeError(f"{who}: a shape must be integers, got {args!r}") from None


def dim_arg(x, dim, who):
    """``dim`` as a non-negative index into ``x``'s dims (a 0-d tensor takes dim 0 or -1, as in PyTorch)."""
    nd = max(x.ndim, 1)
    if not isinstance(dim, (int, np.integer)) or not -nd <= dim < nd:
        raise IndexError(f"{who}: dim {dim} is out of range for a tensor of shape {tuple(x.shape)} "
                         f"(expected a dim in [{-nd}, {nd - 1}])")
    return int(dim) % nd
