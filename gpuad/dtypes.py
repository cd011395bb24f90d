"""dtypes are NumPy dtypes (CuPy uses the same objects); this module names them and holds PyTorch's promotion rules."""
import builtins

import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")  # noqa: A001 - PyTorch's name

_default_float = [float32]


def get_default_dtype():
    """The dtype Python floats and float factories get (float32 unless set_default_dtype changed it)."""
    return _default_float[0]


def set_default_dtype(dtype):
    """Set the default floating dtype, as torch.set_default_dtype does."""
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype only accepts floating dtypes, got {dtype}")
    _default_float[0] = dtype


def as_dtype(dtype):
    """A NumPy dtype from a dtype, a name ('float32') or a NumPy/Python type; None stays None."""
    if dtype is None or type(dtype) is np.dtype:
        return dtype
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None


_PROMOTED = {}


def promote(a, b):
    """PyTorch's result dtype of two tensor dtypes: a float wins over an integer; otherwise the wider kind."""
    key = (a, b)
    out = _PROMOTED.get(key)
    if out is None:
        if a.kind == "f" and b.kind != "f":
            out = a
        elif b.kind == "f" and a.kind != "f":
            out = b
        else:
            out = np.promote_types(a, b)
        _PROMOTED[key] = out
    return out


def name(dtype):
    """'gpuad.float32' for a repr."""
    return f"gpuad.{dtype}"


class finfo:
    """Machine limits of a floating dtype, with PyTorch's fields: bits, eps, max, min, tiny, smallest_normal,
    resolution and dtype (its name, 'float32'). ``finfo()`` describes the default dtype."""

    def __init__(self, type=None):  # noqa: A002 - PyTorch's parameter name
        dt = get_default_dtype() if type is None else as_dtype(type)
        if dt.kind != "f":
            raise TypeError(f"finfo: {dt} is not a floating dtype; use gpuad.iinfo for integer dtypes")
        info = np.finfo(dt)
        self.bits = builtins.int(info.bits)
        self.eps = builtins.float(info.eps)
        self.max = builtins.float(info.max)
        self.min = builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -builtins.int(info.precision)  # PyTorch's: a power of ten, not rounded to dtype
        self.dtype = str(dt)

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype, with PyTorch's fields: bits, max, min and dtype (its name)."""

    def __init__(self, type):  # noqa: A002 - PyTorch's parameter name
        dt = as_dtype(type)
        if dt.kind not in "iu":
            raise TypeError(f"iinfo: {dt} is not an integer dtype (bool is not supported, as in PyTorch); use "
                            f"gpuad.finfo for floating dtypes")
        info = np.iinfo(dt)
        self.bits, self.min, self.max = builtins.int(info.bits), builtins.int(info.min), builtins.int(info.max)
        self.dtype = str(dt)

    def __repr__(self):
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


def is_floating_point(t):
    """Whether a tensor's dtype is a floating dtype (``gpuad.is_floating_point(t)``, as in PyTorch)."""
    from .tensor import Tensor
    if not isinstance(t, Tensor):
        raise TypeError(f"is_floating_point(): argument must be a Tensor, got {type(t).__name__}")
    return t.dtype.kind == "f"
