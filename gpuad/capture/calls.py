"""The array functions a replay runs: each redoes, on raw arrays, exactly what the eager code did at one hook.

Those that use array methods (copy, +=, item assignment) run inside their backend's ``on_device``: the recorder
wraps every call that has a tensor argument (Recorder.call), and the others take their backend."""
from .. import random
from ..factories import tensor
from ..ops.core import _promote
from ..tensor import Tensor, wrap


def forward(op, backend, params, promote, *datas):
    """An op's forward as ``ops.core.apply`` runs it: dtype promotion, then the backend's ``run``."""
    if promote:
        datas = list(datas)
        backend.on_device(_promote, op, datas)  # its casts are array methods: run on the backend's device
    out = backend.run(op, datas, params)
    if op.aux:
        out, kept = out
    if out.__class__ is not backend.ndarray:
        out = backend.asarray(out)
    return (out, kept) if op.aux else out


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


def constant_copy(backend, value):
    """A fresh copy of a constant array on ``backend``'s device (the step may change the tensor made from it)."""
    return backend.copy(value)


def retensor(dtype, device, src_device, src):
    return tensor(wrap(src, src_device), dtype=dtype, device=device)._data


def get_rng_state(device):
    return random.get_rng_state(device)


def set_rng_state(device, state):
    random.set_rng_state(state, device)


def optimizer_update(optimizer, p, group, g):
    """One parameter's update, as ``Optimizer.step`` makes it: its state and group read now (lr, step count)."""
    optimizer._update_param(p, g, group)

