"""Elementwise ops with NumPy broadcasting: each op's forward and VJP side by side.

VJPs are written in Tensor ops so that they can be differentiated again (higher-order gradients). Conventions at kinks:
relu'(0) = 0, abs'(0) = 0, clamp passes the gradient at the bounds (x == min or x == max), and maximum/minimum split the
gradient equally between the two inputs where they are equal (as PyTorch does).
"""
import functools
import math

from .. import _capture, activations
from .core import OUT, Op, apply, apply_binary, apply_unary
from ._lift import one, operands
from .._autograd.grad_mode import first_order
from ..dtypes import get_default_dtype, promote
from ..factories import tensor
from ..tensor import TENSOR_TYPES, Tensor, wrap

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _binary(op):
    def fn(a, b):
        if a.__class__ in TENSOR_TYPES and b.__class__ in TENSOR_TYPES:
            return apply_binary(op, a, b)
        a, b = operands(a, b)
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # add(1, 2): PyTorch makes the first a tensor
            a = one(a)
        return apply(op, (a, b))
    fn.__name__ = op.name
    fn.__doc__ = f"Elementwise {op.name} with broadcasting; differentiable in both arguments."
    return fn


def _unary(op, doc):
    def fn(x):
        return apply_unary(op, x if x.__class__ in TENSOR_TYPES else one(x))
    fn.__name__ = op.name
    fn.__doc__ = doc
    return fn


# --- declaring an op by its partial derivatives -----------------------------------------------------------------
def _scale(g, d):
    """g * d, with the constants 1, -1 and 0 spelled without a multiply where possible."""
    if d.__class__ is int:
        return g if d == 1 else -g if d == -1 else g * d
    return g * d


def elementwise(name, forward, partials, cuda_grad=None, **options):
    """An op whose VJP and JVP both come from ``partials(ctx)``: the derivative of the output with respect to each
    input (None where ``ctx.needs[i]`` is False). VJP: g * d_i per input; JVP: sum of t_i * d_i. Declaring the
    derivative once keeps the two modes consistent by construction. ``cuda_grad`` names the fused backward rule in
    kernels/elementwise.cu (or is a function of the params giving one) that a first-order backward on CUDA runs
    instead, in one launch."""
    def vjp(n, g):
        if cuda_grad is not None and n.device._backend.fused_grads:
            fused_grads = fused_grad(n, g)
            if fused_grads is not None:
                return fused_grads
        ds = partials(n)
        if len(ds) == 1:
            return _scale(g, ds[0])
        da, db = ds
        return None if da is None else _scale(g, da), None if db is None else _scale(g, db)

    def jvp(ctx, *tangents):
        total = None
        for t, d in zip(tangents, partials(ctx)):
            if t is not None:
                term = _scale(t, d)
                total = term if total is None else total + term
        return total
    return Op(name, forward, vjp, jvp=jvp, cuda_grad=cuda_grad, **options)


def fused_grad(n, g):
    """The input gradients by the backend's fused backward rule for ``n.op`` (``Op.cuda_grad``: one launch on CUDA),
    or None where it does not apply (a higher-order backward, values it does not take) and the VJP computes. Called
    only where the node's backend has fused rules (``backend.fused_grads``), which the VJPs test first."""
    if not first_order():
        return None
    backend = n.device._backend
    rule = n.op.grad_rule(n.params)
    if len(n.next) == 1:
        from_output = n.op.save == _Y
        saved = n.saved_out if from_output else n.saved
        if saved is None:  # freed, or dropped by a checkpoint: the VJP raises or recomputes
            return None
        out = backend.unary_grad(rule, g._data, saved[0] if from_output else saved[0]._data)
        if out is None:
            return None
        saved = n.out if from_output else n.inputs[0]  # raises if it was changed in place since
        _capture.called(functools.partial(backend.unary_grad, rule), (g, saved), out)
        return wrap(out, n.device)
    a, b = n.inputs
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        return None
    out = backend.binary_grad(rule, g._data, a._data, b._data, n.needs)
    if out is None:
        return None
    _capture.called(functools.partial(backend.binary_grad, rule, needs=n.needs), (g, a, b), out)
    return tuple(None if o is None else wrap(o, n.device) for o in out)


def _binary_op(name, forward, partials, save=(), promote="binary", cuda_grad=None):
    return elementwise(name, forward, partials, cuda_grad=cuda_grad, save=save, promote=promote, broadcasting=True)


# --- arithmetic ---------------------------------------------------------------------------------------------------
def _mul_partials(n):
    a, b = n.inputs
    return b if n.needs[0] else None, a if n.needs[1] else None


def _div_vjp(n, g):
    if n.device._backend.fused_grads:
        fused_grads = fused_grad(n, g)
        if fused_grads is not None:
            return fused_grads
    a, b = n.inputs
    ga = g / b
    return ga if n.needs[0] else None, -ga * (a / b) if n.needs[1] else None


def _div_jvp(c, ta, tb):
    a, b = c.inputs
    if tb is None:
        return ta / b
    t = -tb * c.out / b
    return t if ta is None else ta / b + t


def _pow_partials(n):
    a, b = n.inputs
    da = db = None
    if n.needs[0]:
        if isinstance(b, Tensor):
            da = where(b == 0, 0.0, b * a ** (b - 1))
        else:
            da = 0 if b == 0 else b * a ** (b - 1)
    if n.needs[1]:  # d/db a**b = a**b log a, taken as 0 where a == 0 and b >= 0 (PyTorch's convention)
        if isinstance(a, Tensor):
            db = where((a == 0) & (b >= 0), 0.0, n.out * log(a))
        elif a == 0:  # a Python number as the base: decided here, so nothing lands on another device
            db = where(b >= 0, 0.0, n.out * float("-inf"))  # log 0 = -inf, as PyTorch has it
        else:
            db = n.out * (math.log(a) if a > 0 else float("nan"))
    return da, db


def _tie_share(a, b, a_wins):
    """1 where a wins, 0.5 at ties, 0 where b wins: maximum/minimum split the gradient equally at ties. Built in the
    operands' float dtype, so that a float64 gradient or tangent is never rounded through the default float."""
    dtypes = [x.dtype for x in (a, b) if isinstance(x, Tensor)]
    dtype = dtypes[0] if len(dtypes) == 1 else promote(*dtypes)
    return a_wins.to(dtype) + (a == b).to(dtype) * 0.5


def _maximum_partials(n):
    a, b = n.inputs
    share = _tie_share(a, b, a > b)
    return share if n.needs[0] else None, 1.0 - share if n.needs[1] else None


def _minimum_partials(n):
    a, b = n.inputs
    share = _tie_share(a, b, a < b)
    return share if n.needs[0] else None, 1.0 - share if n.needs[1] else None


ADD = _binary_op("add", lambda xp, a, b: a + b, lambda n: (1 if n.needs[0] else None, 1 if n.needs[1] else None))
SUB = _binary_op("sub", lambda xp, a, b: a - b, lambda n: (1 if n.needs[0] else None, -1 if n.needs[1] else None))
MUL = _binary_op("mul", lambda xp, a, b: a * b, _mul_partials, save=((1,), (0,)), cuda_grad="mul_bwd")
DIV = Op("div", lambda xp, a, b: xp.true_divide(a, b), _div_vjp, jvp=_div_jvp, save=((1,), (0, 1)),
         promote="float", broadcasting=True, cuda_grad="div_bwd")
POW = _binary_op("pow", lambda xp, a, b: a ** b, _pow_partials, save=((0, 1), (0, 1, OUT)))
MAXIMUM = _binary_op("maximum", lambda xp, a, b: xp.maximum(a, b), _maximum_partials, save="all",
                     cuda_grad="maximum_bwd")
MINIMUM = _binary_op("minimum", lambda xp, a, b: xp.minimum(a, b), _minimum_partials, save="all",
                     cuda_grad="minimum_bwd")

add = _binary(ADD)
sub = subtract = _binary(SUB)
mul = multiply = _binary(MUL)
div = divide = true_divide = _binary(DIV)
pow = _binary(POW)  # noqa: A001 - torch.pow
maximum = _binary(MAXIMUM)
minimum = _binary(MINIMUM)


def _remainder_partials(n):
    a, b = n.inputs
    # the floor division the forward used, not floor(a / b): the rounded quotient can land on the other integer
    return 1 if n.needs[0] else None, -floor_divide(a, b) if n.needs[1] else None


def _is_integer(x):
    return x.__class__ in (int, bool) or (hasattr(x, "dtype") and x.dtype.kind in "biu")


class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """An integer ``//`` or ``%`` by zero (a ZeroDivisionError, and a RuntimeError as PyTorch raises)."""


def _integer_division(ufunc):
    """An xp division that raises on an integer division by zero, as PyTorch does (NumPy returns 0)."""
    def forward(xp, a, b):
        if _is_integer(a) and _is_integer(b) and bool((b == 0).any() if hasattr(b, "any") else b == 0):
            raise IntegerDivisionByZero(f"{ufunc}: integer division by zero (PyTorch raises too)")
        return getattr(xp, ufunc)(a, b)
    return forward


REMAINDER = _binary_op("remainder", _integer_division("remainder"), _remainder_partials, save="all")
FLOOR_DIVIDE = _binary_op("floor_divide", _integer_division("floor_divide"),
                          lambda n: (0.0 if n.needs[0] else None, 0.0 if n.needs[1] else None))

remainder = _binary(REMAINDER)
floor_divide = _binary(FLOOR_DIVIDE)


# --- unary math ---------------------------------------------------------------------------------------------------
_sigmoid_forward = activations.sigmoid_forward  # one formula for the op and the fused linear layer


def _softplus_forward(xp, x, beta, threshold):
    bx = x * beta
    soft = (xp.log1p(xp.exp(-xp.abs(bx))) + xp.maximum(bx, 0)) / beta
    return xp.where(bx > threshold, x, soft)


def _softplus_derivative(n):
    bx = n.inputs[0] * n.params["beta"]
    return (where(bx > n.params["threshold"], 1.0, sigmoid(bx)),)


def _gelu_forward(xp, x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return activations.gelu_forward(xp, x)


def gelu_slope(x, approximate="none"):
    """d gelu(x) / dx in tensor ops: Phi(x) + x phi(x), or the derivative of the tanh approximation."""
    if approximate == "tanh":
        t = tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    return activations.gelu_slope(x)


def _gelu_derivative(n):
    return (gelu_slope(n.inputs[0], n.params["approximate"]),)


def _clamp_forward(xp, x, min, max):  # noqa: A002 - PyTorch's argument names
    return xp.clip(x, min, max)


def _clamp_derivative(n):
    (x,) = n.inputs
    lo, hi = n.params["min"], n.params["max"]
    return ((x >= lo) if hi is None else (x <= hi) if lo is None else (x >= lo) & (x <= hi),)


def _unary_op(name, forward, derivative, save=(), promote="float", **options):
    return elementwise(name, forward, derivative, save=save, promote=promote, **options)


_X, _Y = ((0,),), ((OUT,),)  # save specs: the input, or the output
NEG = _unary_op("neg", lambda xp, x: -x, lambda n: (-1,), promote=None)
ABS = _unary_op("abs", lambda xp, x: xp.abs(x), lambda n: (sign(n.inputs[0]),), save=_X, promote=None,
                cuda_grad="abs_bwd")
SIGN = _unary_op("sign", lambda xp, x: xp.sign(x), lambda n: (0.0,), promote=None)
EXP = _unary_op("exp", lambda xp, x: xp.exp(x), lambda n: (n.out,), save=_Y, cuda_grad="exp_bwd")
LOG = _unary_op("log", lambda xp, x: xp.log(x), lambda n: (1.0 / n.inputs[0],), save=_X, cuda_grad="log_bwd")
LOG1P = _unary_op("log1p", lambda xp, x: xp.log1p(x), lambda n: (1.0 / (n.inputs[0] + 1),), save=_X,
                  cuda_grad="log1p_bwd")
SQRT = _unary_op("sqrt", lambda xp, x: xp.sqrt(x), lambda n: (0.5 / n.out,), save=_Y, cuda_grad="sqrt_bwd")
SIN = _unary_op("sin", lambda xp, x: xp.sin(x), lambda n: (cos(n.inputs[0]),), save=_X, cuda_grad="sin_bwd")
COS = _unary_op("cos", lambda xp, x: xp.cos(x), lambda n: (-sin(n.inputs[0]),), save=_X, cuda_grad="cos_bwd")
TAN = _unary_op("tan", lambda xp, x: xp.tan(x), lambda n: (1 + n.out * n.out,), save=_Y, cuda_grad="tan_bwd")
TANH = _unary_op("tanh", lambda xp, x: xp.tanh(x), lambda n: (1 - n.out * n.out,), save=_Y, cuda_grad="tanh_bwd")
ERF = _unary_op("erf", lambda xp, x: xp.erf(x),
                lambda n: (_TWO_OVER_SQRT_PI * exp(-n.inputs[0] * n.inputs[0]),), save=_X, cuda_grad="erf_bwd")
SIGMOID = _unary_op("sigmoid", _sigmoid_forward, lambda n: (n.out * (1 - n.out),), save=_Y,
                    cuda="sigmoid", cuda_grad="sigmoid_bwd")
RELU = _unary_op("relu", lambda xp, x: xp.maximum(x, 0), lambda n: (n.out > 0,), save=_Y, promote=None,
                 cuda_grad="relu_bwd")
_GELU_RULES = {"none": "gelu_bwd", "tanh": "gelu_tanh_bwd"}
GELU = _unary_op("gelu", _gelu_forward, _gelu_derivative, save=_X, cuda="gelu",
                 cuda_grad=lambda p: _GELU_RULES[p["approximate"]])
SOFTPLUS = _unary_op("softplus", _softplus_forward, _softplus_derivative, save=_X)
CLAMP = _unary_op("clamp", _clamp_forward, _clamp_derivative, save=_X, promote=None)
FLOOR = _unary_op("floor", lambda xp, x: xp.floor(x), lambda n: (0.0,), promote=None)
CEIL = _unary_op("ceil", lambda xp, x: xp.ceil(x), lambda n: (0.0,), promote=None)
ROUND = _unary_op("round", lambda xp, x: xp.round(x), lambda n: (0.0,), promote=None)

neg = negative = _unary(NEG, "-x.")
abs = absolute = _unary(ABS, "|x|; the gradient at 0 is 0.")  # noqa: A001
sign = _unary(SIGN, "-1, 0 or 1; its gradient is zero everywhere.")
exp = _unary(EXP, "e**x; the derivative reuses the saved output.")
log = _unary(LOG, "Natural logarithm.")
log1p = _unary(LOG1P, "log(1 + x), accurate for small x.")
sqrt = _unary(SQRT, "Square root; the derivative reuses the saved output.")
sin = _unary(SIN, "Sine.")
cos = _unary(COS, "Cosine.")
tan = _unary(TAN, "Tangent; the derivative reuses the saved output.")
tanh = _unary(TANH, "Hyperbolic tangent; the derivative reuses the saved output.")
erf = _unary(ERF, "The error function (exact to machine precision without SciPy too).")
sigmoid = _unary(SIGMOID, "1 / (1 + exp(-x)), computed without overflow; the derivative reuses the saved output.")
relu = _unary(RELU, "max(x, 0); the gradient at 0 is 0.")
floor = _unary(FLOOR, "Round down; zero gradient.")
ceil = _unary(CEIL, "Round up; zero gradient.")
round = _unary(ROUND, "Round half to even; zero gradient.")  # noqa: A001


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
    if isinstance(min, Tensor) or isinstance(max, Tensor):  # at a bound the gradient goes to x, as for numbers
        x = one(x)
        if min is not None:
            x = where(x < min, min, x)
        return where(x > max, max, x) if max is not None else x
    x = one(x)
    if x.dtype.kind in "biu" and (type(min) is float or type(max) is float):
        x = x.to(get_default_dtype())  # an integer tensor clamped to float bounds becomes the default float
    return apply(CLAMP, (x,), {"min": min, "max": max})


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


def _where_jvp(c, t_cond, ta, tb):
    cond = c.inputs[0]
    return where(cond, 0.0 if ta is None else ta, 0.0 if tb is None else tb)


WHERE = Op("where", _where_forward, _where_vjp, jvp=_where_jvp, save=((), (0,), (0,)), broadcasting=True)


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (broadcast together); differentiable in ``a`` and ``b``."""
    condition = one(condition)
    a, b = operands(a, b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = tensor(a, device=condition.device)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype != b.dtype:
        common = promote(a.dtype, b.dtype)
        a, b = a.to(common), b.to(common)
    elif isinstance(a, Tensor) != isinstance(b, Tensor):  # a Python float meeting an integer tensor: default float
        t, number = (a, b) if isinstance(a, Tensor) else (b, a)
        if type(number) is float and t.dtype.kind in "biu":
            t = t.to(get_default_dtype())
            a, b = (t, number) if isinstance(a, Tensor) else (number, t)
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
