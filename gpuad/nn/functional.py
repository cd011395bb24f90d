"""gpuad.nn.functional (PyTorch's torch.nn.functional names): the fused linear layer here, and from their own files
the activations (_activations.py), cross_entropy (_cross_entropy.py, one node), the other losses (_losses.py) and
normalisation, dropout, embedding, padding and encodings (_functional_misc.py).

``linear(x, weight, bias, activation)`` is ONE recorded node, an ordinary Op per activation of gpuad/activations.py:
forward is the GEMM, then bias and activation in place (one kernel on CUDA); backward is the activation derivative
times the incoming gradient, the bias gradient as its column sum (one kernel on CUDA), then the two GEMMs. It saves
only what backward needs: for ReLU a 1-byte mask, for tanh and sigmoid the output, for GELU the pre-activation, for no
activation nothing beyond the inputs. Its activations compute exactly what the unfused ops compute (same formulas,
same order), so nn.Sequential may fuse a Linear with the activation module after it.
"""
import functools

from .. import _capture, activations
from ..autograd.grad_mode import first_order, mode
from ..backends import generic
from ..ops.core import Op, align_batched, apply, apply_checked
from ..ops.shape import expand_batched
from ..tensor import Tensor, wrap

ACTIVATIONS = activations.NAMES


# --- the fused linear layer ---------------------------------------------------------------------------------------
def _linear_vjp(n, g):
    activation = n.params["activation"]
    act = activations.ACTIVATIONS[activation]
    kept = None
    if act.keeps is not activations.NOTHING:
        if n.saved_out is None:
            n.inputs  # raises the usual error (freed graph), or recomputes a checkpoint
        kept = n.saved_out[0]
    # only the bias needs grad: nothing of the inputs is saved (except gelu's, which saves all three)
    x, w, _ = n.inputs if n.needs[0] or n.needs[1] or n.saved is not None else (None, None, None)
    if first_order():
        backend = n.device.backend
        grads = backend.linear_grad(g._data, kept, None if x is None else x._data, None if w is None else w._data,
                                    activation, n.needs)
        _capture.called(functools.partial(backend.linear_grad, activation=activation, needs=n.needs),
                        (g, kept, x, w), grads)
        return tuple(None if t is None else wrap(t, n.device) for t in grads)
    dz = g if act.keeps is activations.NOTHING else g * _slope(n, act, kept)
    gx = dz @ w if n.needs[0] else None
    gw = None
    if n.needs[1]:
        x2 = x if x.ndim == 2 else x.reshape(generic.matrix(x.shape))
        dz2 = dz if x.ndim == 2 else dz.reshape(dz.shape[:dz.ndim - x.ndim]
                                                + generic.matrix(x.shape[:-1] + dz.shape[-1:]))
        gw = dz2.mT @ x2
    return gx, gw, dz if n.needs[2] else None  # the engine sums the bias gradient over the batch dimensions


def _slope(n, act, kept):
    """activation'(z) for a differentiable VJP: relu's from its 1-byte mask, the others' from the output or z."""
    if act.keeps == activations.MASK:
        return wrap(kept, n.device)
    return act.slope(lambda: n.out, lambda: _preactivation(n, kept))


def _preactivation(n, kept):
    """gelu's z: the saved array, or rebuilt from the inputs so that it carries their history (create_graph) or
    their tangents (forward over reverse)."""
    if not mode.enabled and not mode.fw_level:
        return wrap(kept, n.device)
    x, w, b = n.inputs
    z = x @ w.mT
    return z if b is None else z + b


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
    act = activations.ACTIVATIONS[c.params["activation"]]
    if act.keeps is activations.NOTHING:
        return dz
    return dz * act.slope(lambda: c.out, lambda: x @ w.mT if b is None else x @ w.mT + b)


def _linear_op(act):
    """The linear layer's Op for one activation: gx needs the weight, gw the input, gb nothing; gelu keeps all three
    inputs too, so that its backward can rebuild z with their history (double backward, forward over reverse)."""
    return Op("linear" if act.name is None else f"linear_{act.name}", generic.linear, _linear_vjp,
              jvp=_linear_jvp, save="all" if act.keeps == activations.INPUT else ((1,), (0,), ()), aux=True,
              cuda="linear", node_name="LinearBackward0")


LINEAR_OPS = {name: _linear_op(act) for name, act in activations.ACTIVATIONS.items()}
_LINEAR_PARAMS = {name: {"activation": name} for name in ACTIVATIONS}  # shared, never changed


def linear(x, weight, bias=None, activation=None):
    """activation(x @ weight.T + bias), recorded as one node with a fused backward (weight: (out, in))."""
    op = LINEAR_OPS.get(activation) if activation.__class__ in (str, type(None)) else None
    if op is None:
        activations.get(activation)  # raises the error that names the choices
    if not _fits(x, weight, bias):
        _check_linear(x, weight, bias)  # raises the error that names the problem
    if x._base is not None or weight._base is not None or bias is not None and bias._base is not None:
        return apply(op, (x, weight, bias), _LINEAR_PARAMS[activation])  # views: apply syncs them first
    return apply_checked(op, (x, weight, bias), (x._data, weight._data, None if bias is None else bias._data),
                         _LINEAR_PARAMS[activation], x._device, x._rg or weight._rg or bias is not None and bias._rg)


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
