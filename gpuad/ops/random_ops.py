"""Random sampling (randperm is gpuad.random's): normal, bernoulli, multinomial, poisson, randint_like, and the in-place samplers
(Tensor.uniform_, normal_, random_, bernoulli_, exponential_, geometric_, cauchy_, log_normal_).

Every sampler takes ``generator=``: None draws from gpuad's global generator of the tensor's device (seeded by
``gpuad.manual_seed``); otherwise any object with the backend RNG interface (``rand(shape, dtype)``,
``randn(shape, dtype)``, ``randint(low, high, shape, dtype)``, as gpuad.Generator has), a NumPy ``Generator``, or an
object holding one as ``.generator``. The in-place samplers do not record a graph (the tensor's new value depends on
nothing), and like every in-place op refuse a leaf that requires grad while grad mode is on.

The samplers turn uniform or normal draws into their distribution with raw-array arithmetic, which CuPy runs on the
current GPU: each hands that work to the tensor's backend as one helper (``_on``), so it runs on the tensor's GPU.
"""
import functools
import math

import numpy as np

from .. import dtypes
from ..device import as_device
from ..random import Generator, randperm, stream  # noqa: F401 - randperm lives with the Generator
from ..random import generator as device_generator
from ..tensor import Tensor, wrap
from ._lift import one
from .._args import shape_arg
from .inplace import _check_target, _write
from .._autograd.grad_mode import mode


def _source(generator, device):
    """The object that draws: the device's global generator, a ``gpuad.Generator``'s stream, or the object passed."""
    if generator is None:
        return device_generator(device)
    if isinstance(generator, Generator):
        return stream(generator, device, "generator")
    return generator


def _draw(generator, device, kind, shape, dtype, *args):
    """An array of ``kind`` ('rand', 'randn' or 'randint') samples on ``device``."""
    source = _source(generator, device)
    if hasattr(source, kind):
        arr = getattr(source, kind)(*args, shape, dtype) if kind == "randint" else getattr(source, kind)(shape, dtype)
    elif isinstance(getattr(source, "generator", None), np.random.Generator) and not hasattr(source, "random"):
        return _draw(source.generator, device, kind, shape, dtype, *args)
    elif isinstance(source, np.random.Generator):
        if kind == "rand":
            arr = source.random(shape, dtype=dtype if dtype.itemsize >= 4 else np.float32).astype(dtype)
        elif kind == "randn":
            arr = source.standard_normal(shape, dtype=dtype if dtype.itemsize >= 4 else np.float32).astype(dtype)
        else:
            arr = source.integers(args[0], args[1], shape).astype(dtype)
    else:
        raise TypeError(f"generator: expected a gpuad.Generator (an object with rand/randn/randint) or a NumPy "
                        f"Generator, got {type(generator).__name__}")
    return device.backend.receive(arr)


def _on(device, helper, *args):
    """``helper(xp, *args)`` run by ``device``'s backend with that device current (on the CPU, a plain call)."""
    backend = device.backend
    return backend.on_device(helper, backend.xp, *args)


def _float_dtype(dtype):
    dtype = dtypes.as_dtype(dtype) or dtypes.get_default_dtype()
    return dtype


# --- permutations and discrete samples ------------------------------------------------------------------------
def randint_like(input, low=0, high=None, *, dtype=None, device=None, generator=None):  # noqa: A002
    """Random integers in [low, high) with input's shape (``randint_like(x, high)`` means low = 0)."""
    x = one(input)
    if high is None:
        low, high = 0, low
    device = as_device(device) if device is not None else x.device
    dtype = dtypes.as_dtype(dtype) or x.dtype
    return wrap(_draw(generator, device, "randint", tuple(x.shape), dtype, low, high), device)


def bernoulli(input, p=None, *, generator=None):  # noqa: A002
    """1 with probability ``input`` (or ``p``) elementwise, else 0, in input's dtype. Not differentiable."""
    probs = one(input)
    if probs.dtype.kind != "f":
        raise TypeError(f"bernoulli: expected a floating tensor of probabilities, got {probs.dtype}")
    if p is None and probs.numel() and _on(probs._device, _outside_unit, probs._data):
        raise ValueError("bernoulli: probabilities must be in [0, 1]")
    u = _draw(generator, probs._device, "rand", tuple(probs.shape), probs.dtype)
    return wrap(_on(probs._device, _below, u, probs._data if p is None else p, probs.dtype), probs._device)


def _outside_unit(xp, p):
    """Whether any probability is outside [0, 1]."""
    return bool(xp.any((p < 0) | (p > 1)))


def _below(xp, u, p, dtype):
    """1 where the uniform draw ``u`` < ``p``, else 0, in ``dtype``: Bernoulli(p) samples."""
    return xp.asarray(u < p).astype(dtype)


def multinomial(input, num_samples, replacement=False, *, generator=None):  # noqa: A002
    """Category indices drawn from the (unnormalised) weights of each row of ``input`` (1-D or 2-D); without
    replacement each category is drawn at most once (Gumbel top-k)."""
    w = one(input)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: expected a 1-D or 2-D tensor of weights, got shape {tuple(w.shape)}")
    if w.dtype.kind != "f":
        raise TypeError(f"multinomial: expected floating weights, got {w.dtype}")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    draw = functools.partial(_draw, generator, w._device, "rand")
    idx = _on(w._device, _multinomial, w._data, num_samples, replacement, draw)
    return wrap(idx.reshape(num_samples) if w.ndim == 1 else idx, w._device)


def _multinomial(xp, weights, num_samples, replacement, draw):
    """(rows, num_samples) int64 category indices drawn from each row of ``weights`` (``draw(shape, dtype)``:
    uniforms on the weights' device)."""
    rows = weights.reshape(-1, weights.shape[-1]).astype(np.float64)
    if rows.size and (bool(xp.any(rows < 0)) or not bool(xp.all(xp.isfinite(rows)))):
        raise ValueError("multinomial: weights must be finite and non-negative")
    total = rows.sum(-1, keepdims=True)
    if bool(xp.any(total <= 0)):
        raise ValueError("multinomial: each row of weights must have a positive sum")
    k = rows.shape[-1]
    if replacement:
        cdf = xp.cumsum(rows / total, axis=-1)
        cdf[:, -1] = 1.0
        u = draw((rows.shape[0], num_samples), rows.dtype)
        idx = xp.stack([xp.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
        idx = xp.minimum(idx, k - 1)
    else:
        positive = (rows > 0).sum(-1)
        if num_samples > k or bool(xp.any(positive < num_samples)):
            raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement from rows with "
                             f"{int(positive.min())} nonzero weights")
        u = draw(rows.shape, rows.dtype)
        with np.errstate(divide="ignore"):
            keys = xp.log(rows) - xp.log(-xp.log(xp.clip(u, 1e-300, 1.0)))  # log w + Gumbel noise
        idx = xp.argsort(-keys, axis=-1, kind="stable")[:, :num_samples]
    return idx.astype(np.int64)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False,
           out=None):
    """Normal samples: ``normal(mean, std)`` with tensors (broadcast; differentiable in both, as PyTorch's is) or
    numbers with ``size``."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        if size is not None:
            raise ValueError("normal: size is only for number mean and std")
        if isinstance(std, (int, float)) and std < 0 or isinstance(std, Tensor) and bool((std < 0).any()):
            raise ValueError("normal: std must be non-negative")
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())), tuple(getattr(std, "shape", ())))
        noise = wrap(_draw(generator, ref.device, "randn", shape, ref.dtype), ref.device)
        return mean + std * noise
    if size is None:
        raise ValueError("normal: with number mean and std, give size=")
    if std < 0:
        raise ValueError(f"normal: std must be non-negative, got {std}")
    device = as_device(device)
    dtype = _float_dtype(dtype)
    z = _draw(generator, device, "randn", shape_arg((size,), "normal"), dtype)
    t = wrap(_on(device, _affine, z, std, mean, dtype), device)
    if requires_grad:
        t.requires_grad = True
    return t


def _affine(xp, z, scale, shift, dtype):
    """z * scale + shift in ``dtype``."""
    return xp.asarray(z * scale + shift, dtype=dtype)


def poisson(input, generator=None):  # noqa: A002
    """Poisson samples with the rates in ``input`` (inverse-CDF sampling on the given generator)."""
    rates = one(input)
    if rates.dtype.kind != "f":
        raise TypeError(f"poisson: expected floating rates, got {rates.dtype}")
    u = _draw(generator, rates._device, "rand", tuple(rates.shape), np.dtype(np.float64))
    return wrap(_on(rates._device, _poisson, rates._data, u), rates._device)


def _poisson(xp, rates, u):
    """Poisson(rates) samples in rates' dtype, by walking the CDF up to each uniform draw ``u``."""
    if rates.size and bool(xp.any(rates < 0)):
        raise ValueError("poisson: rates must be non-negative")
    lam = rates.astype(np.float64)
    k = xp.zeros(lam.shape, np.float64)
    p = xp.exp(-lam)
    cdf = p.copy()
    active = u > cdf
    limit = int(float(lam.max()) * 10 + 50) if lam.size else 0
    for _ in range(limit):  # NOTE: O(max rate) steps; fine for the small rates of tests and toy models
        if not bool(xp.any(active)):
            break
        k = xp.where(active, k + 1, k)
        p = xp.where(active, p * lam / xp.maximum(k, 1), p)
        cdf = cdf + xp.where(active, p, 0)
        active = active & (u > cdf)
    return k.astype(rates.dtype)


# --- in-place samplers ----------------------------------------------------------------------------------------
def _fill_sampled(self, who, transform, draw, *args):
    """Write ``transform(xp, draw, *args)`` (the draws turned into samples, on self's device) into ``self``."""
    _check_target(self, who)
    _write(self, _on(self._device, _transformed, transform, draw, self.dtype, args), who)
    if mode.enabled and self._node is not None:
        self._node, self._rg = None, False
    return self


def _transformed(xp, transform, draw, dtype, args):
    return xp.asarray(transform(xp, draw, *args), dtype=dtype)


def _scaled(xp, u, scale, shift):
    return u * scale + shift


def _exponential(xp, u, lambd):
    return -xp.log1p(-u) / lambd


def _geometric(xp, u, p):
    return xp.maximum(xp.ceil(xp.log1p(-u) / math.log1p(-p)), 1)


def _cauchy(xp, u, median, sigma):
    return median + sigma * xp.tan(math.pi * (u - 0.5))


def _log_normal(xp, z, mean, std):
    return xp.exp(z * std + mean)


def _identity(xp, values):
    return values


def _float_self(self, who):
    if self.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating tensor, got {self.dtype}")


def uniform_(self, a=0.0, b=1.0, *, generator=None, low=None, high=None):
    """Fill with samples uniform on [a, b)."""
    _float_self(self, "uniform_")
    a, b = (a if low is None else low), (b if high is None else high)
    u = _draw(generator, self._device, "rand", tuple(self.shape), self.dtype)
    return _fill_sampled(self, "uniform_", _scaled, u, b - a, a)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with normal samples of ``mean`` and ``std``."""
    _float_self(self, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    z = _draw(generator, self._device, "randn", tuple(self.shape), self.dtype)
    return _fill_sampled(self, "normal_", _scaled, z, std, mean)


def random_(self, from_=0, to=None, *, generator=None, **kwargs):
    """Fill with integers uniform on [from, to) (``random_(to)`` means from = 0; with no bound, [0, 2**mantissa]
    for floats and the dtype's range for integers)."""
    if "from" in kwargs:
        from_ = kwargs.pop("from")
    if kwargs:
        raise TypeError(f"random_: unexpected keyword arguments {sorted(kwargs)}")
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        if self.dtype.kind == "f":
            to = 2 ** (np.finfo(self.dtype).nmant + 1) + 1
        elif self.dtype.kind == "b":
            to = 2
        else:
            to = int(np.iinfo(self.dtype).max) + 1
    if from_ >= to:
        raise ValueError(f"random_: expects from < to, got from={from_} and to={to}")
    values = _draw(generator, self._device, "randint", tuple(self.shape), np.dtype(np.int64), from_, to)
    return _fill_sampled(self, "random_", _identity, values)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill with 1 with probability ``p`` (a number or a tensor of probabilities), else 0."""
    probs = p._data if isinstance(p, Tensor) else p
    u = _draw(generator, self._device, "rand", tuple(self.shape), np.dtype(np.float64))
    return _fill_sampled(self, "bernoulli_", _below, u, probs, self.dtype)


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill with exponential samples of rate ``lambd``."""
    _float_self(self, "exponential_")
    if lambd <= 0:
        raise ValueError(f"exponential_: lambd must be positive, got {lambd}")
    u = _draw(generator, self._device, "rand", tuple(self.shape), np.dtype(np.float64))
    return _fill_sampled(self, "exponential_", _exponential, u, lambd)


def geometric_(self, p, *, generator=None):
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise ValueError(f"geometric_: p must be in (0, 1), got {p}")
    u = _draw(generator, self._device, "rand", tuple(self.shape), np.dtype(np.float64))
    return _fill_sampled(self, "geometric_", _geometric, u, p)


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Fill with Cauchy samples."""
    _float_self(self, "cauchy_")
    u = _draw(generator, self._device, "rand", tuple(self.shape), np.dtype(np.float64))
    return _fill_sampled(self, "cauchy_", _cauchy, u, median, sigma)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Fill with exp of normal samples of ``mean`` and ``std``."""
    _float_self(self, "log_normal_")
    z = _draw(generator, self._device, "randn", tuple(self.shape), np.dtype(np.float64))
    return _fill_sampled(self, "log_normal_", _log_normal, z, mean, std)
