"""gpuad.nn.functional (PyTorch's torch.nn.functional names): the fused linear layer here, and from their own files
the activations (_activations.py), cross_entropy (_cross_entropy.py, one node), the other losses (_losses.py) and
normalisation, dropout, embedding, padding and encodings (_functional_misc.py).

``linear(x, weight, bias, activation)`` is ONE recorded node: forward is the GEMM, then bias and activation in place;
backward is the activation derivative times the incoming gradient, the bias gradient as its column sum, then the two
GEMMs. It saves only what backward needs: for ReLU a 1-byte mask, for tanh and sigmoid the output, for GELU the
pre-activation, for no activation nothing beyond the inputs. Its activations compute exactly what the unfused ops
compute (same formulas, same order), so nn.Sequential may fuse a Linear with the activation module after it.
"""
import functools

from .. import _capture
from ..autograd.graph import Node, edge_of
from ..autograd.grad_mode import first_order, mode
from ..ops import core, fused
from ..ops.core import Op, align_batched, forward_tangent
from ..ops.elementwise import _INV_SQRT_2, _INV_SQRT_2PI, _sigmoid_forward, gelu_slope
from ..tensor import Tensor, _Version, wrap
from ..ops.shape import expand_batched

ACTIVATIONS = (None, "relu", "gelu", "tanh", "sigmoid")
_SQRT_HALF = _INV_SQRT_2  # the constant the unfused gelu uses, so fused and unfused agree bit for bit


# --- the fused linear layer ---------------------------------------------------------------------------------------
def _activate(xp, z, activation):
    """Apply the activation to z, in place where it can; returns (output, what backward keeps)."""
    if activation is None:
        return z, None
    if activation == "relu":
        mask = z > 0          # 1 byte per element
        xp.maximum(z, 0, out=z)  # as the unfused relu: 0 at -inf (z * mask would give NaN), NaN kept
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
        if _capture.state.active is not None:
            _capture.state.active.linear_vjp(n.device, activation, n.needs, (g, aux, x, w), grads)
        return grads
    dz = g if activation is None else g * _derivative(n, activation, aux)
    gx = dz @ w if needs_x else None
    gw = gb = None
    if needs_w:
        x2 = x if x.ndim == 2 else x.reshape(_matrix(x.shape))
        dz2 = dz if x.ndim == 2 else dz.reshape(dz.shape[:dz.ndim - x.ndim] + _matrix(x.shape[:-1] + dz.shape[-1:]))
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
        pdf *= _INV_SQRT_2PI
        pdf *= aux  # the unfused gelu_slope's order: x * (exp(-x^2/2) / sqrt(2 pi))
        cdf += pdf
        dz = cdf
        dz *= g
    dz2 = dz if dz.ndim == 2 else dz.reshape(_matrix(dz.shape))
    return _linear_gemms(n, dz, x, w, needs_x, needs_w, wrap(dz2.sum(axis=0), n.device) if needs_b else None)


def _matrix(shape):
    """(rows, last dim) for a batch of rows; unlike reshape(-1, n) it also works when n or the batch is 0."""
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return rows, shape[-1]


def _linear_gemms(n, dz, x, w, needs_x, needs_w, gb):
    """The input and weight gradients from dz: the two GEMMs of the linear layer's backward."""
    matmul = n.device.backend.xp.matmul
    gx = wrap(matmul(dz, w._data), n.device) if needs_x else None
    gw = None
    if needs_w:
        xd = x._data
        if dz.ndim != 2:
            dz, xd = dz.reshape(_matrix(dz.shape)), xd.reshape(_matrix(xd.shape))
        gw = wrap(matmul(dz.T, xd), n.device)
    return gx, gw, gb


def _linear_jvp(c, tx, tw, tb):
    """tangent of activation(x W^T + b): activation'(z) * (tx W^T + x tW^T + tb), batch-aware."""
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
    if _capture.state.active is not None:
        _capture.state.active.call(functools.partial(_linear_arrays, dev, activation), (x, weight, bias), (out, aux))
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


# --- everything else: activations, losses, normalisation, dropout, embedding, padding ------------------------------
from ._activations import *  # noqa: E402,F401,F403
from ._activations import _relu as relu  # noqa: E402,F401 - relu(input, inplace=False)
from ._activations import __all__ as _activation_names  # noqa: E402
from ._cross_entropy import cross_entropy  # noqa: E402,F401
from ._functional_misc import *  # noqa: E402,F401,F403
from ._functional_misc import __all__ as _misc_names  # noqa: E402
from ._losses import *  # noqa: E402,F401,F403
from ._losses import __all__ as _loss_names  # noqa: E402

__all__ = ["linear", "cross_entropy", "ACTIVATIONS"] + _activation_names + _misc_names + _loss_names
