"""In-place ops (``add_``, ``x[idx] = v``, ...): write into the tensor's own memory and bump its version counter.

Without a graph to record (no grad mode, or nothing requires grad) they are true in-place NumPy/CuPy updates, which is
what optimizers rely on. With a graph, the result is computed by the out-of-place op, written into the tensor's memory,
and the tensor becomes that op's output; any node that saved the old value sees the version change and raises at
backward. Through a view, the base gets PyTorch's CopySlices node, so the view and the base (and its other views)
all see the change (see autograd.views). As in PyTorch, a leaf that requires grad, or a view of one, cannot be
changed in place while grad mode is on, and neither can an expanded view (its elements share memory).
"""
import functools

import numpy as np

from . import elementwise as ew
from .. import _capture
from .core import Op, align_batched, apply
from .shape import batch_shape, batched_index, index_backward, normalize_index
from ._lift import operands
from .._autograd.grad_mode import grad_batch, mode
from .._autograd.views import sync_view, view_positions
from ..dtypes import fill_value, wrap_int
from ..tensor import Tensor, wrap
from ..factories import tensor, zeros, zeros_like


def _check_target(self, who):
    """Refuse what PyTorch refuses: writing through an expanded (stride-0) view, and, while grad mode is on,
    changing a leaf that requires grad or a view of one."""
    data = self._data
    if 0 in data.strides and any(st == 0 and n > 1 for st, n in zip(data.strides, data.shape)):
        raise RuntimeError(f"{who}: unsupported operation: more than one element of the written-to tensor refers to "
                           f"a single memory location (an expanded view, shape {self.shape}, strides "
                           f"{data.strides}); clone() the tensor before changing it in place")
    if not mode.enabled:
        return
    base = self._base
    if base is None:
        if self._node is None and self._rg:
            raise RuntimeError(f"{who}: a leaf tensor that requires grad is being used in an in-place operation; "
                               f"wrap the update in `with gpuad.no_grad():` or work on a clone()")
        return
    sync_view(self)
    if base._node is None and base._rg:
        raise RuntimeError(f"{who}: a view of a leaf tensor that requires grad is being used in an in-place "
                           f"operation; wrap the update in `with gpuad.no_grad():` or work on a clone()")


def commit(self, result, who):
    """Write ``result`` into ``self`` and make ``self`` stand for it in the graph; through a view, the base's history
    is rebased too (a CopySlices node), so both see the change."""
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
    base = self._base
    if base is not None and (result._rg or base._rg or result._fw is not None or base._fw is not None):
        _rebase(self, base, result)
        return self
    if result._node is not None:
        self._node, self._idx, self._rg = result._node, result._idx, True
    if result._fw is not None or self._fw is not None:
        self._fw = result._fw
    return self


def _copy_slices_vjp(n, g):
    batch = grad_batch()
    gb = g * wrap(n.params["keep"], g._device) if n.needs[0] else None
    gv = g.reshape(g.shape[:batch] + (-1,))[(slice(None),) * batch + (n.params["positions"],)] if n.needs[1] \
        else None
    return gb, gv


def _copy_slices_jvp(c, tb, tv):
    shape, positions = c.params["keep"].shape, c.params["positions"]
    out = None if tb is None else tb * wrap(c.params["keep"], tb._device)
    if tv is not None:
        batch = tv.shape[:tv.ndim - c.inputs[1].ndim]
        size = c.params["keep"].size
        written = index_backward(tv, batch + (size,), (slice(None),) * len(batch) + (positions,), False)
        written = written.reshape(batch + shape)
        out = written if out is None else out + written
    return out


# PyTorch's CopySlices: the base after an in-place change through a view. Input 0 is the base's old history, input 1
# the view's new value; ``positions`` are the view's elements' flat positions in the base, ``keep`` the base's
# elements outside the view. The forward returns the base's memory, already written.
COPY_SLICES = Op("copy_slices", lambda xp, base, value, positions, keep: base, _copy_slices_vjp, jvp=_copy_slices_jvp)


def _outside_positions(xp, shape, positions):
    """A bool array of ``shape``: False at the flat ``positions``, True elsewhere."""
    keep = xp.ones(shape, dtype=bool)
    keep.reshape(-1)[positions.reshape(-1)] = False
    return keep


def _rebase(view, base, result):
    """After ``result`` was written through ``view``: give ``base`` a CopySlices node over its old history and
    ``result``, then re-derive ``view`` from the base (other views of the base re-derive lazily, see
    autograd.views)."""
    positions = view_positions(base, view._view_chain)
    backend = base._device.backend
    keep = backend.on_device(_outside_positions, backend.xp, base._data.shape, positions)
    old = wrap(base._data, base._device)
    old._rg, old._node, old._idx, old._fw = base._rg, base._node, base._idx, base._fw
    new = apply(COPY_SLICES, (old, result), {"positions": positions, "keep": keep})
    if new._node is not None:
        base._node, base._idx, base._rg = new._node, 0, True
    if new._fw is not None or base._fw is not None:
        base._fw = new._fw
    sync_view(view)


def _keep_old_value(self, node):
    """The node's backward needs self's value from before the write: save a copy that keeps self's history
    (PyTorch does the same for pow_, clamp_ and mul_ by a tensor that requires grad)."""
    old = wrap(self._device.backend.copy(self._data), self._device)
    old._rg, old._node, old._idx = self._rg, self._node, self._idx
    saved, versions = list(node.saved), list(node.saved_versions)
    for i, t in enumerate(saved):
        if t is self:
            saved[i], versions[i] = old, 0
    node.saved, node.saved_versions = saved, versions


def _write(self, data, who, index=Ellipsis):
    if _capture.state.active is not None:  # gpuad.compile records the write
        _capture.state.active.write(index, self, data)
    try:
        self._device.backend.write(self._data, data, index)
    except ValueError as exc:
        raise ValueError(f"{who}: cannot write into this tensor ({exc}); expanded tensors are read-only views, "
                         f"clone() them first") from None
    self._version_counter.value += 1


def _needs_graph(self, other):
    """Whether the in-place op must go through the out-of-place op (to record it, or to carry a tangent)."""
    other_is_tensor = isinstance(other, Tensor)
    if other_is_tensor and other._base is not None:
        sync_view(other)
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
        elif b.__class__ is int and self._data.dtype.kind in "iu":
            b = wrap_int(b, self._data.dtype, name)
        xp = self._device.backend.xp
        if _capture.state.active is not None:  # gpuad.compile records the write (after its checks below pass)
            from ..capture.calls import ufunc_inplace  # lazy: gpuad.capture is a layer above
            _capture.state.active.call(functools.partial(ufunc_inplace, xp, ufunc), (self, b), None)
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


def _zeros_like(g):
    return zeros_like(g)


FILL = Op("fill", lambda xp, x, value: xp.full_like(x, value), lambda n, g: _zeros_like(g),
          jvp=lambda c, t: _zeros_like(t))


def fill_(self, value):
    """Set every element to ``value``. In a graph the tensor stays in it with a zero gradient for its old value (as
    in PyTorch); a one-element tensor ``value`` gets the summed gradient."""
    _check_target(self, "fill_")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"fill_: expects a number or a one-element tensor, got shape {value.shape}")
        if _needs_graph(self, value):
            return copy_(self, value.reshape(()))
        value = value.item()
    value = fill_value(value, self._data.dtype, "fill_")
    if _needs_graph(self, None):
        return commit(self, apply(FILL, (self,), {"value": value}), "fill_")
    _write(self, value, "fill_")
    return self


def zero_(self):
    return fill_(self, 0)


def _copy_jvp(c, t_dst, t_src):
    shape = c.params["shape"]
    if t_src is None:
        return _zeros_like(t_dst)
    return align_batched(t_src, c.inputs[1].ndim, len(shape)).expand(batch_shape(c, t_src, 1) + shape) \
        .to(c.params["dtype"])


def _copy_vjp(n, g):
    return _zeros_like(g) if n.needs[0] else None, g if n.needs[1] else None


# dst.copy_(src): the old value of dst gets a zero gradient, src the gradient (summed over its broadcasting, cast back)
COPY_FROM = Op("copy", lambda xp, dst, src, shape, dtype: xp.broadcast_to(src, shape).astype(dtype), _copy_vjp,
               jvp=_copy_jvp)


def copy_(self, src):
    """Copy ``src`` (broadcast, cast) into ``self``; the gradient flows to ``src``, not to the overwritten value."""
    _check_target(self, "copy_")
    if not isinstance(src, Tensor):
        src = tensor(src, device=self._device)
    if src._device is not self._device:
        src = src.to(self._device)
    try:
        fits = np.broadcast_shapes(src.shape, self.shape) == self.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"copy_: source shape {src.shape} does not broadcast to {self.shape}")
    if _needs_graph(self, src):
        return commit(self, apply(COPY_FROM, (self, src), {"shape": self.shape, "dtype": self.dtype}), "copy_")
    _write(self, src._data, "copy_")
    return self


def _index_put_forward(xp, x, v, index):
    out = x.copy()
    out[index] = v
    return out


def _index_put_vjp(n, g):
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
    x, v = c.inputs
    ref = tx if tx is not None else tv
    batch = batch_shape(c, tx) if tx is not None else tv.shape[:tv.ndim - v.ndim]
    if tx is None:
        tx = zeros(batch + x.shape, dtype=ref.dtype, device=ref.device)
    if tv is None:
        tv = zeros(batch + v.shape, dtype=ref.dtype, device=ref.device)
    index = c.params["index"]
    selected = x._device.backend.on_device(_indexed_ndim, x._data, index)
    return apply(INDEX_PUT, (tx, align_batched(tv, v.ndim, selected)), {"index": batched_index(c, tx, index)})


def _indexed_ndim(data, index):
    """The number of dims of ``data[index]`` (an advanced index: computed by indexing, on data's device)."""
    return data[index].ndim


INDEX_PUT = Op("index_put", _index_put_forward, _index_put_vjp, promote="binary", jvp=_index_put_jvp)


def setitem(self, index, value):
    """``self[index] = value``; differentiable in both ``self`` (outside the index) and ``value``."""
    _check_target(self, "setitem")
    index = normalize_index(self, index)
    if isinstance(value, Tensor) and value._device is not self._device:
        raise RuntimeError(f"setitem: the value is on {value.device}, the tensor on {self.device}")
    if _needs_graph(self, value):
        if not isinstance(value, Tensor):
            value = tensor(value, dtype=self.dtype, device=self._device)
        return commit(self, apply(INDEX_PUT, (self, value), {"index": index}), "setitem")
    data = value._data if isinstance(value, Tensor) else value
    try:
        _write(self, data, "setitem", index)
    except IndexError as exc:
        raise IndexError(f"setitem: index {index!r} is invalid for shape {self.shape}: {exc}") from None
    return None
