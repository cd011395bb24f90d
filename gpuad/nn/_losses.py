"""Loss functions with PyTorch's signatures, formulas and reductions, built from differentiable ops.

Each follows ATen's formula, so values and gradients (also at the clamps, e.g. binary_cross_entropy's log >= -100)
match PyTorch's; cross_entropy is its own fused node (_cross_entropy.py).
"""
import math
import warnings

import numpy as np

from ._cross_entropy import legacy_reduction
from ..ops._lift import one
from ..ops.elementwise import clamp, log, minimum, softplus, where
from ..tensor import Tensor, wrap
from ..autograd.grad_mode import no_grad
from ._functional_misc import pairwise_distance

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
           "hinge_embedding_loss", "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "triplet_margin_loss",
           "multilabel_soft_margin_loss"]


def reduce_loss(loss, reduction, who):
    """The per-element losses, their mean or their sum."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: {reduction!r} is not a valid value for reduction (use 'mean', 'sum' or 'none')")


def _check_reduction(reduction, who, extra=()):
    if reduction not in ("mean", "sum", "none") + tuple(extra):
        raise ValueError(f"{who}: {reduction!r} is not a valid value for reduction")


def _pair(input, target, who):  # noqa: A002
    """Input and target as tensors of one shape (PyTorch broadcasts with a warning where the shapes differ)."""
    input = one(input)
    target = target if isinstance(target, Tensor) else one(target).to(input.device)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{who}: input shape {input.shape} and target shape {target.shape} cannot be broadcast "
                             f"together") from None
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      f"This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                      f"same size.", stacklevel=3)
    return input, target


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    diff = input - target
    loss = diff * diff
    return reduce_loss(loss if weight is None else loss * weight, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    input, target = _pair(input, target, "l1_loss")
    loss = (input - target).abs()
    return reduce_loss(loss if weight is None else loss * weight, reduction, "l1_loss")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (the L1 loss for beta = 0)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError("smooth_l1_loss does not support negative values for beta.")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    a = d.abs()
    if beta == 0:
        return reduce_loss(a, reduction, "smooth_l1_loss")
    loss = where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return reduce_loss(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss does not support non-positive values for delta, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    a = d.abs()
    loss = where(a < delta, d * d * 0.5, (a - 0.5 * delta) * delta)
    return reduce_loss(loss if weight is None else loss * weight, reduction, "huber_loss")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    """-weight[t] * input[t] per sample (input: log-probabilities of shape (C,), (N, C) or (N, C, d...)); the mean
    divides by the summed weights of the samples not ignored."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    input = one(input)
    if input.ndim < 1:
        raise ValueError(f"nll_loss: input must have at least 1 dimension, got shape {input.shape}")
    target = target if isinstance(target, Tensor) else one(target).to(input.device)
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must be class indices (integers), got {target.dtype}")
    C = input.shape[0] if input.ndim == 1 else input.shape[1]
    expected = () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])
    if target.shape != expected:
        raise ValueError(f"nll_loss: target of shape {target.shape} does not match input of shape {input.shape}: "
                         f"expected {expected}")
    if weight is not None and weight.shape != (C,):
        raise ValueError(f"nll_loss: weight must have {C} values (one per class), got shape {weight.shape}")
    rows = input.reshape(1, -1) if input.ndim == 1 else input if input.ndim == 2 else \
        input.permute((0,) + tuple(range(2, input.ndim)) + (1,)).reshape(-1, C)
    backend = input._device.backend
    t_safe, counted = backend.on_device(_class_targets, backend.xp, target._data, ignore_index, C, input.dtype)
    picked = rows[wrap(backend.xp.arange(t_safe.size), input._device), wrap(t_safe, input._device)]
    counted = wrap(counted, input._device)
    w = counted if weight is None else weight[wrap(t_safe, input._device)] * counted
    loss = -picked * w
    if reduction == "none":
        return loss.reshape(expected)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def _class_targets(xp, target, ignore_index, classes, dtype):
    """(the flat class indices with ignored ones replaced by 0, 1 in ``dtype`` where not ignored, else 0); an index
    outside [0, classes) that is not ``ignore_index`` raises IndexError naming it."""
    t = target.reshape(-1)
    ignored = t == ignore_index
    t_safe = xp.where(ignored, 0, t)
    if t_safe.size and (int(t_safe.min()) < 0 or int(t_safe.max()) >= classes):
        raise IndexError(f"nll_loss: target {int(t_safe[(t_safe < 0) | (t_safe >= classes)][0])} is out of bounds: "
                         f"class indices must be in [0, {classes}) or equal ignore_index")
    return t_safe, (~ignored).astype(dtype)


def _outside(xp, data, lo, hi):
    """Whether any element of ``data`` is below ``lo`` or (``hi`` not None) above ``hi``."""
    return bool(xp.any(data < lo)) or (hi is not None and bool(xp.any(data > hi)))


def _bce_arguments(input, target, size_average, reduce, reduction, who, shape_message):
    """(reduction, input, target) of the binary cross-entropies: the target as a tensor on the input's device, of
    the input's shape (``shape_message``, PyTorch's wording, names both shapes otherwise)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, who)
    input = one(input)
    target = target if isinstance(target, Tensor) else one(target).to(input.device)
    if target.shape != input.shape:
        raise ValueError(shape_message.format(t=target.shape, i=input.shape))
    return reduction, input, target


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """-(t log x + (1 - t) log(1 - x)) with each log clamped to >= -100, as PyTorch does."""
    reduction, input, target = _bce_arguments(input, target, size_average, reduce, reduction, "binary_cross_entropy",
                                              "Using a target size ({t}) that is different to the input size ({i}) "
                                              "is deprecated. Please ensure they have the same size.")
    backend = input._device.backend
    if input.numel() and backend.on_device(_outside, backend.xp, input._data, 0, 1):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1")
    loss = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy")


def _clamped_log(x):
    """max(log x, -100), with no NaN in the gradient at x = 0."""
    positive = x > 0
    return where(positive, clamp(log(where(positive, x, 1.0)), min=-100.0), -100.0)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """-[p t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], as ATen computes it: (1 - t) x + l softplus(-x) with
    l = 1 + (p - 1) t; finite for every finite x and inf (not NaN) at x = inf."""
    reduction, input, target = _bce_arguments(input, target, size_average, reduce, reduction,
                                              "binary_cross_entropy_with_logits",
                                              "binary_cross_entropy_with_logits: target size ({t}) must be the same "
                                              "as input size ({i})")
    tail = softplus(-input, threshold=float("inf"))  # log(1 + exp(-x)) = -log sigmoid(x)
    if pos_weight is not None:
        tail = tail * ((pos_weight - 1) * target + 1)
    loss = (1 - target) * input + tail
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    """target * (log target - input) pointwise (input: log-probabilities; target: probabilities, or
    log-probabilities with ``log_target``); 'batchmean' divides the sum by the batch size."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "kl_div", ("batchmean",))
    input, target = _pair(input, target, "kl_div")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        positive = target > 0
        loss = where(positive, target * log(where(positive, target, 1.0)), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size. "
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition. 'mean' "
                      "will be changed to behave the same as 'batchmean' in the next major release.", stacklevel=2)
    return reduce_loss(loss, reduction, "kl_div")


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1 (ATen's 1e-12 in each norm)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cosine_embedding_loss")
    input1, input2 = one(input1), one(input2)
    if input1.ndim not in (1, 2) or input1.shape != input2.shape:
        raise ValueError(f"cosine_embedding_loss: expects two 1-D or 2-D inputs of one shape, got {input1.shape} and "
                         f"{input2.shape}")
    dim = 1 if input1.ndim == 2 else 0
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + 1e-12
    mag2 = (input2 * input2).sum(dim) + 1e-12
    cos = prod / (mag1 * mag2).sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, clamp(cos - margin, min=0.0), 0.0)
    return reduce_loss(loss, reduction, "cosine_embedding_loss")


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -y (x1 - x2) + margin)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "margin_ranking_loss")
    loss = clamp(-target * (one(input1) - input2) + margin, min=0.0)
    return reduce_loss(loss, reduction, "margin_ranking_loss")


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """x where y = 1, max(0, margin - x) where y = -1."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "hinge_embedding_loss")
    input = one(input)
    margin_clamp = clamp(margin - input, min=0.0)
    loss = where(target == 1, input, 0.0) + where(target == -1, margin_clamp, 0.0)
    return reduce_loss(loss, reduction, "hinge_embedding_loss")


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """log(1 + exp(-y x))."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "soft_margin_loss")
    return reduce_loss(softplus(-target * one(input), threshold=float("inf")), reduction, "soft_margin_loss")


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    """The mean over classes of the binary cross-entropy with logits, per sample."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    input = one(input)
    loss = -(target * -softplus(-input, threshold=float("inf")) + (1 - target) * -softplus(input,
                                                                                         threshold=float("inf")))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(input.ndim - 1) / input.shape[-1]
    return reduce_loss(loss, reduction, "multilabel_soft_margin_loss")


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,  # noqa: A002
                     reduce=None, reduction="mean"):
    """exp(x) - t x (log_input) or x - t log(x + eps), plus Stirling's term where t > 1 if ``full``."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "poisson_nll_loss")
    input = one(input)
    loss = input.exp() - target * input if log_input else input - target * log(input + eps)
    if full:
        safe = where(target > 1, target, 1.0)
        stirling = safe * log(safe) - safe + 0.5 * log(safe * (2 * math.pi))
        loss = loss + where(target > 1, stirling, 0.0)
    return reduce_loss(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    """0.5 (log(max(var, eps)) + (x - t)^2 / max(var, eps)), plus 0.5 log(2 pi) if ``full``."""
    _check_reduction(reduction, "gaussian_nll_loss")
    input = one(input)
    var = one(var) if not isinstance(var, (int, float)) else var
    if isinstance(var, Tensor):
        if var.shape != input.shape:
            if input.shape[:-1] == var.shape:
                var = var.unsqueeze(-1)
            elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1] == 1):
                raise ValueError("var is of incorrect size")
        if var.numel() and var._device.backend.on_device(_outside, var._device.backend.xp, var._data, 0, None):
            raise ValueError("var has negative entry/entries")
        var = var.clone()
        with no_grad():  # PyTorch clamps in place without recording: the gradient passes as if unclamped
            var.clamp_(min=eps)
    else:
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = max(var, eps)
    log_var = log(var) if isinstance(var, Tensor) else math.log(var)
    loss = 0.5 * (log_var + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce_loss(loss, reduction, "gaussian_nll_loss")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "triplet_margin_loss")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    loss = clamp(margin + d_pos - d_neg, min=0.0)
    return reduce_loss(loss, reduction, "triplet_margin_loss")
