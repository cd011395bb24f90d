"""Samplers: which dataset indices a ``DataLoader`` visits, and in what order (PyTorch's ``torch.utils.data``).

Each built-in sampler also has ``_index_array()``: the indices of one pass as one int64 NumPy array, drawn with
the same random numbers ``__iter__`` uses, so a loader can gather whole batches without a Python int per sample.
"""
from typing import Generic, TypeVar

import numpy as np

from ...device import CPU
from ...random import stream

T_co = TypeVar("T_co", covariant=True)


def _rng(generator, who):
    """The NumPy generator drawing for a sampler: ``generator``'s stream, or the global CPU stream."""
    return stream(generator, CPU, who).generator


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")
    return value


class Sampler(Generic[T_co]):
    """Base class: a subclass yields indices from ``__iter__`` (and may define ``__len__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler[int]):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """A random permutation of the indices (``num_samples`` of them, cycling permutations when more than the
    dataset), or ``num_samples`` indices drawn uniformly with ``replacement``."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        self.data_source, self.replacement, self._num_samples, self.generator = \
            data_source, replacement, num_samples, generator
        _positive_int(self.num_samples, "num_samples")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_array(self):
        n, k = len(self.data_source), self.num_samples
        rng = _rng(self.generator, "RandomSampler")
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot draw with replacement from an empty dataset")
            return rng.integers(0, n, k, dtype=np.int64)
        if n == 0:
            return np.zeros(0, np.int64)
        rounds = [rng.permutation(n) for _ in range(k // n)]
        if k % n:
            rounds.append(rng.permutation(n)[:k % n])
        return np.concatenate(rounds).astype(np.int64, copy=False) if rounds else np.zeros(0, np.int64)

    def __iter__(self):
        return iter(self._index_array().tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def _index_array(self):
        values = np.asarray(self.indices)
        if values.dtype.kind not in "iu" or values.ndim != 1:
            return None  # not plain integer indices: only __iter__ can hand them out
        order = _rng(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        return values[order].astype(np.int64, copy=False)

    def __iter__(self):
        order = _rng(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        for i in order.tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with or without replacement)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _positive_int(num_samples, "num_samples")
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}")
        self.weights, self.num_samples, self.replacement, self.generator = w, num_samples, replacement, generator

    def _index_array(self):
        w = self.weights
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise RuntimeError("WeightedRandomSampler: probability tensor contains either inf, nan or element < 0")
        total = w.sum()
        if total <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution (sum of probabilities <= 0)")
        rng = _rng(self.generator, "WeightedRandomSampler")
        if self.replacement:
            return rng.choice(len(w), size=self.num_samples, replace=True, p=w / total).astype(np.int64)
        if self.num_samples > len(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot sample n_sample > prob_dist.size(-1) samples without "
                               f"replacement ({self.num_samples} > {len(w)})")
        # weighted sampling without replacement (Efraimidis-Spirakis): the largest w / Exp(1) keys; zero weights
        # come last, in random order, as in PyTorch's multinomial
        shuffled = rng.permutation(len(w))
        keys = w[shuffled] / rng.exponential(size=len(w))
        return shuffled[np.argsort(-keys, kind="stable")[:self.num_samples]].astype(np.int64)

    def __iter__(self):
        return iter(self._index_array().tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler[list]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler, batch_size, drop_last):
        _positive_int(batch_size, "batch_size")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def _index_arrays(self):
        """The batches of one pass as slices of one index array, or None when the sampler cannot give an array."""
        make = getattr(self.sampler, "_index_array", None)
        indices = make() if make is not None else None
        if indices is None:
            return None
        size, n = self.batch_size, len(indices)
        stop = n - n % size if self.drop_last else n
        return (indices[i:i + size] for i in range(0, stop, size))

    def __iter__(self):
        batch, size = [], self.batch_size
        for index in self.sampler:
            batch.append(index)
            if len(batch) == size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size
