"""The glue around the backends' cross-entropy row rules (ignored rows, class weights, per-row gradient scales),
exercised on the CPU with a backend whose two rules are NumPy stand-ins for kernels/softmax.cu's kernels, following
their contract (statistics kept in the compute type, softmax as exp((x - m) - log s)): the result must equal the
plain CPU path's, so the GPU path is right wherever the kernels are."""
import numpy as np
import pytest

import gpuad as G
from gpuad.backends.cpu import CPUBackend
from gpuad.nn import functional as F


class KernelContractBackend(CPUBackend):
    """CPUBackend with cross_entropy_rows(_grad) computed as the CUDA kernels compute them."""

    calls = 0

    def cross_entropy_rows(self, x2, target):
        assert target.min() >= 0 and target.max() < x2.shape[1], "ignored rows must reach the kernel as a valid class"
        type(self).calls += 1
        stats = np.float64 if x2.dtype == np.float64 else np.float32
        xc = x2.astype(stats)
        m = xc.max(axis=1)
        m = np.where(np.isfinite(m), m, 0)
        log_s = np.log(np.exp(xc - m[:, None]).sum(axis=1))
        return log_s - (xc[np.arange(len(xc)), target] - m), m, log_s

    def cross_entropy_rows_grad(self, x2, target, m, log_s, scale):
        type(self).calls += 1
        p = np.exp((x2 - m[:, None]) - log_s[:, None])
        p[np.arange(len(x2)), target] -= 1
        return (p * scale[:, None]).astype(x2.dtype)


@pytest.fixture
def contract_backend(monkeypatch):
    device = G.device("cpu")
    device.backend  # the real one exists before it is swapped
    monkeypatch.setattr(device, "_backend", KernelContractBackend())
    KernelContractBackend.calls = 0


def _loss_and_grad(logits, target, reduction, weight, seed):
    x = G.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, G.tensor(target), reduction=reduction,
                           weight=None if weight is None else G.tensor(weight))
    loss.backward(None if seed is None else G.tensor(seed))
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignored", [[], [1, 4], [0, 1, 2, 3, 4, 5]], ids=["none-ignored", "some", "all"])
def test_the_row_rules_glue_equals_the_plain_path(request, reduction, ignored, weighted):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 4))
    target = rng.integers(0, 4, 6)
    target[ignored] = -100
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    seed = rng.standard_normal(6) if reduction == "none" else None
    plain = _loss_and_grad(logits, target, reduction, weight, seed)
    request.getfixturevalue("contract_backend")
    ruled = _loss_and_grad(logits, target, reduction, weight, seed)
    assert KernelContractBackend.calls == 2  # the row rules ran: forward and backward
    for a, b in zip(ruled, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
