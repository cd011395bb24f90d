"""``gpuad.cuda``: ask whether a GPU is usable, without importing CuPy at ``import gpuad`` time."""
from .backends.cuda import device_count, is_available  # noqa: F401


def synchronize(device=None):
    """Wait for all queued work on a GPU (needed before timing)."""
    from .device import as_device
    dev = as_device("cuda" if device is None else device)
    with dev.backend.device:
        dev.backend.xp.cuda.runtime.deviceSynchronize()
