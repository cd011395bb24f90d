"""DistributedSampler: each of ``num_replicas`` processes reads its own share of a dataset, with PyTorch's padding
and splitting rules exactly: the (shuffled) index list is padded by repeating its head, or cut with ``drop_last``, to
a multiple of ``num_replicas``, and rank r takes every ``num_replicas``-th index from position r.

The shuffle is a permutation seeded with ``seed + epoch`` (NumPy's generator, not PyTorch's, so the orders differ from
PyTorch's; every rank computes the same one, which is what the split needs).
"""
import math

import numpy as np
from ... import distributed as dist


class DistributedSampler:
    """Indices of ``dataset`` (anything with ``len``) for one rank; call ``set_epoch(e)`` before each epoch so that
    the shuffle changes between epochs."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available (pip install \"gpuad[distributed]\""
                                   "), or pass num_replicas= and rank=")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)  # the largest even split
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Shuffle with ``seed + epoch`` from now on (the same epoch on every rank gives a consistent split)."""
        self.epoch = epoch
