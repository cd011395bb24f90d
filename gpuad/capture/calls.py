"""The array functions a replay runs: each redoes, on raw arrays, exactly what the eager code did at one hook."""
from ..tensor import Tensor, wrap
from ..ops.core import _promote
from ..factories import tensor
from .. import random
from ..nn.functional import _linear_vjp_arrays
from ..ops.fused import kernels


def forward(op, backend, params, promote, *datas):
    """An op's forward as ``ops.core.apply`` runs it (dtype promotion, our CUDA kernel or ``op.forward``)."""
    if promote:
        datas = list(datas)
        _promote(op, datas)
    if op.cuda is not None and backend.name == "cuda":
        out = op.cuda(backend, *datas, **params) if params else op.cuda(backend, *datas)
    else:
        out = op.forward(backend.xp, *datas, **params) if params else op.forward(backend.xp, *datas)
    if out.__class__ is not backend.ndarray:
        out = backend.asarray(out)
    return out


def needs_promote(op, inputs):
    """Whether ``apply`` promoted these inputs (the same test it makes)."""
    if op.promote is None:
        return False
    dtype = None
    for x in inputs:
        if isinstance(x, Tensor):
            if dtype is None:
                dtype = x._data.dtype
            elif x._data.dtype != dtype:
                return True
    return dtype is not None and dtype.kind in "biu"


def copy(a):
    return a.copy()


def iadd(a, b):
    a += b


def write(index, target, data):
    target[index] = data


def ufunc_inplace(xp, name, target, other):
    getattr(xp, name)(target, other, out=target, casting="same_kind")


def refill(fill, device, shape, dtype):
    """A factory's array made again (zeros afresh, random numbers drawn from the generator's current state)."""
    return fill(device, shape, dtype)


def constant_copy(value):
    return value.copy()


def retensor(dtype, device, src_device, src):
    return tensor(wrap(src, src_device), dtype=dtype, device=device)._data


def get_rng_state(device):
    return random.get_rng_state(device)


def set_rng_state(device, state):
    random.set_rng_state(state, device)


class NodeStub:
    """The two things the fused VJPs read from their node besides the arrays: its device and saved output."""
    __slots__ = ("device", "saved_out")

    def __init__(self, device, saved_out=None):
        self.device, self.saved_out = device, saved_out


def linear_vjp(device, activation, needs, g, aux, x, w):
    grads = _linear_vjp_arrays(NodeStub(device), g, activation, aux, None if x is None else wrap(x, device),
                               None if w is None else wrap(w, device), *needs)
    return tuple(None if t is None else t._data for t in grads)


def optimizer_update(optimizer, p, group, g):
    """One parameter's update, as ``Optimizer.step`` makes it: its state and group read now (lr, step count)."""
    optimizer._update(p, g, group)
    p._version_counter.value += 1


def cuda_unary_grad(device, name, compute, g, saved):
    """An elementwise op's fused CUDA backward (ops.fused.elementwise_grad), one launch."""
    k = kernels()
    with device.backend.device:
        return k.launch(f"gpuad_{name}", k.unary_grad(name, compute), g, saved)


def cuda_binary_grad(device, name, compute, which, g, a, b):
    k = kernels()
    with device.backend.device:
        out = k.launch(f"gpuad_{name}", k.binary_grad(name, compute, which), g, a, b)
    return out if isinstance(out, tuple) else (out,)


def cuda_softmax_grad(device, log, g, out):
    with device.backend.device:
        return kernels().softmax_grad(device.backend, g, out, log)
