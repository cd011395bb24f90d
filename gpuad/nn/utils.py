"""gpuad.nn.utils: gradient clipping and flattening parameters to and from one vector (PyTorch's functions).

The clipping functions change ``.grad`` in place without recording (as PyTorch's run under no_grad) and return the
total norm as a tensor; the norm is computed in one pass per gradient on its own device.
"""
import math
import warnings

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, wrap
from ..factories import tensor
from ..ops.shape import cat

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]


def _listed(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _norm(xp, a, norm_type):
    """The ``norm_type``-norm of all of ``a`` as a 0-d array."""
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), a.dtype)
    if norm_type == -math.inf:
        return xp.abs(a).min() if a.size else xp.zeros((), a.dtype)
    if norm_type == 0:
        return (a != 0).sum().astype(a.dtype)
    if norm_type == 2:
        return xp.sqrt((a * a).sum())
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (as if they were one vector)."""
    tensors = [t for t in _listed(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    device = tensors[0].device
    backend = device.backend
    norms = [_device_norm(t, norm_type, tensors[0].dtype) for t in tensors]
    norms = [n if t._device is device else backend.receive(n, t._device.backend) for n, t in zip(norms, tensors)]
    total = wrap(backend.on_device(_norm_of_norms, backend.xp, norms, norm_type), device)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it "
                           f"cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
                           f"anyway, set `error_if_nonfinite=False`")
    return total


def _device_norm(t, norm_type, dtype):
    """t's norm in ``dtype``, computed on t's own device (each gradient may live on another one)."""
    b = t._device.backend
    return b.on_device(_norm_in, b.xp, t._data, norm_type, dtype)


def _norm_in(xp, a, norm_type, dtype):
    return _norm(xp, a, norm_type).astype(dtype)


def _norm_of_norms(xp, norms, norm_type):
    return xp.asarray(_norm(xp, xp.stack(norms), norm_type))


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)), in place."""
    grads = [p.grad for p in _listed(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)  # on the device: no wait for the GPU
        for g in grads:
            g.mul_(coef if coef.device == g.device else coef.to(g.device))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their total norm is at most ``max_norm``; returns the total norm (before
    clipping)."""
    parameters = _listed(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    for p in _listed(parameters):
        g = p.grad
        if g is not None:
            xp = g.device.backend.xp
            xp.clip(g._data, -clip_value, clip_value, out=g._data)
            g._version_counter.value += 1


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one vector (differentiable)."""
    parameters = list(parameters)
    if not parameters:
        raise ValueError("parameters_to_vector: expected at least one parameter")
    device = parameters[0].device
    for p in parameters:
        if p.device != device:
            raise TypeError(f"Found two parameters on different devices, this is currently not supported "
                            f"({device} and {p.device})")
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Make each parameter's data the matching slice of ``vec`` (the inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected gpuad.Tensor, but got: {type(vec).__name__}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} values, got shape {vec.shape}")
    pointer = 0
    for p in parameters:
        if vec.device != p.device:
            raise TypeError(f"Found two parameters on different devices, this is currently not supported "
                            f"({vec.device} and {p.device})")
        n = p.numel()
        p.data = vec[pointer:pointer + n].detach().reshape(p.shape).to(p.dtype)
        p._version_counter.value += 1
        pointer += n
