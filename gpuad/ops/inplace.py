"""In-place ops (``add_``, ``x[idx] = v``, ...): write into the tensor's own memory and bump its version counter.

Without a graph to record (no grad mode, or nothing requires grad) they are true in-place NumPy/CuPy updates, which is
what optimizers rely on. With a graph, the result is computed by the out-of-place op, written into the tensor's memory,
and the tensor becomes that op's output; any node that saved the old value sees the version change and raises at
backward. As in PyTorch, a leaf that requires grad cannot be changed in place while grad mode is on.
"""
import functools

import numpy as np

from . import elementwise as ew
from .. import _capture
from .core import Op, apply
from .shape import normalize_index
from ._lift import operands
from ..autograd.grad_mode import mode
from ..tensor import Tensor


def _check_target(self, who):
    if not mode.enabled:
        return
    if self._node is None and self._rg:
        raise RuntimeError(f"{who}: a leaf tensor that requires grad is being used in an in-place operation; "
                           f"wrap the update in `with gpuad.no_grad():` or work on a clone()")
    base = self._base
    if base is not None and (base._rg or self._rg):
        raise RuntimeError(f"{who}: in-place change of a view of a tensor that requires grad is not supported; "
                           f"use the out-of-place op or clone() the view first")


def commit(self, result, who):
    """Write ``result`` into ``self`` and make ``self`` stand for it in the graph."""
    if result.dtype != self.dtype and not np.can_cast(result.dtype, self.dtype, "same_kind"):
        raise TypeError(f"{who}: the result has dtype {result.dtype}, which can't be cast to the dtype "
                        f"{self.dtype} of the tensor changed in place")
    if result.shape != self.shape:
        raise ValueError(f"{who}: the result has shape {result.shape}, which doesn't match the shape {self.shape} "
                         f"of the tensor changed in place")
    node = result._node
    if node is not None and node.saved is not None and any(t is self for t in node.saved):
        _keep_old_value(self, node)
    _write(self, result._data, who)
    if result._node is not None:
        self._node, self._idx, self._rg = result._node, result._idx, True
    if result._fw is not None or self._fw is not None:
        self._fw = result._fw
    return self


def _keep_old_value(self, node):
    """The node's backward needs self's value from before the write: save a copy that keeps self's history
    (PyTorch does the same for pow_, clamp_ and mul_ by a tensor that requires grad)."""
    from ..tensor import wrap
    old = wrap(self._data.copy(), self._device)
    old._rg, old._node, old._idx = self._rg, self._node, self._idx
    saved, versions = list(node.saved), list(node.saved_versions)
    for i, t in enumerate(saved):
        if t is self:
            saved[i], versions[i] = old, 0
    node.saved, node.saved_versions = saved, versions


def _write(self, data, who, index=Ellipsis):
    if _capture.ACTIVE is not None:  # gpuad.compile records the write
        _capture.ACTIVE.write(index, self, data)
    try:
        self._data[index] = data
    except ValueError as exc:
        raise ValueError(f"{who}: cannot write into this tensor ({exc}); expanded tensors are read-only views, "
                         f"clone() them first") from None
    self._version_counter.value += 1


def _needs_graph(self, other):
    """Whether the in-place op must go through the out-of-place op (to record it, or to carry a tangent)."""
    other_is_tensor = isinstance(other, Tensor)
    if mode.enabled and (self._rg or (other_is_tensor and other._rg)):
        return True
    return bool(mode.fw_level) and (self._fw is not None or (other_is_tensor and other._fw is not None))


def _inplace_binary(name, out_of_place, ufunc):
    def method(self, other, alpha=None):
        if alpha is not None:
            other = other * alpha
        _check_target(self, name)
        if _needs_graph(self, other):
            return commit(self, out_of_place(self, other), name)
        a, b = operands(self, other)
        if isinstance(b, Tensor):
            if b._device is not self._device:
                raise RuntimeError(f"{name}: expected both tensors on one device, got {self.device} and {b.device}")
            b = b._data
        xp = self._device.backend.xp
        if _capture.ACTIVE is not None:  # gpuad.compile records the write (after its checks below pass)
            from ..capture.calls import ufunc_inplace
            _capture.ACTIVE.call(functools.partial(ufunc_inplace, xp, ufunc), (self, b), None)
        try:
            getattr(xp, ufunc)(self._data, b, out=self._data, casting="same_kind")
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}; the in-place tensor has dtype {self.dtype}") from None
        except ValueError as exc:
            raise ValueError(f"{name}: shapes {self.shape} and {getattr(b, 'shape', ())} can't be combined in "
                             f"place: the result must keep the shape {self.shape} ({exc})") from None
        self._version_counter.value += 1
        return self
    method.__name__ = name
    method.__doc__ = f"In place: self = {out_of_place.__name__}(self, other)."
    return method


add_ = _inplace_binary("add_", ew.add, "add")
sub_ = _inplace_binary("sub_", ew.sub, "subtract")
mul_ = _inplace_binary("mul_", ew.mul, "multiply")
div_ = _inplace_binary("div_", ew.div, "true_divide")
pow_ = _inplace_binary("pow_", ew.pow, "power")


def _inplace_unary(name, out_of_place):
    def method(self, *args, **kwargs):
        _check_target(self, name)
        return commit(self, out_of_place(self, *args, **kwargs), name)
    method.__name__ = name
    return method


relu_ = _inplace_unary("relu_", ew.relu)
clamp_ = _inplace_unary("clamp_", ew.clamp)
exp_ = _inplace_unary("exp_", ew.exp)
neg_ = _inplace_unary("neg_", ew.neg)
sigmoid_ = _inplace_unary("sigmoid_", ew.sigmoid)
tanh_ = _inplace_unary("tanh_", ew.tanh)
sqrt_ = _inplace_unary("sqrt_", ew.sqrt)


def fill_(self, value):
    """Set every element to ``value``; the tensor leaves the graph (its value no longer depends on anything)."""
    _check_target(self, "fill_")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"fill_: expects a number or a one-element tensor, got shape {value.shape}")
        value = value.item()
    _write(self, value, "fill_")
    if mode.enabled and self._node is not None:
        self._node, self._rg = None, False
    return self


def zero_(self):
    return fill_(self, 0)


def _copy_jvp(c, t):
    from .core import align_batched
    from .shape import batch_shape
    shape = c.params["shape"]
    return align_batched(t, c.inputs[0].ndim, len(shape)).expand(batch_shape(c, t) + shape).to(c.params["dtype"])


COPY_FROM = Op("copy", lambda xp, src, shape, dtype: xp.broadcast_to(src, shape).astype(dtype), lambda n, g: g,
               jvp=_copy_jvp)


def copy_(self, src):
    """Copy ``src`` (broadcast, cast) into ``self``; the gradient flows to ``src``, not to the overwritten value."""
    _check_target(self, "copy_")
    if not isinstance(src, Tensor):
        from ..factories import tensor
        src = tensor(src, device=self._device)
    if src._device is not self._device:
        src = src.to(self._device)
    try:
        fits = np.broadcast_shapes(src.shape, self.shape) == self.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"copy_: source shape {src.shape} does not broadcast to {self.shape}")
    if mode.enabled and src._rg:
        return commit(self, apply(COPY_FROM, (src,), {"shape": self.shape, "dtype": self.dtype}), "copy_")
    _write(self, src._data, "copy_")
    if mode.enabled and self._node is not None:
        self._node, self._rg = None, False
    return self


def _index_put_forward(xp, x, v, index):
    out = x.copy()
    out[index] = v
    return out


def _index_put_vjp(n, g):
    from ..autograd.grad_mode import grad_batch
    from ..tensor import wrap
    index, batch = n.params["index"], grad_batch()
    gx = gv = None
    if n.needs[0]:  # the overwritten elements get no gradient
        keep = g._device.backend.xp.ones(g.shape[batch:], dtype=bool)
        keep[index] = False
        gx = g * wrap(keep, g._device)
    if n.needs[1]:
        gv = g[(slice(None),) * batch + index]
        missing = len(n.next[1][2]) - (gv.ndim - batch)
        if missing > 0:  # the value had extra leading size-1 dims (allowed by assignment's broadcasting)
            gv = gv.reshape(gv.shape[:batch] + (1,) * missing + gv.shape[batch:])
    return gx, gv


def _index_put_jvp(c, tx, tv):
    from .core import align_batched
    from .shape import batch_shape, batched_index
    from ..factories import zeros
    x, v = c.inputs
    ref = tx if tx is not None else tv
    batch = batch_shape(c, tx) if tx is not None else tv.shape[:tv.ndim - v.ndim]
    if tx is None:
        tx = zeros(batch + x.shape, dtype=ref.dtype, device=ref.device)
    if tv is None:
        tv = zeros(batch + v.shape, dtype=ref.dtype, device=ref.device)
    index = c.params["index"]
    selected = x._data[index].ndim
    return apply(INDEX_PUT, (tx, align_batched(tv, v.ndim, selected)), {"index": batched_index(c, tx, index)})


INDEX_PUT = Op("index_put", _index_put_forward, _index_put_vjp, promote="binary", jvp=_index_put_jvp)


def setitem(self, index, value):
    """``self[index] = value``; differentiable in both ``self`` (outside the index) and ``value``."""
    _check_target(self, "setitem")
    index = normalize_index(self, index)
    if isinstance(value, Tensor) and value._device is not self._device:
        raise RuntimeError(f"setitem: the value is on {value.device}, the tensor on {self.device}")
    if _needs_graph(self, value):
        if not isinstance(value, Tensor):
            from ..factories import tensor
            value = tensor(value, dtype=self.dtype, device=self._device)
        return commit(self, apply(INDEX_PUT, (self, value), {"index": index}), "setitem")
    data = value._data if isinstance(value, Tensor) else value
    try:
        _write(self, data, "setitem", index)
    except IndexError as exc:
        raise IndexError(f"setitem: index {index!r} is invalid for shape {self.shape}: {exc}") from None
    return None
