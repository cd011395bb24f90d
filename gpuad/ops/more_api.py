"""The smaller Tensor API names people type, each composed of differentiable ops: addcmul, addcdiv, dist, fmax/fmin,
heaviside, kron, ldexp, take, ravel, t, fliplr/flipud, index_copy, index_put, masked_scatter, scatter_reduce,
fill_diagonal_, the new_* factories, and the predicates isposinf/isneginf/signbit/isreal and gcd/lcm."""
import numpy as np

from . import elementwise as ew
from ._lift import one, operands
from .shape import flip, index_backward, normalize_index, sum_to_shape
from .._args import shape_arg
from ..tensor import Tensor, wrap
from ..tensor import wrap as _wrap_array  # fill_diagonal_ has an argument named wrap
from .reduce import norm
from ..dtypes import get_default_dtype
from .indexing import (SCATTER_ADD, _along_dim_checks, _check_bounds, _grid, _index_tensor, _mask, _source,
                       _vector_index, gather, masked_fill, scatter, scatter_add)
from .linalg import _diagonal_of, dot
from .core import apply
from ..factories import full, ones, tensor
from .inplace import _check_target, commit
from .. import factories


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002 - PyTorch's argument names
    """input + value * tensor1 * tensor2."""
    return one(input) + value * (one(tensor1) * tensor2)


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value * tensor1 / tensor2."""
    return one(input) + value * (one(tensor1) / tensor2)


def dist(input, other, p=2):  # noqa: A002
    """The p-norm of input - other."""
    return norm(one(input) - other, p=p)


def fmax(input, other):  # noqa: A002
    """maximum, except that NaN loses to a number (NaN only where both are NaN)."""
    a, b = operands(input, other)
    a = one(a) if not isinstance(a, Tensor) else a
    b = one(b) if not isinstance(b, Tensor) else b
    return ew.where(a.isnan(), b, ew.where(b.isnan(), a, ew.maximum(a, b)))


def fmin(input, other):  # noqa: A002
    """minimum, except that NaN loses to a number."""
    a, b = operands(input, other)
    a = one(a) if not isinstance(a, Tensor) else a
    b = one(b) if not isinstance(b, Tensor) else b
    return ew.where(a.isnan(), b, ew.where(b.isnan(), a, ew.minimum(a, b)))


def heaviside(input, values):  # noqa: A002
    """0 below zero, 1 above, ``values`` at zero."""
    x = one(input)
    return ew.where(x == 0, values, (x > 0).to(x.dtype))


def ldexp(input, other):  # noqa: A002
    """input * 2**other."""
    x = one(input)
    if x.dtype.kind != "f":
        x = x.to(get_default_dtype())
    return x * 2.0 ** other if not isinstance(other, Tensor) else x * ew.pow(2.0, other.to(x.dtype))


def kron(input, other):  # noqa: A002
    """The Kronecker product (block matrix of input[i, j] * other), for tensors of any rank."""
    a, b = one(input), one(other)
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (nd - b.ndim) + tuple(b.shape))
    spread_a = [d for s in a.shape for d in (s, 1)]
    spread_b = [d for s in b.shape for d in (1, s)]
    return (a.reshape(spread_a) * b.reshape(spread_b)).reshape([x * y for x, y in zip(a.shape, b.shape)])


def take(input, index):  # noqa: A002
    """The elements of the flattened input at ``index`` (the result has index's shape)."""
    x = one(input)
    index = _index_tensor(index, x, "take")
    _check_bounds(index, x.numel(), "take", 0)
    return x.reshape(-1)[index.reshape(-1)].reshape(index.shape)


def ravel(input):  # noqa: A002
    """The elements as a 1-D tensor."""
    return one(input).reshape(-1)


def t(input):  # noqa: A002
    """The transpose of a tensor with at most 2 dims."""
    x = one(input)
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, but got {x.ndim} (shape {tuple(x.shape)}); "
                         f"use transpose(dim0, dim1) or .mT")
    return x.transpose(0, 1) if x.ndim == 2 else x


def swapdims(input, dim0, dim1):  # noqa: A002
    return one(input).transpose(dim0, dim1)


def fliplr(input):  # noqa: A002
    """Reversed along dim 1."""
    x = one(input)
    if x.ndim < 2:
        raise ValueError(f"fliplr: expects at least 2 dims, got shape {tuple(x.shape)}")
    return flip(x, 1)


def flipud(input):  # noqa: A002
    """Reversed along dim 0."""
    x = one(input)
    if x.ndim < 1:
        raise ValueError("fliplr: expects at least 1 dim")
    return flip(x, 0)


def vdot(input, other):  # noqa: A002
    return dot(input, other)


def sum_to_size(input, *size):  # noqa: A002
    """Summed down to ``size`` (which input must broadcast from)."""
    return sum_to_shape(one(input), shape_arg(size, "sum_to_size"))


# --- writes at positions, out of place --------------------------------------------------------------------------
def index_copy(input, dim, index, source):  # noqa: A002
    """A copy of input with the slices at ``index`` along ``dim`` replaced by source's."""
    x = one(input)
    dim, index = _vector_index(x, dim, index, "index_copy")
    out = x.clone()
    out[(slice(None),) * dim + (index.reshape(-1),)] = source
    return out


def index_put(input, indices, values, accumulate=False):  # noqa: A002
    """A copy of input with ``values`` written (or with ``accumulate``, added: repeats add up) at the advanced
    index ``indices`` (a tuple of index tensors)."""
    x = one(input)
    values = values if isinstance(values, Tensor) else one(values).to(x.dtype)
    index = normalize_index(x, tuple(indices))
    if not accumulate:
        out = x.clone()
        out[tuple(indices)] = values
        return out
    selected = x._device.backend.on_device(_indexed_shape, x._data, index)
    return x + index_backward(values.expand(selected) if tuple(values.shape) != selected else values,
                              tuple(x.shape), index, False)


def _indexed_shape(data, index):
    """The shape of ``data[index]`` (an advanced index: computed by indexing, on data's device)."""
    return data[index].shape


def masked_scatter(input, mask, source):  # noqa: A002
    """A copy of input with source's leading elements, in order, written where ``mask`` is True."""
    x = one(input)
    mask = _mask(mask, x, "masked_scatter")
    mask = mask.expand(tuple(x.shape)) if tuple(mask.shape) != tuple(x.shape) else mask
    count = int(mask.sum().item())
    source = one(source)
    if source.numel() < count:
        raise ValueError(f"masked_scatter: the mask selects {count} elements but source has {source.numel()}")
    out = x.clone()
    out[mask] = source.reshape(-1)[:count]
    return out


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):  # noqa: A002
    """input with src reduced into it at ``index`` along ``dim``: reduce is 'sum', 'mean', 'amax' or 'amin' (ties
    share the gradient equally, as in PyTorch); ``include_self=False`` leaves input's own values out where
    something lands."""
    x = one(input)
    dim, idx = _along_dim_checks(x, dim, index, "scatter_reduce", src)
    src = _source(src, x, idx, "scatter_reduce")
    if reduce not in ("sum", "mean", "amax", "amin"):
        raise NotImplementedError(f"scatter_reduce: reduce={reduce!r} is not supported; use 'sum', 'mean', "
                                  f"'amax' or 'amin'")
    hit = scatter(x.new_zeros(tuple(x.shape)), dim, idx, 1.0) > 0  # where anything lands
    base = x if include_self else ew.where(hit, 0.0, x)
    if reduce in ("sum", "mean"):
        total = scatter_add(base, dim, idx, src)
        if reduce == "sum":
            return total
        counts = scatter_add((ones(tuple(x.shape), dtype=x.dtype, device=x.device) if include_self
                              else (~hit).to(x.dtype)), dim, idx, ones(tuple(idx.shape), dtype=x.dtype,
                                                                        device=x.device))
        mean = total / counts
        return mean if x.dtype.kind == "f" else (total // counts).to(x.dtype)
    backend = x._device.backend
    result = wrap(backend.on_device(_scatter_extreme, backend.xp, x._data, None if include_self else hit._data,
                                    dim, idx._data, src._data, reduce == "amax"), x._device)
    if x.dtype.kind != "f" or not (x.requires_grad or src.requires_grad):
        return result
    # the gradient: shared equally by the elements equal to the result (input's own only with include_self)
    x_wins = (x == result) if include_self else (x == result) & ~hit
    src_wins = src == gather(result, dim, idx)
    count = scatter_add(x_wins.to(x.dtype), dim, idx, src_wins.to(x.dtype))
    weighted = apply(SCATTER_ADD, (x * x_wins.to(x.dtype), src * src_wins.to(x.dtype)),
                     {"dim": dim, "index": idx._data}) / ew.where(count == 0, 1.0, count)
    return result + (weighted - weighted.detach())  # the exact result's value, the shared gradient


def _scatter_extreme(xp, data, hit, dim, index, src, largest):
    """A copy of ``data`` with ``src`` reduced into it by max (``largest``) or min at ``index`` along ``dim``; where
    ``hit`` (None: nowhere) data's own values are left out."""
    data = data.copy()
    if hit is not None:
        if data.dtype.kind == "f":
            data[hit] = -np.inf if largest else np.inf
        else:
            data[hit] = np.iinfo(data.dtype).min if largest else np.iinfo(data.dtype).max
    ufunc = xp.maximum if largest else xp.minimum
    grid = _grid(xp, index, dim, ())
    if hasattr(ufunc, "at"):
        ufunc.at(data, grid, src)
    else:  # pragma: no cover - CuPy: scatter_max / scatter_min
        import cupyx  # lazy: import gpuad never imports CuPy
        (cupyx.scatter_max if largest else cupyx.scatter_min)(data, grid, src)
    return data


def fill_diagonal_(self, fill_value, wrap=False):
    """Set the main diagonal of a 2-D (or all-equal-dims) tensor to ``fill_value``, in place."""
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise ValueError(f"fill_diagonal_: expects a 2-D tensor or all dims equal, got shape {tuple(self.shape)}")
    _check_target(self, "fill_diagonal_")
    backend = self._device.backend
    mask = backend.on_device(_diagonal_mask, backend.xp, tuple(self.shape), restart=wrap)
    return commit(self, masked_fill(self, _wrap_array(mask, self._device), fill_value), "fill_diagonal_")


def _diagonal_mask(xp, shape, restart):
    """A bool array of ``shape``, True on the main diagonal (``restart``: again below a tall matrix's square)."""
    mask = xp.zeros(shape, bool)
    if len(shape) == 2:
        rows, cols = shape
        if restart and rows > cols + 1:
            for start in range(0, rows, cols + 1):
                _diagonal_of(xp, mask[start:], 0, 0, 1)[...] = True
        else:
            _diagonal_of(xp, mask, 0, 0, 1)[...] = True
    else:
        i = xp.arange(shape[0])
        mask[(i,) * len(shape)] = True
    return mask


# --- predicates and integer functions -----------------------------------------------------------------------
def isposinf(input):  # noqa: A002
    x = one(input)
    return wrap(x._device.backend.xp.isposinf(x._data) if x.dtype.kind == "f" else
                x._device.backend.xp.zeros(x.shape, bool), x._device)


def isneginf(input):  # noqa: A002
    x = one(input)
    return wrap(x._device.backend.xp.isneginf(x._data) if x.dtype.kind == "f" else
                x._device.backend.xp.zeros(x.shape, bool), x._device)


def signbit(input):  # noqa: A002
    x = one(input)
    return wrap(x._device.backend.xp.signbit(x._data), x._device)


def isreal(input):  # noqa: A002
    """True everywhere: gpuad has no complex tensors."""
    x = one(input)
    return wrap(x._device.backend.xp.ones(x.shape, bool), x._device)


def _integer_binary(name):
    def fn(input, other):  # noqa: A002
        a, b = one(input), one(other)
        if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
            raise TypeError(f"{name}: expects integer tensors, got {a.dtype} and {b.dtype}")
        return wrap(getattr(a._device.backend.xp, name)(a._data, b._data), a._device)
    fn.__name__ = name
    fn.__doc__ = f"The elementwise {name} of two integer tensors."
    return fn


gcd = _integer_binary("gcd")
lcm = _integer_binary("lcm")


# --- new_* factories ----------------------------------------------------------------------------------------
def _new(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        shape = shape_arg(size, fill)
        return getattr(factories, fill)(shape, dtype=dtype or self.dtype, device=device or self.device,
                                        requires_grad=requires_grad)
    method.__name__ = f"new_{fill}"
    method.__doc__ = f"{fill}(size) with this tensor's dtype and device (unless given)."
    return method


new_zeros, new_ones, new_empty = _new("zeros"), _new("ones"), _new("empty")


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(tuple(size), fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

