"""Regression tests for the nn items of the fuzzing audit (issue 11) and the GPU review (issue 12): each failed before
its fix."""
import gc
import tracemalloc

import numpy as np
import pytest

import gpuad as G
from gpuad import nn
from gpuad.nn import functional as F


def test_item6_cross_entropy_keeps_precision_for_huge_float32_logits():
    x = G.tensor([[1e8, 1e8]], dtype=G.float32, requires_grad=True)
    loss = F.cross_entropy(x, G.tensor([0]))
    loss.backward()
    assert loss.item() == pytest.approx(np.log(2), rel=1e-6)  # was 0
    np.testing.assert_allclose(x.grad.numpy(), [[-0.5, 0.5]], rtol=1e-6)  # was [0, 1]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_item6_cross_entropy_near_1e4_matches_float64(reduction, rng):
    logits = (rng.standard_normal((16, 5)) + 1e4).astype(np.float32)
    target = rng.integers(0, 5, 16)
    ours = F.cross_entropy(G.tensor(logits), G.tensor(target), reduction=reduction).numpy()
    exact = F.cross_entropy(G.tensor(logits.astype(np.float64)), G.tensor(target), reduction=reduction).numpy()
    np.testing.assert_allclose(ours, exact, rtol=1e-5, atol=1e-6)  # was ~20% off


def test_item10_fused_linear_relu_gives_zero_at_minus_inf():
    x = G.tensor([[1.0, 2.0]])
    w = G.tensor([[-np.inf, 0.0], [1.0, 1.0]])
    fused = F.linear(x, w, None, "relu").numpy()
    plain = F.relu(F.linear(x, w)).numpy()
    np.testing.assert_array_equal(fused, [[0.0, 3.0]])  # was NaN in the first column
    np.testing.assert_array_equal(fused, plain)


def test_item18_bce_with_logits_at_inf_is_inf_not_nan():
    x = G.tensor([np.inf, 1e4, -1e4], dtype=G.float64, requires_grad=True)
    t = G.tensor([0.5, 0.25, 0.5], dtype=G.float64)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_array_equal(loss.detach().numpy(), [np.inf, 7500.0, 5000.0])  # the first was NaN (PyTorch: inf)
    F.binary_cross_entropy_with_logits(x, t, reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.75, -0.5])  # sigmoid(x) - t


@pytest.mark.parametrize("shape_x,shape_w", [((3, 0), (2, 0)), ((3, 4), (0, 4)), ((2, 3, 0), (2, 0)),
                                              ((0, 4), (3, 4))], ids=str)
@pytest.mark.parametrize("activation", [None, "relu", "gelu"])
def test_item22_linear_backward_with_zero_features(shape_x, shape_w, activation):
    x = G.zeros(*shape_x, dtype=G.float64, requires_grad=True)
    w = G.zeros(*shape_w, dtype=G.float64, requires_grad=True)
    b = G.zeros(shape_w[0], dtype=G.float64, requires_grad=True)
    out = F.linear(x, w, b, activation)
    assert out.shape == shape_x[:-1] + shape_w[:1]
    out.sum().backward()  # raised "cannot reshape array of size 0"
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and b.grad.shape == b.shape
    assert not x.grad.numpy().any() and not w.grad.numpy().any()


def test_item23_cross_entropy_with_zero_classes_names_the_problem():
    with pytest.raises(ValueError, match="0 classes"):
        F.cross_entropy(G.zeros(4, 0), G.zeros(4, dtype=G.int64))
    with pytest.raises(ValueError, match="0 classes"):
        F.cross_entropy(G.zeros(0), G.tensor(0))


def test_item27_cross_entropy_keeps_no_per_batch_size_cache():
    rng = np.random.default_rng(0)
    logits = G.tensor(rng.standard_normal((1400, 3)), requires_grad=True)
    def run(rows):
        F.cross_entropy(logits[:rows], G.zeros(rows, dtype=G.int64)).backward()
    run(1000)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for rows in range(1000, 1300):  # 300 distinct batch sizes: an arange kept per size would hold ~2.8 MB
            run(rows)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 500_000, f"{grown} bytes retained after 300 batch sizes"


def test_issue12_bug5_module_cuda_accepts_an_int():
    from gpuad.nn.module import _device_of
    assert _device_of(1) == G.device("cuda:1")  # Module.cuda(1) raised TypeError from as_device(1)
    if not G.cuda.is_available():
        with pytest.raises(Exception) as info:
            nn.Linear(2, 2).cuda(device=1)
        assert not isinstance(info.value, TypeError)
