"""Memory accounting: what gpuad.memory reports, and the activation memory checkpointing saves."""
import math

import numpy as np
import pytest

import gpuad as G
from gpuad import memory


@pytest.fixture(autouse=True)
def _stop_tracing_afterwards():
    """Counting CPU memory turns on tracemalloc, which slows Python down: switch it off after each test."""
    yield
    memory.stop("cpu")


def test_current_and_peak_follow_allocations():
    memory.reset_peak("cpu")
    before = memory.current_bytes("cpu")
    big = G.zeros(1_000_000, dtype=G.float64)  # 8 MB
    assert memory.current_bytes("cpu") - before >= 8_000_000
    del big
    assert memory.current_bytes("cpu") - before < 100_000
    assert memory.peak_bytes("cpu") - before >= 8_000_000
    memory.reset_peak("cpu")
    assert memory.peak_bytes("cpu") - before < 1_000_000


def test_saved_tensors_bytes_counts_each_saved_array_once():
    x = G.ones(1000, dtype=G.float64, requires_grad=True)
    h = x * 2                 # saves nothing that is not a leaf
    y = h.exp()               # saves its output: 8000 bytes
    z = (y * h).sum()         # saves y and h: h 8000 bytes more, y already counted
    assert memory.saved_tensors_bytes(z) == 16000
    assert memory.saved_tensors_bytes(z, include_leaves=True) == 16000  # x is never saved here
    z.backward()
    assert memory.saved_tensors_bytes(z) == 0  # released by backward


def test_saved_bytes_of_a_leaf_is_zero():
    assert memory.saved_tensors_bytes(G.ones(3)) == 0


def _step_peak(depth, width, batch, segments, rng):
    weights = [G.tensor(rng.standard_normal((width, width)) / math.sqrt(width), dtype=G.float32, requires_grad=True)
               for _ in range(depth)]
    layers = [lambda h, w=w: G.tanh(h @ w) for w in weights]
    x = G.tensor(rng.standard_normal((batch, width)), dtype=G.float32)
    for w in weights:  # gradient buffers stay allocated and are zeroed in place between steps
        w.grad = G.zeros_like(w)
    memory.reset_peak("cpu")
    base = memory.current_bytes("cpu")
    if segments is None:
        h = x
        for f in layers:
            h = f(h)
    else:
        h = G.checkpoint_sequential(layers, segments, x)
    h.sum().backward()
    return memory.peak_bytes("cpu") - base


def test_sqrt_segmentation_keeps_peak_step_memory_under_35_percent():
    """64-layer tanh MLP, width 256, batch 1024: activations dominate the weights."""
    rng = np.random.default_rng(0)
    baseline = _step_peak(64, 256, 1024, None, rng)
    checkpointed = _step_peak(64, 256, 1024, "sqrt", rng)
    layer = 1024 * 256 * 4
    assert baseline >= 64 * layer
    assert checkpointed <= 0.35 * baseline, f"{checkpointed / baseline:.1%} of the un-checkpointed peak"
