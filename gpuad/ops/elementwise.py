"""Elementwise ops with NumPy broadcasting: each op's forward and VJP side by side.

VJPs are written in Tensor ops so that they can be differentiated again (higher-order gradients). Conventions at kinks:
relu'(0) = 0, abs'(0) = 0, clamp passes the gradient at the bounds (x == min or x == max), and maximum/minimum split the
gradient equally between the two inputs where they are equal (as PyTorch does).
"""
import math

from .core import OUT, Op, apply, apply_binary, apply_unary
from ._lift import one, operands
from ..dtypes import promote
from ..tensor import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _binary(op):
    def fn(a, b):
        if a.__class__ is Tensor and b.__class__ is Tensor:
            return apply_binary(op, a, b)
        a, b = operands(a, b)
        return apply(op, (a, b))
    fn.__name__ = op.name
    fn.__doc__ = f"Elementwise {op.name} with broadcasting; differentiable in both arguments."
    return fn


def _unary(op, doc):
    def fn(x):
        return apply_unary(op, x if x.__class__ is Tensor else one(x))
    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


# --- arithmetic ---------------------------------------------------------------------------------------------------
def _add_vjp(n, g):
    return g if n.needs[0] else None, g if n.needs[1] else None


def _sub_vjp(n, g):
    return g if n.needs[0] else None, -g if n.needs[1] else None


def _mul_vjp(n, g):
    a, b = n.inputs
    return g * b if n.needs[0] else None, g * a if n.needs[1] else None


def _div_vjp(n, g):
    a, b = n.inputs
    ga = g / b if n.needs[0] else None
    gb = -g * n.out / b if n.needs[1] else None
    return ga, gb


def _pow_vjp(n, g):
    a, b = n.inputs
    ga = gb = None
    if n.needs[0]:
        if isinstance(b, Tensor):
            ga = where(b == 0, 0.0, g * b * a ** (b - 1))
        else:
            ga = g * 0.0 if b == 0 else g * b * a ** (b - 1)
    if n.needs[1]:  # d/db a**b = a**b log a, taken as 0 where a == 0 and b >= 0 (PyTorch's convention)
        ga_zero = (a == 0) & (b >= 0) if isinstance(a, Tensor) else (a == 0)
        log_a = log(a) if isinstance(a, Tensor) else math.log(a) if a > 0 else float("nan")
        gb = where(ga_zero, 0.0, g * n.out * log_a)
    return ga, gb


def _maximum_vjp(n, g):
    a, b = n.inputs
    return _split_at_ties(n, g, a, b, a > b)


def _minimum_vjp(n, g):
    a, b = n.inputs
    return _split_at_ties(n, g, a, b, a < b)


def _split_at_ties(n, g, a, b, a_wins):
    share = where(a_wins, 1.0, where(a == b, 0.5, 0.0))
    return g * share if n.needs[0] else None, g * (1.0 - share) if n.needs[1] else None


ADD = Op("add", lambda xp, a, b: a + b, _add_vjp, promote="binary")
SUB = Op("sub", lambda xp, a, b: a - b, _sub_vjp, promote="binary")
MUL = Op("mul", lambda xp, a, b: a * b, _mul_vjp, save=((1,), (0,)), promote="binary")
DIV = Op("div", lambda xp, a, b: xp.true_divide(a, b), _div_vjp, save=((1,), (1, OUT)), promote="float")
POW = Op("pow", lambda xp, a, b: a ** b, _pow_vjp, save=((0, 1), (0, 1, OUT)), promote="binary")
MAXIMUM = Op("maximum", lambda xp, a, b: xp.maximum(a, b), _maximum_vjp, save="all", promote="binary")
MINIMUM = Op("minimum", lambda xp, a, b: xp.minimum(a, b), _minimum_vjp, save="all", promote="binary")

add = _binary(ADD)
sub = subtract = _binary(SUB)
mul = multiply = _binary(MUL)
div = divide = true_divide = _binary(DIV)
pow = _binary(POW)  # noqa: A001 - torch.pow
maximum = _binary(MAXIMUM)
minimum = _binary(MINIMUM)


# --- unary math ---------------------------------------------------------------------------------------------------
def _sigmoid_forward(xp, x):
    e = xp.exp(-xp.abs(x))  # NOTE: exp of -|x| only, so large |x| never overflows
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus_forward(xp, x, beta, threshold):
    bx = x * beta
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    return xp.where(bx > threshold, x, soft)


def _gelu_forward(xp, x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + xp.erf(x * _INV_SQRT_2))


def _gelu_vjp(n, g):
    (x,) = n.inputs
    if n.params["approximate"] == "tanh":
        t = tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x))
    cdf = 0.5 * (1 + erf(x * _INV_SQRT_2))
    pdf = exp(-0.5 * x * x) * _INV_SQRT_2PI
    return g * (cdf + x * pdf)


def _clamp_forward(xp, x, min, max):  # noqa: A002 - PyTorch's argument names
    return xp.clip(x, min, max)


def _clamp_vjp(n, g):
    (x,) = n.inputs
    lo, hi = n.params["min"], n.params["max"]
    inside = (x >= lo) if hi is None else (x <= hi) if lo is None else (x >= lo) & (x <= hi)
    return g * inside


def _cuda_unary(source, template):
    return lambda backend, x: backend.launch_unary(source, template, x)


NEG = Op("neg", lambda xp, x: -x, lambda n, g: -g)
ABS = Op("abs", lambda xp, x: xp.abs(x), lambda n, g: g * sign(n.inputs[0]), save=((0,),))
SIGN = Op("sign", lambda xp, x: xp.sign(x), lambda n, g: g * 0.0)
EXP = Op("exp", lambda xp, x: xp.exp(x), lambda n, g: g * n.out, save=((OUT,),), promote="float")
LOG = Op("log", lambda xp, x: xp.log(x), lambda n, g: g / n.inputs[0], save=((0,),), promote="float")
LOG1P = Op("log1p", lambda xp, x: xp.log1p(x), lambda n, g: g / (n.inputs[0] + 1), save=((0,),), promote="float")
SQRT = Op("sqrt", lambda xp, x: xp.sqrt(x), lambda n, g: g / (2 * n.out), save=((OUT,),), promote="float")
SIN = Op("sin", lambda xp, x: xp.sin(x), lambda n, g: g * cos(n.inputs[0]), save=((0,),), promote="float")
COS = Op("cos", lambda xp, x: xp.cos(x), lambda n, g: -g * sin(n.inputs[0]), save=((0,),), promote="float")
TAN = Op("tan", lambda xp, x: xp.tan(x), lambda n, g: g * (1 + n.out * n.out), save=((OUT,),), promote="float")
TANH = Op("tanh", lambda xp, x: xp.tanh(x), lambda n, g: g * (1 - n.out * n.out), save=((OUT,),), promote="float")
ERF = Op("erf", lambda xp, x: xp.erf(x),
         lambda n, g: g * (_TWO_OVER_SQRT_PI * exp(-n.inputs[0] * n.inputs[0])), save=((0,),), promote="float")
SIGMOID = Op("sigmoid", _sigmoid_forward, lambda n, g: g * (n.out * (1 - n.out)), save=((OUT,),), promote="float",
             cuda=_cuda_unary("activations.cu", "sigmoid_fwd<{T}>"))
RELU = Op("relu", lambda xp, x: xp.maximum(x, 0), lambda n, g: g * (n.out > 0), save=((OUT,),))
GELU = Op("gelu", _gelu_forward, _gelu_vjp, save=((0,),), promote="float",
          cuda=lambda backend, x, approximate: backend.launch_unary(
              "activations.cu", "gelu_fwd<{T}, %s>" % ("true" if approximate == "tanh" else "false"), x))
SOFTPLUS = Op("softplus", _softplus_forward,
              lambda n, g: g * where(n.inputs[0] * n.params["beta"] > n.params["threshold"], 1.0,
                                     sigmoid(n.inputs[0] * n.params["beta"])),
              save=((0,),), promote="float")
CLAMP = Op("clamp", _clamp_forward, _clamp_vjp, save=((0,),))

neg = negative = _unary(NEG, "-x.")
abs = absolute = _unary(ABS, "|x|; the gradient at 0 is 0.")  # noqa: A001
sign = _unary(SIGN, "-1, 0 or 1; its gradient is zero everywhere.")
exp = _unary(EXP, "e**x; the VJP reuses the saved output.")
log = _unary(LOG, "Natural logarithm.")
log1p = _unary(LOG1P, "log(1 + x), accurate for small x.")
sqrt = _unary(SQRT, "Square root; the VJP reuses the saved output.")
sin = _unary(SIN, "Sine.")
cos = _unary(COS, "Cosine.")
tan = _unary(TAN, "Tangent; the VJP reuses the saved output.")
tanh = _unary(TANH, "Hyperbolic tangent; the VJP reuses the saved output.")
erf = _unary(ERF, "The error function (exact to machine precision without SciPy too).")
sigmoid = _unary(SIGMOID, "1 / (1 + exp(-x)), computed without overflow; the VJP reuses the saved output.")
relu = _unary(RELU, "max(x, 0); the gradient at 0 is 0.")


def gelu(x, approximate="none"):
    """x * Phi(x) (``approximate="none"``, with erf) or its tanh approximation (``approximate="tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(GELU, (one(x),), {"approximate": approximate})


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (PyTorch's definition)."""
    return apply(SOFTPLUS, (one(x),), {"beta": beta, "threshold": threshold})


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit x to [min, max]; the gradient is 1 inside and at the bounds, 0 outside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        x = maximum(x, min) if min is not None else one(x)
        return minimum(x, max) if max is not None else x
    return apply(CLAMP, (one(x),), {"min": min, "max": max})


clip = clamp


def square(x):
    return mul(x, x)


def rsqrt(x):
    return div(1.0, sqrt(x))


# --- selection ----------------------------------------------------------------------------------------------------
def _where_vjp(n, g):
    cond = n.inputs[0]
    ga = where(cond, g, 0.0) if n.needs[1] else None
    gb = where(cond, 0.0, g) if n.needs[2] else None
    return None, ga, gb


def _where_forward(xp, cond, a, b):
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise TypeError(f"where: the condition must be a bool tensor, got "
                        f"{getattr(cond, 'dtype', type(cond).__name__)}; compare first, e.g. where(x > 0, ...)")
    return xp.where(cond, a, b)


WHERE = Op("where", _where_forward, _where_vjp, save=((), (0,), (0,)))


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (broadcast together); differentiable in ``a`` and ``b``."""
    condition = one(condition)
    a, b = operands(a, b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        from ..factories import tensor
        a = tensor(a, device=condition.device)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        common = promote(a.dtype, b.dtype)
        a, b = a.to(common), b.to(common)
    return apply(WHERE, (condition, a, b))


# --- comparisons and logic: no gradient -------------------------------------------------------------------------
def _compare(name, forward):
    op = Op(name, forward, None, promote="binary")
    return _binary(op)


eq = _compare("eq", lambda xp, a, b: a == b)
ne = _compare("ne", lambda xp, a, b: a != b)
lt = less = _compare("lt", lambda xp, a, b: a < b)
le = less_equal = _compare("le", lambda xp, a, b: a <= b)
gt = greater = _compare("gt", lambda xp, a, b: a > b)
ge = greater_equal = _compare("ge", lambda xp, a, b: a >= b)
logical_and = _compare("logical_and", lambda xp, a, b: xp.logical_and(a, b))
logical_or = _compare("logical_or", lambda xp, a, b: xp.logical_or(a, b))
logical_xor = _compare("logical_xor", lambda xp, a, b: xp.logical_xor(a, b))
bitwise_and = _compare("bitwise_and", lambda xp, a, b: a & b)
bitwise_or = _compare("bitwise_or", lambda xp, a, b: a | b)
bitwise_xor = _compare("bitwise_xor", lambda xp, a, b: a ^ b)
logical_not = _unary(Op("logical_not", lambda xp, x: xp.logical_not(x)), "Elementwise not, as a bool tensor.")
bitwise_not = _unary(Op("bitwise_not", lambda xp, x: ~x), "~x: not for bool tensors, bitwise for integers.")
isnan = _unary(Op("isnan", lambda xp, x: xp.isnan(x)), "True where x is NaN.")
isinf = _unary(Op("isinf", lambda xp, x: xp.isinf(x)), "True where x is infinite.")
isfinite = _unary(Op("isfinite", lambda xp, x: xp.isfinite(x)), "True where x is finite.")
floor = _unary(Op("floor", lambda xp, x: xp.floor(x), lambda n, g: g * 0.0), "Round down; zero gradient.")
ceil = _unary(Op("ceil", lambda xp, x: xp.ceil(x), lambda n, g: g * 0.0), "Round up; zero gradient.")
round = _unary(Op("round", lambda xp, x: xp.round(x), lambda n, g: g * 0.0), "Round half to even; zero gradient.")  # noqa: A001,E501
