"""What the optimizers still ask about our CUDA kernels (to move into the backends)."""
from ..backends import cuda as _cuda


def kernels():
    """gpuad.backends.cuda_kernels, imported on first use (it is only needed on CUDA)."""
    from ..backends import cuda_kernels
    return cuda_kernels


def on(device):
    """Whether ops on ``device`` run our kernels: a CUDA device while ``gpuad.cuda.fused_kernels`` is on."""
    return device.type == "cuda" and _cuda.FUSED
