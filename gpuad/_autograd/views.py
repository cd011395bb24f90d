"""View tracking, as in PyTorch: a view knows its base (the tensor that owns the memory) and the chain of view ops
that took it from the base.

The base's history can change after a view was taken: an in-place op on the base, or one through any of its views
(which gives the base a CopySlices node, see ``ops.inplace``). A view remembers the base's node (and tangent) it was
derived from; when they differ at its next use, ``sync_view`` replays the chain on the base, so the view's gradient
flows through the base's new history (PyTorch regenerates a view's grad_fn the same way).
"""
from .grad_mode import mode


def track_view(result, source, op, params):
    """Make ``result``, the output of the view op ``op`` on ``source``, a tracked view of ``source``'s base; unless
    the op had to copy (reshape of a non-contiguous layout): then, as in PyTorch, the result is not a view."""
    if _owner(result._data) is not _owner(source._data):
        return
    root = source if source._base is None else source._base
    result._version = source._version_counter
    result._base = root
    result._view_chain = source._view_chain + ((op, params),)
    result._view_node = root._node
    result._view_fw = root._fw


def _owner(array):
    """The array that owns ``array``'s memory (NumPy and CuPy views keep it as ``.base``)."""
    base = array.base
    while base is not None:
        array, base = base, base.base
    return array


def sync_view(t):
    """Bring the view ``t`` up to date with its base's current history (a no-op when nothing changed)."""
    root = t._base
    if t._view_node is root._node and t._view_fw is root._fw:
        return
    t._view_node, t._view_fw = root._node, root._fw
    if not root._rg and root._fw is None:
        return
    fresh = replay(root, t._view_chain)
    t._node, t._idx, t._rg = fresh._node, fresh._idx, fresh._rg
    if fresh._fw is not None:
        t._fw = fresh._fw


def replay(root, chain):
    """The view ``chain`` applied again to ``root``, recorded (whatever the grad mode) and unseen by trace hooks."""
    from ..ops.core import apply  # lazy: ops.core imports this module (track_view)
    enabled, hook = mode.enabled, mode.on_record
    mode.enabled, mode.on_record = True, None
    try:
        out = root
        for op, params in chain:
            out = apply(op, (out,), params)
        return out
    finally:
        mode.enabled, mode.on_record = enabled, hook


def view_positions(root, chain):
    """For each element of the view ``chain`` of ``root``: its flat position in ``root`` (an int array of the view's
    shape), found by replaying the chain's forwards on ``arange``."""
    backend = root._device._backend or root._device.backend
    xp = backend.xp
    positions = xp.arange(root._data.size, dtype=xp.int64).reshape(root._data.shape)
    for op, params in chain:
        positions = backend.run(op, (positions,), params)
    return xp.ascontiguousarray(positions)
