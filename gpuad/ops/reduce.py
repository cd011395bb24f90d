"""Reductions over ``dim``/``axis`` with ``keepdim``/``keepdims`` (PyTorch's and NumPy's names both work).

max/min give the gradient to every element equal to the result, split equally among ties (as torch.amax does; a
NaN makes the gradient NaN, as in torch.amax); they return values only (like NumPy and torch.amax): use
argmax/argmin for indices.
"""
import builtins
import warnings
import functools

import numpy as np

from .. import _capture
from .core import OUT, Op, apply, apply_unary
from ._lift import one
from ..tensor import Tensor, wrap
from .elementwise import exp, maximum, minimum, where
from .shape import EXPAND, expand, flip
from .._autograd.grad_mode import first_order, grad_batch
from .sorting import extreme_along


def reduce_axes(x, dim, axis, who):
    """Normalise ``dim``/``axis`` to a sorted tuple of non-negative axes, or None for all."""
    if dim is not None and axis is not None:
        raise TypeError(f"{who}: pass either dim or axis, not both")
    d = dim if dim is not None else axis
    if d is None:
        return None
    nd = x.ndim
    d = (d,) if isinstance(d, int) else tuple(d)
    if not d:  # dim=() reduces every dimension, as in PyTorch
        return None
    bound = builtins.max(nd, 1)
    axes = set()
    for a in d:
        if not isinstance(a, int) or not -bound <= a < bound:
            raise IndexError(f"{who}: dim {a} is out of range for a tensor with {nd} dimension(s) (shape {x.shape})")
        axes.add(a % bound)
    return None if nd == 0 else tuple(sorted(axes))


def _keep(keepdim, keepdims):
    return bool(keepdim or keepdims)


def expand_back(g, shape, axes, keepdims, batch=0):
    """Broadcast a reduced gradient (with ``batch`` leading batch dims) back to the input's shape (a view)."""
    if batch:
        if not keepdims:
            g = g.reshape(g.shape[:batch] + tuple(1 if axes is None or i in axes else s for i, s in enumerate(shape)))
        return expand(g, g.shape[:batch] + tuple(shape))
    if not keepdims and axes is not None:  # a full reduction's 0-d gradient broadcasts as it is
        g = g.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return g if g._data.shape == shape else apply_unary(EXPAND, g, {"shape": shape})


def _wide(forward):
    """Run a reduction's forward in float32 for float16 input (NumPy would accumulate in float16 and overflow)."""
    def run(xp, x, **params):
        if x.dtype is _FLOAT16:
            return forward(xp, x.astype(np.float32), **params).astype(_FLOAT16)
        return forward(xp, x, **params)
    return run


_FLOAT16 = np.dtype(np.float16)


def trailing_axes(axes, ndim):
    """The reduced axes counted from the end, so a rule applies unchanged to tangents with leading batch dims."""
    return tuple(range(-ndim, 0)) if axes is None else tuple(a - ndim for a in axes)


def _trailing_sum(t, c, mean=False):
    """Sum (or mean) of a tangent over the reduced axes counted from the end; a 0-d input reduces nothing."""
    axes = trailing_axes(c.params["axes"], c.inputs[0].ndim)
    if not axes:
        return t
    return t.mean(axes, c.params["keepdims"]) if mean else t.sum(axes, c.params["keepdims"])


def _reduced_jvp(weights):
    """JVP of a reduction whose output is the sum over the reduced axes of tangent * weights(ctx)."""
    return lambda c, t: _trailing_sum(t * weights(c), c)


def _count(shape, axes):
    n = 1
    for i, s in enumerate(shape):
        if axes is None or i in axes:
            n *= s
    return n


_WHOLE = {"axes": None, "keepdims": False}  # shared, never mutated: the params of a full reduction


def _reduction(name, forward, vjp, save=(), promote=None, jvp=None):
    op = Op(name, forward, vjp, save=save, promote=promote, jvp=jvp)

    def fn(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
        if x.__class__ is not Tensor:
            x = one(x)
        if dim is None and axis is None and not keepdim and not keepdims:
            return apply_unary(op, x, _WHOLE)
        return apply_unary(op, x, {"axes": reduce_axes(x, dim, axis, name), "keepdims": _keep(keepdim, keepdims)})
    fn.__name__ = name
    return op, fn


def _sum_vjp(n, g):
    return expand_back(g, n.next[0][2], n.params["axes"], n.params["keepdims"], grad_batch())


def _mean_vjp(n, g):
    shape = n.next[0][2]
    return expand_back(g / _count(shape, n.params["axes"]), shape, n.params["axes"], n.params["keepdims"],
                       grad_batch())


def _extreme_share(n):
    """1/k at each of the k elements equal to the max (or min), 0 elsewhere: how the derivative is split at ties."""
    (x,) = n.inputs
    axes, keepdims = n.params["axes"], n.params["keepdims"]
    hit = (x == expand_back(n.out, x.shape, axes, keepdims)).to(x.dtype)
    return hit / hit.sum(dim=axes, keepdim=True)


def _extreme_vjp(n, g):
    x = n.inputs[0]
    return expand_back(g, x.shape, n.params["axes"], n.params["keepdims"], grad_batch()) * _extreme_share(n)


def _logsumexp_forward(xp, x, axes, keepdims):
    m = x.max(axis=axes, keepdims=True) if x.size else xp.zeros((1,) * x.ndim, x.dtype)
    m = xp.where(xp.isfinite(m), m, 0)  # NOTE: rows of -inf (or +inf) must not give inf - inf = nan
    out = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
    return out if keepdims else out.reshape(tuple(s for i, s in enumerate(out.shape)
                                                  if axes is not None and i not in axes))


def _logsumexp_weights(n):
    (x,) = n.inputs
    return exp(x - expand_back(n.out, x.shape, n.params["axes"], n.params["keepdims"]))


def _logsumexp_vjp(n, g):
    x = n.inputs[0]
    return expand_back(g, x.shape, n.params["axes"], n.params["keepdims"], grad_batch()) * _logsumexp_weights(n)


def _dof(shape, axes, correction):
    """N - correction, warning (as PyTorch does) where it leaves no degrees of freedom: the variance is then NaN or
    inf (a division by max(0, N - correction)), never an error."""
    dof = _count(shape, axes) - correction
    if dof <= 0:
        warnings.warn("var(): degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "elements reduced; the result is NaN or inf", RuntimeWarning, stacklevel=4)
    return builtins.max(dof, 0)


def _var_forward(xp, x, axes, keepdims, correction):
    dof = _dof(x.shape, axes, correction)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = x.mean(axis=axes, keepdims=True) if x.size else xp.full((1,) * x.ndim, np.nan, x.dtype)
        d = x - mean
        return (d * d).sum(axis=axes, keepdims=keepdims) / x.dtype.type(dof)


def _var_weights(n):
    (x,) = n.inputs
    axes, correction = n.params["axes"], n.params["correction"]
    dof = builtins.max(_count(x.shape, axes) - correction, 0)
    return (x - x.mean(dim=axes, keepdim=True)) * (2.0 / dof if dof else float("inf"))


def _var_vjp(n, g):
    x = n.inputs[0]
    return expand_back(g, x.shape, n.params["axes"], n.params["keepdims"], grad_batch()) * _var_weights(n)


def _norm_weights(n):
    (x,) = n.inputs
    out = expand_back(n.out, x.shape, n.params["axes"], n.params["keepdims"])
    # NOTE: the gradient of ||x|| at x = 0 is taken as 0 (a subgradient), not 0/0
    return where(out == 0, 0.0, x / where(out == 0, 1.0, out))


def _norm_vjp(n, g):
    x = n.inputs[0]
    return expand_back(g, x.shape, n.params["axes"], n.params["keepdims"], grad_batch()) * _norm_weights(n)


SUM, sum = _reduction("sum", _wide(lambda xp, x, axes, keepdims: x.sum(axis=axes, keepdims=keepdims)), _sum_vjp,  # noqa: A001
                      jvp=lambda c, t: _trailing_sum(t, c))
MEAN, mean = _reduction("mean", _wide(lambda xp, x, axes, keepdims: x.mean(axis=axes, keepdims=keepdims)), _mean_vjp,
                        promote="float",
                        jvp=lambda c, t: _trailing_sum(t, c, mean=True))
MAX, amax = _reduction("max", lambda xp, x, axes, keepdims: x.max(axis=axes, keepdims=keepdims), _extreme_vjp,
                       save=((0, OUT),), jvp=_reduced_jvp(_extreme_share))
MIN, amin = _reduction("min", lambda xp, x, axes, keepdims: x.min(axis=axes, keepdims=keepdims), _extreme_vjp,
                       save=((0, OUT),), jvp=_reduced_jvp(_extreme_share))
amax.__name__, amin.__name__ = "amax", "amin"


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001,A002 - PyTorch's names
    """max(x): the largest element (ties share the gradient). max(x, dim, keepdim=False): the named tuple
    (values, indices) along dim, as PyTorch returns it. max(a, b) with a tensor b: the elementwise maximum."""
    return _max_or_min(input, dim, keepdim, axis, keepdims, "max")


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001,A002
    """min(x), min(x, dim, keepdim=False) -> (values, indices), or min(a, b) elementwise; as max."""
    return _max_or_min(input, dim, keepdim, axis, keepdims, "min")


def _max_or_min(x, dim, keepdim, axis, keepdims, who):
    if isinstance(dim, Tensor):
        return (maximum if who == "max" else minimum)(x, dim)
    if dim is None and axis is None:
        return (amax if who == "max" else amin)(x)
    return extreme_along(x, dim if axis is None else axis, _keep(keepdim, keepdims), who)


LOGSUMEXP, logsumexp = _reduction("logsumexp", _wide(_logsumexp_forward), _logsumexp_vjp, save=((0, OUT),), promote="float",
                                  jvp=_reduced_jvp(_logsumexp_weights))
NORM = Op("norm", _wide(lambda xp, x, axes, keepdims: xp.sqrt((x * x).sum(axis=axes, keepdims=keepdims))), _norm_vjp,
          save=((0, OUT),), promote="float", jvp=_reduced_jvp(_norm_weights))
VAR = Op("var", _wide(_var_forward), _var_vjp, save=((0,),), promote="float", jvp=_reduced_jvp(_var_weights))


def _correction(correction, unbiased, ddof):
    if ddof is not None:
        return ddof
    if correction is not None:
        return correction
    return 1 if unbiased in (None, True) else 0


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False, ddof=None):
    """Variance with PyTorch's default ``correction=1`` (Bessel); ``correction=0`` or ``ddof=0`` for NumPy's."""
    x = one(x)
    return apply(VAR, (x,), {"axes": reduce_axes(x, dim, axis, "var"), "keepdims": _keep(keepdim, keepdims),
                             "correction": _correction(correction, unbiased, ddof)})


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=False, ddof=None):
    """Standard deviation, sqrt(var); same arguments as var. Where every element is equal the gradient is 0, as in
    PyTorch (sqrt's slope is infinite at 0)."""
    v = var(x, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims, ddof=ddof)
    zero = v == 0
    return where(zero, 0.0, where(zero, 1.0, v).sqrt())


def norm(x, p=2, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Vector p-norm over ``dim`` (all elements by default): p = 2 ('fro'), 1, inf, -inf or any other number."""
    x = one(x)
    axes = reduce_axes(x, dim, axis, "norm")
    keepdims = _keep(keepdim, keepdims)
    if p in (2, "fro", None):
        return apply(NORM, (x,), {"axes": axes, "keepdims": keepdims})
    if p == 1:
        return x.abs().sum(axes, keepdims)
    if p == float("inf"):
        return x.abs().amax(axes, keepdims)
    if p == float("-inf"):
        return x.abs().amin(axes, keepdims)
    if isinstance(p, (int, float)) and p > 0:
        a = x.abs()
        nonzero = a != 0  # NOTE: |x|**p has an infinite slope at 0 for p < 1: its gradient there is taken as 0
        total = where(nonzero, where(nonzero, a, 1.0) ** p, 0.0).sum(axes, keepdims)
        zero = total == 0  # NOTE: s**(1/p) has an infinite slope at 0; take the gradient there as 0, like p = 2
        return where(zero, 0.0, where(zero, 1.0, total) ** (1.0 / p))
    raise ValueError(f"norm: unsupported p={p!r}; use 2, 'fro', 1, inf, -inf or a positive number")


def _cumsum_vjp(n, g):
    dim = n.params["dim"]
    return flip(cumsum(flip(g, dim), dim), dim)


CUMSUM = Op("cumsum", _wide(lambda xp, x, dim: x.cumsum(axis=dim)), _cumsum_vjp,
            jvp=lambda c, t: cumsum(t, c.params["dim"]), promote=None)


def cumsum(x, dim):
    """Running sums along ``dim``; its VJP is the reversed running sum of the gradient."""
    x = one(x)
    if x.ndim == 0:
        return x.reshape(1).cumsum(0).reshape(())
    nd = x.ndim
    if not -nd <= dim < nd:
        raise IndexError(f"cumsum: dim {dim} is out of range for a tensor of shape {x.shape}")
    return apply_unary(CUMSUM, x, {"dim": dim % nd - nd})  # counted from the end: batch dims stay in front


def _softmax_forward(xp, x, dim):
    if not x.size:  # an empty dimension (or an empty tensor): nothing to normalise
        return x.copy()
    z = x - x.max(axis=dim, keepdims=True)
    e = xp.exp(z)
    return e / e.sum(axis=dim, keepdims=True)


def _log_softmax_forward(xp, x, dim):
    if not x.size:
        return x.copy()
    z = x - x.max(axis=dim, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=dim, keepdims=True))


def _softmax_vjp(n, g):
    out, dim = n.out, n.params["dim"] - len(n.next[0][2])
    fused_grad = _fused_softmax_grad(n, g, out, log=False)
    if fused_grad is not None:
        return fused_grad
    return out * (g - (g * out).sum(dim, True))


def _log_softmax_vjp(n, g):
    out, dim = n.out, n.params["dim"] - len(n.next[0][2])
    fused_grad = _fused_softmax_grad(n, g, out, log=True)
    if fused_grad is not None:
        return fused_grad
    return g - exp(out) * g.sum(dim, True)


def _fused_softmax_grad(n, g, out, log):
    """The input gradient from the backend's fused rule (one launch on CUDA), or None: in a first-order backward
    only, the fused rule works on raw arrays."""
    backend = n.device._backend or n.device.backend
    if not backend.fused_grads or not first_order():
        return None
    grad = backend.softmax_grad(g._data, out._data, log, n.params["dim"])
    if grad is None:
        return None
    _capture.called(functools.partial(backend.softmax_grad, log=log, dim=n.params["dim"]), (g, out), grad)
    return wrap(grad, n.device)


def _softmax_jvp(c, t):
    out, dim = c.out, c.params["dim"] - c.inputs[0].ndim
    return out * (t - (t * out).sum(dim, True))


def _log_softmax_jvp(c, t):
    out, dim = c.out, c.params["dim"] - c.inputs[0].ndim
    return t - (exp(out) * t).sum(dim, True)


SOFTMAX = Op("softmax", _wide(_softmax_forward), _softmax_vjp, jvp=_softmax_jvp, save=((OUT,),), promote="float",
             cuda="softmax")
LOG_SOFTMAX = Op("log_softmax", _wide(_log_softmax_forward), _log_softmax_vjp, jvp=_log_softmax_jvp, save=((OUT,),),
                 promote="float", cuda="log_softmax")


def _one_dim(x, dim, axis, who):
    if dim is None and axis is None:
        dim = -1
    axes = reduce_axes(x, dim, axis, who)
    if axes is not None and len(axes) != 1:
        raise ValueError(f"{who}: expected one dim, got {dim if dim is not None else axis}")
    return axes[0] if axes else None


def softmax(x, dim=-1, *, axis=None):
    """exp(x) / sum(exp(x)) along ``dim`` (default: the last), computed stably."""
    x = one(x)
    if x.ndim == 0:
        return softmax(x.reshape(1)).reshape(())
    return apply(SOFTMAX, (x,), {"dim": _one_dim(x, None if axis is not None else dim, axis, "softmax")})


def log_softmax(x, dim=-1, *, axis=None):
    """x - logsumexp(x) along ``dim`` (default: the last), computed stably."""
    x = one(x)
    if x.ndim == 0:
        return log_softmax(x.reshape(1)).reshape(())
    return apply(LOG_SOFTMAX, (x,), {"dim": _one_dim(x, None if axis is not None else dim, axis, "log_softmax")})


def _index_reduction(name, method):
    op = Op(name, lambda xp, x, axis, keepdims: getattr(x, method)(axis=axis, keepdims=keepdims))

    def fn(x, dim=None, keepdim=False, *, axis=None, keepdims=False):
        x = one(x)
        axes = reduce_axes(x, dim, axis, name)
        if axes is not None and len(axes) != 1:
            raise ValueError(f"{name}: expected one dim")
        return apply(op, (x,), {"axis": None if axes is None else axes[0], "keepdims": _keep(keepdim, keepdims)})
    fn.__name__ = name
    return fn


argmax = _index_reduction("argmax", "argmax")
argmin = _index_reduction("argmin", "argmin")
_ALL = Op("all", lambda xp, x, axes, keepdims: x.all(axis=axes, keepdims=keepdims))
_ANY = Op("any", lambda xp, x, axes, keepdims: x.any(axis=axes, keepdims=keepdims))


def all(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """True where every element (along ``dim``) is nonzero."""
    x = one(x)
    return apply(_ALL, (x,), {"axes": reduce_axes(x, dim, axis, "all"), "keepdims": _keep(keepdim, keepdims)})


def any(x, dim=None, keepdim=False, *, axis=None, keepdims=False):  # noqa: A001
    """True where some element (along ``dim``) is nonzero."""
    x = one(x)
    return apply(_ANY, (x,), {"axes": reduce_axes(x, dim, axis, "any"), "keepdims": _keep(keepdim, keepdims)})


