"""Creating tensors: ``tensor`` from data, and the factories (zeros, ones, arange, randn, ...) PyTorch users expect."""
import functools
import numbers

import numpy as np

from . import _capture, dtypes
from .device import CPU, as_device, factory_device
from ._args import shape_arg
from .random import stream
from .tensor import Tensor, wrap


def _finish(data, device, requires_grad):
    t = wrap(data, device)
    if requires_grad:
        t.requires_grad = True  # raises for integer and bool dtypes
    return t


def _float_sources(data):
    """(dtypes of the NumPy float scalars, whether there is a Python float) in nested Python data, in one pass."""
    if not isinstance(data, (list, tuple)):
        return [], True
    scalars, python_float = [], False
    for x in _flat(data):
        if isinstance(x, np.floating):
            scalars.append(x.dtype)
        elif type(x) is float:
            python_float = True
    return scalars, python_float


def _python_dtype(data, dtype=None):
    """An array of Python data: in ``dtype`` if given (converted once, so float64 keeps every digit), else with
    PyTorch's dtypes: floats get the default float dtype, ints int64, bools bool."""
    arr = np.asarray(data)
    if arr.dtype.kind == "u" or (arr.dtype.kind == "O" and all(type(x) is int for x in arr.reshape(-1))):
        raise ValueError(f"tensor: a Python integer in the data does not fit in int64 (the largest integer dtype); "
                         f"PyTorch raises too (Overflow when unpacking long long)")
    if dtype is not None:
        if dtype.kind in "iu" and arr.dtype.kind in "iu":
            dtypes.check_int_range(arr, dtype, "tensor")
            return arr.astype(dtype)
        return np.asarray(data, dtype=dtype)
    if arr.dtype.kind == "f":
        scalars, python_float = _float_sources(data)
        if scalars:  # NumPy scalars keep their dtype, promoted with the Python floats' default (as PyTorch infers)
            return arr.astype(np.result_type(*scalars, *([dtypes.get_default_dtype()] if python_float else [])))
        return arr.astype(dtypes.get_default_dtype())
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind == "c":
        raise TypeError("complex tensors are not supported")
    raise TypeError(f"can't make a tensor from {type(data).__name__} data (NumPy dtype {arr.dtype})")


def _to_array(data, dtype=None):
    """(array, device) for any supported data source, without choosing the final device yet: a tensor's or a CuPy
    array's own array with its device (not copied: ``_placed`` copies it once, where it is going); a new host array
    with device None for everything else."""
    if isinstance(data, Tensor):
        return data._data, data._device
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in "biuf":
            raise TypeError(f"can't make a tensor from a NumPy array of dtype {data.dtype}")
        return np.array(data), None
    if type(data).__module__.startswith("cupy") and hasattr(data, "device"):
        return data, as_device(f"cuda:{data.device.id}")
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        return _python_dtype(_nested(data), dtype), None
    if isinstance(data, np.generic):
        return np.array(data), None
    if isinstance(data, (numbers.Number, list, tuple)):
        return _python_dtype(data, dtype), None
    if hasattr(data, "__dlpack__"):
        shared = from_dlpack(data)  # host memory is copied like NumPy data; GPU memory stays on its GPU
        return (np.array(shared._data), None) if shared._device is CPU else (shared._data, shared._device)
    raise TypeError(f"can't make a tensor from {type(data).__name__}")


def _placed(arr, src, device, dtype):
    """A new array on ``device`` (in ``dtype`` when given) from ``arr``: an array on device ``src``, or (src None)
    a new host array of our own. Each copy is made by the backend of the device it lands on, on that device."""
    if src is device:
        return device.backend.copy(arr, dtype)
    if src is not None and src is not CPU:  # on a GPU: down to the host or across to another GPU
        arr = src.backend.to_host(arr) if device is CPU else device.backend.from_device(arr)
        return device.backend.asarray(arr, dtype)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr if device is CPU else device.backend.from_host(arr)


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _item_of(x):
    return x.item() if isinstance(x, Tensor) else x


def _nested(data):
    return [_nested(x) if isinstance(x, (list, tuple)) else _item_of(x) for x in data]


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of ``data`` (numbers, nested lists, NumPy or CuPy arrays, tensors)."""
    dtype = dtypes.as_dtype(dtype)
    arr, src = _to_array(data, dtype)
    device = as_device(device) if device is not None else (src or factory_device(None))
    arr = _placed(arr, src, device, dtype if dtype is not None and arr.dtype != dtype else None)
    if _capture.state.active is not None:  # gpuad.compile: a copy of a tensor is made again, Python data is a constant
        from .capture import calls  # lazy: gpuad.capture is a layer above
        if isinstance(data, Tensor):
            _capture.state.active.call(functools.partial(calls.retensor, dtype, device, data._device), (data,), arr)
        else:
            _capture.state.active.call(functools.partial(calls.constant_copy, device.backend,
                                                         device.backend.copy(arr)), (), arr)
    return _finish(arr, device, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a tensor or NumPy array when no conversion is needed."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)) and \
            (device is None or data._device is as_device(device)):
        return data
    if isinstance(data, np.ndarray) and device in (None, "cpu") and (dtype is None or data.dtype == dtype):
        return wrap(data, CPU)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """A CPU tensor sharing memory with a NumPy array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a NumPy array, got {type(array).__name__}")
    return wrap(array, CPU)


def from_dlpack(obj):
    """Zero-copy import of any DLPack producer (NumPy, CuPy, PyTorch, JAX ...) on the CPU or a CUDA GPU."""
    if not hasattr(obj, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: {type(obj).__name__} does not implement the DLPack protocol")
    dev_type, dev_id = obj.__dlpack_device__()
    if int(dev_type) == 1:  # kDLCPU
        return wrap(np.from_dlpack(obj), CPU)
    if int(dev_type) == 2:  # kDLCUDA
        device = as_device(f"cuda:{dev_id}")
        return wrap(device.backend.xp.from_dlpack(obj), device)
    raise RuntimeError(f"from_dlpack: unsupported DLPack device type {dev_type}")


def _make(fill, shape, dtype, device, requires_grad, who):
    shape = shape_arg((shape,), who)
    if any(s < 0 for s in shape):
        raise ValueError(f"{who}: negative dimension in shape {shape}")
    device = factory_device(device)
    dtype = dtypes.as_dtype(dtype) or dtypes.get_default_dtype()
    data = fill(device, shape, dtype)
    if _capture.state.active is not None:  # gpuad.compile: made again on every replay (random numbers drawn afresh)
        from .capture.calls import refill  # lazy: gpuad.capture is a layer above
        _capture.state.active.call(functools.partial(refill, fill, device, shape, dtype), (), data)
    return _finish(data, device, requires_grad)


def zeros(*shape, size=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda d, s, t: d.backend.xp.zeros(s, t), shape_arg(shape, "zeros", size), dtype, device,
                 requires_grad, "zeros")


def ones(*shape, size=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda d, s, t: d.backend.xp.ones(s, t), shape_arg(shape, "ones", size), dtype, device,
                 requires_grad, "ones")


def empty(*shape, size=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda d, s, t: d.backend.xp.empty(s, t), shape_arg(shape, "empty", size), dtype, device,
                 requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = _python_dtype(fill_value).dtype if not isinstance(fill_value, Tensor) else fill_value.dtype
    fill_value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    fill_value = dtypes.fill_value(fill_value, dtypes.as_dtype(dtype) or dtypes.get_default_dtype(), "full")
    return _make(lambda d, s, t: d.backend.xp.full(s, fill_value, t), size, dtype, device, requires_grad, "full")


def rand(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    return _make(lambda d, s, t: _float_only(stream(generator, d, "rand").rand, s, t, "rand"),
                 shape_arg(shape, "rand", size), dtype, device, requires_grad, "rand")


def randn(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    return _make(lambda d, s, t: _float_only(stream(generator, d, "randn").randn, s, t, "randn"),
                 shape_arg(shape, "randn", size), dtype, device, requires_grad, "randn")


def randint(low, high=None, size=(), generator=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform on [low, high); ``randint(high, size)`` as in PyTorch."""
    if high is None or (isinstance(high, (tuple, list)) and size == ()):
        low, high, size = 0, low, (() if high is None else high)
    dtype = dtypes.as_dtype(dtype) or np.dtype(np.int64)
    return _make(lambda d, s, t: stream(generator, d, "randint").randint(low, high, s, t), size, dtype, device,
                 requires_grad, "randint")


def _float_only(draw, shape, dtype, who):
    if dtype.kind != "f":
        raise TypeError(f"{who}: needs a floating dtype, got {dtype}")
    return draw(shape, dtype)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """[start, end) in steps; integers give int64, any float gives the default float dtype (PyTorch's rule)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if is_float else np.dtype(np.int64)
    device = factory_device(device)
    data = np.arange(start, end, step, dtype=np.float64 if dtypes.as_dtype(dtype).kind == "f" else None)
    return tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    if steps < 0:
        raise ValueError(f"linspace: steps must be non-negative, got {steps}")
    return tensor(np.linspace(start, end, int(steps)), dtype=dtype or dtypes.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda d, s, t: d.backend.xp.eye(n, m, dtype=t), (), dtype, device, requires_grad, "eye")


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False):
        return fn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape, dtype and device of ``t``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)
