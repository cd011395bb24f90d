"""cross_entropy as ONE recorded node, with PyTorch's full signature.

Class-index targets (with ``weight``, ``ignore_index``, ``label_smoothing``) and probability targets, inputs of shape
(C,), (N, C) or (N, C, d1, ...). The class dim is moved last so every case is a (rows, C) problem. Forward keeps, per
row, the max ``m`` and ``log s = log sum exp(x - m)``; the loss is ``log s - (x_t - m)``, so two large numbers are
never subtracted (float32 logits near 1e8 keep their precision), and backward's softmax is ``exp((x - m) - log s)``.
Every case shares one gradient: with ``a`` the row's target weights (``a_c = w_t [c = t]`` for indices, smoothed or
soft otherwise) and ``A = sum_c a_c``, d loss / d x = A softmax(x) - a.

Class-index rows go through the backend's ``cross_entropy_rows`` and, for plain one-hot rows (no smoothing), its
``cross_entropy_rows_grad``: NumPy on the CPU, one kernel each from kernels/softmax.cu on CUDA.
"""
import functools
import warnings

import numpy as np

from .. import _capture
from ..autograd.grad_mode import first_order, grad_batch, mode
from ..factories import tensor
from ..backends.generic import row_stats as _row_stats
from ..ops.core import Op, forward_tangent, record
from ..ops.reduce import log_softmax
from ..tensor import Tensor, wrap

_REDUCTIONS = ("mean", "sum", "none")


def legacy_reduction(size_average, reduce, reduction):
    """PyTorch's deprecated size_average/reduce arguments as a reduction string."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction= instead.", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


# --- the rows layout ---------------------------------------------------------------------------------------------
def _rows(xp, x):
    """(rows, C) view or copy of an input of shape (C,), (N, C) or (N, C, d...): the class dim last."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    return xp.ascontiguousarray(xp.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _unrows(t, shape, batch=0):
    """A (rows, C) tensor (after ``batch`` leading batch dims) back in the input's layout."""
    lead = t.shape[:batch]
    if len(shape) <= 2:
        return t.reshape(lead + tuple(shape))
    moved = t.reshape(lead + (shape[0],) + tuple(shape[2:]) + (shape[1],))
    nd = len(shape)
    return moved.permute(tuple(range(batch)) + tuple(batch + d for d in (0, nd - 1) + tuple(range(1, nd - 1))))


def _row_weights(t_safe, valid, weight, dtype):
    """w_t per row with ignored rows 0, or None where every row counts 1."""
    if weight is None:
        return None if valid is None else valid.astype(dtype)
    w_t = weight[t_safe]
    return w_t if valid is None else w_t * valid


class _Plan:
    """What a call computed and what its backward needs (held in the node's params)."""
    __slots__ = ("reduction", "smoothing", "soft", "shape", "t_safe", "valid", "coef", "denominator", "classes")

    def backward_denominator(self, xp):
        """The mean's divisor for derivatives: where it is 0 (every row ignored) every row's coefficients are 0 too,
        and the gradient is 0 as in PyTorch, not 0/0 (the loss itself stays NaN)."""
        d = self.denominator
        if isinstance(d, int):
            return d or 1
        return xp.where(d == 0, xp.ones((), d.dtype), d)

    def denominator_tensor(self, like):
        """backward_denominator as a number or a 0-d tensor on ``like``'s device."""
        d = self.backward_denominator(like._device.backend.xp)
        return d if isinstance(d, int) else wrap(d, like._device)


def _forward(backend, x, target, weight, ignore_index, smoothing, reduction, plan):
    """The loss (reduced) and (m, log s) per row, from raw arrays."""
    xp = backend.xp
    shape = x.shape
    C = shape[0] if x.ndim == 1 else shape[1]
    x2 = _rows(xp, x)
    rows = x2.shape[0]
    if plan.soft:
        m, log_s = _row_stats(xp, x2)
        q = _rows(xp, target)
        if smoothing:
            q = q * (1 - smoothing) + smoothing / C
        nlogp = log_s[:, None] - (x2 - m[:, None])
        a = q if weight is None else q * weight
        per_row = (a * nlogp).sum(axis=1)
        denominator = rows
    else:
        t = target.reshape(-1)
        t_safe, valid = backend.ignore_rows(t, ignore_index)
        per_row, m, log_s = backend.cross_entropy_rows(x2, t_safe)  # checks the class indices
        coef = _row_weights(t_safe, valid, weight, x.dtype)
        if coef is not None:
            per_row = per_row * coef
        if smoothing:
            nlogp = log_s[:, None] - (x2 - m[:, None])
            smooth = (nlogp if weight is None else nlogp * weight).sum(axis=1)
            if valid is not None:
                smooth = smooth * valid
            per_row = per_row * (1 - smoothing) + smooth * (smoothing / C)
        denominator = rows if coef is None else coef.sum()
        plan.t_safe, plan.valid, plan.coef = t_safe, valid, coef
    plan.denominator = denominator
    return _reduce(xp, per_row, reduction, denominator, target_shape(shape), x.dtype), m, log_s


def _forward_saving(backend, ignore_index, smoothing, reduction, plan, x, target, weight):
    """(loss, the (2, rows) statistics backward reads) from raw arrays."""
    loss, m, log_s = _forward(backend, x, target, weight, ignore_index, smoothing, reduction, plan)
    return loss, (backend.xp.stack([m, log_s]) if len(m) else backend.xp.zeros((2, 0), x.dtype))


def target_shape(shape):
    """The shape of the per-element loss: the input's without the class dim."""
    return () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])


def _reduce(xp, per_row, reduction, denominator, out_shape, dtype):
    if reduction == "none":
        return per_row.reshape(out_shape).astype(dtype, copy=False)
    total = per_row.sum(dtype=np.float32) if per_row.dtype == np.float16 else per_row.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / denominator if not isinstance(denominator, int) or denominator else total * np.nan
    return xp.asarray(total, dtype=dtype)


# --- backward ----------------------------------------------------------------------------------------------------
def _row_scale(xp, g, plan, rows):
    """The incoming gradient per row, with the mean's 1 / denominator folded in."""
    if plan.reduction == "none":
        return g.reshape(-1)
    scale = g / plan.backward_denominator(xp) if plan.reduction == "mean" else g
    return xp.broadcast_to(scale, (rows,))


def _coefficients(xp, plan, weight, target, x2):
    """(a, A): the row's target weights over the classes (None for plain one-hot rows) and their sums."""
    rows, C = x2.shape
    eps = plan.smoothing
    if plan.soft:
        q = _rows(xp, target)
        if eps:
            q = q * (1 - eps) + eps / C
        a = q if weight is None else q * weight
        return a, a.sum(axis=1)
    coef = plan.coef
    w_t = coef if coef is not None else None
    if not eps:
        return None, w_t
    counted = plan.valid
    a = xp.zeros((rows, C), x2.dtype)
    if weight is None:
        a += eps / C
    else:
        a += weight * (eps / C)
    if counted is not None:
        a *= counted[:, None]
    a[xp.arange(rows), plan.t_safe] += (1 - eps) * (1 if w_t is None else w_t)
    return a, a.sum(axis=1)


def _vjp(n, g):
    x, target, weight = n.inputs
    if first_order() and not n.needs[1]:
        return _vjp_arrays(n, g._data, x._data, target._data, None if weight is None else weight._data)
    return _vjp_tensors(n, g, x, target, weight)


def _vjp_arrays(n, g, x, target, weight):
    backend = n.device.backend
    plan = n.params["plan"]
    stats = n.saved_out[0]
    gx = _softmax_minus_target(backend, plan, g, x, target, weight, stats)
    # gpuad.compile: replayed from the arrays, the plan refreshed by the forward's replay
    _capture.called(functools.partial(_softmax_minus_target, backend, plan), (g, x, target, weight, stats), gx)
    return wrap(gx, n.device), None, None


def _softmax_minus_target(backend, plan, g, x, target, weight, stats):
    """The first-order gradient of the logits from raw arrays: softmax * scale minus the target's share."""
    xp = backend.xp
    m, log_s = stats  # the rows of the (2, rows) statistics array
    x2 = _rows(xp, x)
    rows = x2.shape[0]
    scale = _row_scale(xp, g, plan, rows).astype(x.dtype, copy=False)
    a, A = _coefficients(xp, plan, weight, target, x2)
    if a is None:  # one-hot rows: the backend's rule (one kernel on CUDA)
        p = backend.cross_entropy_rows_grad(x2, plan.t_safe, m, log_s,
                                            scale if plan.coef is None else scale * plan.coef)
    else:
        p = xp.subtract(x2, m[:, None])
        xp.exp(p, out=p)  # softmax = exp(x - m) / s: three passes over the logits, as plain log-sum-exp would take
        p *= (A * scale * xp.exp(-log_s))[:, None]
        p -= a * scale[:, None]
    return p.reshape(plan.shape) if x.ndim < 3 else _unrows_array(xp, p, plan.shape)


def _unrows_array(xp, p, shape):
    moved = p.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return xp.moveaxis(moved, -1, 1)


def _vjp_tensors(n, g, x, target, weight):
    """The VJP in tensor ops: differentiable again, batched over leading cotangent dims (jacrev), and the gradient
    of probability targets."""
    batch = grad_batch()
    plan = n.params["plan"]
    xp = n.device.backend.xp
    x2 = _unrows_to_rows(x)
    rows, C = x2.shape
    logp = log_softmax(x2, dim=1)
    lead = g.shape[:batch]
    if plan.reduction == "none":
        gs = g.reshape(lead + (rows, 1))
    else:
        gs = (g / plan.denominator_tensor(x) if plan.reduction == "mean" else g).reshape(lead + (1, 1))
    gx = gq = None
    if plan.soft:
        q = _unrows_to_rows(target)
        if plan.smoothing:
            q = q * (1 - plan.smoothing) + plan.smoothing / C
        a = q if weight is None else q * weight
        if n.needs[0]:
            gx = (logp.exp() * a.sum(1).reshape(-1, 1) - a) * gs
        if n.needs[1]:
            w = 1.0 if weight is None else weight
            gq = _unrows((-(logp * w) * (1 - plan.smoothing)) * gs, plan.shape, batch)
    elif n.needs[0]:
        gx = _index_coefficient_tensor(xp, plan, weight, target, x2, logp) * gs
    if gx is not None:
        if gx.shape[batch:] != (rows, C):  # a sum or mean over no rows: nothing to spread
            gx = gx.expand(lead + (rows, C))
        gx = _unrows(gx, plan.shape, batch)
    return gx, gq, None


def _index_coefficient_tensor(xp, plan, weight, target, x2, logp):
    """A softmax - a for class-index targets, as a tensor of the rows layout (differentiable in the logits)."""
    rows, C = x2.shape
    a, A = _coefficients(xp, plan, None if weight is None else weight._data, target._data, x2._data)
    if a is None:
        a = xp.zeros((rows, C), x2.dtype)
        a[xp.arange(rows), plan.t_safe] = 1 if A is None else A
    if A is None:
        A = xp.ones(rows, x2.dtype)
    return logp.exp() * wrap(A.reshape(-1, 1), x2._device) - wrap(a, x2._device)


def _unrows_to_rows(t):
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim == 2:
        return t
    return t.permute((0,) + tuple(range(2, t.ndim)) + (1,)).reshape(-1, t.shape[1])


def _jvp(c, tx, tq, tw):
    """Tangent of the loss: per row sum_c (A p - a) tx + sum_c (-(1-eps) w logp) tq, reduced as the loss is."""
    plan = c.params["plan"]
    x, target, weight = c.inputs
    if tw is not None:
        raise RuntimeError("cross_entropy: forward-mode derivatives with respect to weight are not supported")
    b = c.batch
    xp = x._device.backend.xp
    x2 = _unrows_to_rows(x)
    rows, C = x2.shape
    logp = log_softmax(x2, dim=1)
    p = logp.exp()
    total = None
    if tx is not None:
        t2 = _batched_rows(tx, b)
        if plan.soft:
            q = _unrows_to_rows(target)
            if plan.smoothing:
                q = q * (1 - plan.smoothing) + plan.smoothing / C
            a = q if weight is None else q * weight
            coef = p * a.sum(1).reshape(-1, 1) - a
        else:
            coef = _index_coefficient_tensor(xp, plan, weight, target, x2, logp)
        total = (t2 * coef).sum(-1)
    if tq is not None:
        w = 1.0 if weight is None else weight
        term = (_batched_rows(tq, b) * (-(logp * w) * (1 - plan.smoothing))).sum(-1)
        total = term if total is None else total + term
    if plan.reduction == "none":
        return total.reshape(total.shape[:b] + target_shape(plan.shape))
    s = total.sum(-1)
    return s / plan.denominator_tensor(x) if plan.reduction == "mean" else s


def _batched_rows(t, batch):
    """A batched tangent of the input in the rows layout, with its batch dims kept in front."""
    lead = t.shape[:batch]
    own = t.ndim - batch
    if own == 1:
        return t.reshape(lead + (1, -1))
    if own == 2:
        return t
    perm = tuple(range(batch)) + (batch,) + tuple(range(batch + 2, t.ndim)) + (batch + 1,)
    return t.permute(perm).reshape(lead + (-1, t.shape[batch + 1]))


CROSS_ENTROPY = Op("cross_entropy", None, _vjp, jvp=_jvp, save="all", aux=True)


# --- the function ------------------------------------------------------------------------------------------------
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,  # noqa: A002 - PyTorch's names
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """-sum_c a_c log softmax(input)_c per sample (class indices or probabilities as ``target``), reduced by
    ``reduction``; one node, computed stably."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(input, Tensor) or input.ndim < 1:
        raise ValueError(f"cross_entropy: expects logits of shape (C,), (N, C) or (N, C, d1, ...), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if input.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {input.dtype}")
    if not isinstance(target, Tensor):
        target = tensor(target, device=input.device)
    if target._device is not input._device:
        raise RuntimeError(f"cross_entropy: logits on {input.device} but target on {target.device}")
    shape = input.shape
    C = shape[0] if len(shape) == 1 else shape[1]
    if C == 0:
        raise ValueError(f"cross_entropy: the input has 0 classes (shape {shape}, classes along dim "
                         f"{0 if len(shape) == 1 else 1}); it needs at least one")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    soft = target.dtype.kind == "f"
    if soft:
        if target.shape != shape:
            raise ValueError(f"cross_entropy: probability targets must have the input's shape {shape}, got "
                             f"{target.shape}")
        if target.dtype != input.dtype:
            raise TypeError(f"cross_entropy: probability targets must have the input's dtype {input.dtype}, got "
                            f"{target.dtype}")
    elif target.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must be class indices (integers) or probabilities (floats), got "
                        f"{target.dtype}")
    elif target.shape != target_shape(shape):
        raise ValueError(f"cross_entropy: class-index target of shape {target.shape} does not match input of shape "
                         f"{shape}: expected {target_shape(shape)}")
    if weight is not None:
        if not isinstance(weight, Tensor) or weight.shape != (C,):
            raise ValueError(f"cross_entropy: weight must be a 1-D tensor of {C} values (one per class), got "
                             f"{getattr(weight, 'shape', type(weight).__name__)}")
        if weight._device is not input._device or weight.dtype != input.dtype:
            raise TypeError(f"cross_entropy: weight must share the input's device and dtype ({input.device}, "
                            f"{input.dtype}), got {weight.device}, {weight.dtype}")
    dev = input._device
    backend = dev.backend
    plan = _Plan()
    plan.reduction, plan.smoothing, plan.soft, plan.shape, plan.classes = reduction, label_smoothing, soft, shape, C
    plan.coef = plan.t_safe = plan.valid = None
    if weight is not None and weight._rg:
        raise RuntimeError("cross_entropy: gradients with respect to weight are not supported (PyTorch has none "
                           "either); pass weight.detach()")
    wd = None if weight is None else weight._data
    loss, stats = backend.on_device(_forward_saving, backend, ignore_index, label_smoothing, reduction, plan,
                                    input._data, target._data, wd)
    # gpuad.compile: the forward replayed from the arrays (the plan refreshed too)
    _capture.called(functools.partial(_forward_saving, backend, ignore_index, label_smoothing, reduction, plan),
                    (input, target, weight), (loss, stats))
    result = wrap(loss, dev)
    params = {"reduction": reduction, "plan": plan}
    inputs = (input, target, weight)
    needs = (input._rg, soft and target._rg, False)
    if mode.enabled and (needs[0] or needs[1]):
        record(CROSS_ENTROPY, inputs, params, result, dev, needs, stats)  # stats: (m, log s) per row
    if mode.fw_level:
        forward_tangent(CROSS_ENTROPY, inputs, params, result)
    return result
