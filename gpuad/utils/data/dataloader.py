"""``DataLoader``: batches of a dataset through a sampler and a collate function (PyTorch's names, defaults and
errors).

A map-style ``TensorDataset`` with the default collate is batched by one gather (fancy index) of each tensor per
batch, or one slice copy for sequential order: the same batches as collating the samples one by one, without a
Python call per sample. ``num_workers > 0`` runs the loading in that many threads (not processes): batches come
in the same order as with ``num_workers=0``, ``worker_init_fn`` and ``get_worker_info()`` work in each worker, and
an ``IterableDataset`` is iterated once per worker, as in PyTorch (shard it with ``get_worker_info``). Threads
share the interpreter, so workers overlap loading only where the dataset releases the GIL (file reads, NumPy).
``pin_memory`` is accepted and does nothing (gpuad copies host arrays to the GPU directly).
"""
import queue
import threading
from dataclasses import dataclass

import numpy as np

from ...random import stream
from ...device import CPU
from ...tensor import wrap
from ._collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

_FIXED_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


@dataclass
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (a thread here)."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker = threading.local()


def get_worker_info():
    """The ``WorkerInfo`` of the calling worker, or None in the main thread (as in PyTorch's main process)."""
    return getattr(_worker, "info", None)


class DataLoader:
    """Iterates ``dataset`` in batches: ``batch_size`` samples per batch (None: no batching), in ``shuffle``d or
    ``sampler``/``batch_sampler`` order, merged by ``collate_fn`` (``default_collate``)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers "
                             "> 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if isinstance(dataset, IterableDataset):
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 f"shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 f"sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but "
                                 f"got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                             "drop_last")
        if generator is not None:
            stream(generator, CPU, "DataLoader")  # a CUDA generator cannot drive the (CPU) samplers
        if sampler is None and not isinstance(dataset, IterableDataset):
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not isinstance(dataset, IterableDataset):
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        set_ = object.__setattr__
        for name, value in dict(dataset=dataset, batch_size=batch_size, drop_last=drop_last, sampler=sampler,
                                batch_sampler=batch_sampler, num_workers=num_workers, pin_memory=pin_memory,
                                timeout=timeout, worker_init_fn=worker_init_fn, generator=generator,
                                multiprocessing_context=multiprocessing_context, prefetch_factor=prefetch_factor,
                                persistent_workers=persistent_workers, pin_memory_device=pin_memory_device,
                                in_order=in_order).items():
            set_(self, name, value)
        set_(self, "collate_fn", collate_fn if collate_fn is not None else
             (default_collate if self._auto_collation else default_convert))
        set_(self, "_initialized", True)

    def __setattr__(self, name, value):
        if getattr(self, "_initialized", False) and name in _FIXED_AFTER_INIT:
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        object.__setattr__(self, name, value)

    @property
    def _auto_collation(self):
        if isinstance(self.dataset, IterableDataset):
            return self.batch_size is not None
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self):
        # the workers' base seed is drawn first, whatever num_workers is (as in PyTorch), so a seeded shuffle is
        # the same order with and without workers
        seed = int(stream(self.generator, CPU, "DataLoader").randint(0, 2 ** 62, (), np.dtype(np.int64)))
        if isinstance(self.dataset, IterableDataset):
            if self.num_workers == 0:
                return self._iterable_batches(iter(self.dataset))
            return _threaded_iterable(self, seed)
        gather = self._gather_fast_path()
        if gather is not None and (self.num_workers == 0 or self.worker_init_fn is None):
            return gather
        if self.num_workers == 0:
            return (self._fetch(indices) for indices in self._index_sampler)
        return _threaded_map(self, seed)

    # --- fetching ------------------------------------------------------------------------------------------------
    def _fetch(self, indices):
        """One batch (or one sample without auto-collation) of the map-style dataset."""
        if not self._auto_collation:
            return self.collate_fn(self.dataset[indices])
        many = getattr(self.dataset, "__getitems__", None)
        samples = many(indices) if callable(many) else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _iterable_batches(self, samples):
        if not self._auto_collation:
            for sample in samples:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in samples:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _gather_fast_path(self):
        """The batches of a TensorDataset (or a Subset of one) with the default collate by one gather per tensor,
        or None."""
        source = _tensor_source(self.dataset)
        if source is None or self.collate_fn is not default_collate or not self._auto_collation:
            return None
        tensors, index_map = source
        sampler = self.batch_sampler
        batches = sampler._index_arrays() if type(sampler) is BatchSampler else None
        contiguous = batches is not None and type(sampler.sampler) is SequentialSampler and index_map is None
        return _gathered(tensors, batches if batches is not None else sampler, contiguous, index_map)


def _tensor_source(ds):
    """(tensors, map from ds's indices to theirs or None) when ds is a plain TensorDataset or Subsets of one."""
    if type(ds) is Subset:
        inner = _tensor_source(ds.dataset)
        if inner is None:
            return None
        indices = np.asarray(ds.indices) if len(ds.indices) else np.zeros(0, np.int64)
        if indices.dtype.kind not in "iu" or indices.ndim != 1:
            return None
        tensors, inner_map = inner
        indices = _checked(indices, len(ds.dataset))
        return tensors, indices if inner_map is None else inner_map[indices]
    if (isinstance(ds, TensorDataset) and type(ds).__getitem__ is TensorDataset.__getitem__
            and getattr(type(ds), "__getitems__", None) is None and ds.tensors):
        return ds.tensors, None
    return None


def _gathered(tensors, batches, contiguous, index_map=None):
    """[t[indices] for t in tensors] per batch: a slice copy for contiguous indices, else one fancy index;
    ``index_map`` takes a Subset's indices to the tensors' rows."""
    n = tensors[0].shape[0] if index_map is None else len(index_map)
    on_device = {}
    for indices in batches:
        if not isinstance(indices, np.ndarray):  # from a user's sampler: checked here, once, on the host
            indices = _checked(indices, n)
        if index_map is not None:
            indices = index_map[indices]
        batch = []
        for t in tensors:
            if t.requires_grad:  # keep the graph: an indexing op, as stacking the samples would record
                batch.append(t[indices])
                continue
            device = t._device
            if contiguous and len(indices):
                start = int(indices[0])
                data = device.backend.copy(t._data[start:start + len(indices)])
            else:  # a GPU's fancy index does not check bounds: check on the host, then copy the indices over once
                if on_device.get(device, (None,))[0] is not indices:
                    on_device[device] = (indices, device.backend.from_host(_checked(indices, t.shape[0])))
                data = device.backend.xp.take(t._data, on_device[device][1], axis=0)  # gathered on that device
            batch.append(wrap(data, device))
        yield batch


def _checked(indices, n):
    """A sampler's batch as an int64 array of indices in [0, n), negative ones counted from the end."""
    indices = np.asarray(indices if len(indices) else np.zeros(0, np.int64))
    if indices.dtype.kind not in "iu" or indices.ndim != 1:
        raise IndexError(f"DataLoader: a batch sampler gave indices of NumPy dtype {indices.dtype} and shape "
                         f"{indices.shape}; a TensorDataset takes integer indices")
    indices = indices.astype(np.int64, copy=False)
    if len(indices) and (indices.max() >= n or indices.min() < -n):
        bad = int(indices.max()) if indices.max() >= n else int(indices.min())
        raise IndexError(f"index {bad} is out of bounds for dimension 0 with size {n}")
    return np.where(indices < 0, indices + n, indices)


# --- workers (threads) ------------------------------------------------------------------------------------------
class _Worker(threading.Thread):
    """One loading thread: sets up its WorkerInfo, runs worker_init_fn, then serves its own queue of jobs."""

    def __init__(self, loader, worker_id, base_seed, job):
        super().__init__(daemon=True, name=f"gpuad-DataLoader-worker-{worker_id}")
        self.loader, self.worker_id, self.base_seed, self.job = loader, worker_id, base_seed, job
        self.inbox, self.outbox = queue.Queue(), queue.Queue(maxsize=loader.prefetch_factor + 1)
        self.stopped = threading.Event()

    def offer(self, item):
        """Put ``item`` in the outbox, waiting for room; False once the loader has stopped this worker."""
        while not self.stopped.is_set():
            try:
                self.outbox.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def run(self):
        loader = self.loader
        _worker.info = WorkerInfo(self.worker_id, loader.num_workers, self.base_seed + self.worker_id,
                                  loader.dataset)
        try:
            if loader.worker_init_fn is not None:
                loader.worker_init_fn(self.worker_id)
            self.job(self)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.offer(_Failure(exc, self.worker_id))


@dataclass
class _Failure:
    exc: BaseException
    worker_id: int


_DONE = object()


def _result(worker, timeout):
    try:
        item = worker.outbox.get(timeout=timeout or None)
    except queue.Empty:
        raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
    if isinstance(item, _Failure):
        raise RuntimeError(f"DataLoader worker {item.worker_id} raised {type(item.exc).__name__}: "
                           f"{item.exc}") from item.exc
    return item


def _threaded_map(loader, seed):
    """Batch k is fetched by worker k % num_workers; at most prefetch_factor batches wait per worker."""
    def serve(worker):
        while True:
            job = worker.inbox.get()
            if job is _DONE or not worker.offer(loader._fetch(job)):
                return

    workers = [_Worker(loader, i, seed, serve) for i in range(loader.num_workers)]
    for w in workers:
        w.start()
    try:
        jobs = iter(loader._index_sampler)
        sent = received = 0
        ahead = loader.num_workers * loader.prefetch_factor
        exhausted = False
        while True:
            while not exhausted and sent - received < ahead:
                try:
                    workers[sent % len(workers)].inbox.put(next(jobs))
                    sent += 1
                except StopIteration:
                    exhausted = True
            if received == sent:
                return
            yield _result(workers[received % len(workers)], loader.timeout)
            received += 1
    finally:
        for w in workers:
            w.stopped.set()
            w.inbox.put(_DONE)


def _threaded_iterable(loader, seed):
    """Each worker iterates its own pass over the IterableDataset; batches are taken round-robin."""
    def serve(worker):
        for batch in loader._iterable_batches(iter(loader.dataset)):
            if not worker.offer(batch):
                return
        worker.offer(_DONE)

    workers = [_Worker(loader, i, seed, serve) for i in range(loader.num_workers)]
    for w in workers:
        w.start()
    try:
        active = list(workers)
        while active:
            for w in list(active):
                item = _result(w, loader.timeout)
                if item is _DONE:
                    active.remove(w)
                else:
                    yield item
    finally:
        for w in workers:
            w.stopped.set()
            w.inbox.put(_DONE)
