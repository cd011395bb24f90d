"""Neural-network functions: the fused linear layer, activations, dropout and losses.

``linear(x, weight, bias, activation)`` is ONE recorded node: forward is the GEMM, then bias and activation in place;
backward is the activation derivative times the incoming gradient, the bias gradient as its column sum, then the two
GEMMs. It saves only what backward needs: for ReLU a 1-byte mask, for tanh and sigmoid the output, for GELU the
pre-activation, for no activation nothing beyond the inputs. ``cross_entropy`` is one node too: a numerically stable
log-softmax and NLL in forward, ``softmax - onehot`` in backward, keeping only the per-row log-sum-exp.
"""
import functools
import math

import numpy as np

from .. import _capture
from ..autograd.graph import Node, edge_of
from ..autograd.grad_mode import first_order, mode
from ..ops import core, fused
from ..ops.core import Op, forward_tangent
from ..ops.elementwise import _sigmoid_forward, gelu, gelu_slope, relu, sigmoid, softplus, tanh  # noqa: F401
from ..ops.reduce import logsumexp
from ..tensor import Tensor, _Version, wrap

__all__ = ["linear", "relu", "gelu", "tanh", "sigmoid", "dropout", "mse_loss", "cross_entropy",
           "binary_cross_entropy_with_logits", "ACTIVATIONS"]

ACTIVATIONS = (None, "relu", "gelu", "tanh", "sigmoid")
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --- the fused linear layer ---------------------------------------------------------------------------------------
def _activate(xp, z, activation):
    """Apply the activation to z, in place where it can; returns (output, what backward keeps)."""
    if activation is None:
        return z, None
    if activation == "relu":
        mask = z > 0          # 1 byte per element
        xp.multiply(z, mask, out=z)
        return z, mask
    if activation == "tanh":
        xp.tanh(z, out=z)
        return z, z
    if activation == "sigmoid":
        out = _sigmoid_forward(xp, z)
        return out, out
    out = 0.5 * z * (1 + xp.erf(z * _SQRT_HALF))  # gelu: backward needs the pre-activation z
    return out, z


def _slope(activation, out, z):
    """d activation / d z in tensor ops, from the output (relu, tanh, sigmoid) or the pre-activation (gelu);
    ``out`` and ``z`` are callables, so only the one needed is computed."""
    if activation == "relu":
        return out() > 0
    if activation == "tanh":
        o = out()
        return 1 - o * o
    if activation == "sigmoid":
        o = out()
        return o * (1 - o)
    return gelu_slope(z())


def _derivative(n, activation, aux):
    """The slope for the VJP: relu's from its saved 1-byte mask, the others' from what the node saved."""
    if activation == "relu":
        return wrap(aux, n.device)
    return _slope(activation, lambda: n.out, lambda: _preactivation(n, aux))


def _preactivation(n, aux):
    """gelu's z: the saved array, or rebuilt from the inputs so that it carries their history (create_graph) or
    their tangents (forward over reverse)."""
    if not mode.enabled and not mode.fw_level:
        return wrap(aux, n.device)
    x, w, b = n.inputs
    if x is None or w is None:
        raise RuntimeError("linear: differentiating a gelu linear layer twice needs its inputs; "
                           "call it with inputs that require grad")
    z = x @ w.mT
    return z if b is None else z + b


def _linear_vjp(n, g):
    activation = n.params["activation"]
    aux = n.saved_out[0] if n.saved_out is not None else None
    if activation is not None and n.saved_out is None:
        n.inputs  # raises the usual error (freed graph, or recomputes a checkpoint)
        aux = n.saved_out[0]
    needs_x, needs_w, needs_b = n.needs
    x, w, _ = n.inputs
    if first_order():
        grads = _linear_vjp_arrays(n, g._data, activation, aux, x, w, needs_x, needs_w, needs_b)
        if _capture.ACTIVE is not None:
            _capture.ACTIVE.linear_vjp(n.device, activation, n.needs, (g, aux, x, w), grads)
        return grads
    dz = g if activation is None else g * _derivative(n, activation, aux)
    gx = dz @ w if needs_x else None
    gw = gb = None
    if needs_w:
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        dz2 = dz if x.ndim == 2 else dz.reshape(dz.shape[:dz.ndim - x.ndim] + (-1, dz.shape[-1]))
        gw = dz2.mT @ x2
    if needs_b:
        gb = dz  # the engine sums it over the batch dimensions
    return gx, gw, gb


def _linear_vjp_arrays(n, g, activation, aux, x, w, needs_x, needs_w, needs_b):
    """The first-order VJP on raw arrays: one pass for the activation derivative, then the GEMMs."""
    backend = n.device.backend
    xp = backend.xp
    if fused.on(n.device):  # one kernel for dz and the bias gradient (kernels/linear.cu)
        with backend.device:
            dz, gb = fused.kernels().bias_activation_grad(backend, g, aux, activation, needs_b)
        return _linear_gemms(n, dz, x, w, needs_x, needs_w, None if gb is None else wrap(gb, n.device))
    if activation is None:
        dz = g
    elif activation == "relu":
        dz = g * aux
    elif activation == "tanh":
        dz = aux * aux
        xp.subtract(1, dz, out=dz)
        xp.multiply(dz, g, out=dz)
    elif activation == "sigmoid":
        dz = 1 - aux
        xp.multiply(dz, aux, out=dz)
        xp.multiply(dz, g, out=dz)
    else:
        cdf = xp.erf(aux * _SQRT_HALF)
        cdf += 1
        cdf *= 0.5
        pdf = aux * aux
        pdf *= -0.5
        xp.exp(pdf, out=pdf)
        pdf *= aux
        pdf *= _INV_SQRT_2PI
        cdf += pdf
        dz = cdf
        dz *= g
    dz2 = dz if dz.ndim == 2 else dz.reshape(-1, dz.shape[-1])
    return _linear_gemms(n, dz, x, w, needs_x, needs_w, wrap(dz2.sum(axis=0), n.device) if needs_b else None)


def _linear_gemms(n, dz, x, w, needs_x, needs_w, gb):
    """The input and weight gradients from dz: the two GEMMs of the linear layer's backward."""
    matmul = n.device.backend.xp.matmul
    gx = wrap(matmul(dz, w._data), n.device) if needs_x else None
    gw = None
    if needs_w:
        xd = x._data
        if dz.ndim != 2:
            dz, xd = dz.reshape(-1, dz.shape[-1]), xd.reshape(-1, xd.shape[-1])
        gw = wrap(matmul(dz.T, xd), n.device)
    return gx, gw, gb


def _linear_jvp(c, tx, tw, tb):
    """tangent of activation(x W^T + b): activation'(z) * (tx W^T + x tW^T + tb), batch-aware."""
    from ..ops.core import align_batched
    x, w, b = c.inputs
    dz = None if tx is None else tx @ w.mT
    if tw is not None:
        t = tw.mT
        if c.batch and x.ndim > 2:  # keep the batch dim in front of x's own leading dims
            t = t.reshape(t.shape[:1] + (1,) * (x.ndim - 2) + t.shape[1:])
        term = x @ t
        dz = term if dz is None else dz + term
    if tb is not None:
        term = align_batched(tb, 1, c.out.ndim) if c.batch else tb
        dz = term if dz is None else dz + term
    if dz.shape[c.batch:] != c.out.shape:  # only the bias moved: its tangent spreads over every row
        from ..ops.shape import expand_batched
        dz = expand_batched(dz, c.out.shape, c.batch)
    activation = c.params["activation"]
    if activation is None:
        return dz
    return dz * _slope(activation, lambda: c.out, lambda: x @ w.mT if b is None else x @ w.mT + b)


LINEAR = Op("linear", None, _linear_vjp, jvp=_linear_jvp)


def linear(x, weight, bias=None, activation=None):
    """activation(x @ weight.T + bias), recorded as one node with a fused backward (weight: (out, in))."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"linear: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if not _fits(x, weight, bias):
        _check_linear(x, weight, bias)  # raises the error that names the problem
    dev = x._device
    out, aux = _linear_arrays(dev, activation, x._data, weight._data, None if bias is None else bias._data)
    if _capture.ACTIVE is not None:
        _capture.ACTIVE.call(functools.partial(_linear_arrays, dev, activation), (x, weight, bias), (out, aux))
    result = wrap(out, dev)
    needs = (x._rg, weight._rg, bias is not None and bias._rg)
    if mode.enabled and (needs[0] or needs[1] or needs[2]):
        node = Node(LINEAR, (edge_of(x) if needs[0] else None, edge_of(weight) if needs[1] else None,
                             edge_of(bias) if needs[2] else None), needs, dev, _LINEAR_PARAMS[activation])
        gelu_ = activation == "gelu"  # its backward rebuilds z from all three inputs under create_graph
        keep_x, keep_w = needs[1] or gelu_, needs[0] or gelu_
        node.saved = (x if keep_x else None, weight if keep_w else None, bias if gelu_ else None)
        node.saved_versions = (x._version_value if keep_x else None, weight._version_value if keep_w else None,
                               bias._version_value if gelu_ and bias is not None else None)
        if aux is not None:
            node.saved_out = (out, result._version_counter, 0) if aux is out else (aux, _Version(), 0)
        core.attach(node, result, (x, weight, bias))
    if mode.fw_level:
        forward_tangent(LINEAR, (x, weight, bias), _LINEAR_PARAMS[activation], result)
    return result


def _linear_arrays(dev, activation, x, w, b):
    """The forward on raw arrays: (output, what backward keeps)."""
    backend = dev.backend
    z = backend.xp.matmul(x, w.T)
    if fused.on(dev):  # one kernel for bias + activation (kernels/linear.cu)
        with backend.device:
            return fused.kernels().bias_activation(backend, z, b, activation)
    if b is not None:
        z += b
    return _activate(backend.xp, z, activation)


_LINEAR_PARAMS = {activation: {"activation": activation} for activation in ACTIVATIONS}  # shared, never changed


def _fits(x, weight, bias):
    """The common case, checked fast: tensors on one device with one float dtype and matching shapes."""
    try:
        xd, wd = x._data, weight._data
        dtype = xd.dtype
        ok = (weight._device is x._device and wd.dtype is dtype and dtype.kind == "f" and wd.ndim == 2
              and xd.ndim >= 1 and xd.shape[-1] == wd.shape[1])
        if bias is not None:
            bd = bias._data
            ok = ok and bias._device is x._device and bd.dtype is dtype and bd.shape == wd.shape[:1]
        return ok
    except AttributeError:
        return False


def _check_linear(x, weight, bias):
    """Clear errors for the shapes, devices and dtypes linear() accepts."""
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be a tensor, got {type(t).__name__}")
    xs, ws = x._data.shape, weight._data.shape
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} does not match weight of shape {ws} "
                         f"(the input's last dimension must equal weight.shape[1])")
    others = (weight,) if bias is None else (weight, bias)
    if bias is not None and bias._data.shape != ws[:1]:
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape {ws}")
    dtype = x._data.dtype
    for t in others:
        if t._device is not x._device:
            raise RuntimeError(f"linear: expected all tensors on one device, got {x.device} and {t.device}")
        if t._data.dtype is not dtype and t._data.dtype != dtype:
            raise TypeError(f"linear: input, weight and bias must share one floating dtype, got {dtype} and "
                            f"{t.dtype}")
    if dtype.kind != "f":
        raise TypeError(f"linear: needs floating-point tensors, got {dtype}")


# --- activations and dropout ------------------------------------------------------------------------------------
def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p); identity when not training."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    from ..factories import rand
    keep = rand(*x.shape, dtype=x.dtype, device=x.device) >= p
    return x * keep / (1 - p)


# --- losses -------------------------------------------------------------------------------------------------------
def _reduce(loss, reduction, who):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - PyTorch's names
    """Mean (or summed) squared error."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


def _row_index(device, rows):
    """arange(rows) on the device, cached on the CPU (where arrays can be made read-only): the gather index of the
    target column in every row."""
    if device.type != "cpu":
        return device.backend.xp.arange(rows)
    index = _ROWS.get(rows)
    if index is None:
        index = _ROWS[rows] = np.arange(rows)
        index.flags.writeable = False
    return index


_ROWS = {}


def _cross_entropy_forward(xp, x, target, rows):
    """(per-row loss, per-row log-sum-exp), stable: exp is only taken of x - max(x)."""
    m = x.max(axis=1, keepdims=True)
    e = xp.subtract(x, m)
    xp.exp(e, out=e)
    lse = xp.log(e.sum(axis=1))
    lse += m[:, 0]
    picked = x[rows, target]
    return lse - picked, lse


def _reduce_rows(xp, loss, reduction):
    """The per-row losses, their sum or their mean (float16 is summed in float32)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=np.float32) if loss.dtype == np.float16 else loss.sum()
    if reduction == "mean":
        total = total / len(loss) if len(loss) else total * np.nan  # the mean of no rows is NaN, as in PyTorch
    return xp.asarray(total, dtype=loss.dtype)


def _cross_entropy_vjp(n, g):
    reduction = n.params["reduction"]
    logits, target = n.inputs
    if first_order():  # softmax - onehot, in place
        grad = _cross_entropy_vjp_arrays(n, g._data, logits._data, target._data, reduction)
        if _capture.ACTIVE is not None:
            _capture.ACTIVE.call(functools.partial(_capture_calls().cross_entropy_vjp, n.device, reduction),
                                 (g, logits, target, n.saved_out[0]), grad)
        return grad, None
    probabilities = (logits - logsumexp(logits, dim=1, keepdim=True)).exp()
    scale = g.reshape(g.shape + ((1,) if reduction == "none" else (1, 1)))
    if reduction == "mean":
        scale = scale / logits.shape[0]
    return (probabilities - _onehot(n, logits.shape, target._data)) * scale, None


def _cross_entropy_vjp_arrays(n, g, x, target, reduction):
    backend = n.device.backend
    xp = backend.xp
    lse = n.saved_out[0]
    if fused.on(n.device) and lse.dtype == fused.kernels().compute_dtype(x.dtype):
        with backend.device:  # one kernel: (softmax - onehot) * g, kernels/softmax.cu
            scale = 1.0 / len(x) if reduction == "mean" and len(x) else 1.0
            return wrap(fused.kernels().cross_entropy_grad(backend, x, target, lse, g, scale), n.device)
    p = xp.subtract(x, lse[:, None])
    xp.exp(p, out=p)
    p[_row_index(n.device, len(p)), target] -= 1
    if reduction == "none":
        p *= g[:, None]
    else:
        p *= g / len(p) if reduction == "mean" else g
    return wrap(p, n.device)


def _onehot(n, logits_shape, target):
    hot = n.device.backend.xp.zeros(logits_shape, dtype=bool)
    hot[n.device.backend.xp.arange(len(target)), target] = True
    return wrap(hot, n.device)


def _cross_entropy_jvp(c, t, t_target):
    logits, target = c.inputs
    probabilities = (logits - logsumexp(logits, dim=1, keepdim=True)).exp()
    index = (slice(None),) * c.batch + (np.arange(len(target)), target._host())
    per_row = (probabilities * t).sum(-1) - t[index]
    reduction = c.params["reduction"]
    return per_row if reduction == "none" else per_row.sum(-1) if reduction == "sum" else per_row.mean(-1)


CROSS_ENTROPY = Op("cross_entropy", None, _cross_entropy_vjp, jvp=_cross_entropy_jvp)


def cross_entropy(input, target, reduction="mean"):  # noqa: A002 - PyTorch's names
    """-log softmax(input)[target] per row (class indices), reduced by ``reduction``: one node, computed stably, that
    keeps only the per-row log-sum-exp for backward."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(input, Tensor) or input.ndim != 2:
        raise ValueError(f"cross_entropy: expects logits of shape (batch, classes), got "
                         f"{getattr(input, 'shape', type(input).__name__)}")
    if not isinstance(target, Tensor):
        from ..factories import tensor
        target = tensor(target, device=input.device)
    x, t = input._data, target._data
    if t.dtype.kind not in "iu" or t.shape != x.shape[:1]:
        raise ValueError(f"cross_entropy: target must be integer class indices of shape {input.shape[:1]}, "
                         f"got {target.dtype} of shape {target.shape}")
    if target._device is not input._device:
        raise RuntimeError(f"cross_entropy: logits on {input.device} but target on {target.device}")
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {x.dtype}")
    dev = input._device
    loss, lse = _cross_entropy_arrays(dev, reduction, x, t)
    if _capture.ACTIVE is not None:
        _capture.ACTIVE.call(functools.partial(_cross_entropy_arrays, dev, reduction), (input, target), (loss, lse))
    result = wrap(loss, dev)
    params = {"reduction": reduction}
    if input._rg and mode.enabled:
        node = Node(CROSS_ENTROPY, (edge_of(input), None), (True, False), dev, params)
        node.saved = (input, target)
        node.saved_versions = (input._version_value, target._version_value)
        node.saved_out = (lse, _Version(), 0)  # not the output: the VJP reads it raw
        core.attach(node, result, (input, target))
    if mode.fw_level:
        forward_tangent(CROSS_ENTROPY, (input, target), params, result)
    return result


def _cross_entropy_arrays(dev, reduction, x, t):
    """The forward on raw arrays, with its checks of the class indices: (reduced loss, per-row log-sum-exp)."""
    backend = dev.backend
    xp = backend.xp
    if fused.on(dev):  # one kernel for the per-row loss and log-sum-exp; it counts bad targets (kernels/softmax.cu)
        with backend.device:
            loss, lse = fused.kernels().cross_entropy(backend, x, t)
        return _reduce_rows(xp, loss, reduction).astype(x.dtype, copy=False), lse
    if dev.type != "cpu":  # counted on the GPU, raised at the next read back (see CUDABackend.error_counter)
        bad = backend.error_counter(f"cross_entropy: class indices must be in [0, {x.shape[1]})")
        with backend.device:
            bad += ((t < 0) | (t >= x.shape[1])).sum(dtype=np.int32)
    elif t.size and t.min() < 0:
        raise _bad_class(t, x.shape[1])
    try:
        loss, lse = _cross_entropy_forward(xp, x, t, _row_index(dev, len(x)))
    except IndexError:  # NumPy's own bounds check: a class index >= the number of classes
        raise _bad_class(t, x.shape[1]) from None
    return _reduce_rows(xp, loss, reduction), lse


def _capture_calls():
    from ..capture import calls
    return calls


def _bad_class(t, classes):
    return ValueError(f"cross_entropy: class indices must be in [0, {classes}), got values from {t.min()} to "
                      f"{t.max()}")


def binary_cross_entropy_with_logits(input, target, reduction="mean"):  # noqa: A002
    """-[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], computed stably as softplus(x) - t x."""
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    loss = softplus(input, threshold=float("inf")) - input * target
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")

