"""Memory accounting: how many bytes of array data exist now, at most since the last reset, and held by a graph.

What is counted:
- CPU: the bytes NumPy allocates for array data (it registers every data buffer with ``tracemalloc`` in its own domain),
  plus, for the peak, the small Python objects allocated while tracing is on. Tracing starts at the first call of
  ``reset_peak("cpu")`` (or ``start("cpu")``); allocations made before it are not seen. Tracing slows Python code down,
  so turn it on for measurements, not for production runs (``stop("cpu")``).
- CUDA: the bytes of blocks CuPy's memory pool has handed out (``used_bytes``); the peak comes from a CuPy memory hook
  installed by ``reset_peak("cuda")``, one per device. Blocks cached by the pool but free are not counted. CuPy's
  memory hooks are per thread: the peak counts the allocations of the thread that called ``reset_peak`` (measure in
  the thread that trains); ``current_bytes`` reads the pool itself and sees every thread.
- ``saved_tensors_bytes(output)``: the bytes that a graph keeps alive for backward (saved inputs and outputs of every
  node that ``output`` depends on), each array counted once however many nodes save it.
"""
import tracemalloc

import numpy as np

from .autograd.graph import AccumulateGrad
from .device import as_device
from .tensor import Tensor

__all__ = ["current_bytes", "peak_bytes", "reset_peak", "start", "stop", "saved_tensors_bytes"]

_NUMPY_DOMAIN = np.lib.tracemalloc_domain
_cuda_hooks = {}


def start(device="cpu"):
    """Begin counting allocations on ``device`` (idempotent)."""
    dev = as_device(device)
    if dev.type == "cpu":
        if not tracemalloc.is_tracing():
            tracemalloc.start()
    else:
        _cuda_hook(dev)


def stop(device="cpu"):
    """Stop counting on ``device`` (CPU: stops tracemalloc, which also forgets what it counted)."""
    dev = as_device(device)
    if dev.type == "cpu":
        tracemalloc.stop()
    else:
        hook = _cuda_hooks.pop(dev.index, None)
        if hook is not None:
            hook.__exit__(None, None, None)


def current_bytes(device="cpu"):
    """Bytes of array data allocated on ``device`` and not yet freed (CPU: since counting started)."""
    dev = as_device(device)
    if dev.type == "cpu":
        start("cpu")
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, _NUMPY_DOMAIN)])
        return sum(stat.size for stat in snapshot.statistics("filename"))
    with dev.backend.device:
        return int(dev.backend.xp.get_default_memory_pool().used_bytes())


def peak_bytes(device="cpu"):
    """The most bytes allocated at once on ``device`` since the last ``reset_peak``."""
    dev = as_device(device)
    if dev.type == "cpu":
        start("cpu")
        return tracemalloc.get_traced_memory()[1]
    return _cuda_hook(dev).peak


def reset_peak(device="cpu"):
    """Start a new peak measurement from the current level (and start counting if needed)."""
    dev = as_device(device)
    if dev.type == "cpu":
        start("cpu")
        tracemalloc.reset_peak()
    else:
        hook = _cuda_hook(dev)
        with dev.backend.device:
            hook.reset(int(dev.backend.xp.get_default_memory_pool().used_bytes()))


def _cuda_hook(dev):
    hook = _cuda_hooks.get(dev.index)
    if hook is None:
        from cupy.cuda import memory_hook  # lazy: import gpuad never imports CuPy

        class PeakHook(memory_hook.MemoryHook):
            """Follows the pool's used bytes through every malloc and free to keep the peak."""
            name = f"GpuadPeakHook{dev.index}"  # CuPy refuses two hooks of one name in a thread

            def __init__(self, current):
                self.current = self.peak = current

            def reset(self, current):
                self.current = self.peak = current

            def malloc_postprocess(self, device_id, size, mem_size, mem_ptr, pmem_id):
                if device_id == dev.index and mem_ptr:  # a failed (out-of-memory) allocation has no pointer
                    self.current += mem_size
                    self.peak = max(self.peak, self.current)

            def free_postprocess(self, device_id, mem_size, mem_ptr, pmem_id):
                if device_id == dev.index:
                    self.current -= mem_size

        with dev.backend.device:
            hook = PeakHook(int(dev.backend.xp.get_default_memory_pool().used_bytes()))
        hook.__enter__()
        _cuda_hooks[dev.index] = hook
    return hook


def _root(array):
    while getattr(array, "base", None) is not None and hasattr(array.base, "nbytes"):
        array = array.base
    return array


def saved_tensors_bytes(output, include_leaves=False):
    """Bytes kept alive for backward by the graph behind ``output``: every array a node saved, counted once.

    Leaves (parameters and inputs the caller holds anyway) are left out unless ``include_leaves``."""
    if not isinstance(output, Tensor):
        raise TypeError(f"saved_tensors_bytes expects a tensor, got {type(output).__name__}")
    if output._node is None:
        return 0
    arrays = {}
    seen, stack = {output._node}, [output._node]
    while stack:
        fn = stack.pop()
        if isinstance(fn, AccumulateGrad):
            continue
        for t in fn.saved or ():
            if isinstance(t, Tensor) and (include_leaves or t._node is not None):
                root = _root(t._data)
                arrays[id(root)] = root.nbytes
        if fn.saved_out is not None:
            root = _root(fn.saved_out[0])
            arrays[id(root)] = root.nbytes
        if fn.ctx is not None:
            for t in fn.ctx._saved or ():
                if isinstance(t, Tensor) and (include_leaves or t._node is not None):
                    root = _root(t._data)
                    arrays[id(root)] = root.nbytes
        for edge in fn.next:
            if edge is not None and edge[0] not in seen:
                seen.add(edge[0])
                stack.append(edge[0])
    return sum(arrays.values())
