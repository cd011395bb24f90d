"""Matrix products: ``matmul`` for 1-D, 2-D and batched N-D operands with broadcast batch dimensions, and ``dot``.

The VJP is the textbook pair g @ B^T and A^T @ g; 1-D operands are treated as a row (left) or a column (right) and the
engine sums the gradient over broadcast batch dimensions.
"""
import numpy as np

from .core import Op, align_batched, apply
from ._lift import one
from .reduce import norm
from ..factories import eye
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
    """The outer product of two 1-D tensors: (n,) and (m,) give (n, m)."""
    a, b = one(a), one(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return a.unsqueeze(-1) * b


# --- the matmul family people type --------------------------------------------------------------------------------
def _need_dims(who, **tensors):
    for name, (t, nd) in tensors.items():
        if t.ndim != nd:
            raise ValueError(f"{who}: {name} must be {nd}-D, got shape {tuple(t.shape)}")


def bmm(input, mat2):  # noqa: A002 - PyTorch's argument names
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting, as in PyTorch)."""
    a, b = one(input), one(mat2)
    _need_dims("bmm", input=(a, 3), mat2=(b, 3))
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm: shapes {tuple(a.shape)} and {tuple(b.shape)} do not match: expected (b, n, m) and "
                         f"(b, m, p)")
    return matmul(a, b)


def mv(input, vec):  # noqa: A002
    """Matrix (n, m) times vector (m,)."""
    a, v = one(input), one(vec)
    _need_dims("mv", input=(a, 2), vec=(v, 1))
    return matmul(a, v)


def _add_scaled(who, input, product, beta, alpha):
    """beta * input + alpha * product; with beta == 0 the input is ignored (NaN in it does not propagate)."""
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:
        return scaled
    return (input if beta == 1 else input * beta) + scaled


def _broadcast(who, input, product):
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(product.shape))
    except ValueError:
        raise ValueError(f"{who}: input of shape {tuple(input.shape)} does not broadcast with the product of shape "
                         f"{tuple(product.shape)}") from None
    if shape != tuple(product.shape):
        raise ValueError(f"{who}: input of shape {tuple(input.shape)} must broadcast to the product's shape "
                         f"{tuple(product.shape)}")
    return shape


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2) for 2-D mat1 and mat2."""
    m1, m2 = one(mat1), one(mat2)
    _need_dims("addmm", mat1=(m1, 2), mat2=(m2, 2))
    product = matmul(m1, m2)
    input = one(input)
    _broadcast("addmm", input, product)
    return _add_scaled("addmm", input, product, beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (mat @ vec)."""
    product = mv(mat, vec)
    input = one(input)
    _broadcast("addmv", input, product)
    return _add_scaled("addmv", input, product, beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * bmm(batch1, batch2)."""
    product = bmm(batch1, batch2)
    input = one(input)
    _broadcast("baddbmm", input, product)
    return _add_scaled("baddbmm", input, product, beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * sum_b batch1[b] @ batch2[b]."""
    product = bmm(batch1, batch2).sum(0)
    input = one(input)
    _broadcast("addbmm", input, product)
    return _add_scaled("addbmm", input, product, beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2)."""
    v1, v2 = one(vec1), one(vec2)
    _need_dims("addr", vec1=(v1, 1), vec2=(v2, 1))
    product = outer(v1, v2)
    input = one(input)
    _broadcast("addr", input, product)
    return _add_scaled("addr", input, product, beta, alpha)


def inner(input, other):  # noqa: A002
    """Sum over the last dimension of both (a scalar for 1-D tensors)."""
    a, b = one(input), one(other)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return matmul(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]).mT).reshape(
        tuple(a.shape[:-1]) + tuple(b.shape[:-1]))


def multi_dot(tensors):
    """A chain of matrix products, left to right (the first may be 1-D, as may the last)."""
    tensors = [one(t) for t in tensors]
    if len(tensors) < 2:
        raise ValueError(f"multi_dot: expected at least 2 tensors, got {len(tensors)}")
    result = tensors[0]
    for t in tensors[1:]:
        result = matmul(result, t)
    return result


def matrix_power(input, n):  # noqa: A002
    """A @ A @ ... (n times); n = 0 gives the identity, negative n powers of the inverse."""
    a = one(input)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"matrix_power: expected square matrices, got shape {tuple(a.shape)}")
    if n < 0:
        from .linalg_decomp import inv  # lazy: ops.linalg_decomp imports this module
        a, n = inv(a), -n
    if n == 0:
        return eye(a.shape[-1], dtype=a.dtype, device=a.device).expand(tuple(a.shape))
    result, base = None, a
    while n:  # square and multiply
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


# --- triangles and diagonals ----------------------------------------------------------------------------------------
TRIL = Op("tril", lambda xp, x, k: xp.tril(x, k), lambda n, g: apply(TRIL, (g,), n.params),
          jvp=lambda c, t: apply(TRIL, (t,), c.params))
TRIU = Op("triu", lambda xp, x, k: xp.triu(x, k), lambda n, g: apply(TRIU, (g,), n.params),
          jvp=lambda c, t: apply(TRIU, (t,), c.params))


def tril(input, diagonal=0):  # noqa: A002
    """The lower triangle of the last two dims (at and below ``diagonal``); the rest zero."""
    x = one(input)
    if x.ndim < 2:
        raise ValueError(f"tril: expected a tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    return apply(TRIL, (x,), {"k": int(diagonal)})


def triu(input, diagonal=0):  # noqa: A002
    """The upper triangle of the last two dims (at and above ``diagonal``); the rest zero."""
    x = one(input)
    if x.ndim < 2:
        raise ValueError(f"triu: expected a tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    return apply(TRIU, (x,), {"k": int(diagonal)})


def _diagonal_of(xp, x, offset, dim1, dim2):
    """The ``offset`` diagonal of ``x`` over (dim1, dim2) as a strided view, the diagonal last (as PyTorch has it);
    writable where ``x`` is. Negative dims count from the end, so leading batch dims pass through."""
    nd = x.ndim
    a1, a2 = dim1 % nd, dim2 % nd
    length = max(0, min(x.shape[a1] + min(offset, 0), x.shape[a2] - max(offset, 0)))
    corner = [slice(None)] * nd
    corner[a1] = slice(-min(offset, 0), None)
    corner[a2] = slice(max(offset, 0), None)
    start = x[tuple(corner)]
    rest = [i for i in range(nd) if i not in (a1, a2)]
    shape = tuple(x.shape[i] for i in rest) + (length,)
    strides = tuple(start.strides[i] for i in rest) + (start.strides[a1] + start.strides[a2],)
    return _as_strided(start, shape, strides)


def _as_strided(x, shape, strides):
    """NumPy's or CuPy's as_strided, whichever owns ``x``."""
    if type(x).__module__.startswith("cupy"):
        from cupy.lib.stride_tricks import as_strided  # lazy: import gpuad never imports CuPy
    else:
        from numpy.lib.stride_tricks import as_strided  # lazy, as its CuPy twin above
    return as_strided(x, shape, strides)


def _diagonal_scatter_forward(xp, g, shape, offset, dim1, dim2):
    out = xp.zeros(tuple(g.shape[:g.ndim + 1 - len(shape)]) + tuple(shape), g.dtype)  # with g's batch dims
    _diagonal_of(xp, out, offset, dim1, dim2)[...] = g
    return out


DIAGONAL = Op("diagonal", lambda xp, x, offset, dim1, dim2: _diagonal_of(xp, x, offset, dim1, dim2),
              lambda n, g: apply(DIAGONAL_SCATTER, (g,), dict(n.params, shape=tuple(n.next[0][2]))),
              jvp=lambda c, t: apply(DIAGONAL, (t,), c.params), view=True)
DIAGONAL_SCATTER = Op("diagonal_scatter", _diagonal_scatter_forward,
                      lambda n, g: apply(DIAGONAL, (g,), {k: n.params[k] for k in ("offset", "dim1", "dim2")}),
                      jvp=lambda c, t: apply(DIAGONAL_SCATTER, (t,), c.params))


def diagonal(input, offset=0, dim1=0, dim2=1):  # noqa: A002
    """The ``offset`` diagonal of the matrices spanned by ``dim1`` and ``dim2``, as the last dimension: a view, as
    in PyTorch (writing into it changes ``input``)."""
    x = one(input)
    nd = x.ndim
    if nd < 2:
        raise ValueError(f"diagonal: expected at least 2 dimensions, got shape {tuple(x.shape)}")
    if not -nd <= dim1 < nd or not -nd <= dim2 < nd or dim1 % nd == dim2 % nd:
        raise ValueError(f"diagonal: dim1 {dim1} and dim2 {dim2} must be two different dims of shape "
                         f"{tuple(x.shape)}")
    return apply(DIAGONAL, (x,), {"offset": int(offset), "dim1": dim1 % nd - nd, "dim2": dim2 % nd - nd})


def diag_embed(input, offset=0, dim1=-2, dim2=-1):  # noqa: A002
    """Matrices with the last dimension of ``input`` on their ``offset`` diagonal over (dim1, dim2) of the result."""
    x = one(input)
    nd = x.ndim + 1
    if not -nd <= dim1 < nd or not -nd <= dim2 < nd or dim1 % nd == dim2 % nd:
        raise ValueError(f"diag_embed: dim1 {dim1} and dim2 {dim2} must be two different dims of the result")
    a1, a2 = dim1 % nd, dim2 % nd
    n = x.shape[-1] + abs(offset) if x.ndim else 1 + abs(offset)
    rest = list(x.shape[:-1])
    shape = []
    for i in range(nd):
        shape.append(n if i in (a1, a2) else rest.pop(0))
    return apply(DIAGONAL_SCATTER, (x if x.ndim else x.reshape(1),),
                 {"shape": tuple(shape), "offset": int(offset), "dim1": a1 - nd, "dim2": a2 - nd})


def diag(input, diagonal=0):  # noqa: A002
    """A 1-D tensor placed on the ``diagonal`` of a square matrix, or the ``diagonal`` of a 2-D tensor."""
    x = one(input)
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(x.shape)}")


def trace(input):  # noqa: A002
    """The sum of the main diagonal of a 2-D tensor."""
    x = one(input)
    if x.ndim != 2:
        raise ValueError(f"trace: expected a 2-D tensor, got shape {tuple(x.shape)}")
    return diagonal(x).sum()


# --- distances ------------------------------------------------------------------------------------------------------
def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distance between each row of x1 (..., P, M) and each row of x2 (..., R, M): (..., P, R). Where two
    rows coincide the gradient is 0, as in PyTorch."""
    a, b = one(x1), one(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cdist: expected (..., P, M) and (..., R, M) with one M, got shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if p < 0:
        raise ValueError(f"cdist: p must be non-negative, got {p}")
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)
    if p == 0:
        return (diff != 0).sum(-1).to(diff.dtype)
    return norm(diff, p=p, dim=-1)
