"""``gpuad.utils.data``: datasets, samplers, ``default_collate`` and ``DataLoader`` with PyTorch's names and
semantics. A ``DataLoader`` over a ``TensorDataset`` with the default collate gathers each batch with one fancy
index per tensor instead of one ``__getitem__`` per sample (the same batches, without per-sample Python)."""
from ._collate import default_collate, default_convert  # noqa: F401
from .dataloader import DataLoader, WorkerInfo, get_worker_info  # noqa: F401
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset,  # noqa: F401
                      TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,  # noqa: F401
                      WeightedRandomSampler)
from .distributed import DistributedSampler  # noqa: F401,E402 - the sampler lives at PyTorch's module path
