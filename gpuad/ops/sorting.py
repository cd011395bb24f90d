"""Ops that order or select values along a dimension: sort, argsort, topk, kthvalue, median, mode, cummax, cummin,
``max(dim)``/``min(dim)``, unique, bincount and histc.

Those that return values with their indices give a named tuple (``gpuad.return_types``), as PyTorch does. The values
are a ``gather`` of the input at the indices, so their gradient goes to the selected elements exactly (PyTorch's
rule for value-selecting reductions) and forward mode and batched gradients come with it.

The index arithmetic works on raw arrays with array methods and operators, which CuPy runs on the current GPU: each
function hands that work to its tensor's backend as one helper (``_on(x, helper, ...)``), so it runs on x's GPU.
"""
import builtins

import numpy as np

from . import return_types
from .._args import dim_arg
from .indexing import gather
from ._lift import one
from ..tensor import Tensor, wrap


def _on(x, helper, *args):
    """``helper(xp, *args)`` run by x's backend with x's device current (on the CPU, a plain call)."""
    backend = x._device.backend
    return backend.on_device(helper, backend.xp, *args)


def _indices(x, data):
    """``data`` (an array on x's device) as an int64 index tensor there."""
    return wrap(x._device.backend.xp.asarray(data, dtype=np.int64), x._device)


def _zero_index(x):
    """The index of a 0-d tensor's only element."""
    return wrap(x._device.backend.xp.zeros((), np.int64), x._device)


def _copy0(x):
    """A 0-d tensor's value as a new tensor (what the dim-wise functions return for a 0-d input)."""
    return x * 1 if x.dtype.kind == "f" else x.clone()


def _take(x, dim, idx, keepdim, who):
    """(values, indices) of x at ``idx`` (keepdim-shaped, with size 1 along dim) as the named tuple ``who``."""
    values = gather(x, dim, idx)
    if not keepdim:
        values, idx = values.squeeze(dim), idx.squeeze(dim)
    return getattr(return_types, who)(values, idx)


def _argsort(xp, data, axis, descending, stable):
    """Ascending stable argsort, or descending with equal elements kept in their original order (NaN counts as the
    largest value either way, as in PyTorch)."""
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    flipped = xp.flip(data, axis=axis)
    return (n - 1) - xp.flip(xp.argsort(flipped, axis=axis, kind="stable"), axis=axis)


# --- sorting ------------------------------------------------------------------------------------------------------
def sort(input, dim=-1, descending=False, *, stable=False):  # noqa: A002 - PyTorch's argument names
    """(values, indices) sorted along ``dim``; always stable here (``stable=`` is accepted), NaN sorts as largest."""
    x = one(input)
    if x.ndim == 0:
        return return_types.sort(_copy0(x), _zero_index(x))
    dim = dim_arg(x, dim, "sort")
    idx = _indices(x, _on(x, _argsort, x._data, dim, descending, stable))
    return return_types.sort(gather(x, dim, idx), idx)


def argsort(input, dim=-1, descending=False, *, stable=False):  # noqa: A002
    """The indices that sort ``input`` along ``dim`` (int64)."""
    x = one(input)
    if x.ndim == 0:
        return _zero_index(x)
    dim = dim_arg(x, dim, "argsort")
    return _indices(x, _on(x, _argsort, x._data, dim, descending, stable))


def msort(input):  # noqa: A002
    """input sorted along dim 0."""
    return sort(input, 0).values


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """(values, indices) of the ``k`` largest (``largest=False``: smallest) elements along ``dim``."""
    x = one(input)
    if x.ndim == 0:
        if k not in (0, 1):
            raise IndexError(f"topk: k={k} is out of range for a 0-d tensor")
        return sort(x) if k else return_types.topk(x.reshape(1)[:0].reshape(()), _indices(x, x._data[:0]))
    dim = dim_arg(x, dim, "topk")
    if not 0 <= k <= x.shape[dim]:
        raise IndexError(f"topk: k={k} is out of range for dim {dim} of size {x.shape[dim]} (shape {tuple(x.shape)})")
    order = _on(x, _argsort, x._data, dim, largest, True)
    idx = _indices(x, order[(slice(None),) * dim + (slice(0, k),)])
    return return_types.topk(gather(x, dim, idx), idx)


def kthvalue(input, k, dim=-1, keepdim=False):  # noqa: A002
    """(values, indices) of the k-th smallest element (k counts from 1) along ``dim``."""
    x = one(input)
    if x.ndim == 0:
        if k != 1:
            raise IndexError(f"kthvalue: k={k} is out of range for a 0-d tensor")
        return return_types.kthvalue(_copy0(x), _zero_index(x))
    dim = dim_arg(x, dim, "kthvalue")
    if not 1 <= k <= x.shape[dim]:
        raise IndexError(f"kthvalue: k={k} is out of range for dim {dim} of size {x.shape[dim]}")
    order = _on(x, _argsort, x._data, dim, False, True)
    return _take(x, dim, _indices(x, order[(slice(None),) * dim + (slice(k - 1, k),)]), keepdim, "kthvalue")


def median(input, dim=None, keepdim=False):  # noqa: A002
    """The lower median (the ((n - 1) // 2)-th smallest value): of all elements as a tensor when ``dim`` is None, or
    (values, indices) along ``dim``. A row with NaN has median NaN (nanmedian ignores NaN)."""
    return _median(input, dim, keepdim, "median", ignore_nan=False)


def nanmedian(input, dim=None, keepdim=False):  # noqa: A002
    """median ignoring NaN (NaN only where a row is all NaN)."""
    return _median(input, dim, keepdim, "nanmedian", ignore_nan=True)


def _median(input, dim, keepdim, who, ignore_nan):
    x = one(input)
    if dim is None:
        flat = x.reshape(-1)
        if flat.numel() == 0:
            raise RuntimeError(f"{who}: cannot compute the median of an empty tensor")
        return _median(flat, 0, False, who, ignore_nan).values
    if x.ndim == 0:
        return getattr(return_types, who)(_copy0(x), _zero_index(x))
    dim = dim_arg(x, dim, who)
    if x.shape[dim] == 0:
        raise IndexError(f"{who}: dim {dim} of shape {tuple(x.shape)} is empty")
    return _take(x, dim, _indices(x, _on(x, _median_index, x._data, dim, ignore_nan)), keepdim, who)


def _median_index(xp, data, dim, ignore_nan):
    """The position along ``dim`` of each row's lower median (keepdim-shaped)."""
    order = _argsort(xp, data, dim, False, True)
    n = data.shape[dim]
    if data.dtype.kind == "f":
        nans = xp.isnan(data)
        count = n - nans.sum(axis=dim, keepdims=True)  # NaN sorts last: the first `count` sorted are numbers
        if ignore_nan:
            pos = xp.maximum(count - 1, 0) // 2
        else:
            pos = xp.where(count < n, xp.argmax(xp.take_along_axis(nans, order, axis=dim), axis=dim)
                           .reshape(count.shape), (n - 1) // 2)
        return xp.take_along_axis(order, pos.astype(np.int64), axis=dim)
    return order[(slice(None),) * dim + (slice((n - 1) // 2, (n - 1) // 2 + 1),)]


def mode(input, dim=-1, keepdim=False):  # noqa: A002
    """(values, indices): the most frequent value along ``dim`` (the smallest among equally frequent ones) and the
    position of its last occurrence, as PyTorch gives them."""
    x = one(input)
    if x.ndim == 0:
        return return_types.mode(_copy0(x), _zero_index(x))
    dim = dim_arg(x, dim, "mode")
    if x.shape[dim] == 0:
        raise IndexError(f"mode: dim {dim} of shape {tuple(x.shape)} is empty")
    return _take(x, dim, _indices(x, _on(x, _mode_index, x._data, dim)), keepdim, "mode")


def _mode_index(xp, data, dim):
    """The position along ``dim`` of the last occurrence of each row's mode (keepdim-shaped)."""
    data = xp.moveaxis(data, dim, -1)
    order = xp.argsort(data, axis=-1, kind="stable")
    s = xp.take_along_axis(data, order, axis=-1)
    n = s.shape[-1]
    # within each run of equal sorted values: its length (counted from both ends of the run)
    same = s[..., 1:] == s[..., :-1]
    if s.dtype.kind == "f":
        same |= xp.isnan(s[..., 1:]) & xp.isnan(s[..., :-1])
    positions = xp.broadcast_to(xp.arange(n), s.shape)
    start = _running(xp, "maximum", xp.where(xp.concatenate([xp.zeros(s.shape[:-1] + (1,), bool), same], -1),
                                             0, positions))
    end = n - 1 - xp.flip(_running(xp, "maximum", xp.flip(xp.where(xp.concatenate(
        [same, xp.zeros(s.shape[:-1] + (1,), bool)], -1), 0, n - 1 - positions), -1)), -1)
    length = end - start + 1
    best = xp.argmax(length, axis=-1)[..., None]  # the first (smallest) of the most frequent values
    run_end = xp.take_along_axis(end, best, axis=-1)
    # the last occurrence of that value in the input: the largest original index in its run
    in_run = (positions >= xp.take_along_axis(start, best, axis=-1)) & (positions <= run_end)
    idx = xp.where(in_run, order, -1).max(axis=-1, keepdims=True)
    return xp.moveaxis(idx, -1, dim)


def _running(xp, ufunc, a, axis=-1):
    """ufunc.accumulate along ``axis`` (a loop over the axis where the array library has no accumulate)."""
    fn = getattr(xp, ufunc)
    try:
        return fn.accumulate(a, axis=axis)
    except (AttributeError, NotImplementedError, TypeError, ValueError):  # pragma: no cover - CuPy's ufuncs
        out = xp.moveaxis(a.copy(), axis, 0)
        for i in range(1, out.shape[0]):
            out[i] = fn(out[i - 1], out[i])
        return xp.moveaxis(out, 0, axis)


# --- running extremes ---------------------------------------------------------------------------------------------
def _cumulative_extreme(input, dim, who):
    x = one(input)
    if x.ndim == 0:
        return getattr(return_types, who)(_copy0(x), _zero_index(x))
    dim = dim_arg(x, dim, who)
    idx = _indices(x, _on(x, _running_extreme_index, x._data, dim, "maximum" if who == "cummax" else "minimum"))
    return getattr(return_types, who)(gather(x, dim, idx), idx)


def _running_extreme_index(xp, data, dim, ufunc):
    """Where along ``dim`` the running extreme (``ufunc``: maximum or minimum) of each prefix was last met."""
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    values = _running(xp, ufunc, data, dim)
    hit = data == values  # the latest position holding the running extreme (PyTorch's index at ties)
    if data.dtype.kind == "f":
        hit |= xp.isnan(data)
    shape = [1] * data.ndim
    shape[dim] = data.shape[dim]
    positions = xp.arange(data.shape[dim]).reshape(shape)
    return _running(xp, "maximum", xp.where(hit, positions, 0), dim)


def cummax(input, dim):  # noqa: A002
    """(values, indices) of the running maximum along ``dim``; NaN, once met, propagates."""
    return _cumulative_extreme(input, dim, "cummax")


def cummin(input, dim):  # noqa: A002
    """(values, indices) of the running minimum along ``dim``; NaN, once met, propagates."""
    return _cumulative_extreme(input, dim, "cummin")


# --- max(dim) and min(dim) ---------------------------------------------------------------------------------------
def extreme_along(x, dim, keepdim, who):
    """(values, indices) of the max or min along one ``dim``: the first such element (NaN counts as the extreme)."""
    x = one(x)
    if x.ndim == 0:
        dim = dim_arg(x, dim, who)
        return getattr(return_types, who)(_copy0(x), _zero_index(x))
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{who}: dim must be one int when indices are returned; use amax/amin for several dims")
    dim = dim_arg(x, dim, who)
    if x.shape[dim] == 0:
        raise IndexError(f"{who}: cannot take the {who} along dim {dim} of size 0 (shape {tuple(x.shape)})")
    return _take(x, dim, _indices(x, _on(x, _extreme_index, x._data, dim, who == "max")), keepdim, who)


def _extreme_index(xp, data, dim, largest):
    """The first position of the max (``largest``) or min along ``dim`` (keepdim-shaped)."""
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    return (xp.argmax if largest else xp.argmin)(data, axis=dim, keepdims=True)


# --- counting -----------------------------------------------------------------------------------------------------
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct elements (or slices along ``dim``), in ascending order; optionally where each input element went
    (``return_inverse``, shaped like the input) and how often each occurs. Not differentiable, as in PyTorch."""
    x = one(input)
    if dim is not None:
        dim = dim_arg(x, dim, "unique")
    values, inverse, counts = _on(x, _unique, x._data, dim)
    return _unique_result(x, values, inverse, counts, return_inverse, return_counts)


def _unique_result(x, values, inverse, counts, return_inverse, return_counts):
    """unique's (and unique_consecutive's) values, then the inverse and the counts where asked for."""
    out = [wrap(values, x._device)]
    if return_inverse:
        out.append(_indices(x, inverse))
    if return_counts:
        out.append(_indices(x, counts))
    return out[0] if len(out) == 1 else tuple(out)


def _unique(xp, data, dim):
    """(values, inverse, counts) of the distinct elements (``dim`` None) or slices along ``dim``."""
    if dim is None:
        values, inverse, counts = xp.unique(data.reshape(-1), return_inverse=True, return_counts=True)
        return values, inverse.reshape(data.shape), counts
    values, inverse, counts = xp.unique(data, return_inverse=True, return_counts=True, axis=dim)
    return values, inverse.reshape(-1), counts


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """unique over runs: each run of equal consecutive elements (or slices along ``dim``) collapses to one."""
    x = one(input)
    if dim is not None:
        dim = dim_arg(x, dim, "unique_consecutive")
    values, inverse, counts = _on(x, _unique_consecutive, x._data, dim, return_inverse, return_counts)
    return _unique_result(x, values, inverse, counts, return_inverse, return_counts)


def _unique_consecutive(xp, data, dim, return_inverse, return_counts):
    """(values, inverse or None, counts or None) of the runs of equal consecutive elements or slices."""
    shape = data.shape
    if dim is None:
        data = data.reshape(-1)
        changed = data[1:] != data[:-1]
    else:
        data = xp.moveaxis(data, dim, 0)
        changed = (data[1:] != data[:-1]).reshape(builtins.max(data.shape[0] - 1, 0), -1).any(axis=1)
    starts = xp.concatenate([xp.ones(1 if data.shape[0] else 0, bool), changed])
    values = data[starts]
    if dim is not None:
        values = xp.moveaxis(values, 0, dim)
    inverse = counts = None
    if return_inverse:
        inverse = xp.cumsum(starts) - 1
        if dim is None:
            inverse = inverse.reshape(shape)
    if return_counts:
        first = xp.nonzero(starts)[0]
        counts = xp.diff(xp.concatenate([first, xp.asarray([data.shape[0]])]))
    return values, inverse, counts


def bincount(input, weights=None, minlength=0):  # noqa: A002
    """How often each value 0, 1, ... occurs in a 1-D non-negative integer tensor (summing ``weights`` instead)."""
    x = one(input)
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise ValueError(f"bincount: expects a 1-D integer tensor, got shape {tuple(x.shape)} and dtype {x.dtype}")
    if minlength < 0:
        raise ValueError(f"bincount: minlength must be non-negative, got {minlength}")
    if weights is not None:
        weights = one(weights)
        if weights.shape != x.shape:
            raise ValueError(f"bincount: weights of shape {tuple(weights.shape)} must match the input "
                             f"{tuple(x.shape)}")
        if weights._device is not x._device:
            raise RuntimeError(f"bincount: the weights are on {weights.device} but the input is on {x.device}")
    counts = _on(x, _bincount, x._data, None if weights is None else weights._data, minlength)
    return _indices(x, counts) if weights is None else wrap(counts, x._device)


def _bincount(xp, data, weights, minlength):
    """How often each value occurs (int64), or the sum of its ``weights`` (their float dtype, else float64)."""
    if data.size and int(data.min()) < 0:
        raise ValueError("bincount: the input must be non-negative")
    if weights is None:
        return xp.bincount(data, minlength=minlength)
    dtype = weights.dtype if weights.dtype.kind == "f" else np.dtype(np.float64)
    return xp.bincount(data, weights, minlength=minlength).astype(dtype)


def histc(input, bins=100, min=0, max=0):  # noqa: A002
    """A histogram of ``bins`` equal bins over [min, max] (the data's own range when min == max); elements outside
    are ignored. Not differentiable."""
    x = one(input)
    if x.dtype.kind != "f":
        raise TypeError(f"histc: expects a floating tensor, got {x.dtype}")
    if bins <= 0:
        raise ValueError(f"histc: bins must be positive, got {bins}")
    if min > max:
        raise ValueError(f"histc: max ({max}) must be larger than or equal to min ({min})")
    return wrap(_on(x, _histc, x._data, bins, float(min), float(max)), x._device)


def _histc(xp, data, bins, lo, hi):
    """The counts of ``bins`` equal bins over [lo, hi] (the data's range when lo == hi), in data's dtype."""
    dtype = data.dtype
    data = data.reshape(-1)
    if lo == hi and data.size:
        lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    inside = data[(data >= lo) & (data <= hi)].astype(np.float64)
    which = xp.minimum(((inside - lo) * (bins / (hi - lo))).astype(np.int64), bins - 1)
    return xp.bincount(which, minlength=bins).astype(dtype)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):  # noqa: A002
    """Where each element of ``input`` would be inserted into the 1-D ascending ``sorted_sequence`` (or each row of
    an N-D one, against the same row of ``input``)."""
    seq = one(sorted_sequence)
    values = input if isinstance(input, Tensor) else one(input) if not isinstance(input, (int, float)) else input
    if side is not None:
        if side not in ("left", "right") or (right and side == "left"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right' (and agree with right=), got {side!r}")
        right = side == "right"
    result = _on(seq, _searchsorted, seq._data, values._data if isinstance(values, Tensor) else values,
                 None if sorter is None else one(sorter)._data, "right" if right else "left",
                 np.dtype(np.int32 if out_int32 else np.int64))
    return wrap(result, seq._device)


def _searchsorted(xp, data, vals, sorter, side, dtype):
    """The insertion positions of ``vals`` in the sorted last axis of ``data`` (in ``dtype``)."""
    if sorter is not None:
        data = xp.take_along_axis(data, sorter, axis=-1)
    vals = xp.asarray(vals)
    if data.ndim <= 1:
        result = xp.searchsorted(data, vals, side=side)
    else:
        if vals.shape[:-1] != data.shape[:-1]:
            raise ValueError(f"searchsorted: leading dims of the sequence {data.shape} and the input {vals.shape} "
                             f"must match")
        rows = [xp.searchsorted(d, v, side=side)
                for d, v in zip(data.reshape(-1, data.shape[-1]), vals.reshape(-1, vals.shape[-1]))]
        result = xp.stack(rows).reshape(vals.shape) if rows else xp.zeros(vals.shape, np.int64)
    return xp.asarray(result).astype(dtype)


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002
    """The bucket of each element given 1-D ascending ``boundaries`` (searchsorted with the arguments swapped)."""
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)
