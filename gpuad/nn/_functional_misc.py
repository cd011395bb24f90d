"""The other nn functions: dropout variants, embedding, normalisation, padding, one_hot, distances.

Written in differentiable ops (gradients, forward mode and higher orders come from the ops), with PyTorch's
signatures, defaults and formulas (biased variance in the normalisation, unbiased in batch_norm's running
statistics, eps placement as in ATen).
"""
import math

import numpy as np

from ._ops import constant_pad
from ..autograd.grad_mode import no_grad
from ..ops._lift import one
from ..ops.elementwise import clamp, where
from ..ops.reduce import norm
from ..tensor import Tensor, wrap
from ..factories import rand, tensor, zeros

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "embedding",
           "layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm", "pad", "one_hot", "normalize",
           "cosine_similarity", "pairwise_distance"]


# --- dropout ---------------------------------------------------------------------------------------------------
def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p} (p must be in [0, 1])")


def _keep_mask(x, p, shape):
    """1/(1-p) where an element (or channel) is kept, 0 where it is dropped, in x's dtype."""
    if p == 1.0:
        return zeros(*shape, dtype=x.dtype, device=x.device)
    keep = rand(*shape, dtype=x.dtype, device=x.device) >= p
    return keep.to(x.dtype) * (1.0 / (1.0 - p))


def _apply_mask(x, mask, inplace):
    if inplace:
        return x.mul_(mask)
    return x * mask


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002 - PyTorch's names
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); the identity when not training."""
    _check_p(p)
    input = one(input)
    if not training or p == 0:
        return input
    return _apply_mask(input, _keep_mask(input, p, input.shape), inplace)


def _feature_dropout(input, p, training, inplace, dims, who):  # noqa: A002
    _check_p(p)
    input = one(input)
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{who}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape "
                         f"{input.shape}")
    if not training or p == 0:
        return input
    channels = input.ndim - dims  # the channel dim and the batch dim before it, if any
    shape = input.shape[:channels] + (1,) * dims
    return _apply_mask(input, _keep_mask(input, p, shape), inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero whole channels of (N, C, H, W) or (C, H, W) inputs."""
    return _feature_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _alpha_dropout(input, p, training, shape):  # noqa: A002
    """Dropout that keeps SELU's mean and variance: dropped elements take SELU's negative saturation, then an
    affine correction (PyTorch's constants)."""
    _check_p(p)
    input = one(input)
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    alpha = -_SELU_ALPHA * _SELU_SCALE
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = (rand(*shape, dtype=input.dtype, device=input.device) >= p).to(input.dtype)
    b = (keep - 1) * (alpha * a) + alpha * a * p
    return input * (keep * a) + b


def alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    return _alpha_dropout(input, p, training, one(input).shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    input = one(input)
    return _alpha_dropout(input, p, training, input.shape[:2] + (1,) * (input.ndim - 2))


# --- embedding -------------------------------------------------------------------------------------------------
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """Rows of ``weight`` picked by the integer ``input``; the row at ``padding_idx`` gets no gradient, and rows with
    a norm above ``max_norm`` are renormalised in place first (as PyTorch does)."""
    if sparse:
        raise ValueError("embedding: sparse=True (sparse gradients) is not supported by gpuad; use sparse=False")
    if scale_grad_by_freq:
        raise ValueError("embedding: scale_grad_by_freq=True is not supported by gpuad")
    if not isinstance(input, Tensor):
        input = tensor(input, device=weight.device)
    if input.dtype.kind not in "iu":
        raise TypeError(f"embedding: expected indices of an integer dtype (Long or Int), got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {weight.shape}")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise ValueError(f"Padding_idx must be within num_embeddings, got {padding_idx} for {rows} rows")
        padding_idx %= rows
    backend = input._device.backend
    if input.numel():
        backend.on_device(_check_rows, backend.xp, input._data, rows)
    if max_norm is not None:
        _renorm_rows(weight, input._data, max_norm, norm_type)
    out = weight[input]
    if padding_idx is not None and weight.requires_grad:
        out = where((input == padding_idx).unsqueeze(-1), out.detach(), out)
    return out


def _check_rows(xp, idx, rows):
    """Raise IndexError naming the first index outside [0, rows)."""
    if int(idx.min()) < 0 or int(idx.max()) >= rows:
        bad = idx[(idx < 0) | (idx >= rows)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for an embedding of {rows} rows")


def _renorm_rows(weight, idx, max_norm, norm_type):
    """Scale each referenced row whose norm exceeds max_norm down to max_norm (in place, not recorded)."""
    backend = weight._device.backend
    with no_grad():
        backend.on_device(_renorm_rows_raw, backend.xp, weight._data, idx, max_norm, norm_type)
        weight._version_counter.value += 1


def _renorm_rows_raw(xp, w, idx, max_norm, norm_type):
    rows = xp.unique(idx.reshape(-1))
    norms = (xp.abs(w[rows]) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w[rows] *= scale[:, None]


# --- normalisation ---------------------------------------------------------------------------------------------
def _normalized_dims(x, normalized_shape, who):
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(x.shape[x.ndim - k:]) != normalized_shape or x.ndim < k:
        raise ValueError(f"{who}: given normalized_shape={list(normalized_shape)}, expected input with shape "
                         f"[*, {', '.join(map(str, normalized_shape))}], but got input of size {list(x.shape)}")
    return tuple(range(x.ndim - k, x.ndim)), normalized_shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """(x - mean) / sqrt(var + eps) over the trailing ``normalized_shape`` (biased variance), then * weight + bias."""
    x = one(input)
    dims, _ = _normalized_dims(x, normalized_shape, "layer_norm")
    mean = x.mean(dims, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dims, keepdim=True)
    out = centred * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` (eps: the dtype's machine epsilon)."""
    x = one(input)
    dims, _ = _normalized_dims(x, normalized_shape, "rms_norm")
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    out = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def _channel_shape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) by the batch statistics while training (updating the running ones in place:
    ``(1 - momentum) * running + momentum * batch``, the variance unbiased), by the running ones otherwise."""
    x = one(input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with a batch and a channel dim (N, C, ...), got shape "
                         f"{x.shape}")
    C = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (C,):
            raise ValueError(f"batch_norm: {name} should contain {C} elements not {t.numel()}")
    dims = (0,) + tuple(range(2, x.ndim))
    shape = _channel_shape(x)
    if training:
        count = x.numel() // C if C else 0
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(x.shape)}")
        mean = x.mean(dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.detach().reshape(C) * momentum)
                if running_var is not None:
                    unbiased = var.detach().reshape(C) * (count / (count - 1))
                    running_var.mul_(1 - momentum).add_(unbiased * momentum)
        out = centred * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not training")
        out = (x - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each sample's channel over its spatial dims."""
    x = one(input)
    if not use_input_stats or running_mean is not None or running_var is not None:
        raise ValueError("instance_norm: running statistics (track_running_stats=True) are not supported by gpuad")
    dims = tuple(range(2, x.ndim))
    mean = x.mean(dims, keepdim=True)
    centred = x - mean
    out = centred * ((centred * centred).mean(dims, keepdim=True) + eps).rsqrt()
    shape = _channel_shape(x)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise each sample over groups of channels (and the spatial dims)."""
    x = one(input)
    N, C = x.shape[0], x.shape[1]
    if C % num_groups:
        raise ValueError(f"Expected number of channels in input to be divisible by num_groups, but got input of "
                         f"shape {list(x.shape)} and num_groups={num_groups}")
    g = x.reshape(N, num_groups, -1)
    mean = g.mean(-1, keepdim=True)
    centred = g - mean
    out = (centred * ((centred * centred).mean(-1, keepdim=True) + eps).rsqrt()).reshape(x.shape)
    shape = _channel_shape(x)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


# --- padding and encodings --------------------------------------------------------------------------------------
def pad(input, pad, mode="constant", value=None):  # noqa: A002,F811 - PyTorch's names
    """Pad (or crop, with negative sizes) the last len(pad)//2 dims: ``pad = (left, right, top, bottom, ...)``
    starting from the last dim. Only mode='constant' is supported."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode={mode!r} is not supported by gpuad (only 'constant')")
    x = one(input)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"Padding length must be divisible by 2, got {len(pad)}")
    k = len(pad) // 2
    if k > x.ndim:
        raise ValueError(f"Padding length should be less than or equal to two times the input dimension but got "
                         f"padding length {len(pad)} and input of dimension {x.ndim}")
    widths = [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]  # now in dim order, for the last k dims
    if any(lo < 0 or hi < 0 for lo, hi in widths):  # negative padding crops
        index = (Ellipsis,) + tuple(slice(-lo if lo < 0 else 0, x.shape[x.ndim - k + i] + hi if hi < 0 else None)
                                    for i, (lo, hi) in enumerate(widths))
        x = x[index]
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    return constant_pad(x, widths, 0 if value is None else value)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot encodings along a new last dim (num_classes=-1: the largest index + 1)."""
    if not isinstance(tensor, Tensor) or tensor.dtype.kind not in "iu":
        raise TypeError("one_hot is only applicable to index tensor of an integer dtype")
    if num_classes == -1 and tensor.numel() == 0:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    backend = tensor._device.backend
    return wrap(backend.on_device(_one_hot, backend.xp, tensor._data, num_classes), tensor._device)


def _one_hot(xp, idx, num_classes):
    """int64 one-hot rows of the class indices ``idx`` (num_classes=-1: the largest index + 1)."""
    if num_classes == -1:
        num_classes = int(idx.max()) + 1
    if idx.size and int(idx.min()) < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if idx.size and int(idx.max()) >= num_classes:
        raise ValueError("one_hot: class values must be smaller than num_classes")
    return (idx[..., None] == xp.arange(num_classes)).astype(xp.int64)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):  # noqa: A002
    """x / max(||x||_p, eps) along ``dim``."""
    x = one(input)
    result = x / clamp(norm(x, p, dim, keepdim=True), min=eps).expand_as(x)
    if out is not None:
        out.copy_(result)
        return out
    return result


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/|x1| * x2/|x2|) along ``dim``, the norms clamped to >= eps without recording the clamp (ATen's
    formula, so the gradient matches PyTorch's near zero too)."""
    x1, x2 = one(x1), one(x2)
    x1, x2 = x1.expand(_broadcast(x1, x2)), x2.expand(_broadcast(x1, x2))
    n1 = _clamp_unrecorded(norm(x1, 2, dim, keepdim=True), eps)
    n2 = _clamp_unrecorded(norm(x2, 2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _broadcast(a, b):
    return np.broadcast_shapes(a.shape, b.shape)


def _clamp_unrecorded(n, eps):
    """max(n, eps) in value, with n's gradient (PyTorch clamps the norm in place under no_grad)."""
    return n + (clamp(n, min=eps) - n).detach()


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim."""
    x1, x2 = one(x1), one(x2)
    d = x1 - x2 + eps
    dim = -1 if d.ndim else None
    return norm(d, p, dim, keepdim=keepdim)
