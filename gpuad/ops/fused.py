"""When ops run gpuad's own CUDA kernels (gpuad/backends/cuda_kernels.py) instead of CuPy array calls.

Forward: on a CUDA tensor with a float dtype, while ``gpuad.cuda.fused_kernels`` is on. Backward: the same, and only
in a first-order backward (nothing recording, no batched cotangents, no forward-mode tangents), because the kernels
work on raw arrays; higher-order gradients take the ops' differentiable VJPs, which are the reference the fused
kernels are tested against. Forward hooks fall back to the op's xp forward where a kernel does not apply; backward
helpers return None there, and the VJP takes its differentiable path.
"""
import functools

from .. import _capture
from ..autograd.grad_mode import first_order
from ..backends import cuda as _cuda
from ..tensor import Tensor, wrap
from .core import OUT


def kernels():
    """gpuad.backends.cuda_kernels, imported on first use (it is only needed on CUDA)."""
    from ..backends import cuda_kernels
    return cuda_kernels


def on(device):
    """Whether ops on ``device`` run our kernels: a CUDA device while ``gpuad.cuda.fused_kernels`` is on."""
    return device.type == "cuda" and _cuda.FUSED


def hook(kernel, fallback, applies=None):
    """An ``Op.cuda`` hook: ``kernel(backend, *arrays, **params)`` on the arrays' device while fused kernels are on
    and ``applies(*arrays, **params)`` holds, else the op's xp forward ``fallback(xp, *arrays, **params)``."""
    def run(backend, *arrays, **params):
        if _cuda.FUSED and (applies is None or applies(*arrays, **params)):
            with backend.device:
                return kernel(backend, *arrays, **params)
        return fallback(backend.xp, *arrays, **params)
    return run


def elementwise_forward(kernel_name, fallback):
    """The ``Op.cuda`` hook of a composite elementwise forward from kernels/elementwise.cu; ``kernel_name`` is a name
    or a function of the op's params giving one."""
    def kernel(backend, x, **params):
        k = kernels()
        name = kernel_name(params) if callable(kernel_name) else kernel_name
        return k.launch(f"gpuad_{name}", k.unary(name, k.compute_type(x.dtype)), x)
    return hook(kernel, fallback, applies=lambda x, **params: kernels().compute_type(x.dtype) is not None)


def grad_kernel_name(op, params):
    """The name of ``op``'s fused backward rule for these params."""
    return op.cuda_grad(params) if callable(op.cuda_grad) else op.cuda_grad


def elementwise_grad(n, g):
    """The input gradients of an elementwise op from one launch of its ``cuda_grad`` rule (kernels/elementwise.cu),
    or None. Unary rules read the saved input or output (whichever the op saves); binary rules read both inputs."""
    if not (on(n.device) and first_order()):
        return None
    k = kernels()
    name = grad_kernel_name(n.op, n.params)
    gd = g._data
    compute = k.compute_type(gd.dtype)
    if compute is None:
        return None
    if len(n.next) == 1:
        saved = (n.out if n.op.save == ((OUT,),) else n.inputs[0])._data
        if saved.dtype != gd.dtype or saved.shape != gd.shape:
            return None
        with n.device.backend.device:
            out = k.launch(f"gpuad_{name}", k.unary_grad(name, compute), gd, saved)
        if _capture.state.active is not None:  # gpuad.compile: the same launch on every replay
            from ..capture.calls import cuda_unary_grad
            _capture.state.active.call(functools.partial(cuda_unary_grad, n.device, name, compute), (gd, saved), out)
        return wrap(out, n.device)
    a, b = n.inputs
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)) or a._data.dtype != gd.dtype \
            or b._data.dtype != gd.dtype:
        return None
    which = ("a" if n.needs[0] else "") + ("b" if n.needs[1] else "")
    with n.device.backend.device:
        out = k.launch(f"gpuad_{name}", k.binary_grad(name, compute, which), gd, a._data, b._data)
    out = out if isinstance(out, tuple) else (out,)
    if _capture.state.active is not None:  # gpuad.compile: the same launch on every replay
        from ..capture.calls import cuda_binary_grad
        _capture.state.active.call(functools.partial(cuda_binary_grad, n.device, name, compute, which), (gd, a, b), out)
    grads = iter(wrap(o, n.device) for o in out)
    return tuple(next(grads) if need else None for need in n.needs)
