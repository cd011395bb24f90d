"""Tensor methods PyTorch users type that are not ops: ``new_*`` factories, ``type()``, the casts, memory layout
(``stride``, ``storage_offset``, ``data_ptr``), ``is_inference`` and the legacy constructor's data path
(``Tensor([1, 2])``). Installed onto Tensor at import.

``t.type()`` answers with PyTorch's type names ('torch.FloatTensor', 'torch.cuda.LongTensor'), so code that
compares against those strings runs unchanged; ``t.type(name)`` accepts them with a 'torch.' or a 'gpuad.' prefix.
"""
import numpy as np

from . import dtypes, factories
from .device import factory_device
from .tensor import Tensor

_TYPE_NAMES = {
    np.dtype("float32"): "FloatTensor", np.dtype("float64"): "DoubleTensor", np.dtype("float16"): "HalfTensor",
    np.dtype("int64"): "LongTensor", np.dtype("int32"): "IntTensor", np.dtype("int16"): "ShortTensor",
    np.dtype("int8"): "CharTensor", np.dtype("uint8"): "ByteTensor", np.dtype("bool"): "BoolTensor",
}
_DTYPE_OF_NAME = {name: dtype for dtype, name in _TYPE_NAMES.items()}


def type_name(dtype, device_type="cpu"):
    """PyTorch's tensor type name for ``dtype`` on a device type: 'torch.FloatTensor', 'torch.cuda.FloatTensor'."""
    name = _TYPE_NAMES.get(np.dtype(dtype))
    if name is None:
        raise TypeError(f"no PyTorch tensor type name for dtype {dtype}")
    return f"torch.{'cuda.' if device_type == 'cuda' else ''}{name}"


class _LegacyTensorType(type):
    """``isinstance(t, gpuad.FloatTensor)``: a CPU tensor of that dtype, as PyTorch's legacy type objects answer."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == "cpu"


def _legacy_type(name, dtype):
    def __new__(cls, *args, device=None):
        """``FloatTensor(data)`` copies data into a new tensor of this dtype; ``FloatTensor(2, 3)`` makes one of
        that shape (zero-filled: PyTorch leaves it uninitialized)."""
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            return factories.tensor(args[0], dtype=dtype, device=device)
        return factories.zeros(_size_args(args, name), dtype=dtype, device=device)
    return _LegacyTensorType(name, (), {"__new__": __new__, "dtype": dtype, "__doc__": f"PyTorch's legacy "
                                        f"torch.{name}: a constructor and an isinstance check for {dtype} tensors."})


LEGACY_TYPES = {name: _legacy_type(name, dtype) for dtype, name in _TYPE_NAMES.items()}


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """``t.type()``: the type name ('torch.FloatTensor'); ``t.type(dtype_or_name)``: ``t`` converted to it."""
    if kwargs:
        raise TypeError(f"type() got unexpected keyword arguments {sorted(kwargs)}")
    if dtype is None:
        return type_name(self.dtype, self.device.type)
    if isinstance(dtype, _LegacyTensorType):
        dtype = f"torch.{dtype.__name__}"
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        prefix, _, name = dtype.rpartition(".")
        if name not in _DTYPE_OF_NAME or prefix not in ("torch", "gpuad", "torch.cuda", "gpuad.cuda"):
            raise ValueError(f"type(): unknown tensor type {dtype!r}; expected e.g. 'torch.FloatTensor' or "
                             f"'torch.cuda.LongTensor'")
        out = self.to(_DTYPE_OF_NAME[name])
        on_cuda = prefix.endswith("cuda")
        if on_cuda and self.device.type != "cuda":
            out = out.to("cuda")
        elif not on_cuda and self.device.type != "cpu":
            out = out.to("cpu")
        return out
    return self.to(dtypes.as_dtype(dtype))


def _legacy_data(args, device):
    """(array, device) for ``torch.Tensor(*sizes)`` (zeros here, where PyTorch leaves memory uninitialised) or
    ``torch.Tensor(data)``: always the default float dtype, as PyTorch's legacy constructor. Tensor.__init__ calls it
    as ``self._legacy_data``; it lives here because it needs the factories, which tensor.py sits below."""
    device = factory_device(device)
    dtype = dtypes.get_default_dtype()
    if not args:  # Tensor(): an empty 1-D tensor
        return device.backend.xp.zeros((0,), dtype), device
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        if any(a < 0 for a in args):
            raise ValueError(f"Tensor: negative dimension in size {args}")
        return device.backend.xp.zeros(args, dtype), device
    if len(args) == 1:
        if isinstance(args[0], (bool, float, complex)):
            raise TypeError(f"Tensor(): data must be a sequence (got {type(args[0]).__name__}), as in PyTorch; "
                            f"use gpuad.tensor({args[0]!r}) for a 0-d tensor")
        made = factories.tensor(args[0], dtype=dtype, device=device)
        return made._data, made._device
    raise TypeError(f"Tensor(): expected sizes (ints) or one data argument (a list, array or tensor), got "
                    f"{', '.join(type(a).__name__ for a in args)}")


# --- new_* factories: the tensor's dtype and device unless given ------------------------------------------------
def _size_args(size, who):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{who}: size must be ints or one tuple of ints, got {size!r}")
    return tuple(int(s) for s in size)


def _new(factory_name):
    def method(self, *size, dtype=None, device=None, requires_grad=False, **kwargs):
        kwargs.pop("pin_memory", None)
        kwargs.pop("layout", None)
        if kwargs:
            raise TypeError(f"{factory_name}() got unexpected keyword arguments {sorted(kwargs)}")
        return getattr(factories, factory_name[4:])(_size_args(size, factory_name), dtype=dtype or self.dtype,
                                                    device=device or self.device, requires_grad=requires_grad)
    method.__name__ = factory_name
    method.__doc__ = f"``{factory_name[4:]}`` with this tensor's dtype and device unless given."
    return method


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``full`` with this tensor's dtype and device unless given."""
    return factories.full(_size_args((size,), "new_full"), fill_value, dtype=dtype or self.dtype,
                          device=device or self.device, requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor copied from ``data`` (no history), with this tensor's dtype and device unless given."""
    if isinstance(data, Tensor):
        data = data.detach()
    return factories.tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                            requires_grad=requires_grad)


# --- memory layout --------------------------------------------------------------------------------------------
def _address(arr):
    data = arr.data
    return int(data.ptr) if hasattr(data, "ptr") else int(arr.__array_interface__["data"][0])


def _root(arr):
    while getattr(arr, "base", None) is not None and hasattr(arr.base, "dtype"):
        arr = arr.base
    return arr


def data_ptr(self):
    """The address of the tensor's first element (host memory on the CPU, device memory on a GPU)."""
    return _address(self._data)


def storage_offset(self):
    """How many elements into the memory it views this tensor starts (0 unless it is a view)."""
    arr = self._data
    if hasattr(arr.data, "mem"):  # CuPy: offset within the allocation
        return (int(arr.data.ptr) - int(arr.data.mem.ptr)) // arr.itemsize
    return (_address(arr) - _address(_root(arr))) // arr.itemsize


def stride(self, dim=None):
    """The step in elements between neighbours along each dimension (PyTorch counts elements, NumPy bytes)."""
    arr = self._data
    strides = tuple(s // arr.itemsize for s in arr.strides)
    return strides if dim is None else strides[dim]


def is_inference(self):
    """True for tensors made inside ``gpuad.inference_mode()``."""
    return self._inference


def numel(t):
    """The number of elements of a tensor (``gpuad.numel(t)``)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"numel(): argument must be a Tensor, got {type(t).__name__}")
    return t.numel()


def is_floating_point(t):
    """Whether a tensor's dtype is a floating dtype (``gpuad.is_floating_point(t)``, as in PyTorch)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"is_floating_point(): argument must be a Tensor, got {type(t).__name__}")
    return t.dtype.kind == "f"


def _cast(dtype):
    def cast(self, memory_format=None):
        return self.to(dtype)
    return cast


_METHODS = {
    "type": _type, "new_zeros": _new("new_zeros"), "new_ones": _new("new_ones"), "new_empty": _new("new_empty"),
    "new_full": new_full, "new_tensor": new_tensor, "data_ptr": data_ptr, "storage_offset": storage_offset,
    "stride": stride, "is_inference": is_inference,
    "_legacy_data": staticmethod(_legacy_data), "ndimension": lambda self: self._data.ndim, "itemsize": property(lambda self: self._data.itemsize),
    "short": _cast(dtypes.int16), "byte": _cast(dtypes.uint8), "char": _cast(dtypes.int8),
}


def install():
    for name, fn in _METHODS.items():
        if name not in Tensor.__dict__:  # never replace a method the Tensor class or the ops already define
            setattr(Tensor, name, fn)


install()
globals().update(LEGACY_TYPES)  # gpuad.FloatTensor, gpuad.LongTensor, ... (exported from gpuad)
