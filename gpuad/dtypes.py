"""gpuad's dtypes: each stands for a NumPy dtype (CuPy uses the same ones) and answers PyTorch's dtype questions
(``is_floating_point``, ``is_complex``, ``is_signed``, ``itemsize``). NumPy and CuPy accept one wherever they take a
dtype (through its ``.dtype``), and it compares and hashes equal to its NumPy dtype, so ``t.dtype == np.float32`` and
``arr.astype(gpuad.float64)`` work. This module also holds PyTorch's promotion rules."""
import builtins

import numpy as np


class dtype:  # noqa: N801 - PyTorch's name (torch.dtype)
    """One tensor element type: ``gpuad.float32`` and friends, and what ``t.dtype`` returns."""
    __slots__ = ("dtype", "kind", "itemsize", "name", "char", "type", "is_floating_point", "is_complex",
                 "is_signed")

    def __init__(self, np_dtype):
        np_dtype = np.dtype(np_dtype)
        self.dtype = np_dtype
        self.kind, self.itemsize, self.name = np_dtype.kind, np_dtype.itemsize, np_dtype.name
        self.char, self.type = np_dtype.char, np_dtype.type
        self.is_floating_point = np_dtype.kind == "f"
        self.is_complex = np_dtype.kind == "c"
        self.is_signed = np_dtype.kind in "fic"

    def __eq__(self, other):
        if isinstance(other, dtype):
            return self.dtype is other.dtype or self.dtype == other.dtype
        try:
            return self.dtype == other
        except TypeError:
            return False

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.dtype)

    def __str__(self):
        return str(self.dtype)

    def __repr__(self):
        return f"gpuad.{self.dtype}"

    def __getattr__(self, attr):  # the rest of NumPy's dtype interface (str, num, byteorder, ...)
        return getattr(object.__getattribute__(self, "dtype"), attr)

    def __reduce__(self):
        return (of, (self.dtype.name,))

    def to_real(self):
        return self

    def to_complex(self):
        raise TypeError(f"gpuad has no complex dtypes (asked for the complex counterpart of {self})")


_BY_NUMPY = {}


def of(np_dtype):
    """The gpuad dtype for a NumPy dtype (or anything NumPy reads as one); one object per dtype."""
    key = np_dtype if type(np_dtype) is np.dtype else np.dtype(getattr(np_dtype, "dtype", np_dtype))
    found = _BY_NUMPY.get(key)
    if found is None:
        found = _BY_NUMPY[key] = dtype(key)
    return found


float16 = half = of("float16")
float32 = float = of("float32")
float64 = double = of("float64")
int8 = of("int8")
uint8 = of("uint8")
int16 = short = of("int16")
int32 = int = of("int32")
int64 = long = of("int64")
bool = of("bool")  # noqa: A001 - PyTorch's name

_default_float = [float32]


def get_default_dtype():
    """The dtype Python floats and float factories get (float32 unless set_default_dtype changed it)."""
    return _default_float[0]


def set_default_dtype(dtype):
    """Set the default floating dtype, as torch.set_default_dtype does."""
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype only accepts floating dtypes, got {dtype}")
    _default_float[0] = of(dtype)


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


_INT64 = np.iinfo(np.int64)


def wrap_int(value, dtype, who):
    """A Python int as a value of the integer ``dtype``, wrapped modulo 2**bits as PyTorch does for a scalar operand
    (``uint8_tensor + (-1)`` is 255 + 1); an int outside int64 raises, as in PyTorch."""
    if not _INT64.min <= value <= _INT64.max:
        raise OverflowError(f"{who}: the Python integer {value} does not fit in int64")
    info = np.iinfo(dtype)
    if info.min <= value <= info.max:
        return value
    return np.array(value, dtype=np.int64).astype(dtype).item()


def check_int_range(values, dtype, who):
    """Raise as PyTorch does where Python ints (given as an int64 array) don't fit ``dtype`` (an integer dtype);
    negative values into an unsigned dtype wrap (PyTorch's own exception to the rule)."""
    if not values.size:
        return
    info = np.iinfo(dtype)
    low, high = values.min().item(), values.max().item()
    if high > info.max or (info.min < 0 and low < info.min):
        bad = high if high > info.max else low
        raise RuntimeError(f"{who}: value {bad} cannot be converted to type {dtype} without overflow")


def fill_value(value, dtype, who):
    """A Python number to fill an integer tensor with: raises as PyTorch does where an int overflows ``dtype``."""
    if value.__class__ is builtins.int and dtype.kind in "iu":
        check_int_range(np.asarray(value if _INT64.min <= value <= _INT64.max else 2 ** 63), dtype, who)
        return wrap_int(value, dtype, who)
    return value


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
