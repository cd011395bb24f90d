"""Backends run ops for one device: ``cpu`` wraps NumPy; ``cuda`` wraps CuPy and is imported only when first used."""
from .flags import cudnn, mkldnn, mps  # noqa: E402,F401 - torch.backends switches scripts set
from .cpu import CPU_BACKEND
from .cuda import cuda_backend


def backend_for(device):
    if device.type == "cpu":
        return CPU_BACKEND
    return cuda_backend(device.index)
