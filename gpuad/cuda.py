"""``gpuad.cuda``: ask whether a GPU is usable, without importing CuPy at ``import gpuad`` time."""
import contextlib

from .backends import cuda as _backend
from .backends.cuda import device_count, is_available  # noqa: F401


def synchronize(device=None):
    """Wait for all queued work on a GPU (needed before timing)."""
    from .device import as_device
    dev = as_device("cuda" if device is None else device)
    with dev.backend.device:
        dev.backend.xp.cuda.runtime.deviceSynchronize()
    dev.backend.check_errors()  # bad inputs counted on the GPU (cross_entropy's class indices) raise here


def fused_kernels_enabled():
    """Whether CUDA ops run gpuad's own fused kernels from ``kernels/`` (the default) or plain CuPy calls."""
    return _backend.FUSED


@contextlib.contextmanager
def fused_kernels(enabled):
    """Within the block, use (True) or bypass (False) gpuad's fused CUDA kernels: bypassing them runs the same
    maths as CuPy array calls, one launch per step, which is what the launch-count benchmark compares against."""
    previous = _backend.FUSED
    _backend.FUSED = bool(enabled)
    try:
        yield
    finally:
        _backend.FUSED = previous
