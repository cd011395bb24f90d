"""gpuad.utils.data: PyTorch's torch.utils.data names."""
from .distributed import DistributedSampler  # noqa: F401
