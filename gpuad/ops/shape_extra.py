"""More movement ops people type: repeat, tile, repeat_interleave, roll, meshgrid, diff, movedim, rot90, unflatten and
the stacks (hstack, vstack, dstack, column_stack), each composed of differentiable views, copies and indexing."""
import numpy as np

from ._lift import one
from .shape import cat, flip, stack
from .._args import dim_arg, shape_arg
from ..tensor import Tensor, wrap
from .indexing import index_select


def repeat(input, *sizes):  # noqa: A002 - PyTorch's argument names
    """The tensor tiled ``sizes[i]`` times along each dim (leading sizes add new dims), as Tensor.repeat."""
    x = one(input)
    sizes = shape_arg(sizes, "repeat")
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: the number of repeat sizes ({len(sizes)}) can't be smaller than the number of "
                         f"dims of the tensor ({x.ndim}, shape {tuple(x.shape)})")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: sizes must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    pairs = [d for s in shape for d in (1, s)]
    expanded = [d for r, s in zip(sizes, shape) for d in (r, s)]
    return x.reshape(pairs).expand(expanded).reshape([r * s for r, s in zip(sizes, shape)])


def tile(input, dims):  # noqa: A002
    """repeat, with fewer ``dims`` than the tensor has padded with ones in front (NumPy's tile)."""
    x = one(input)
    dims = tuple(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):  # noqa: A002
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place (an int, or one count each);
    ``repeat_interleave(counts)`` alone repeats 0, 1, 2, ... by the counts."""
    if repeats is None:
        counts = one(input)
        xp = counts._device.backend.xp
        return wrap(xp.repeat(xp.arange(counts.shape[0] if counts.ndim else 1), _host_list(counts._data)),
                    counts._device)
    x = one(input)
    if dim is None:
        x, dim = x.reshape(-1), 0
    dim = dim_arg(x, dim, "repeat_interleave")
    xp = x._device.backend.xp
    n = x.shape[dim] if x.ndim else 1
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1 or repeats.dtype.kind not in "iu":
            raise ValueError(f"repeat_interleave: repeats must be an int or a 1-D integer tensor, got shape "
                             f"{tuple(repeats.shape)} and dtype {repeats.dtype}")
        counts = _host_list(repeats._data)
        if len(counts) not in (1, n):
            raise ValueError(f"repeat_interleave: repeats has {len(counts)} entries but dim {dim} has size {n}")
        if len(counts) == 1:
            counts = counts[0]
    else:
        counts = int(repeats)
    if np.any(np.asarray(counts) < 0):
        raise ValueError("repeat_interleave: repeats must be non-negative")
    index = wrap(xp.repeat(xp.arange(n), counts), x._device)
    if output_size is not None and index.shape[0] != output_size:
        raise ValueError(f"repeat_interleave: output_size {output_size} does not match the {index.shape[0]} "
                         f"repeated elements")
    return index_select(x, dim, index)


def _host_list(counts):
    """Repeat counts as a Python list (CuPy's repeat takes an int, a list or a tuple, not an array)."""
    counts = counts.get() if hasattr(counts, "get") else counts
    return [int(c) for c in np.asarray(counts).reshape(-1)]


def roll(input, shifts, dims=None):  # noqa: A002
    """Elements shifted cyclically by ``shifts`` along ``dims`` (the flattened tensor when dims is None)."""
    x = one(input)
    if dims is None:
        if not isinstance(shifts, int) and len(shifts) != 1:
            raise ValueError("roll: with dims=None, shifts must be a single int")
        shift = shifts if isinstance(shifts, int) else shifts[0]
        return roll(x.reshape(-1), shift, 0).reshape(x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    xp = x._device.backend.xp
    for shift, d in zip(shifts, dims):
        d = dim_arg(x, d, "roll")
        n = x.shape[d]
        if n:
            x = index_select(x, d, wrap(xp.remainder(xp.arange(-shift, n - shift), n), x._device))  # on its device
    return x


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors: ``indexing='ij'`` (matrix, the default as in PyTorch) or ``'xy'``
    (Cartesian: the first two outputs' dims swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    tensors = [one(t) for t in tensors]
    indexing = "ij" if indexing is None else indexing
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expected 0-D or 1-D tensors, got shape {tuple(t.shape)}")
    swap = indexing == "xy" and len(tensors) >= 2
    order = [1, 0] + list(range(2, len(tensors))) if swap else list(range(len(tensors)))
    ts = [tensors[i].reshape(-1) for i in order]
    shape = [t.shape[0] for t in ts]
    grids = []
    for k, t in enumerate(ts):
        view = [1] * len(ts)
        view[k] = shape[k]
        grids.append(t.reshape(view).expand(shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors):
    """All combinations of the elements of 1-D tensors, one per row."""
    grids = meshgrid(*tensors, indexing="ij")
    if len(grids) == 1:
        return grids[0]
    return stack([g.reshape(-1) for g in grids], dim=1)


def diff(input, n=1, dim=-1, prepend=None, append=None):  # noqa: A002
    """The n-th forward difference along ``dim``, after joining ``prepend`` and ``append`` to the ends."""
    x = one(input)
    if x.ndim == 0:
        raise ValueError("diff: expected at least a 1-D tensor")
    dim = dim_arg(x, dim, "diff")
    parts = [_edge(prepend, x, dim)] if prepend is not None else []
    parts.append(x)
    if append is not None:
        parts.append(_edge(append, x, dim))
    y = cat(parts, dim) if len(parts) > 1 else x
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    for _ in range(n):
        size = y.shape[dim]
        if size == 0:
            break
        hi, lo = y.narrow(dim, 1, size - 1), y.narrow(dim, 0, size - 1)
        y = hi != lo if y.dtype.kind == "b" else hi - lo
    return y


def _edge(extra, x, dim):
    e = extra if isinstance(extra, Tensor) else one(extra)
    if e.ndim == 0:  # a number: one slice of it along dim
        shape = [1 if i == dim else s for i, s in enumerate(x.shape)]
        e = e.reshape([1] * x.ndim).expand(shape)
    return e


def movedim(input, source, destination):  # noqa: A002
    """Dims at ``source`` moved to ``destination`` (ints or sequences), the others keeping their order."""
    x = one(input)
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {src} and destination {dst} must have the same length")
    src = [dim_arg(x, d, "movedim") for d in src]
    dst = [dim_arg(x, d, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {src} or destination {dst}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x.permute(order) if x.ndim else x


moveaxis = movedim


def rot90(input, k=1, dims=(0, 1)):  # noqa: A002
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the second)."""
    x = one(input)
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must name two dims, got {dims}")
    d0, d1 = (dim_arg(x, d, "rot90") for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: dims must differ, got {dims}")
    k %= 4
    if k == 0:
        return x.clone()
    if k == 2:
        return flip(x, (d0, d1))
    perm = list(range(x.ndim))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    if k == 1:
        return flip(x, d1).permute(perm)
    return flip(x.permute(perm), d1)


def unflatten(input, dim, sizes):  # noqa: A002
    """Dim ``dim`` split into ``sizes`` (one may be -1)."""
    x = one(input)
    dim = dim_arg(x, dim, "unflatten")
    sizes = tuple(sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        sizes = tuple(x.shape[dim] // known if s == -1 else s for s in sizes)
    if int(np.prod(sizes)) != x.shape[dim]:
        raise ValueError(f"unflatten: sizes {sizes} don't multiply to the size {x.shape[dim]} of dim {dim}")
    return x.reshape(tuple(x.shape[:dim]) + sizes + tuple(x.shape[dim + 1:]))


def atleast_1d(*tensors):
    out = [one(t) if one(t).ndim >= 1 else one(t).reshape(1) for t in _flatten_args(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_2d(*tensors):
    out = []
    for t in _flatten_args(tensors):
        t = one(t)
        out.append(t.reshape(1, 1) if t.ndim == 0 else t.unsqueeze(0) if t.ndim == 1 else t)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_3d(*tensors):
    out = []
    for t in _flatten_args(tensors):
        t = one(t)
        out.append(t.reshape(1, 1, 1) if t.ndim == 0 else t.reshape(1, -1, 1) if t.ndim == 1 else
                   t.unsqueeze(-1) if t.ndim == 2 else t)
    return out[0] if len(out) == 1 else tuple(out)


def _flatten_args(tensors):
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def hstack(tensors):
    """Joined along dim 1 (dim 0 for 1-D tensors)."""
    ts = _as_tuple(atleast_1d(*tensors))
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    """Joined along dim 0, 1-D tensors first made rows."""
    return cat(_as_tuple(atleast_2d(*tensors)), 0)


row_stack = vstack


def dstack(tensors):
    """Joined along dim 2, tensors first made at least 3-D."""
    return cat(_as_tuple(atleast_3d(*tensors)), 2)


def column_stack(tensors):
    """1-D tensors as columns (and 2-D as they are), joined along dim 1."""
    ts = [one(t) for t in tensors]
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in ts]
    return cat(ts, 1)
