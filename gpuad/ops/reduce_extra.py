"""More reductions and scans: prod, cumprod, logcumsumexp, std_mean/var_mean, aminmax, nansum/nanmean, quantile.

cumprod's VJP is exact at zeros (the O(n) formula where a row has none, the O(n^2) one where it has), and prod is the
last element of cumprod along its dim, so its gradient is exact at zeros too, as PyTorch's is. logcumsumexp's VJP and
JVP are themselves log-cumsum-exps of the signed parts of the (co)tangent, so nothing overflows.
"""
import numpy as np

from . import return_types
from .core import OUT, Op, apply
from ._lift import one
from .._args import dim_arg
from .elementwise import exp, log, where
from .reduce import amax, amin, mean, std, var
from .shape import flip, stack
from .shape_extra import movedim
from .sorting import _running, sort
from ..tensor import Tensor, wrap
from ..dtypes import as_dtype
from ..factories import eye, ones
from .indexing import gather


def _integer_result(x, dtype):
    """PyTorch's dtype of a product or a cumulative op: ``dtype`` if given, integers and bools widen to int64."""
    if dtype is not None:
        return x.to(as_dtype(dtype))
    return x.long() if x.dtype.kind in "biu" else x


# --- cumprod and prod ---------------------------------------------------------------------------------------------
def _revcumsum(t, dim):
    return flip(flip(t, dim).cumsum(dim), dim)


def _cumprod_vjp(n, g):
    (x,) = n.inputs
    dim, y = n.params["dim"], n.out
    if not bool((x == 0).any()):
        return _revcumsum(g * y, dim) / x
    # grad_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k (dim counts from the end, so batch dims need nothing)
    others, upper = _products_of_others(x, dim)
    return movedim((where(upper, others, 0.0) * movedim(g, dim, -1).unsqueeze(-2)).sum(-1), -1, dim)


def _products_of_others(x, dim):
    """(prod_{k <= j, k != i} x_k as an (..., i, j) tensor, the mask j >= i) along ``dim``."""
    k = x.shape[dim]
    ident = eye(k, dtype=x.dtype, device=x.device)
    others = where(ident > 0, 1.0, movedim(x, dim, -1).unsqueeze(-2)).cumprod(-1)
    return others, ident.cumsum(-1) != 0


def _cumprod_jvp(c, t):
    (x,) = c.inputs
    dim, y = c.params["dim"], c.out
    if not bool((x == 0).any()):
        return y * (t / x).cumsum(dim)
    # the tangent of y_j is sum_{i <= j} t_i prod_{k <= j, k != i} x_k
    others, upper = _products_of_others(x, dim)
    return movedim((where(upper, others, 0.0) * movedim(t, dim, -1).unsqueeze(-1)).sum(-2), -1, dim)


CUMPROD = Op("cumprod", lambda xp, x, dim: x.cumprod(axis=dim), _cumprod_vjp, jvp=_cumprod_jvp, save=((0, OUT),))


def cumprod(input, dim, *, dtype=None):  # noqa: A002 - PyTorch's argument names
    """Running products along ``dim``; integers give int64."""
    x = _integer_result(one(input), dtype)
    if x.ndim == 0:
        return x.reshape(1).cumprod(0).reshape(())
    d = dim_arg(x, dim, "cumprod")
    return apply(CUMPROD, (x,), {"dim": d - x.ndim})  # counted from the end: batch dims stay in front


def prod(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The product of all elements, or along one ``dim``; integers give int64. The gradient is exact at zeros."""
    x = _integer_result(one(input), dtype)
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            return ones((), dtype=x.dtype, device=x.device)
        return cumprod(flat, 0)[-1]
    if isinstance(dim, (tuple, list)):
        raise TypeError("prod: dim must be one int (PyTorch's prod reduces one dim or all)")
    d = dim_arg(x, dim, "prod")
    if x.ndim == 0:
        return x * 1
    if x.shape[d] == 0:
        shape = [1 if i == d else s for i, s in enumerate(x.shape)]
        result = ones(shape, dtype=x.dtype, device=x.device)
        return result if keepdim else result.squeeze(d)
    last = cumprod(x, d).narrow(d, x.shape[d] - 1, 1)
    return last if keepdim else last.squeeze(d)


# --- logcumsumexp -----------------------------------------------------------------------------------------------
def _logcumsumexp_forward(xp, x, dim):
    if not x.size:
        return x.copy()
    with np.errstate(invalid="ignore"):
        return _running(xp, "logaddexp", x, dim)


def _signed_log(t):
    """(log of the positive part, log of the negative part) of t, -inf where a part is absent."""
    pos, neg = t > 0, t < 0
    return (where(pos, log(where(pos, t, 1.0)), float("-inf")), where(neg, log(where(neg, -t, 1.0)), float("-inf")))


def _finite(out):
    """out with -inf (a prefix of -inf inputs, which contributes nothing) as 0, so no -inf - -inf = nan appears."""
    return where(out == float("-inf"), 0.0, out)


def _logcumsumexp_vjp(n, g):
    (x,) = n.inputs
    dim, out = n.params["dim"], _finite(n.out)
    pos, neg = _signed_log(g)
    rev = lambda t: flip(logcumsumexp(flip(t, dim), dim), dim)  # noqa: E731
    return exp(x + rev(pos - out)) - exp(x + rev(neg - out))


def _logcumsumexp_jvp(c, t):
    (x,) = c.inputs
    dim, out = c.params["dim"], _finite(c.out)
    pos, neg = _signed_log(t)
    return exp(logcumsumexp(pos + x, dim) - out) - exp(logcumsumexp(neg + x, dim) - out)


LOGCUMSUMEXP = Op("logcumsumexp", _logcumsumexp_forward, _logcumsumexp_vjp, jvp=_logcumsumexp_jvp,
                  save=((0, OUT),), promote="float")


def logcumsumexp(input, dim):  # noqa: A002
    """log(cumsum(exp(x))) along ``dim``, computed pairwise without overflow."""
    x = one(input)
    if x.ndim == 0:
        return logcumsumexp(x.reshape(1), 0).reshape(())
    d = dim_arg(x, dim, "logcumsumexp")
    return apply(LOGCUMSUMEXP, (x,), {"dim": d - x.ndim})


# --- pairs of statistics ------------------------------------------------------------------------------------------
def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """(var, mean) in one call, with var's arguments."""
    x = one(input)
    if isinstance(dim, bool) and unbiased is None:  # var_mean(x, False): the old positional unbiased
        dim, unbiased = None, dim
    return var(x, dim, unbiased, keepdim, correction=correction), \
        (mean(x, dim, keepdim) if dim is not None else mean(x, keepdim=keepdim) if keepdim else mean(x))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):  # noqa: A002
    """(std, mean) in one call, with std's arguments."""
    x = one(input)
    if isinstance(dim, bool) and unbiased is None:
        dim, unbiased = None, dim
    return std(x, dim, unbiased, keepdim, correction=correction), \
        (mean(x, dim, keepdim) if dim is not None else mean(x, keepdim=keepdim) if keepdim else mean(x))


def aminmax(input, *, dim=None, keepdim=False):  # noqa: A002
    """(min, max) as a named tuple."""
    x = one(input)
    if dim is None:
        return return_types.aminmax(amin(x, keepdim=keepdim) if keepdim else amin(x),
                                    amax(x, keepdim=keepdim) if keepdim else amax(x))
    return return_types.aminmax(amin(x, dim, keepdim), amax(x, dim, keepdim))


def nansum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """sum treating NaN as 0."""
    x = one(input)
    if x.dtype.kind == "f":
        x = where(x.isnan(), 0.0, x)
    if dtype is not None:
        x = x.to(dtype)
    return x.sum(dim, keepdim) if dim is not None else x.sum()


def nanmean(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """mean over the elements that are not NaN."""
    x = one(input)
    if x.dtype.kind != "f":
        raise TypeError(f"nanmean: expected a floating tensor, got {x.dtype}")
    keep = ~x.isnan()
    total = nansum(x, dim, keepdim)
    count = keep.sum(dim, keepdim) if dim is not None else keep.sum()
    return total / count.to(x.dtype)


# --- quantiles --------------------------------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "nearest", "midpoint")


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """The ``q``-quantiles (a number or a 1-D tensor in [0, 1]) of all elements or along ``dim``; with a 1-D q, the
    quantiles are the first dim of the result, as in PyTorch. Differentiable through the sorted values."""
    return _quantile(input, q, dim, keepdim, interpolation, "quantile", ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):  # noqa: A002
    """quantile ignoring NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile", ignore_nan=True)


def _quantile(input, q, dim, keepdim, interpolation, who, ignore_nan):
    x = one(input)
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating tensor, got {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{who}: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    scalar_q = not isinstance(q, Tensor) and np.ndim(q) == 0
    qs = np.atleast_1d(np.asarray(q.detach().cpu().numpy() if isinstance(q, Tensor) else q, dtype=np.float64))
    if qs.ndim != 1 or ((qs < 0) | (qs > 1)).any():
        raise ValueError(f"{who}: q must be a number or a 1-D tensor with values in [0, 1], got {q}")
    if dim is None:
        original_ndim = x.ndim
        x, d = x.reshape(-1), 0
    else:
        d = dim_arg(x, dim, who)
        original_ndim = x.ndim
    n = x.shape[d] if x.ndim else 1
    if x.ndim == 0:
        x, d = x.reshape(1), 0
    if n == 0:
        raise IndexError(f"{who}: cannot compute the quantile of an empty dim")
    s = sort(x, d).values  # NaN sorts last
    backend = x._device.backend
    positions, nan_out = backend.on_device(_quantile_positions, backend.xp, x._data, d, qs, interpolation, ignore_nan)
    results = []
    for lo, hi, frac in positions:
        vlo = gather(s, d, wrap(lo, x._device))
        vhi = gather(s, d, wrap(hi, x._device))
        weight = wrap(frac, x._device)
        # PyTorch's lerp: from the nearer end, so that equal infinities give inf rather than inf - inf = nan
        value = where(weight < 0.5, vlo + (vhi - vlo) * weight, vhi - (vhi - vlo) * (1 - weight))
        if nan_out is not None:
            value = where(wrap(nan_out, x._device), float("nan"), value)
        if keepdim:
            if dim is None:
                value = value.reshape((1,) * original_ndim)
        else:
            value = value.squeeze(d)
        results.append(value)
    if scalar_q:
        return results[0]
    return stack(results, 0)


def _quantile_positions(xp, data, d, qs, interpolation, ignore_nan):
    """For each q: (lower index, upper index, weight of the upper one, in data's dtype) along ``d`` of the sorted
    data (keepdim-shaped); and where the result is NaN (a bool keepdim array; None: nowhere): a row with NaN for
    quantile, an all-NaN row for nanquantile."""
    n = data.shape[d]
    nan_rows = xp.isnan(data).sum(axis=d, keepdims=True)
    count = (n - nan_rows) if ignore_nan else xp.full(nan_rows.shape, n)
    positions = []
    for qv in qs:
        rank = qv * (xp.maximum(count, 1) - 1)
        lo = xp.floor(rank).astype(np.int64)
        hi = xp.minimum(lo + 1, xp.maximum(count - 1, 0)).astype(np.int64)
        frac = rank - lo
        if interpolation == "lower":
            hi, frac = lo, frac * 0
        elif interpolation == "higher":
            lo = xp.where(frac > 0, hi, lo)
            hi, frac = lo, frac * 0
        elif interpolation == "nearest":  # round half to even, as PyTorch (torch.round) does
            lo = xp.where(xp.round(rank) > lo, hi, lo).astype(np.int64)
            hi, frac = lo, frac * 0
        elif interpolation == "midpoint":
            hi = xp.minimum(xp.ceil(rank), xp.maximum(count - 1, 0)).astype(np.int64)
            frac = xp.where(hi > lo, 0.5, 0.0)
        positions.append((lo, hi, frac.astype(data.dtype)))
    if not ignore_nan:  # a NaN anywhere in the row makes its quantile NaN
        return positions, nan_rows > 0
    empty = count == 0
    return positions, empty if bool(xp.any(empty)) else None
