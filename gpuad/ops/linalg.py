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
    if a_nd == 1 and b_nd == 1:  # g is 0-d (or a batch of scalars): one more dim lines it up with the vectors
        ga = g.unsqueeze(-1) * b if n.needs[0] else None
        gb = g.unsqueeze(-1) * a if n.needs[1] else None
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


def _matmul_jvp(c, ta, tb):
    """ta @ b + a @ tb, written so that tangents with one leading batch dimension work too."""
    a, b = c.inputs
    if c.batch and a.ndim >= 2 and b.ndim >= 2:  # put the batch dim in front of both operands' own batch dims
        from .core import align_batched
        nd = max(a.ndim, b.ndim)
        ta = None if ta is None else align_batched(ta, a.ndim, nd)
        tb = None if tb is None else align_batched(tb, b.ndim, nd)
    out = None
    if ta is not None:
        if a.ndim == 1 and ta.ndim == 2 and b.ndim >= 2:  # a batch of row vectors against b's matrices
            ta = ta.reshape((ta.shape[0],) + (1,) * (b.ndim - 2) + (1, ta.shape[1]))
            out = (ta @ b).squeeze(-2)
        else:
            out = ta @ b
    if tb is not None:
        if b.ndim == 1 and tb.ndim == 2:  # a batch of vectors on the right
            if a.ndim == 1:
                term = tb @ a
            else:
                tb = tb.reshape((tb.shape[0],) + (1,) * (a.ndim - 2) + (tb.shape[1], 1))
                term = (a @ tb).squeeze(-1)
        else:
            term = a @ tb
        out = term if out is None else out + term
    return out


MATMUL = Op("matmul", lambda xp, a, b: xp.matmul(a, b), _matmul_vjp, save=((1,), (0,)), promote="binary",
            jvp=_matmul_jvp)


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
