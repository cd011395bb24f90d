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
