"""The hook that ``gpuad.compile`` records through: ``ACTIVE`` is the running recorder, or None (the eager default).

The points where arrays are computed (an op's forward in ``ops.core``, the fused linear and cross-entropy, the
engine's gradient accumulation, the optimizers' updates, the factories, in-place writes, the random state) test
``ACTIVE`` and, while a step is being recorded, report the call they just made; host reads (``.item()``, ``bool``,
printing, ``.numpy()``, ``.tolist()``) report themselves so the recording can be abandoned. See gpuad/capture/.
"""
ACTIVE = None


def host_read(what):
    """Tell the active recorder that the step read a tensor's value on the host (``what`` names the read)."""
    if ACTIVE is not None:
        ACTIVE.host_read(what)
