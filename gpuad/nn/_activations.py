"""Activation functions with PyTorch's names, signatures and derivative conventions at the kinks.

Built from differentiable ops, so reverse mode, forward mode and higher orders come from the ops' records. Where a
branch could overflow (exp of a large input in ELU's unused branch) its argument is clamped first, so that the
unselected branch never feeds inf * 0 = NaN into the gradient.
"""
import warnings

from ._ops import expm1
from ..ops._lift import one
from ..ops.elementwise import clamp, gelu, relu, sigmoid, softplus, tanh, where  # noqa: F401 - gelu, tanh: F.
from ..ops.reduce import log_softmax as _log_softmax, softmax as _softmax
from ..ops.shape import chunk
from ..factories import rand

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "silu", "mish",
           "softplus", "softsign", "softmax", "softmin", "log_softmax", "hardtanh", "hardtanh_", "prelu", "rrelu",
           "glu", "logsigmoid", "hardsigmoid", "hardswish", "tanhshrink", "threshold", "gelu", "tanh", "sigmoid",
           "hardshrink", "softshrink"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _inplace(x, out):
    """Write an activation's result into x (bumping its version), as the ``inplace=True`` forms do."""
    return x.copy_(out)


def relu_(x):
    return _inplace(x, relu(x))


def _maybe_inplace(x, out, inplace):
    return _inplace(x, out) if inplace else out


def _relu(x, inplace=False):
    return _maybe_inplace(x, relu(one(x)), inplace)


def threshold(x, threshold, value, inplace=False):  # noqa: F811 - PyTorch's argument name
    """x where x > threshold, else value."""
    x = one(x)
    return _maybe_inplace(x, where(x > threshold, x, value), inplace)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside and 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    x = one(x)
    inside = (x > min_val) & (x < max_val)
    return _maybe_inplace(x, where(inside, x, clamp(x, min_val, max_val).detach()), inplace)


def hardtanh_(x, min_val=-1.0, max_val=1.0):
    return hardtanh(x, min_val, max_val, inplace=True)


def relu6(x, inplace=False):
    """min(max(x, 0), 6), as PyTorch's hardtanh(x, 0, 6)."""
    return hardtanh(x, 0.0, 6.0, inplace)


def hardsigmoid(x, inplace=False):
    """relu6(x + 3) / 6; the gradient is 1/6 strictly between -3 and 3, else 0."""
    x = one(x)
    return _maybe_inplace(x, hardtanh(x + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(x, inplace=False):
    """x * relu6(x + 3) / 6."""
    x = one(x)
    return _maybe_inplace(x, x * hardtanh(x + 3.0, 0.0, 6.0) / 6.0, inplace)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope * x otherwise (the slope at 0 is negative_slope)."""
    x = one(x)
    return _maybe_inplace(x, where(x > 0, x, x * negative_slope), inplace)


def leaky_relu_(x, negative_slope=0.01):
    return leaky_relu(x, negative_slope, inplace=True)


def elu(x, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    x = one(x)
    return _maybe_inplace(x, where(x > 0, x, expm1(clamp(x, max=0.0)) * alpha), inplace)


def elu_(x, alpha=1.0):
    return elu(x, alpha, inplace=True)


def selu(x, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants."""
    x = one(x)
    return _maybe_inplace(x, where(x > 0, x * _SELU_SCALE, expm1(clamp(x, max=0.0)) * (_SELU_ALPHA * _SELU_SCALE)),
                          inplace)


def celu(x, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("ZeroDivisionError: alpha cannot be 0 for CELU")
    x = one(x)
    return _maybe_inplace(x, where(x > 0, x, expm1(clamp(x, max=0.0) / alpha) * alpha), inplace)


def silu(x, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    x = one(x)
    return _maybe_inplace(x, x * sigmoid(x), inplace)


def mish(x, inplace=False):
    """x * tanh(softplus(x))."""
    x = one(x)
    return _maybe_inplace(x, x * tanh(softplus(x)), inplace)


def softsign(x):
    x = one(x)
    return x / (x.abs() + 1)


def tanhshrink(x):
    x = one(x)
    return x - tanh(x)


def logsigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-one(x), threshold=float("inf"))


def hardshrink(x, lambd=0.5):
    x = one(x)
    return where((x > lambd) | (x < -lambd), x, 0.0)


def softshrink(x, lambd=0.5):
    if lambd < 0:
        raise ValueError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    x = one(x)
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, 0.0))


def prelu(x, weight):
    """x for x > 0, weight * x otherwise; ``weight`` has one value or one per channel (dim 1)."""
    x = one(x)
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {weight.shape}")
    if weight.numel() != 1:
        channels = x.shape[1] if x.ndim >= 2 else x.shape[0] if x.ndim == 1 else 1
        if weight.numel() != channels:
            raise ValueError(f"prelu: mismatch of parameter numbers and input channel size: weight has "
                             f"{weight.numel()} values, the input has {channels} channels (shape {x.shape})")
        if x.ndim >= 2:
            weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return where(x > 0, x, weight * x)


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Leaky ReLU with a random slope in [lower, upper] per element while training, the mean slope otherwise."""
    x = one(x)
    if not training:
        return leaky_relu(x, (lower + upper) / 2, inplace)
    slope = rand(*x.shape, dtype=x.dtype, device=x.device) * (upper - lower) + lower
    return _maybe_inplace(x, where(x >= 0, x, x * slope), inplace)


def glu(x, dim=-1):
    """a * sigmoid(b) where a, b are the two halves of x along ``dim``."""
    x = one(x)
    if x.ndim == 0:
        raise ValueError("glu does not support scalars because halving size must be even")
    if x.shape[dim] % 2:
        raise ValueError(f"Halving dimension must be even, but dimension {dim} is size {x.shape[dim]}")
    a, b = chunk(x, 2, dim)
    return a * sigmoid(b)


def _softmax_dim(ndim):
    """PyTorch's implicit dim (with its deprecation warning): 0 for 0-, 1- and 3-d inputs, else 1."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the call to include dim=X as "
                  "an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _with_dtype(x, dtype):
    x = one(x)
    return x.to(dtype) if dtype is not None else x


def softmax(x, dim=None, _stacklevel=3, dtype=None):
    x = _with_dtype(x, dtype)
    return _softmax(x, _softmax_dim(x.ndim) if dim is None else dim)


def softmin(x, dim=None, _stacklevel=3, dtype=None):
    x = _with_dtype(x, dtype)
    return _softmax(-x, _softmax_dim(x.ndim) if dim is None else dim)


def log_softmax(x, dim=None, _stacklevel=3, dtype=None):
    x = _with_dtype(x, dtype)
    return _log_softmax(x, _softmax_dim(x.ndim) if dim is None else dim)
