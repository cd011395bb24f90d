"""Moving a tensor between dtypes and devices; both are differentiable (the gradient goes back the same way)."""
from .core import Op, apply


def _to_device_forward(xp, x, src, dst):
    """``x`` (on ``src``) copied to ``dst``: up from the host, down to it, or straight from one GPU to another."""
    return dst.backend.receive(x, src.backend)


def _to_device(x, device):
    from ..tensor import wrap
    from ..autograd.grad_mode import mode
    from .core import record
    from .core import forward_tangent
    if x._base is not None:
        from ..autograd.views import sync_view
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
    from .core import apply_unary
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
