"""``gpuad.cuda``: ask whether a GPU is usable, without importing CuPy at ``import gpuad`` time.

Device-agnostic scripts run unchanged on a machine without a GPU: ``is_available()`` is False, ``device_count()`` 0,
and ``manual_seed``/``manual_seed_all`` are silently ignored until a GPU is used (as in PyTorch). Calls that need a
GPU (``get_device_name``, ``current_device``, ``set_device``, ``synchronize``) raise a clear RuntimeError without one.
"""
import contextlib

from .backends import cuda as _backend
from .backends.cuda import device_count, is_available  # noqa: F401
from .device import Device, current_cuda_index, set_current_cuda_index, started_devices
from . import memory, random


def _require_gpu(who):
    if not is_available():
        raise RuntimeError(f"gpuad.cuda.{who}: no CUDA GPU is available (CuPy is not installed or sees no device); "
                           f"check gpuad.cuda.is_available() first")


def _index(device, who):
    if device is None:
        return current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        index = device
    else:
        dev = Device(device)
        if dev.type != "cuda":
            raise ValueError(f"gpuad.cuda.{who}: expected a CUDA device, got {dev}")
        index = dev.index
    if not 0 <= index < device_count():
        raise ValueError(f"gpuad.cuda.{who}: invalid device index {index}; there are {device_count()} GPU(s)")
    return index


def current_device():
    """The index of the GPU that a bare 'cuda' means (0 unless ``set_device`` changed it)."""
    _require_gpu("current_device")
    return current_cuda_index()


def set_device(device):
    """Make 'cuda' (without an index) mean this GPU from now on."""
    _require_gpu("set_device")
    set_current_cuda_index(_index(device, "set_device"))


def get_device_name(device=None):
    """The GPU's name, as the driver reports it (e.g. 'NVIDIA H100 80GB HBM3')."""
    _require_gpu("get_device_name")
    import cupy  # lazy: import gpuad never imports CuPy
    name = cupy.cuda.runtime.getDeviceProperties(_index(device, "get_device_name"))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device=None):
    """(major, minor) compute capability of the GPU."""
    _require_gpu("get_device_capability")
    import cupy  # lazy: import gpuad never imports CuPy
    props = cupy.cuda.runtime.getDeviceProperties(_index(device, "get_device_capability"))
    return int(props["major"]), int(props["minor"])


def manual_seed(seed):
    """Seed the current GPU's generator (ignored, as in PyTorch, when there is no GPU)."""
    random.seed_cuda(int(seed), [current_cuda_index()])


def manual_seed_all(seed):
    """Seed every GPU's generator with ``seed`` (ignored, as in PyTorch, when there is no GPU)."""
    random.seed_cuda(int(seed), None)


def _started(device):
    """The CUDA Device for ``device`` if its backend has been started, else None (nothing to report or free)."""
    started = started_devices("cuda")
    if not started:
        return None
    index = current_cuda_index() if device is None else (device if isinstance(device, int) else Device(device).index)
    dev = Device("cuda", index)
    return dev if dev in started else None


def empty_cache():
    """Give the blocks CuPy's memory pools cache but do not use back to the driver (a no-op before any GPU use)."""
    for dev in started_devices("cuda"):
        dev.backend.empty_cache()


def memory_allocated(device=None):
    """Bytes of GPU memory held by tensors on ``device`` now (0 before the GPU is used, as in PyTorch)."""
    dev = _started(device)
    return 0 if dev is None else memory.current_bytes(dev)


def max_memory_allocated(device=None):
    """The most bytes held at once since ``reset_peak_memory_stats`` (0 before the GPU is used). The peak is
    tracked from the first call of either onwards (gpuad.memory's CuPy hook)."""
    dev = _started(device)
    return 0 if dev is None else memory.peak_bytes(dev)


def reset_peak_memory_stats(device=None):
    """Start a new peak for ``max_memory_allocated`` (a no-op before the GPU is used)."""
    dev = _started(device)
    if dev is not None:
        memory.reset_peak(dev)


def is_initialized():
    """Whether a GPU backend has been started in this process."""
    return bool(started_devices("cuda"))


def synchronize(device=None):
    """Wait for all queued work on a GPU (needed before timing); then raise any bad input a kernel counted there
    (cross_entropy's class indices)."""
    _require_gpu("synchronize")
    Device("cuda", _index(device, "synchronize")).backend.synchronize()


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
