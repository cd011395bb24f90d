"""gpuad.utils: PyTorch's torch.utils names."""
from . import data  # noqa: F401
