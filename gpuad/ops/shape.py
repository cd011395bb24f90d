"""Movement ops: reshape, transpose, expand, concatenation, splitting and indexing, each with its VJP.

Views (reshape, transpose, expand, basic indexing) share memory and the in-place version counter with their input.
Indexing with integer arrays or masks copies; its VJP scatters with add, so repeated indices sum their gradients.
"""
import builtins

import numpy as np

from .core import Op, apply, apply_unary
from .._autograd.grad_mode import grad_batch
from ._lift import one
from .._args import shape_arg
from ..tensor import Tensor
from ..factories import zeros


# --- reshape family -------------------------------------------------------------------------------------------------
def expand_batched(t, shape, batch):
    """Broadcast ``t``, whose first ``batch`` dims are batch dims, to ``batch dims + shape``."""
    if not batch:
        return expand(t, shape)
    own = t.ndim - batch
    if own < len(shape):
        t = t.reshape(t.shape[:batch] + (1,) * (len(shape) - own) + t.shape[batch:])
    return expand(t, t.shape[:batch] + tuple(shape))


def sum_to_batched(t, shape, batch):
    """sum_to_shape for ``t`` whose first ``batch`` dims are batch dims (kept as they are)."""
    if not batch:
        return sum_to_shape(t, shape)
    lead = t.ndim - batch - len(shape)
    if lead:
        t = t.sum(tuple(range(batch, batch + lead)))
    return sum_to_shape(t, t.shape[:batch] + tuple(shape))


def _batched(index, batch):
    return (slice(None),) * batch + index if batch else index


def batch_shape(c, t, i=0):
    """The leading batch dimensions a tangent carries beyond its primal's (input ``i``) shape."""
    return t.shape[:t.ndim - c.inputs[i].ndim]


RESHAPE = Op("reshape", lambda xp, x, shape: x.reshape(shape),
             lambda n, g: g.reshape(g.shape[:grad_batch()] + n.next[0][2]), view=True,
             jvp=lambda c, t: t.reshape(batch_shape(c, t) + c.out.shape))


def reshape(x, *shape):
    """The same elements in a new shape (one dimension may be -1). A view where the layout allows."""
    x = one(x)
    shape = shape_arg(shape, "reshape")
    if shape == x._data.shape:
        return apply_unary(RESHAPE, x, {"shape": shape})
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if shape.count(-1) > 1 or (-1 not in shape and known != x.numel()) or \
            (-1 in shape and (known == 0 or x.numel() % known)):
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} ({x.numel()} elements) as shape {shape}")
    return apply_unary(RESHAPE, x, {"shape": shape})


def view(x, *shape):
    """Like reshape, but never copies: a non-contiguous layout that can't be viewed in the new shape raises (as in
    PyTorch), so that writes through the view always reach the original."""
    x = one(x)
    shape = shape_arg(shape, "view")
    data = x._data
    if not data.flags.c_contiguous:
        try:
            x._device.backend.xp.reshape(data, shape, copy=False)
        except TypeError:  # an array library without reshape(copy=): try the no-copy shape assignment
            probe = data.view()
            try:
                probe.shape = shape
            except AttributeError:
                raise RuntimeError(_VIEW_ERROR.format(x.shape, shape)) from None
        except ValueError:
            raise RuntimeError(_VIEW_ERROR.format(x.shape, shape)) from None
    return reshape(x, shape)


_VIEW_ERROR = ("view: a tensor of shape {} with this memory layout (for example a transpose) can't be viewed as {} "
               "without copying; use .reshape(...) or .contiguous().view(...)")


def flatten(x, start_dim=0, end_dim=-1):
    x = one(x)
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = 1
    for s in x.shape[start:end + 1]:
        merged *= s
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, dim=None):
    """Drop dimensions of size 1 (all of them, or those in ``dim``)."""
    x = one(x)
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = {d % builtins.max(x.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim)}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    """Insert a dimension of size 1 at ``dim`` (negative counts from the end of the result)."""
    x = one(x)
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a result with {nd} dimensions")
    dim %= nd
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


# --- permutations ---------------------------------------------------------------------------------------------------
def _permute_vjp(n, g):
    b = grad_batch()
    return permute(g, tuple(range(b)) + tuple(int(d) + b for d in np.argsort(n.params["dims"])))


def _permute_jvp(c, t):
    b = t.ndim - c.inputs[0].ndim
    return permute(t, tuple(range(b)) + tuple(d + b for d in c.params["dims"]))


PERMUTE = Op("permute", lambda xp, x, dims: x.transpose(dims), _permute_vjp, view=True, jvp=_permute_jvp)


def permute(x, *dims):
    x = one(x)
    dims = shape_arg(dims, "permute")
    if sorted(d % builtins.max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dimensions of shape {x.shape}")
    return apply(PERMUTE, (x,), {"dims": tuple(d % builtins.max(x.ndim, 1) for d in dims)})


def transpose(x, dim0=-2, dim1=-1):
    """Swap two dimensions (the last two by default, unlike NumPy's full reversal)."""
    x = one(x)
    if x.ndim < 2:
        return x
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


swapaxes = transpose


def T(x):
    """All dimensions reversed."""
    return permute(x, tuple(reversed(range(x.ndim)))) if x.ndim > 1 else x


def mT(x):
    """The last two dimensions swapped (batched matrix transpose)."""
    if x.ndim < 2:
        raise ValueError(f"mT: needs at least 2 dimensions, got shape {x.shape}")
    return transpose(x, -2, -1)


def _flip_dims(x, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    nd = builtins.max(x.ndim, 1)
    for d in dims:
        if not -nd <= d < nd:
            raise IndexError(f"flip: dim {d} is out of range for a tensor of shape {x.shape}")
    return tuple(sorted({d % nd - x.ndim for d in dims})) if x.ndim else ()  # counted from the end


FLIP = Op("flip", lambda xp, x, dims: xp.flip(x, axis=dims) if dims else x.copy(),
          lambda n, g: apply_unary(FLIP, g, n.params), jvp=lambda c, t: apply_unary(FLIP, t, c.params))


def flip(x, *args, dims=None):
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch): flip(x, (0, 1)) or x.flip(0, 1)."""
    x = one(x)
    if dims is None:
        dims = args[0] if len(args) == 1 else args
    return apply_unary(FLIP, x, {"dims": _flip_dims(x, dims)})


# --- broadcasting ---------------------------------------------------------------------------------------------------
def _sum_to_axes(g, shape):
    lead = g.ndim - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)


def _sum_to_forward(xp, g, shape):
    axes = _sum_to_axes(g, shape)
    if not axes:
        return g.reshape(shape)
    if g.dtype == np.float16:  # accumulate in float32, as the CUDA kernel does
        return g.sum(axis=axes, keepdims=True, dtype=np.float32).astype(np.float16).reshape(shape)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


EXPAND = Op("expand", lambda xp, x, shape: xp.broadcast_to(x, shape),
            lambda n, g: sum_to_batched(g, n.next[0][2], grad_batch()), view=True,
            jvp=lambda c, t: expand_batched(t, c.params["shape"], t.ndim - c.inputs[0].ndim))
SUM_TO = Op("sum_to_shape", _sum_to_forward, lambda n, g: expand_batched(g, n.next[0][2], grad_batch()),
            cuda="sum_to",  # the broadcast-gradient reduction as one ReductionKernel launch on CUDA
            jvp=lambda c, t: sum_to_batched(t, c.params["shape"], t.ndim - c.inputs[0].ndim))


def expand(x, *shape):
    """Broadcast to ``shape`` without copying (-1 keeps a dimension)."""
    x = one(x)
    shape = shape_arg(shape, "expand")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    if shape == x.shape:
        return x
    try:
        return apply_unary(EXPAND, x, {"shape": shape})
    except ValueError:
        raise ValueError(f"expand: shape {x.shape} cannot be broadcast to {shape}") from None


def broadcast_to(x, shape):
    return expand(x, shape)


def sum_to_shape(g, shape):
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape`` (the VJP of broadcasting)."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    if len(shape) > g.ndim or any(s != 1 and s != gs for s, gs in zip(reversed(shape), reversed(g.shape))):
        raise ValueError(f"sum_to_shape: shape {g.shape} does not broadcast from {shape}")
    return apply(SUM_TO, (g,), {"shape": shape})


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


# --- joining and splitting -------------------------------------------------------------------------------------
def _cat_vjp(n, g):
    dim, sizes = n.params["dim"] - len(n.params["shape0"]), n.params["sizes"]
    out, start = [], 0
    for size, need in zip(sizes, n.needs):
        out.append(narrow(g, dim, start, size) if need else None)
        start += size
    return tuple(out)


def _stack_vjp(n, g):
    dim = n.params["dim"] - n.params["ndim"] - 1
    return tuple(select(g, dim, i) if need else None for i, need in enumerate(n.needs))


def _tangents_or_zeros(c, tangents):
    """Every input's tangent, zeros (with the batch dims) where an input has none."""
    first = next(i for i, t in enumerate(tangents) if t is not None)  # by position: tensors' == is elementwise
    ref = tangents[first]
    batch = batch_shape(c, ref, first)
    return [t if t is not None else zeros(batch + x.shape, dtype=ref.dtype, device=ref.device)
            for t, x in zip(tangents, c.inputs)]


def _cat_jvp(c, *tangents):
    return cat(_tangents_or_zeros(c, tangents), dim=c.params["dim"] - c.inputs[0].ndim)


def _stack_jvp(c, *tangents):
    return stack(_tangents_or_zeros(c, tangents), dim=c.params["dim"] - c.inputs[0].ndim - 1)


CAT = Op("cat", lambda xp, *xs, dim, sizes, shape0: xp.concatenate(xs, axis=dim), _cat_vjp, promote="binary", jvp=_cat_jvp)
STACK = Op("stack", lambda xp, *xs, dim, ndim: xp.stack(xs, axis=dim), _stack_vjp, promote="binary", jvp=_stack_jvp)


def cat(tensors, dim=0, *, axis=None):
    """Join tensors along an existing dimension."""
    tensors = [one(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dim = dim if axis is None else axis
    nd = tensors[0].ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    dim %= nd
    for t in tensors:
        if t.ndim != nd or t.shape[:dim] + t.shape[dim + 1:] != tensors[0].shape[:dim] + tensors[0].shape[dim + 1:]:
            raise ValueError(f"cat: shapes {[tuple(t.shape) for t in tensors]} differ outside dim {dim}")
    return apply(CAT, tuple(tensors), {"dim": dim, "sizes": tuple(t.shape[dim] for t in tensors),
                                       "shape0": tensors[0].shape})


concatenate = concat = cat


def stack(tensors, dim=0, *, axis=None):
    """Join tensors of one shape along a new dimension."""
    tensors = [one(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors must have one shape, got {[tuple(t.shape) for t in tensors]}")
    dim = dim if axis is None else axis
    return apply(STACK, tuple(tensors), {"dim": dim % (tensors[0].ndim + 1), "ndim": tensors[0].ndim})


def narrow(x, dim, start, length):
    """``length`` elements of ``dim`` from ``start`` (negative counts from the end), as a view."""
    x = one(x)
    size = x.shape[dim]
    if not -size <= start <= size:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {size} "
                         f"(expected in [{-size}, {size}])")
    if start < 0:
        start += size
    if length < 0 or start + length > size:
        raise ValueError(f"narrow: start ({start}) + length ({length}) exceeds dim {dim} of size {size}")
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, start + length)
    return getitem(x, tuple(index))


def select(x, dim, i):
    index = [slice(None)] * x.ndim
    index[dim] = i
    return getitem(x, tuple(index))


def split(x, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or pieces of the listed sizes (PyTorch)."""
    x = one(x)
    dim %= builtins.max(x.ndim, 1)
    total = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [builtins.min(split_size_or_sections, total - s) for s in range(0, total, split_size_or_sections)] \
            or [0]  # an empty dimension splits into one empty piece, as in PyTorch
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != total:
            raise ValueError(f"split: sizes {sizes} do not sum to {total}, the size of dim {dim} of shape {x.shape}")
    out, start = [], 0
    for size in sizes:
        out.append(narrow(x, dim, start, size))
        start += size
    return tuple(out)


def chunk(x, chunks, dim=0):
    x = one(x)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    if x.shape[dim] == 0:  # PyTorch: ``chunks`` empty pieces
        return tuple(narrow(x, dim, 0, 0) for _ in range(chunks))
    size = -(-x.shape[dim] // chunks)
    return split(x, builtins.max(size, 1), dim)


def unbind(x, dim=0):
    x = one(x)
    return tuple(select(x, dim, i) for i in range(x.shape[dim]))


# --- indexing -------------------------------------------------------------------------------------------------------
def _is_basic(index):
    return builtins.all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in index)


def normalize_index(x, index):
    """A tuple index with tensors turned into arrays on ``x``'s device; raises on a device mismatch or a bad type."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            if i._device is not x._device:
                raise RuntimeError(f"indexing a tensor on {x.device} with an index tensor on {i.device}")
            if i.dtype.kind not in "biu":
                raise IndexError(f"tensors used as indices must be integer or bool, got {i.dtype}")
            i = i._data
        elif isinstance(i, list) or (hasattr(i, "dtype") and hasattr(i, "shape") and i.ndim > 0):
            i = x._device.backend.xp.asarray(i)
            if i.dtype.kind not in "biu" and i.size:
                raise IndexError(f"arrays used as indices must be integer or bool, got {i.dtype}")
            if i.size == 0 and i.dtype.kind != "b":  # [] is float64 to NumPy; an empty mask stays a mask
                i = i.astype(np.int64)
        elif isinstance(i, (bool, np.bool_)):
            pass
        elif isinstance(i, np.integer) or (hasattr(i, "dtype") and i.dtype.kind in "iu" and i.ndim == 0):
            i = int(i)
        elif not (i is None or i is Ellipsis or isinstance(i, (int, slice))):
            raise IndexError(f"unsupported index {i!r} of type {type(i).__name__}")
        out.append(i)
    return tuple(out)


def _index_backward_forward(xp, g, shape, index, basic):
    if basic:
        out = xp.zeros(shape, dtype=g.dtype)
        out[index] = g
        return out
    if g.dtype == np.float16:  # repeated indices sum in float32 (float16 additions stall at 2048)
        out = xp.zeros(shape, dtype=np.float32)
        xp.add_at(out, index, g.astype(np.float32))
        return out.astype(np.float16)
    out = xp.zeros(shape, dtype=g.dtype)
    xp.add_at(out, index, g)  # sums repeated indices
    return out


def batched_index(c, t, index):
    """``index`` with a full slice in front for each batch dimension of the tangent ``t``."""
    return (slice(None),) * (t.ndim - c.inputs[0].ndim) + index


def _getitem_vjp(n, g):
    b = grad_batch()
    return index_backward(g, g.shape[:b] + n.next[0][2], _batched(n.params["index"], b), n.params["basic"])


def _getitem_jvp(c, t):
    return getitem(t, batched_index(c, t, c.params["index"]))


def _index_backward_jvp(c, t):
    return index_backward(t, batch_shape(c, t) + c.params["shape"], batched_index(c, t, c.params["index"]),
                          c.params["basic"])


GETITEM = Op("getitem", lambda xp, x, index, basic: x[index], _getitem_vjp, jvp=_getitem_jvp)
GETITEM_VIEW = Op("getitem_view", lambda xp, x, index, basic: x[index], _getitem_vjp, view=True, jvp=_getitem_jvp)
INDEX_BACKWARD = Op("index_backward", _index_backward_forward,
                    lambda n, g: getitem(g, _batched(n.params["index"], grad_batch())),
                    jvp=_index_backward_jvp)


def getitem(x, index):
    """``x[index]`` with ints, slices, None, ellipsis, integer arrays or bool masks."""
    index = normalize_index(x, index)
    basic = _is_basic(index)
    try:
        return apply(GETITEM_VIEW if basic else GETITEM, (x,), {"index": index, "basic": basic})
    except IndexError as exc:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: {exc}") from None


def index_backward(g, shape, index, basic):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up): the VJP of indexing."""
    return apply(INDEX_BACKWARD, (g,), {"shape": shape, "index": index, "basic": basic})


# --- copies ---------------------------------------------------------------------------------------------------------
CLONE = Op("clone", lambda xp, x: x.copy(), lambda n, g: g, jvp=lambda c, t: t)
CONTIGUOUS = Op("contiguous", lambda xp, x: xp.ascontiguousarray(x), lambda n, g: g, jvp=lambda c, t: t)


def clone(x):
    """A copy that is still connected to the graph (the gradient passes through)."""
    return apply(CLONE, (one(x),))


def contiguous(x):
    x = one(x)
    return x if x._data.flags.c_contiguous else apply(CONTIGUOUS, (x,))
