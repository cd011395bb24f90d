"""gpuad.nn.init: PyTorch's in-place initialisers, gains and fan computation.

Each writes into the tensor's own memory without recording a graph (as under ``no_grad``) and bumps its version
counter like any in-place op, so a value saved for backward before the change is still caught. Random numbers come
from the device's generator (``gpuad.manual_seed``), or from ``generator`` when one is given. Values are computed
with tensor ops and written by the tensor's backend, so all of it runs on the tensor's own device.
"""
import math
import warnings

import numpy as np

from ..factories import eye
from ..linalg import qr
from ..ops import where
from ..random import generator as _device_generator
from ..tensor import Tensor, wrap

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_"]


def _write(tensor, values, index=Ellipsis):
    """Store ``values`` (a tensor on ``tensor``'s device, or a number) into ``tensor[index]`` in place and bump its
    version; returns the tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init expects a tensor, got {type(tensor).__name__}")
    tensor._device.backend.write(tensor._data, values._data if isinstance(values, Tensor) else values, index)
    tensor._version_counter.value += 1
    return tensor


def _drawn(tensor, draw):
    """A tensor on ``tensor``'s device holding the array a generator drew for it."""
    return wrap(draw, tensor._device)


def _source(tensor, generator):
    """What draws the numbers: the given generator (anything with the backends' rand/randn(shape, dtype)), else the
    tensor's device generator."""
    if generator is None:
        return _device_generator(tensor.device)
    if hasattr(generator, "rand") and hasattr(generator, "randn"):
        return generator
    raise TypeError(f"nn.init: generator must be None or a gpuad generator, got {type(generator).__name__}")


def _float_dtype(tensor):
    dtype = tensor.dtype
    if dtype.kind != "f":
        raise TypeError(f"nn.init: random initialisation needs a floating-point tensor, got {dtype}")
    return dtype


def _uniform(tensor, low, high, generator):
    dtype = _float_dtype(tensor)
    draw = _drawn(tensor, _source(tensor, generator).rand(tensor.shape, dtype))
    return draw * (high - low) + low


def _normal(tensor, mean, std, generator):
    dtype = _float_dtype(tensor)
    return _drawn(tensor, _source(tensor, generator).randn(tensor.shape, dtype)) * std + mean


# --- gains and fans -------------------------------------------------------------------------------------------
def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out): size(1) and size(0) times the receptive field (the product of the dims after the 2nd)."""
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# --- the initialisers -------------------------------------------------------------------------------------------
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with values from U(a, b)."""
    return _write(tensor, _uniform(tensor, a, b, generator))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with values from N(mean, std^2)."""
    return _write(tensor, _normal(tensor, mean, std, generator))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fill with values from N(mean, std^2) truncated to [a, b] (a and b are absolute bounds, as in PyTorch); drawn
    by inverting the normal CDF on U(cdf(a), cdf(b)), PyTorch's method."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The distribution of values may "
                      "be incorrect.", stacklevel=2)
    norm_cdf = lambda x: (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0  # noqa: E731
    lo, hi = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
    u = _uniform(tensor, 2 * lo - 1, 2 * hi - 1, generator)
    values = _erfinv(u.to(np.float64)) * (std * math.sqrt(2.0)) + mean
    return _write(tensor, values.clamp(a, b).to(tensor.dtype))


def _erfinv(y):
    """The inverse error function on (-1, 1) of a float64 tensor: Giles' single-precision approximation refined by
    two Newton steps on erf (machine precision in float64)."""
    w = -((1.0 - y) * (1.0 + y)).log()
    small = w < 5.0
    ws, wl = w - 2.5, w.sqrt() - 3.0
    ps = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
              0.246640727, 1.50140941):
        ps = c + ps * ws
    pl = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
              1.00167406, 2.83297682):
        pl = c + pl * wl
    x = where(small, ps, pl) * y
    for _ in range(2):
        x = x - (x.erf() - y) / (2.0 / math.sqrt(math.pi) * (-x * x).exp())
    return x


def constant_(tensor, val):
    """Fill with ``val``."""
    return _write(tensor, val)


def ones_(tensor):
    return _write(tensor, 1)


def zeros_(tensor):
    return _write(tensor, 0)


def eye_(tensor):
    """The identity matrix (2-D tensors only)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, eye(*tensor.shape, dtype=tensor.dtype, device=tensor._device))


def dirac_(tensor, groups=1):
    """The Dirac delta for 3-, 4- and 5-D convolution weights (identity on the channels)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    _write(tensor, 0)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            _write(tensor, 1, (g * out_per_group + d, d) + centre)
    return tensor


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return _write(tensor, _uniform(tensor, -a, a, generator))


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _write(tensor, _normal(tensor, 0.0, std, generator))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound) with bound = gain * sqrt(3 / fan) (He et al.)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return _write(tensor, _uniform(tensor, -bound, bound, generator))


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    return _write(tensor, _normal(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator))


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal sample, signs fixed by diag(R) (Saxe et
    al.), times ``gain``; dims after the first are flattened."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    dtype = _float_dtype(tensor)
    flat = _drawn(tensor, _source(tensor, generator).randn((rows, cols), dtype)).to(np.float64)
    if rows < cols:
        flat = flat.T
    q, r = qr(flat)
    q = q * r.diagonal().sign()
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape).to(dtype))


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D normal N(0, std^2) matrix with a fraction ``sparsity`` of each column set to zero."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    _write(tensor, _normal(tensor, 0.0, std, generator))
    source = _source(tensor, generator)
    for c in range(cols):
        order = _drawn(tensor, source.rand((rows,), np.dtype(np.float64))).argsort()
        _write(tensor, 0, (order._data[:num_zeros], c))
    return tensor
