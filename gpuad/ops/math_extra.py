"""More elementwise math with PyTorch's names and dtype rules: exp/log variants, hyperbolic and inverse trigonometric
functions, special functions (erfc, erfinv, lgamma, digamma, i0, ...), atan2, hypot, fmod, xlogy, logaddexp, lerp,
nan_to_num, ``div(rounding_mode=)`` and the comparisons isclose/allclose/equal.

Each differentiable op is declared by its partial derivatives (``elementwise`` in elementwise.py), so its VJP and JVP
come from one formula. Integer inputs become the default float, as in PyTorch, except for the rounding ops.
"""
import math

import numpy as np

from . import elementwise as ew
from .core import OUT, apply, apply_binary, apply_unary
from ._lift import one, operands
from ..dtypes import get_default_dtype
from ..tensor import TENSOR_TYPES, Tensor, wrap

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_X, _Y = ((0,),), ((OUT,),)


def _unary(op, doc):
    def fn(input):  # noqa: A002 - PyTorch's argument name
        return apply_unary(op, input if input.__class__ in TENSOR_TYPES else one(input))
    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


def _binary(op, doc):
    def fn(input, other):  # noqa: A002
        if input.__class__ in TENSOR_TYPES and other.__class__ in TENSOR_TYPES:
            return apply_binary(op, input, other)
        a, b = operands(input, other)
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            a = one(a)
        return apply(op, (a, b))
    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


def _float_op(name, forward, derivative, save=()):
    return ew.elementwise(name, forward, derivative, save=save, promote="float")


def _special(x, name):
    """SciPy's (CPU) or CuPy's (CUDA) special function ``name`` for the array ``x``."""
    if type(x).__module__.startswith("cupy"):
        import cupyx.scipy.special as special  # lazy: import gpuad never imports CuPy
    else:
        try:
            import scipy.special as special  # lazy: SciPy is optional (the special extra)
        except ImportError:  # pragma: no cover - depends on the machine
            raise RuntimeError(f"{name} on the CPU needs SciPy (pip install scipy)") from None
    fn = getattr(special, name)

    def run(*arrays):
        if arrays[-1].dtype == np.float16:  # SciPy computes float16 in a wider type: give float16 back
            return fn(*(a.astype(np.float32) for a in arrays)).astype(np.float16)
        return fn(*arrays)
    return run


# --- exponentials, logarithms, powers -----------------------------------------------------------------------------
EXPM1 = _float_op("expm1", lambda xp, x: xp.expm1(x), lambda n: (n.out + 1,), save=_Y)
EXP2 = _float_op("exp2", lambda xp, x: xp.exp2(x), lambda n: (n.out * _LN2,), save=_Y)
LOG2 = _float_op("log2", lambda xp, x: xp.log2(x), lambda n: (1.0 / (n.inputs[0] * _LN2),), save=_X)
LOG10 = _float_op("log10", lambda xp, x: xp.log10(x), lambda n: (1.0 / (n.inputs[0] * _LN10),), save=_X)
RECIPROCAL = _float_op("reciprocal", lambda xp, x: xp.reciprocal(x), lambda n: (-n.out * n.out,), save=_Y)

# --- hyperbolic and inverse trigonometric ---------------------------------------------------------------------------
SINH = _float_op("sinh", lambda xp, x: xp.sinh(x), lambda n: (cosh(n.inputs[0]),), save=_X)
COSH = _float_op("cosh", lambda xp, x: xp.cosh(x), lambda n: (sinh(n.inputs[0]),), save=_X)
ASIN = _float_op("asin", lambda xp, x: xp.arcsin(x), lambda n: (ew.rsqrt(1 - n.inputs[0] * n.inputs[0]),), save=_X)
ACOS = _float_op("acos", lambda xp, x: xp.arccos(x), lambda n: (-ew.rsqrt(1 - n.inputs[0] * n.inputs[0]),), save=_X)
ATAN = _float_op("atan", lambda xp, x: xp.arctan(x), lambda n: (1.0 / (1 + n.inputs[0] * n.inputs[0]),), save=_X)
ASINH = _float_op("asinh", lambda xp, x: xp.arcsinh(x), lambda n: (ew.rsqrt(n.inputs[0] * n.inputs[0] + 1),),
                  save=_X)
ACOSH = _float_op("acosh", lambda xp, x: xp.arccosh(x), lambda n: (ew.rsqrt(n.inputs[0] * n.inputs[0] - 1),),
                  save=_X)
ATANH = _float_op("atanh", lambda xp, x: xp.arctanh(x), lambda n: (1.0 / (1 - n.inputs[0] * n.inputs[0]),), save=_X)

# --- rounding (dtype kept, zero gradient except frac) -----------------------------------------------------------------
TRUNC = ew.elementwise("trunc", lambda xp, x: xp.trunc(x) if x.dtype.kind == "f" else x.copy(), lambda n: (0.0,))
FRAC = ew.elementwise("frac", lambda xp, x: x - xp.trunc(x), lambda n: (1,))

# --- special functions --------------------------------------------------------------------------------------------
ERFC = _float_op("erfc", lambda xp, x: _special(x, "erfc")(x),
                 lambda n: (-_TWO_OVER_SQRT_PI * ew.exp(-n.inputs[0] * n.inputs[0]),), save=_X)
ERFINV = _float_op("erfinv", lambda xp, x: _special(x, "erfinv")(x),
                   lambda n: (_SQRT_PI_OVER_2 * ew.exp(n.out * n.out),), save=_Y)
LGAMMA = _float_op("lgamma", lambda xp, x: _special(x, "gammaln")(x), lambda n: (digamma(n.inputs[0]),), save=_X)
DIGAMMA = _float_op("digamma", lambda xp, x: _special(x, "psi")(x), lambda n: (polygamma(1, n.inputs[0]),), save=_X)
POLYGAMMA = ew.elementwise("polygamma", lambda xp, x, n: _special(x, "polygamma")(n, x),
                           lambda c: (polygamma(c.params["n"] + 1, c.inputs[0]),), save=_X, promote="float")
I0 = _float_op("i0", lambda xp, x: _special(x, "i0")(x), lambda n: (_i1(n.inputs[0]),), save=_X)
I1 = _float_op("i1", lambda xp, x: _special(x, "i1")(x), lambda n: (_i1_slope(n.inputs[0]),), save=_X)


def _i1(x):
    return apply_unary(I1, x)


def _i1_slope(x):
    """d/dx i1(x) = i0(x) - i1(x) / x, which is 1/2 at 0."""
    zero = x == 0
    safe = ew.where(zero, 1.0, x)
    return ew.where(zero, 0.5, i0(x) - _i1(safe) / safe)


expm1 = _unary(EXPM1, "exp(x) - 1, accurate for small x.")
exp2 = _unary(EXP2, "2**x.")
log2 = _unary(LOG2, "Base-2 logarithm.")
log10 = _unary(LOG10, "Base-10 logarithm.")
reciprocal = _unary(RECIPROCAL, "1 / x (integers become the default float).")
sinh = _unary(SINH, "Hyperbolic sine.")
cosh = _unary(COSH, "Hyperbolic cosine.")
asin = arcsin = _unary(ASIN, "Inverse sine (NaN outside [-1, 1]).")
acos = arccos = _unary(ACOS, "Inverse cosine (NaN outside [-1, 1]).")
atan = arctan = _unary(ATAN, "Inverse tangent.")
asinh = arcsinh = _unary(ASINH, "Inverse hyperbolic sine.")
acosh = arccosh = _unary(ACOSH, "Inverse hyperbolic cosine (NaN below 1).")
atanh = arctanh = _unary(ATANH, "Inverse hyperbolic tangent.")
trunc = fix = _unary(TRUNC, "Round towards zero (the dtype is kept); zero gradient.")
frac = _unary(FRAC, "x - trunc(x), with the sign of x; gradient 1.")
erfc = _unary(ERFC, "1 - erf(x), accurate where erf(x) is near 1.")
erfinv = _unary(ERFINV, "The inverse of erf on (-1, 1).")
lgamma = _unary(LGAMMA, "log |Gamma(x)|.")
digamma = _unary(DIGAMMA, "d/dx lgamma(x).")
i0 = _unary(I0, "The modified Bessel function of the first kind, order 0.")


def polygamma(n, input):  # noqa: A002
    """The n-th derivative of digamma."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative int, got {n!r}")
    return apply(POLYGAMMA, (one(input),), {"n": n})


def rsqrt(input):  # noqa: A002
    """1 / sqrt(x)."""
    return ew.rsqrt(input)


def sgn(input):  # noqa: A002
    """sign(x) (the same for real tensors)."""
    return ew.sign(input)


def logit(input, eps=None):  # noqa: A002
    """log(p / (1 - p)); with ``eps``, p is first clamped to [eps, 1 - eps] (zero gradient outside)."""
    p = one(input)
    if p.dtype.kind != "f":
        p = p.to(get_default_dtype())
    if eps is not None:
        p = ew.clamp(p, eps, 1 - eps)
    return ew.log(p) - ew.log1p(-p)


def sinc(input):  # noqa: A002
    """sin(pi x) / (pi x), and 1 at 0."""
    x = one(input)
    if x.dtype.kind != "f":
        x = x.to(get_default_dtype())
    zero = x == 0
    px = ew.where(zero, 1.0, x) * math.pi
    return ew.where(zero, 1.0, ew.sin(px) / px)


def clamp_min(input, min):  # noqa: A002
    """max(x, min) (clamp with a lower bound only)."""
    return ew.clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """min(x, max) (clamp with an upper bound only)."""
    return ew.clamp(input, max=max)


def square(input):  # noqa: A002
    """x * x (integers stay integers)."""
    return ew.mul(input, input)


# --- nan_to_num -----------------------------------------------------------------------------------------------------
def _nan_to_num_forward(xp, x, nan, posinf, neginf):
    if x.dtype.kind != "f":
        return x.copy()
    info = np.finfo(x.dtype)
    return xp.nan_to_num(x, nan=nan, posinf=info.max if posinf is None else posinf,
                         neginf=info.min if neginf is None else neginf)


NAN_TO_NUM = ew.elementwise("nan_to_num", _nan_to_num_forward, lambda n: (ew.isfinite(n.inputs[0]),), save=_X)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):  # noqa: A002
    """NaN -> ``nan``, +inf -> ``posinf`` and -inf -> ``neginf`` (the dtype's largest and smallest by default); the
    gradient is 1 at finite elements, 0 at the replaced ones."""
    return apply(NAN_TO_NUM, (one(input),), {"nan": nan, "posinf": posinf, "neginf": neginf})


# --- binary ---------------------------------------------------------------------------------------------------------
def _binary_float(name, forward, partials, save="all", promote="float"):
    return ew.elementwise(name, forward, partials, save=save, promote=promote, broadcasting=True)


def _atan2_partials(n):
    a, b = n.inputs
    r2 = a * a + b * b
    return b / r2 if n.needs[0] else None, -a / r2 if n.needs[1] else None


def _hypot_partials(n):
    a, b = n.inputs
    safe = ew.where(n.out == 0, 1.0, n.out)  # NOTE: at (0, 0) the gradient is taken as 0, as PyTorch's
    return (ew.where(n.out == 0, 0.0, a / safe) if n.needs[0] else None,
            ew.where(n.out == 0, 0.0, b / safe) if n.needs[1] else None)


def _fmod_partials(n):
    a, b = n.inputs
    return 1 if n.needs[0] else None, -trunc(a / b) if n.needs[1] else None


def _xlogy_forward(xp, x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where((x == 0) & ~xp.isnan(y), 0, x * xp.log(y))


def _xlogy_partials(n):
    x, y = n.inputs
    dx = dy = None
    if n.needs[0]:
        dx = ew.where((x == 0) & ~ew.isnan(y), 0.0, ew.log(y)) if isinstance(y, Tensor) else \
            ew.where(x == 0, 0.0, math.log(y) if y > 0 else float("nan") if y < 0 else float("-inf"))
    if n.needs[1]:
        dy = x / y
    return dx, dy


def _logaddexp_forward(base):
    def forward(xp, a, b):
        m = xp.maximum(a, b)
        with np.errstate(invalid="ignore"):
            d = -xp.abs(a - b)
        if base == 2:
            soft = m + xp.log2(1 + xp.exp2(d))
            same = m + 1
        else:
            soft = m + xp.log1p(xp.exp(d))
            same = m + _LN2
        return xp.where(a == b, same, soft)  # NOTE: equal infinities would give inf - inf = nan in d
    return forward


def _logaddexp_partials(base):
    def partials(n):
        weight = (lambda v: 2.0 ** (v - n.out)) if base == 2 else (lambda v: ew.exp(v - n.out))
        a, b = n.inputs
        return weight(a) if n.needs[0] else None, weight(b) if n.needs[1] else None
    return partials


ATAN2 = _binary_float("atan2", lambda xp, a, b: xp.arctan2(a, b), _atan2_partials)
HYPOT = _binary_float("hypot", lambda xp, a, b: xp.hypot(a, b), _hypot_partials, save=((0, OUT), (1, OUT)))
FMOD = _binary_float("fmod", lambda xp, a, b: xp.fmod(a, b), _fmod_partials, promote="binary")
XLOGY = _binary_float("xlogy", _xlogy_forward, _xlogy_partials)
LOGADDEXP = _binary_float("logaddexp", _logaddexp_forward(None), _logaddexp_partials(None),
                          save=((0, OUT), (1, OUT)))
LOGADDEXP2 = _binary_float("logaddexp2", _logaddexp_forward(2), _logaddexp_partials(2), save=((0, OUT), (1, OUT)))

atan2 = arctan2 = _binary(ATAN2, "The angle of (other, input): atan(input / other) in the right quadrant.")
hypot = _binary(HYPOT, "sqrt(a**2 + b**2) without overflow.")
fmod = _binary(FMOD, "C's remainder: a - trunc(a / b) * b, with the sign of a (remainder takes b's sign).")
xlogy = _binary(XLOGY, "x * log(y), and 0 where x == 0 (unless y is NaN).")
logaddexp = _binary(LOGADDEXP, "log(exp(a) + exp(b)), computed without overflow.")
logaddexp2 = _binary(LOGADDEXP2, "log2(2**a + 2**b), computed without overflow.")


def xlog1py(input, other):  # noqa: A002
    """x * log1p(y), and 0 where x == 0."""
    x, y = operands(input, other)
    y = one(y) if not isinstance(y, Tensor) else y
    return ew.where(x == 0, 0.0, x * ew.log1p(y)) if isinstance(x, Tensor) else \
        (x * ew.log1p(y) if x != 0 else ew.where(ew.isnan(y), y, 0.0 * y))


def _entr_forward(xp, x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(x > 0, -x * xp.log(xp.where(x > 0, x, 1)), xp.where(x == 0, 0, xp.where(x < 0, -xp.inf, x)))


ENTR = _float_op("entr", _entr_forward, lambda n: (-(1 + ew.log(n.inputs[0])),), save=_X)
entr = _unary(ENTR, "-x log x, 0 at 0 and -inf below 0; its derivative -(1 + log x), as PyTorch's.")


def lerp(input, end, weight):  # noqa: A002
    """input + weight * (end - input), with weight a number or a tensor; differentiable in all three."""
    start = one(input)
    end = one(end) if not isinstance(end, Tensor) else end
    if isinstance(weight, Tensor) and weight.dtype != start.dtype:
        raise TypeError(f"lerp: expected weight to have dtype {start.dtype}, got {weight.dtype}")
    if start.dtype != end.dtype:
        raise TypeError(f"lerp: expected end to have dtype {start.dtype}, got {end.dtype}")
    if isinstance(weight, Tensor):  # PyTorch's formula: from the nearer end (exact at weight 0 and 1)
        return ew.where(weight < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight))
    return start + weight * (end - start) if weight < 0.5 else end - (end - start) * (1 - weight)


def float_power(input, exponent):  # noqa: A002
    """input ** exponent computed in float64."""
    base = one(input).double() if isinstance(input, Tensor) or not isinstance(input, (int, float)) else float(input)
    exp_ = exponent.double() if isinstance(exponent, Tensor) else float(exponent)
    if not isinstance(base, Tensor):
        return ew.pow(one(base).double(), exp_)
    return ew.pow(base, exp_)


def ndtr(input):  # noqa: A002
    """The standard normal CDF."""
    x = one(input)
    return 0.5 * erfc(-x * (1.0 / math.sqrt(2.0)))


def log_ndtr(input):  # noqa: A002
    """log of the standard normal CDF (accurate in the lower tail through erfc)."""
    return ew.log(ndtr(input))


def ndtri(input):  # noqa: A002
    """The inverse of the standard normal CDF."""
    return math.sqrt(2.0) * erfinv(2 * one(input) - 1)


# --- division with rounding -------------------------------------------------------------------------------------------
def div(input, other, *, rounding_mode=None):  # noqa: A002
    """input / other. ``rounding_mode=None``: true division (integers give the default float); ``'trunc'``: rounded
    towards zero; ``'floor'``: rounded down (Python's //). Rounded results keep the integer dtype and have zero
    gradient."""
    if rounding_mode is None:
        return ew.div(input, other)
    if rounding_mode == "floor":
        return ew.floor_divide(input, other)
    if rounding_mode != "trunc":
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"{rounding_mode!r}")
    a, b = operands(input, other)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = one(a)
    kinds = {x.dtype.kind if isinstance(x, Tensor) else ("f" if isinstance(x, float) else "i") for x in (a, b)}
    if "f" in kinds:
        return trunc(ew.div(a, b))
    if bool((b == 0).any()) if isinstance(b, Tensor) else b == 0:
        raise ZeroDivisionError("div: integer division by zero (rounding_mode='trunc')")
    q = ew.floor_divide(a, b)
    return q + ((q < 0) & (q * b != a)).to(q.dtype)  # floor rounds negative quotients down: one back up


def true_divide(dividend, divisor):
    return ew.div(dividend, divisor)


# --- comparisons --------------------------------------------------------------------------------------------------
def _same_dtype(a, b, who):
    a, b = operands(a, b)
    a = one(a) if not isinstance(a, Tensor) else a
    if isinstance(b, Tensor) and a.dtype != b.dtype:
        raise TypeError(f"{who}: {a.dtype} did not match {b.dtype}; both tensors need one dtype (convert one with "
                        f".to(other.dtype))")
    return a, b


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """|input - other| <= atol + rtol * |other| elementwise (equal infinities are close; NaN only with equal_nan)."""
    a, b = _same_dtype(input, other, "isclose")
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be non-negative, got rtol={rtol} and atol={atol}")
    xp = a._device.backend.xp
    bd = b._data if isinstance(b, Tensor) else b
    if isinstance(b, Tensor) and b._device is not a._device:
        raise RuntimeError(f"isclose: expected both tensors on one device, got {a.device} and {b.device}")
    if a.dtype.kind == "b":
        return wrap(xp.asarray(xp.equal(a._data, bd)), a._device)
    with np.errstate(invalid="ignore"):
        return wrap(xp.asarray(xp.isclose(a._data, bd, rtol=rtol, atol=atol, equal_nan=equal_nan)), a._device)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """True if isclose holds everywhere (the two broadcast together)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other):  # noqa: A002
    """True if both tensors have the same shape and the same values."""
    a, b = one(input), one(other)
    if a.shape != b.shape:
        return False
    if a._device is not b._device:
        raise RuntimeError(f"equal: expected both tensors on one device, got {a.device} and {b.device}")
    xp = a._device.backend.xp
    return bool(xp.all(xp.equal(a._data, b._data)))
