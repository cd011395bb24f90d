"""Moving a tensor between dtypes and devices; both are differentiable (the gradient goes back the same way).
``Tensor.to`` lives here (gpuad.ops installs it), with the ops it calls."""
from .. import dtypes
from .._autograd.grad_mode import mode
from .._autograd.views import sync_view
from ..device import Device, as_device
from ..tensor import Tensor, wrap
from .core import Op, apply, apply_unary, forward_tangent, record


def _to_device_forward(xp, x, src, dst):
    """``x`` (on ``src``) copied to ``dst``: up from the host, down to it, or straight from one GPU to another."""
    return dst.backend.receive(x, src.backend)


def _to_device(x, device):
    if x._base is not None:
        sync_view(x)
    data = _to_device_forward(None, x._data, x._device, device)
    out = wrap(data, device)
    params = {"src": x._device, "dst": device}
    if x._rg and mode.enabled:
        record(TO_DEVICE, (x,), params, out, device, (True,))
    if mode.fw_level and x._fw is not None:
        forward_tangent(TO_DEVICE, (x,), params, out)
    return out


def _to_device_vjp(n, g):
    return to_device(g, n.params["src"])


TO_DTYPE = Op("to_dtype", lambda xp, x, dtype: x.astype(dtype), lambda n, g: g,
              jvp=lambda c, t: to_dtype(t, c.params["dtype"]))
TO_DEVICE = Op("to_device", _to_device_forward, _to_device_vjp, jvp=lambda c, t: to_device(t, c.params["dst"]))
ALIAS = Op("alias", lambda xp, x: x.view(), lambda n, g: g, jvp=lambda c, t: t, view=True)


def alias(x):
    """A new tensor object viewing ``x``'s data, with ``x``'s history (make_dual and unpack_dual build on it)."""
    return apply_unary(ALIAS, x)


def to_dtype(x, dtype):
    """``x`` converted to ``dtype`` (the same tensor when it already has it). Gradients flow between float dtypes."""
    if x.dtype == dtype:
        return x
    return apply(TO_DTYPE, (x,), {"dtype": dtype})


def to_device(x, device):
    """``x`` copied to ``device`` (the same tensor when it is already there)."""
    if x._device is device:
        return x
    return _to_device(x, device)


def to(self, *args, **kwargs):
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``; differentiable."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    flags = [a for a in args if isinstance(a, bool)]  # to(device, dtype, non_blocking, copy) positionally
    if len(flags) > 2:
        raise TypeError("to() takes at most two bool arguments (non_blocking, copy)")
    if len(flags) == 2:
        copy = copy or flags[1]
    for arg in args:
        if isinstance(arg, bool):
            continue
        if isinstance(arg, Tensor):
            device, dtype = arg._device, arg.dtype
        elif isinstance(arg, (str, Device)):
            device = arg
        else:
            dtype = arg
    out = self
    if dtype is not None:
        out = to_dtype(out, dtypes.as_dtype(dtype))
    if device is not None:
        out = to_device(out, as_device(device))
    if copy and out is self:
        out = self.clone()
    return out
