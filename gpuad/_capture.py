"""The hook that ``gpuad.compile`` records through: ``state.active`` is this thread's running recorder, or None (the
eager default). It is per thread, like grad mode, so a step recorded in one thread never records another's work.

The points where arrays are computed (an op's forward in ``ops.core``, the fused linear and cross-entropy, the
engine's gradient accumulation, the optimizers' updates, the factories, in-place writes, the random state) test
``state.active`` and, while a step is being recorded, report the call they just made; host reads (``.item()``, ``bool``,
printing, ``.numpy()``, ``.tolist()``) report themselves so the recording can be abandoned. See gpuad/capture/.
"""
import threading


class _State(threading.local):
    active = None


state = _State()


def host_read(what):
    """Tell the active recorder that the step read a tensor's value on the host (``what`` names the read)."""
    if state.active is not None:
        state.active.host_read(what)


def called(fn, args, outs):
    """Tell the active recorder that the library just ran ``fn(*arrays of args)`` on raw arrays (a backend's fused
    rule, say) and got ``outs``, so that a replay runs the same call."""
    if state.active is not None:
        state.active.call(fn, args, outs)
