"""Indexing along a dimension: gather, scatter, scatter_add, index_select, index_add, masked_fill, masked_select,
nonzero and take_along_dim, with PyTorch's signatures and checks.

gather and scatter_add are each other's VJP (as getitem and index_backward are); scatter's VJP is a gather for the
source and a scatter of zeros for the overwritten input. The forwards work out the tangent's or cotangent's leading
batch dimensions from the ranks (the array has ``batch`` more dimensions than the index), so the same ops serve batched
gradients and forward mode.
"""
import builtins

import numpy as np

from .core import Op, apply
from .._args import dim_arg
from ._lift import one
from ..tensor import Tensor, wrap
from ..factories import full, tensor, zeros
from .shape import broadcast_tensors, index_backward
from .elementwise import where


def _index_tensor(index, x, who, ndim=None):
    """``index`` as an integer tensor on ``x``'s device (lists and arrays are accepted, as PyTorch accepts tensors)."""
    if not isinstance(index, Tensor):
        index = tensor(index, device=x._device)
        if index.numel() == 0:
            index = index.long()
    if index._device is not x._device:
        raise RuntimeError(f"{who}: the index is on {index.device} but the tensor is on {x.device}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected an integer (int64) index tensor, got dtype {index.dtype}")
    if ndim is not None and index.ndim > ndim:
        raise ValueError(f"{who}: the index must have at most {ndim} dimension(s), got shape {tuple(index.shape)}")
    return index


def _check_bounds(index, size, who, dim):
    """IndexError unless every value of the index tensor is in [0, size); its min and max are computed on its
    device (then read back)."""
    if index._data.size and size >= 0:
        lo, hi = index._device.backend.on_device(_extremes, index._data)
        if lo < 0:
            raise IndexError(f"{who}: index {lo} is out of bounds for dim {dim} with size {size}")
        if hi >= size:
            raise IndexError(f"{who}: index {hi} is out of bounds for dim {dim} with size {size}")


def _extremes(data):
    return int(data.min()), int(data.max())


def _grid(xp, index, dim, batch_shape):
    """The advanced-index tuple that addresses, for every position of ``index``, that position with its ``dim``-th
    coordinate replaced by the index value; ``batch_shape`` leading dims are addressed whole."""
    nb, full = len(batch_shape), tuple(batch_shape) + index.shape
    parts = []
    for d, size in enumerate(full):
        shape = [1] * len(full)
        shape[d] = size
        if d == nb + dim:
            parts.append(index.reshape((1,) * nb + index.shape))
        else:
            parts.append(xp.arange(size).reshape(shape))
    return tuple(parts)


def _batch(x, index):
    return x.shape[:x.ndim - index.ndim]


def _gather_forward(xp, x, dim, index):
    return x[_grid(xp, index, dim, _batch(x, index))]


def _scatter_add_forward(xp, x, src, dim, index):
    out = x.copy()
    xp.add_at(out, _grid(xp, index, dim, _batch(x, index)), src)
    return out


def _scatter_forward(xp, x, src, dim, index):
    out = x.copy()
    out[_grid(xp, index, dim, _batch(x, index))] = src
    return out


def _zeros_like_batched(like, ref):
    """Zeros with ``like``'s shape (the primal) and ``ref``'s leading batch dims (a tangent of another input)."""
    return zeros(tuple(ref.shape[:ref.ndim - like.ndim]) + tuple(like.shape), dtype=ref.dtype, device=ref.device)


def _gather_vjp(n, g):
    shape = n.next[0][2]
    batch = tuple(g.shape[:g.ndim - n.params["index"].ndim])
    return apply(SCATTER_ADD, (zeros(batch + tuple(shape), dtype=g.dtype, device=g.device), g), n.params)


def _scatter_add_vjp(n, g):
    return g if n.needs[0] else None, apply(GATHER, (g,), n.params) if n.needs[1] else None


def _scatter_add_jvp(c, tx, tsrc):
    x, src = c.inputs
    tx = _zeros_like_batched(x, tsrc) if tx is None else tx
    tsrc = _zeros_like_batched(src, tx) if tsrc is None else tsrc
    return apply(SCATTER_ADD, (tx, tsrc), c.params)


def _scatter_vjp(n, g):
    gx = apply(SCATTER, (g, 0.0), n.params) if n.needs[0] else None
    gsrc = apply(GATHER, (g,), n.params) if n.needs[1] else None
    return gx, gsrc


def _scatter_jvp(c, tx, tsrc):
    x, src = c.inputs
    if tsrc is None:
        return apply(SCATTER, (tx, 0.0), c.params)
    tx = _zeros_like_batched(x, tsrc) if tx is None else tx
    return apply(SCATTER, (tx, tsrc), c.params)


GATHER = Op("gather", _gather_forward, _gather_vjp, jvp=lambda c, t: apply(GATHER, (t,), c.params))
SCATTER_ADD = Op("scatter_add", _scatter_add_forward, _scatter_add_vjp, jvp=_scatter_add_jvp, promote="binary")
SCATTER = Op("scatter", _scatter_forward, _scatter_vjp, jvp=_scatter_jvp, save=((), ()))


def _along_dim_checks(x, dim, index, who, src=None):
    """PyTorch's rules for gather/scatter: one rank, index no larger than the tensor outside ``dim`` (nor than
    ``src`` anywhere), and every index value inside the size of ``dim``."""
    dim = dim_arg(x, dim, who)
    index = _index_tensor(index, x, who)
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise ValueError(f"{who}: index {tuple(index.shape)} and input {tuple(x.shape)} must have the same number "
                         f"of dimensions")
    shape = tuple(x.shape) if x.ndim else (1,)
    ishape = tuple(index.shape) if index.ndim else (1,)
    for d, (s, i) in enumerate(zip(shape, ishape)):
        if d != dim and i > s:
            raise ValueError(f"{who}: index {tuple(index.shape)} is larger than the input {tuple(x.shape)} "
                             f"in dimension {d}")
    if isinstance(src, Tensor):
        sshape = tuple(src.shape) if src.ndim else (1,)
        if len(sshape) != len(ishape) or any(i > s for i, s in zip(ishape, sshape)):
            raise ValueError(f"{who}: index {tuple(index.shape)} is larger than the source {tuple(src.shape)}")
    _check_bounds(index, shape[dim], who, dim)
    return dim, index


def gather(input, dim, index, *, sparse_grad=False):  # noqa: A002 - PyTorch's argument names
    """out[i][j] = input[index[i][j]][j] for dim=0 (and so on): the values at ``index`` along ``dim``."""
    if sparse_grad:
        raise NotImplementedError("gather: sparse_grad=True is not supported (gpuad has no sparse tensors)")
    x = one(input)
    dim, index = _along_dim_checks(x, dim, index, "gather")
    if x.ndim == 0:
        return gather(x.reshape(1), 0, index.reshape(-1)).reshape(index.shape)
    return apply(GATHER, (x,), {"dim": dim, "index": index._data})


def _source(src, x, index, who):
    """The source cropped to the index's shape (PyTorch reads only that corner), or a number as it is."""
    if not isinstance(src, Tensor):
        if isinstance(src, (bool, int, float, np.generic)):
            return src.item() if isinstance(src, np.generic) else src
        src = one(src)
    if src._device is not x._device:
        raise RuntimeError(f"{who}: the source is on {src.device} but the tensor is on {x.device}")
    if src.dtype != x.dtype:
        raise TypeError(f"{who}: expected the source to have the tensor's dtype {x.dtype}, got {src.dtype}")
    if src.ndim == 0:
        return src.reshape((1,) * builtins.max(index.ndim, 1))[tuple(slice(0, s) for s in index.shape)] \
            if index.ndim else src
    if tuple(src.shape) != tuple(index.shape):
        src = src[tuple(slice(0, s) for s in index.shape)]
    return src


def scatter(input, dim, index, src=None, *, value=None, reduce=None):  # noqa: A002
    """A copy of ``input`` with ``src`` (a tensor or a number) written at ``index`` along ``dim``; with repeated
    indices, which write lands is unspecified (as in PyTorch). ``reduce='add'`` is scatter_add."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give the values to write as src (a tensor) or value (a number)")
    if reduce is not None:
        if reduce == "add":
            return scatter_add(input, dim, index, src) if isinstance(src, Tensor) else \
                scatter_add(input, dim, index, _full_like_index(input, index, src))
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported; use reduce='add' or scatter_add")
    x = one(input)
    dim, index = _along_dim_checks(x, dim, index, "scatter", src)
    if x.ndim == 0:
        return scatter(x.reshape(1), 0, index.reshape(-1), src.reshape(-1) if isinstance(src, Tensor) else src
                       ).reshape(())
    return apply(SCATTER, (x, _source(src, x, index, "scatter")), {"dim": dim, "index": index._data})


def _full_like_index(x, index, value):
    return full(tuple(index.shape), value, dtype=one(x).dtype, device=one(x).device)


def scatter_add(input, dim, index, src):  # noqa: A002
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices add up)."""
    x = one(input)
    if not isinstance(src, Tensor):
        src = one(src)
    dim, index = _along_dim_checks(x, dim, index, "scatter_add", src)
    if x.ndim == 0:
        return scatter_add(x.reshape(1), 0, index.reshape(-1), src.reshape(-1)).reshape(())
    return apply(SCATTER_ADD, (x, _source(src, x, index, "scatter_add")), {"dim": dim, "index": index._data})


def take_along_dim(input, indices, dim=None):  # noqa: A002
    """input's values at ``indices`` along ``dim``, the two broadcast against each other outside ``dim`` (NumPy's
    take_along_axis); with no dim, both are flattened."""
    x = one(input)
    indices = _index_tensor(indices, x, "take_along_dim")
    if dim is None:
        return gather(x.reshape(-1), 0, indices.reshape(-1))
    dim = dim_arg(x, dim, "take_along_dim")
    if indices.ndim != x.ndim:
        raise ValueError(f"take_along_dim: input {tuple(x.shape)} and indices {tuple(indices.shape)} must have the "
                         f"same number of dimensions")
    shape_x, shape_i = list(x.shape), list(indices.shape)
    try:
        common = list(np.broadcast_shapes(tuple(shape_x[:dim] + [1] + shape_x[dim + 1:]),
                                          tuple(shape_i[:dim] + [1] + shape_i[dim + 1:])))
    except ValueError:
        raise ValueError(f"take_along_dim: input {tuple(x.shape)} and indices {tuple(indices.shape)} do not "
                         f"broadcast outside dim {dim}") from None
    x = x.expand(common[:dim] + [shape_x[dim]] + common[dim + 1:])
    indices = indices.expand(common[:dim] + [shape_i[dim]] + common[dim + 1:])
    return gather(x, dim, indices)


# --- along one dimension with a 1-D index ----------------------------------------------------------------------
def _vector_index(x, dim, index, who):
    dim = dim_arg(x, dim, who)
    index = _index_tensor(index, x, who, ndim=1)
    size = x.shape[dim] if x.ndim else 1
    _check_bounds(index, size, who, dim)
    return dim, index


def index_select(input, dim, index):  # noqa: A002
    """The slices of ``input`` at the positions ``index`` (1-D) along ``dim``; repeated positions repeat."""
    x = one(input)
    dim, index = _vector_index(x, dim, index, "index_select")
    if x.ndim == 0:
        return x.reshape(1)[index.reshape(-1)].reshape(index.shape)
    return x[(slice(None),) * dim + (index.reshape(-1),)]


def index_add(input, dim, index, source, *, alpha=1):  # noqa: A002
    """A copy of ``input`` with ``alpha * source`` added at the positions ``index`` along ``dim`` (repeats add up)."""
    x = one(input)
    dim, index = _vector_index(x, dim, index, "index_add")
    source = one(source)
    expected = tuple(x.shape[:dim]) + (index.numel(),) + tuple(x.shape[dim + 1:])
    if x.ndim and tuple(source.shape) != expected:
        raise ValueError(f"index_add: source of shape {tuple(source.shape)} does not match: expected {expected} "
                         f"(input {tuple(x.shape)} with dim {dim} of size len(index) = {index.numel()})")
    if source.dtype != x.dtype:
        raise TypeError(f"index_add: source dtype {source.dtype} differs from the input's dtype {x.dtype}")
    if alpha != 1:
        source = source * alpha
    if x.ndim == 0:
        return x + source.reshape(()) * index.numel()
    return x + index_backward(source, tuple(x.shape), (slice(None),) * dim + (index.reshape(-1)._data,), False)


def index_fill(input, dim, index, value):  # noqa: A002
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value``."""
    x = one(input)
    dim, index = _vector_index(x, dim, index, "index_fill")
    backend = x._device.backend
    mask = backend.on_device(_slice_mask, backend.xp, index._data, x.shape[dim] if x.ndim else 1)
    mask = wrap(mask.reshape((-1,) + (1,) * (x.ndim - dim - 1)) if x.ndim else mask.reshape(()), x._device)
    return masked_fill(x, mask, value)


def _slice_mask(xp, index, size):
    """A bool vector of ``size``, True at the positions ``index``."""
    mask = xp.zeros(size, dtype=bool)
    mask[index.reshape(-1)] = True
    return mask


# --- masks ------------------------------------------------------------------------------------------------------
def _mask(mask, x, who):
    if not isinstance(mask, Tensor):
        mask = tensor(mask, device=x._device)
    if mask.dtype.kind != "b":
        raise TypeError(f"{who}: expected a bool mask, got dtype {mask.dtype}")
    if mask._device is not x._device:
        raise RuntimeError(f"{who}: the mask is on {mask.device} but the tensor is on {x.device}")
    return mask


def masked_fill(input, mask, value):  # noqa: A002
    """``input`` with ``value`` where ``mask`` (bool, broadcast) is True; keeps input's dtype. Differentiable in
    input and in a 0-d tensor ``value``."""
    x = one(input)
    mask = _mask(mask, x, "masked_fill")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"masked_fill: only a number or a 0-d tensor can be the value, got shape "
                             f"{tuple(value.shape)}")
        value = value.to(x.dtype) if value.dtype != x.dtype else value
    elif x.dtype.kind in "biu":
        if isinstance(value, float) and x.dtype.kind != "f" and value != int(value):
            value = int(value)  # PyTorch casts the value to the tensor's dtype
        value = x.dtype.type(value).item()
    try:
        out = where(mask, value, x)
    except ValueError:
        raise ValueError(f"masked_fill: mask of shape {tuple(mask.shape)} does not broadcast with the input of shape "
                         f"{tuple(x.shape)}") from None
    return out if out.dtype == x.dtype else out.to(x.dtype)


def masked_select(input, mask):  # noqa: A002
    """The elements of ``input`` where ``mask`` is True (the two broadcast together), as a 1-D tensor."""
    x = one(input)
    mask = _mask(mask, x, "masked_select")
    try:
        x, mask = broadcast_tensors(x, mask)
    except ValueError:
        raise ValueError(f"masked_select: mask of shape {tuple(mask.shape)} does not broadcast with the input of "
                         f"shape {tuple(x.shape)}") from None
    if x.ndim == 0:
        return x.reshape(1)[mask.reshape(1)]
    return x[mask]


# --- positions of nonzero elements --------------------------------------------------------------------------
def nonzero(input, *, as_tuple=False):  # noqa: A002
    """The indices of the nonzero elements: an (n, ndim) int64 tensor, or with ``as_tuple`` one 1-D tensor per
    dimension (what ``x[...]`` takes)."""
    x = one(input)
    backend = x._device.backend
    found = backend.on_device(_nonzero, backend.xp, x._data if x.ndim else x._data.reshape(1), as_tuple)
    if as_tuple:
        return tuple(wrap(w, x._device) for w in found)
    return wrap(found if x.ndim else found[:, :0], x._device)


def _nonzero(xp, data, as_tuple):
    """The int64 positions of data's nonzero elements: one vector per dim (``as_tuple``) or an (n, ndim) array."""
    where = xp.nonzero(data)
    if as_tuple:
        return tuple(w.astype(np.int64) for w in where)
    return xp.stack(where, axis=1).astype(np.int64) if where else xp.zeros((0, 0), np.int64)


def argwhere(input):  # noqa: A002
    """nonzero(input) as an (n, ndim) tensor."""
    return nonzero(input)


def count_nonzero(input, dim=None):  # noqa: A002
    """How many elements (along ``dim``, an int or a tuple) are nonzero, as int64."""
    x = one(input)
    return (x != 0).sum(dim=dim).long() if dim is not None else (x != 0).sum().long()
