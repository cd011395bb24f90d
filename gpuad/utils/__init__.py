"""``gpuad.utils``: PyTorch's ``torch.utils`` names that small-model code uses (``gpuad.utils.data``)."""
from . import data  # noqa: F401
