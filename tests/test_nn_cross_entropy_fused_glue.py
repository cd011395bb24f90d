"""The glue around the fused CUDA cross-entropy kernels (ignored rows masked, per-row gradient scales), exercised on
the CPU with NumPy stand-ins for kernels/softmax.cu's two kernels that follow their documented contracts: the masked
result must equal the plain path's, so the GPU path is right wherever the kernels are."""
import contextlib

import numpy as np
import pytest

import gpuad as G
from gpuad.backends.cpu import CPU_BACKEND
from gpuad.nn import _cross_entropy
from gpuad.nn import functional as F


class _Kernels:
    """cross_entropy(backend, x, t) -> (loss, lse) per row; cross_entropy_grad(backend, x, t, lse, g, scale) ->
    (softmax(x) - onehot(t)) * scale * g (g per row, or one value)."""

    calls = 0

    @staticmethod
    def compute_dtype(dtype):
        return np.dtype(np.float64 if dtype == np.float64 else np.float32)

    def cross_entropy(self, backend, x, t):
        assert t.min() >= 0 and t.max() < x.shape[1], "ignored rows must reach the kernel as a valid class"
        type(self).calls += 1
        m = x.max(axis=1, keepdims=True)
        lse = (np.log(np.exp(x - m).sum(axis=1, keepdims=True)) + m)[:, 0]
        return lse - x[np.arange(len(x)), t], lse

    def cross_entropy_grad(self, backend, x, t, lse, g, scale):
        type(self).calls += 1
        p = np.exp(x - lse[:, None])
        p[np.arange(len(x)), t] -= 1
        g = np.broadcast_to(g, (len(x),)) if np.ndim(g) else np.full(len(x), float(g))
        return p * (scale * g)[:, None]


@pytest.fixture
def fused_on_cpu(monkeypatch):
    kernels = _Kernels()
    monkeypatch.setattr(_cross_entropy.fused, "on", lambda device: True)
    monkeypatch.setattr(_cross_entropy.fused, "kernels", lambda: kernels)
    monkeypatch.setattr(CPU_BACKEND, "device", contextlib.nullcontext(), raising=False)
    _Kernels.calls = 0
    return kernels


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignored", [[], [1, 4], [0, 1, 2, 3, 4, 5]], ids=["none-ignored", "some", "all"])
def test_fused_glue_equals_the_plain_path(fused_on_cpu, reduction, ignored):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    target = rng.integers(0, 4, 6)
    target[ignored] = -100
    results = []
    for fused in (True, False):
        if not fused:
            _cross_entropy.fused.on = lambda device: False
        x = G.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, G.tensor(target), reduction=reduction)
        seed = G.tensor(rng.standard_normal(loss.shape)) if reduction == "none" else None
        loss.backward(seed)
        results.append((loss.detach().numpy(), x.grad.numpy()))
        rng = np.random.default_rng(0)  # the same seed for both
        rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    assert _Kernels.calls == 2  # the kernels ran for the fused call: forward and backward
    (loss_f, grad_f), (loss_p, grad_p) = results
    np.testing.assert_allclose(loss_f, loss_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_f, grad_p, rtol=1e-12, atol=1e-12)
