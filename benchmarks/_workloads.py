"""The measured computations, written once per library and shared by ``bench_overhead.py`` and ``overhead_table.py``.

Every library computes the same thing on the same float32 data: ``loss = (a * b + c).sum()`` and the gradients of
``loss`` with respect to ``a``, ``b`` and ``c``. gpuad and PyTorch do it with autograd (``.grad`` is reset to None
before every backward so accumulation never changes the work); the NumPy (CuPy on CUDA) "floor" does it by hand:
the forward, then ``g = ones; ga = g * b; gb = g * a; gc = g``.

A workload only imports its own library, so each can be measured in a process of its own.
"""
import types

import numpy as np

from _common import sync

SMALL = 10
LARGE = 1_000_000
LIBS = ("gpuad", "numpy", "torch")


def host_inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n, dtype=np.float32) for _ in range(3)]


def _autograd_workload(lib, version, device, a, b, c):
    """The measured functions for a library with autograd (gpuad, PyTorch): ``a``, ``b``, ``c`` require grad."""
    def fwd_bwd():
        a.grad = b.grad = c.grad = None
        (a * b + c).sum().backward()

    def fwd():
        return (a * b + c).sum()

    def mul():
        return a * b

    def bwd(loss):
        a.grad = b.grad = c.grad = None
        loss.backward()

    def grads():
        return [t.grad.detach().cpu().numpy() for t in (a, b, c)]

    compiled = fwd_bwd
    if lib == "gpuad":  # recorded once, then replayed; the other libraries run their eager step in this row
        import gpuad
        compiled = gpuad.compile(fwd_bwd)
    return types.SimpleNamespace(lib=lib, version=version, fwd_bwd=fwd_bwd, fwd_bwd_compiled=compiled, fwd=fwd,
                                 mul=mul, prepare_bwd=fwd, bwd=bwd, grads=grads, device=device)


def gpuad_workload(n, device="cpu", seed=0):
    import gpuad
    a, b, c = (gpuad.tensor(x, dtype=gpuad.float32, device=device, requires_grad=True) for x in host_inputs(n, seed))
    return _autograd_workload("gpuad", gpuad.__version__, device, a, b, c)


def numpy_workload(n, device="cpu", seed=0):
    """The floor: NumPy on CPU, CuPy on CUDA, gradients written by hand."""
    if device == "cpu":
        xp = np
        to_host = np.asarray
        version = np.__version__
        name = "numpy"
    else:
        import cupy as xp
        index = int(device.partition(":")[2] or 0)
        xp.cuda.Device(index).use()
        to_host = xp.asnumpy
        version = xp.__version__
        name = "cupy"
    a, b, c = (xp.asarray(x) for x in host_inputs(n, seed))
    last = {}

    def fwd_bwd():
        loss = (a * b + c).sum()
        g = xp.ones_like(a)
        ga = g * b
        gb = g * a
        gc = g
        return loss, ga, gb, gc

    def fwd():
        return (a * b + c).sum()

    def mul():
        return a * b

    def bwd(loss):
        g = xp.ones_like(a)
        ga = g * b
        gb = g * a
        gc = g
        last["grads"] = (ga, gb, gc)

    def grads():
        return [to_host(g) for g in fwd_bwd()[1:]]

    return types.SimpleNamespace(lib=name, version=version, fwd_bwd=fwd_bwd, fwd_bwd_compiled=fwd_bwd, fwd=fwd,
                                 mul=mul, prepare_bwd=fwd, bwd=bwd, grads=grads, device=device)


def torch_workload(n, device="cpu", seed=0):
    import torch
    if device != "cpu" and not torch.cuda.is_available():
        raise RuntimeError("this PyTorch build has no usable CUDA device")
    a, b, c = (torch.tensor(x, device=device, requires_grad=True) for x in host_inputs(n, seed))
    return _autograd_workload("torch", torch.__version__, device, a, b, c)


WORKLOADS = {"gpuad": gpuad_workload, "numpy": numpy_workload, "torch": torch_workload}


def make(lib, n, device="cpu", seed=0):
    return WORKLOADS[lib](n, device, seed)


def check(workload, n, seed=0):
    """Run forward + backward once and compare the gradients with the closed form (b, a, ones)."""
    workload.fwd_bwd()
    sync(workload.device)
    a, b, _ = host_inputs(n, seed)
    expected = (b, a, np.ones(n, np.float32))
    for name, got, want in zip("abc", workload.grads(), expected):
        if got.shape != want.shape or got.dtype != np.float32 or not np.allclose(got, want, rtol=1e-6, atol=0):
            raise AssertionError(f"{workload.lib}: wrong gradient for {name} (shape {got.shape}, dtype {got.dtype})")
