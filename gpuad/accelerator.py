"""``gpuad.accelerator``: PyTorch's device-agnostic accelerator names (``torch.accelerator``), backed by CUDA."""
from . import cuda
from .device import Device

__all__ = ["current_accelerator", "device_count", "is_available", "synchronize", "current_device_index",
           "set_device_index"]
_index = 0


def is_available():
    """True where a CUDA GPU is usable (the only accelerator gpuad drives)."""
    return cuda.is_available()


def current_accelerator(check_available=False):
    """``device(type='cuda')`` where a GPU is usable, else None (as PyTorch on a machine without an accelerator)."""
    return Device("cuda", _index) if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def current_device_index():
    return _index


def set_device_index(index):
    """Choose which GPU ``current_accelerator()`` names."""
    global _index
    count = cuda.device_count()
    if not 0 <= int(index) < max(count, 1) or count == 0:
        raise RuntimeError(f"accelerator index {index} does not exist: this machine has {count} GPU(s)")
    _index = int(index)


def synchronize(device=None):
    cuda.synchronize(device)
