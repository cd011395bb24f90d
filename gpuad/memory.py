"""Memory accounting: how many bytes of array data exist now, at most since the last reset, and held by a graph.

What is counted:
- CPU: the bytes NumPy allocates for array data (it registers every data buffer with ``tracemalloc`` in its own domain),
  plus, for the peak, the small Python objects allocated while tracing is on. Tracing starts at the first call of
  ``reset_peak("cpu")`` (or ``start("cpu")``); allocations made before it are not seen. Tracing slows Python code down,
  so turn it on for measurements, not for production runs (``stop("cpu")``).
- CUDA: the bytes of blocks CuPy's memory pool has handed out (``used_bytes``); the peak comes from a CuPy memory hook
  installed by ``reset_peak("cuda")`` (or ``start``), one per device. Blocks cached by the pool but free are not
  counted. CuPy's memory hooks are per thread: the peak counts the allocations of the thread that installed the hook
  (measure in the thread that trains); ``current_bytes`` reads the pool itself and sees every thread.
- Each device's backend does the counting (``memory_allocated``, ``max_memory_allocated``, ``reset_peak_memory``);
  this module asks the backend of the device it is given.
- ``saved_tensors_bytes(output)``: the bytes that a graph keeps alive for backward (saved inputs and outputs of every
  node that ``output`` depends on), each array counted once however many nodes save it.
"""
from .autograd.graph import AccumulateGrad
from .device import as_device, started_devices
from .tensor import Tensor

__all__ = ["current_bytes", "peak_bytes", "reset_peak", "start", "stop", "saved_tensors_bytes"]


def start(device="cpu"):
    """Begin counting allocations on ``device`` (idempotent)."""
    as_device(device).backend.start_memory_count()


def stop(device="cpu"):
    """Stop counting on ``device`` (CPU: stops tracemalloc, which also forgets what it counted); a GPU never used has
    nothing to stop and is not started for it."""
    dev = as_device(device)
    if dev in started_devices():
        dev.backend.stop_memory_count()


def current_bytes(device="cpu"):
    """Bytes of array data allocated on ``device`` and not yet freed (CPU: since counting started)."""
    return as_device(device).backend.memory_allocated()


def peak_bytes(device="cpu"):
    """The most bytes allocated at once on ``device`` since the last ``reset_peak``."""
    return as_device(device).backend.max_memory_allocated()


def reset_peak(device="cpu"):
    """Start a new peak measurement from the current level (and start counting if needed)."""
    as_device(device).backend.reset_peak_memory()


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
