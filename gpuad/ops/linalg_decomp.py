"""Linear algebra on (batches of) matrices through ``xp.linalg`` (NumPy on CPU, CuPy on CUDA): solve, inv, det,
slogdet, cholesky with gradients and JVPs; eigh, qr, svd, svdvals, lstsq, pinv and matrix_rank forward, and the vector
and matrix norms of ``gpuad.linalg``.

The VJPs are the textbook ones (Giles 2008, Murray 2016) written in Tensor ops, so they can be differentiated again.
The decompositions without a gradient here raise when an input requires grad instead of silently returning none.
"""
import math

import numpy as np

from . import reduce, return_types
from .core import OUT, Op, apply
from .linalg import tril
from ._lift import one
from .._autograd.grad_mode import mode
from ..tensor import Tensor, wrap
from ..factories import eye
from .elementwise import where
from .shape import stack


def _square(a, who):
    a = one(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"linalg.{who}: expected a square matrix or a batch of them (..., n, n), got shape "
                         f"{tuple(a.shape)}")
    if a.dtype.kind != "f":
        raise TypeError(f"linalg.{who}: expected a floating tensor, got {a.dtype}")
    return a


def _linalg_error(who):
    """Turn NumPy's LinAlgError into PyTorch's message style (a singular matrix, or one not positive definite)."""
    def wrapper(fn):
        def run(xp, *arrays, **params):
            try:
                return fn(xp, *arrays, **params)
            except Exception as exc:  # numpy.linalg.LinAlgError or CuPy's
                if type(exc).__name__ == "LinAlgError":
                    raise RuntimeError(f"linalg.{who}: {exc} (the input is singular or not positive definite)") \
                        from None
                raise
        return run
    return wrapper


def _eye_like(a):
    return eye(a.shape[-1], dtype=a.dtype, device=a.device)


# --- solve ------------------------------------------------------------------------------------------------------------
def _solve_vjp(n, g):
    a, x = n.inputs[0], n.out
    gb = solve(a.mT, g)
    return (-(gb @ x.mT) if n.needs[0] else None), (gb if n.needs[1] else None)


def _solve_jvp(c, ta, tb):
    a, x = c.inputs[0], c.out
    rhs = tb if ta is None else (-(ta @ x) if tb is None else tb - ta @ x)
    return solve(a, rhs)


SOLVE = Op("linalg_solve", _linalg_error("solve")(lambda xp, a, b: xp.linalg.solve(a, b)), _solve_vjp,
           jvp=_solve_jvp, save=((0, OUT), (0,)), promote="binary")


def solve(A, B, *, left=True):
    """X with A X = B (``left=False``: X A = B), for square A (..., n, n) and B (..., n, k) or a vector (..., n);
    batch dims broadcast."""
    a = _square(A, "solve")
    b = one(B)
    if not left:
        return solve(a.mT, b.mT).mT
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))
    if vector:
        b = b.unsqueeze(-1)
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(f"linalg.solve: A of shape {tuple(a.shape)} and B of shape {tuple(B.shape)} do not match "
                         f"(B needs {a.shape[-1]} rows)")
    try:
        batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    except ValueError:
        raise ValueError(f"linalg.solve: batch dims of A {tuple(a.shape)} and B {tuple(B.shape)} do not broadcast") \
            from None
    a = a.expand(batch + tuple(a.shape[-2:]))
    b = b.expand(batch + tuple(b.shape[-2:]))
    x = apply(SOLVE, (a, b))
    return x.squeeze(-1) if vector else x


# --- inverse and determinants ---------------------------------------------------------------------------------------
def _inv_vjp(n, g):
    y = n.out.mT
    return -(y @ g @ y)


INV = Op("linalg_inv", _linalg_error("inv")(lambda xp, a: xp.linalg.inv(a)), _inv_vjp,
         jvp=lambda c, t: -(c.out @ t @ c.out), save=((OUT,),))


def inv(A):
    """The inverse of a square matrix (or each of a batch); a singular matrix raises."""
    return apply(INV, (_square(A, "inv"),))


def _det_weights(a, out):
    """d det(A) / dA = det(A) inv(A)^T (A must be invertible where the gradient is taken)."""
    return out.unsqueeze(-1).unsqueeze(-1) * inv(a).mT


def _det_vjp(n, g):
    return g.unsqueeze(-1).unsqueeze(-1) * _det_weights(n.inputs[0], n.out)


def _det_jvp(c, t):
    return (_det_weights(c.inputs[0], c.out) * t).sum((-2, -1))


DET = Op("linalg_det", lambda xp, a: xp.linalg.det(a), _det_vjp, jvp=_det_jvp, save=((0, OUT),))


def det(A):
    """The determinant. Its gradient, det(A) inv(A)^T, needs A invertible (a singular A raises at backward)."""
    return apply(DET, (_square(A, "det"),))


def _logabsdet_vjp(n, g):
    return g.unsqueeze(-1).unsqueeze(-1) * inv(n.inputs[0]).mT


LOGABSDET = Op("linalg_logabsdet", lambda xp, a: xp.linalg.slogdet(a)[1], _logabsdet_vjp,
               jvp=lambda c, t: (inv(c.inputs[0]).mT * t).sum((-2, -1)), save=((0,),))


def slogdet(A):
    """(sign, logabsdet) with det(A) = sign * exp(logabsdet); logabsdet is differentiable."""
    a = _square(A, "slogdet")
    xp = a._device.backend.xp
    sign = wrap(xp.asarray(xp.linalg.slogdet(a._data)[0], dtype=a.dtype), a._device)
    return return_types.linalg_slogdet(sign, apply(LOGABSDET, (a,)))


def logdet(A):
    """log det(A): NaN where det(A) < 0, -inf where it is 0."""
    sign, logabs = slogdet(A)
    return where(sign < 0, float("nan"), logabs)


# --- Cholesky ---------------------------------------------------------------------------------------------------------
def _phi(x):
    """The lower triangle with the diagonal halved."""
    return tril(x) - 0.5 * (x * _eye_like(x))


def _cholesky_vjp(n, g):
    L = n.out
    linv = inv(L)
    s = linv.mT @ _phi(L.mT @ g) @ linv
    return 0.5 * (s + s.mT)


def _cholesky_jvp(c, t):
    L = c.out
    linv = inv(L)
    t = 0.5 * (t + t.mT)  # the tangent of a symmetric input (the VJP's gradient is symmetric to match)
    return L @ _phi(linv @ t @ linv.mT)


CHOLESKY = Op("linalg_cholesky", _linalg_error("cholesky")(lambda xp, a: xp.linalg.cholesky(a)), _cholesky_vjp,
              jvp=_cholesky_jvp, save=((OUT,),))


def cholesky(A, *, upper=False):
    """L lower triangular with A = L L^T for a symmetric positive definite A (``upper=True``: U = L^T). Only the
    lower triangle of A is read, and the gradient is symmetric, as in PyTorch."""
    L = apply(CHOLESKY, (_square(A, "cholesky"),))
    return L.mT if upper else L


# --- decompositions without gradients here ------------------------------------------------------------------------
def _no_grad(who, *tensors):
    if mode.enabled and any(isinstance(t, Tensor) and t.requires_grad for t in tensors):
        raise NotImplementedError(f"linalg.{who}: gradients through {who} are not implemented in gpuad; call it on "
                                  f"a detached tensor (x.detach()) or under no_grad")


def eigh(A, UPLO="L"):
    """(eigenvalues ascending, eigenvectors as columns) of a symmetric matrix, reading the ``UPLO`` triangle."""
    a = _square(A, "eigh")
    _no_grad("eigh", a)
    w, v = a._device.backend.xp.linalg.eigh(a._data, UPLO=UPLO)
    return return_types.linalg_eigh(wrap(w, a._device), wrap(v, a._device))


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of a symmetric matrix, ascending."""
    return eigh(A, UPLO).eigenvalues


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R; ``mode`` is 'reduced', 'complete' or 'r'."""
    a = one(A)
    if a.ndim < 2:
        raise ValueError(f"linalg.qr: expected a matrix (..., m, n), got shape {tuple(a.shape)}")
    _no_grad("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    xp = a._device.backend.xp
    q, r = xp.linalg.qr(a._data, mode="complete" if mode == "complete" else "reduced")
    if mode == "r":
        return return_types.linalg_qr(wrap(xp.zeros((0,), a.dtype), a._device), wrap(r, a._device))
    return return_types.linalg_qr(wrap(q, a._device), wrap(r, a._device))


def svd(A, full_matrices=True, *, driver=None):
    """(U, S, Vh) with A = U diag(S) Vh, singular values descending."""
    a = one(A)
    if a.ndim < 2:
        raise ValueError(f"linalg.svd: expected a matrix (..., m, n), got shape {tuple(a.shape)}")
    _no_grad("svd", a)
    u, s, vh = a._device.backend.xp.linalg.svd(a._data, full_matrices=full_matrices)
    return return_types.linalg_svd(wrap(u, a._device), wrap(s, a._device), wrap(vh, a._device))


def svdvals(A, *, driver=None):
    """The singular values, descending."""
    a = one(A)
    _no_grad("svdvals", a)
    return wrap(a._device.backend.xp.linalg.svd(a._data, compute_uv=False), a._device)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    """The number of singular values above max(atol, rtol * largest), rtol defaulting to eps * max(m, n)."""
    a = one(A)
    if rtol is None:
        rtol = np.finfo(a.dtype).eps * max(a.shape[-2:]) if atol is None or atol == 0 else 0.0
    backend = a._device.backend
    return wrap(backend.on_device(_rank, backend.xp, a._data, atol, rtol), a._device)


def _rank(xp, a, atol, rtol):
    """How many singular values of each matrix are above max(atol, rtol * the largest), as int64."""
    s = xp.linalg.svd(a, compute_uv=False)
    tol = s[..., :1] * rtol if s.shape[-1] else s[..., :1]
    if atol is not None:
        tol = xp.maximum(tol, atol)
    return xp.asarray((s > tol).sum(-1), dtype=np.int64)  # an array even for one matrix (NumPy gives a scalar)


def lstsq(A, B, rcond=None, *, driver=None):
    """The least-squares solution of A X = B for full-rank A: the normal equations' solution for tall A and the
    minimum-norm solution for wide A (differentiable); ``residuals`` and ``singular_values`` are empty and ``rank``
    is A's rank, as PyTorch's default CPU driver 'gelsy' gives them."""
    a, b = one(A), one(B)
    if a.ndim < 2:
        raise ValueError(f"linalg.lstsq: expected A of shape (..., m, n), got {tuple(a.shape)}")
    vector = b.ndim == a.ndim - 1
    if vector:
        b = b.unsqueeze(-1)
    if b.shape[-2] != a.shape[-2]:
        raise ValueError(f"linalg.lstsq: A {tuple(a.shape)} and B {tuple(B.shape)} need the same number of rows")
    m, n = a.shape[-2:]
    rank = matrix_rank(a.detach())
    if int(rank.min().item() if rank.numel() else min(m, n)) < min(m, n):
        raise RuntimeError("linalg.lstsq: A is rank deficient; gpuad solves only full-rank least squares")
    if m >= n:
        x = solve(a.mT @ a, a.mT @ b)
    else:
        x = a.mT @ solve(a @ a.mT, b)
    if vector:
        x = x.squeeze(-1)
    empty = wrap(a._device.backend.xp.zeros((0,), a.dtype), a._device)
    return return_types.linalg_lstsq(x, empty, rank, empty)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse of a full-rank matrix (differentiable through solve)."""
    a = one(A)
    m, n = a.shape[-2:]
    return solve(a.mT @ a, a.mT) if m >= n else a.mT @ inv(a @ a.mT)


# --- norms ----------------------------------------------------------------------------------------------------------
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002 - PyTorch's names
    """The vector ``ord``-norm over ``dim`` (all elements by default): 2, 1, inf, -inf, 0 (the count of nonzeros)
    or any other number."""
    x = one(x)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"linalg.vector_norm: expected a floating tensor, got {x.dtype}")
    if isinstance(dim, list):
        dim = tuple(dim)
    if ord == 0:
        return (x != 0).sum(dim=dim, keepdim=keepdim).to(x.dtype) if dim is not None else \
            (x != 0).sum().to(x.dtype)
    if isinstance(ord, (int, float)) and not math.isinf(ord) and ord < 0:
        total = (x.abs() ** ord).sum(dim=dim, keepdim=keepdim) if dim is not None else (x.abs() ** ord).sum()
        return total ** (1.0 / ord)
    if not isinstance(ord, (int, float)):
        raise ValueError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    return reduce.norm(x, p=ord, dim=dim, keepdim=keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    """The matrix norm over the two ``dim``: 'fro', 'nuc', 1, -1, 2, -2, inf, -inf."""
    a = one(A)
    if dtype is not None:
        a = a.to(dtype)
    if a.ndim < 2:
        raise ValueError(f"linalg.matrix_norm: expected a matrix (..., m, n), got shape {tuple(a.shape)}")
    d0, d1 = (d % a.ndim for d in dim)
    if d0 == d1:
        raise ValueError(f"linalg.matrix_norm: dim {dim} must name two different dims")
    if ord == "fro":
        return vector_norm(a, 2, (d0, d1), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, other = (d0, d1) if ord in (1, -1) else (d1, d0)
        col = a.abs().sum(summed, keepdim=True)
        out = col.amax(other, keepdim=True) if ord > 0 else col.amin(other, keepdim=True)
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(out.shape) if i not in (d0, d1)))
    if ord in ("nuc", 2, -2):
        moved = a.permute([i for i in range(a.ndim) if i not in (d0, d1)] + [d0, d1])
        s = svdvals(moved)
        out = s.sum(-1) if ord == "nuc" else s[..., 0] if ord == 2 else s[..., -1]
        if keepdim:
            for d in sorted((d0, d1)):
                out = out.unsqueeze(d)
        return out
    raise ValueError(f"linalg.matrix_norm: unsupported ord {ord!r}; use 'fro', 'nuc', 1, -1, 2, -2, inf or -inf")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """linalg.norm: a vector norm for 1-D input or an int ``dim``, a matrix norm for 2-D input or a 2-tuple ``dim``;
    with ``ord=None`` and no ``dim``, the 2-norm of all elements."""
    a = one(A)
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is None or len(dim) == 1:
            return vector_norm(a, 2, dim, keepdim, dtype=dtype)
        return matrix_norm(a, "fro", dim, keepdim, dtype=dtype)
    if dim is None:
        if a.ndim == 1:
            return vector_norm(a, ord, None, keepdim, dtype=dtype)
        if a.ndim == 2:
            return matrix_norm(a, ord, (-2, -1), keepdim, dtype=dtype)
        raise ValueError(f"linalg.norm: with ord={ord!r}, the input must be 1-D or 2-D unless dim is given, got "
                         f"shape {tuple(a.shape)}")
    if len(dim) == 1:
        return vector_norm(a, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(a, ord, dim, keepdim, dtype=dtype)
    raise ValueError(f"linalg.norm: dim must have 1 or 2 entries, got {dim}")


def cross(input, other, *, dim=-1):  # noqa: A002
    """The cross product of 3-vectors along ``dim``."""
    a, b = one(input), one(other)
    if a.shape[dim] != 3 or b.shape[dim] != 3:
        raise ValueError(f"linalg.cross: dim {dim} must have size 3, got shapes {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    a0, a1, a2 = a.unbind(dim)
    b0, b1, b2 = b.unbind(dim)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim=dim)


def vecdot(x, y, *, dim=-1):
    """The dot product along ``dim`` (broadcasting the other dims)."""
    return (one(x) * one(y)).sum(dim)
