"""Checkpointing gives the same gradients as the plain run while keeping only segment inputs between forward and
backward; memory_budget placements fit their budget; bad input is a clear error."""
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
from gpuad.autograd.checkpoint import plan_segments


def make_mlp(depth, width, activation, rng, dtype=G.float64, dropout=0.0):
    weights = [G.tensor(rng.standard_normal((width, width)) / math.sqrt(width), dtype=dtype, requires_grad=True)
               for _ in range(depth)]
    biases = [G.tensor(rng.standard_normal(width) * 0.1, dtype=dtype, requires_grad=True) for _ in range(depth)]

    def layer(w, b):
        def run(h):
            h = activation(h @ w + b)
            if dropout:
                h = h * (G.rand(*h.shape, dtype=h.dtype) >= dropout) / (1 - dropout)
            return h
        return run
    return [layer(w, b) for w, b in zip(weights, biases)], weights + biases


def grads_of(layers, params, x, run):
    for p in params:
        p.grad = None
    x.grad = None
    G.manual_seed(123)
    out = run(layers, x)
    ((out * out).sum() + out.sum()).backward()
    return [p.grad.numpy().copy() for p in params] + [x.grad.numpy().copy()]


def plain(layers, x):
    for f in layers:
        x = f(x)
    return x


ACTIVATIONS = {"tanh": G.tanh, "relu": G.relu, "gelu": G.gelu}


@pytest.mark.parametrize("segments", [1, 2, "sqrt", 5, 9])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_checkpointed_gradients_are_bitwise_identical(activation, segments):
    rng = np.random.default_rng(0)
    layers, params = make_mlp(9, 12, ACTIVATIONS[activation], rng)
    x = G.tensor(rng.standard_normal((5, 12)), dtype=G.float64, requires_grad=True)
    expected = grads_of(layers, params, x, plain)
    got = grads_of(layers, params, x, lambda fs, h: G.checkpoint_sequential(fs, segments, h))
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_dropout_masks_are_replayed_in_the_recomputation():
    rng = np.random.default_rng(1)
    layers, params = make_mlp(6, 10, G.tanh, rng, dropout=0.3)
    x = G.tensor(rng.standard_normal((4, 10)), dtype=G.float64, requires_grad=True)
    expected = grads_of(layers, params, x, plain)
    got = grads_of(layers, params, x, lambda fs, h: G.checkpoint_sequential(fs, 3, h))
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_several_outputs_non_tensor_arguments_and_inputs_without_grad():
    w = G.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=G.float64, requires_grad=True)
    x = G.tensor([[0.5, -1.0]], dtype=G.float64)  # needs no grad; the gradient reaches w all the same

    def f(h, scale, mode="both"):
        y = (h @ w).tanh() * scale
        return (y, y.exp()) if mode == "both" else y
    a, b = G.checkpoint(f, x, 3.0, mode="both")
    (a.sum() + b.sum()).backward()
    checkpointed = w.grad.numpy().copy()
    w.grad = None
    a, b = f(x, 3.0)
    (a.sum() + b.sum()).backward()
    np.testing.assert_array_equal(checkpointed, w.grad.numpy())


def test_nested_checkpoints_and_autograd_grad():
    x = G.tensor([0.3, -0.7, 1.1], dtype=G.float64, requires_grad=True)

    def inner(h):
        return h.sin() * h

    def outer(h):
        return G.checkpoint(inner, h.exp()).tanh()
    (g,) = G.autograd.grad(G.checkpoint(outer, x).sum(), x)
    (expected,) = G.autograd.grad(outer(x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), expected.numpy())


def test_retain_graph_and_double_backward_through_a_checkpoint():
    x = G.tensor([0.3, -0.7, 1.1], dtype=G.float64, requires_grad=True)

    def f(h):
        return (h.sin() * h.exp()).sum()
    y = G.checkpoint(f, x)
    (g,) = G.autograd.grad(y, x, create_graph=True, retain_graph=True)
    (gg,) = G.autograd.grad(g.sum(), x, retain_graph=True)
    y.backward()  # the graph was retained: a second backward works
    (g_ref,) = G.autograd.grad(f(x), x, create_graph=True)
    (gg_ref,) = G.autograd.grad(g_ref.sum(), x)
    np.testing.assert_allclose(gg.numpy(), gg_ref.numpy(), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), g_ref.detach().numpy(), rtol=1e-14)


def test_under_no_grad_it_is_a_plain_call():
    x = G.tensor([1.0, 2.0], requires_grad=True)
    with G.no_grad():
        y = G.checkpoint(lambda h: h * 2, x)
    assert not y.requires_grad


def test_checkpoint_keeps_no_activations_between_forward_and_backward():
    rng = np.random.default_rng(2)
    layers, params = make_mlp(4, 64, G.tanh, rng, dtype=G.float32)
    x = G.tensor(rng.standard_normal((32, 64)), dtype=G.float32)
    stored = memory.saved_tensors_bytes(plain(layers, x))
    checkpointed = memory.saved_tensors_bytes(G.checkpoint(lambda h: plain(layers, h), x))
    assert stored >= 4 * 32 * 64 * 4 and checkpointed == 0


def test_an_input_changed_in_place_before_backward_is_caught():
    x = G.tensor([1.0, 2.0], dtype=G.float64, requires_grad=True)
    h = x * 1
    y = G.checkpoint(lambda t: (t.exp() * t).sum(), h)
    with G.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_bad_input_is_a_clear_error():
    layers = [G.tanh, G.sin, G.cos]
    x = G.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="between 1 and the number of functions"):
        G.checkpoint_sequential(layers, 0, x)
    with pytest.raises(ValueError, match=r"\(3\)"):
        G.checkpoint_sequential(layers, 4, x)
    with pytest.raises(TypeError, match="item 1 is a int"):
        G.checkpoint_sequential([G.tanh, 3], 1, x)
    with pytest.raises(TypeError, match="callable"):
        G.checkpoint(42, x)
    with pytest.raises(ValueError, match="no segment placement fits memory_budget=10"):
        G.checkpoint_sequential(layers, 1, x, memory_budget=10)


def test_memory_budget_placements_fit_and_prefer_fewer_segments():
    rng = np.random.default_rng(3)
    layers, params = make_mlp(16, 64, G.tanh, rng, dtype=G.float32)
    x = G.tensor(rng.standard_normal((128, 64)), dtype=G.float32)
    layer_bytes = 128 * 64 * 4
    loose = plan_segments(layers, x, 10 ** 9)
    assert loose == [(0, 16)]
    tight = plan_segments(layers, x, 14 * layer_bytes)
    assert 1 < len(tight) < 16 and tight[0][0] == 0 and tight[-1][1] == 16
    budget = 14 * layer_bytes
    for p in params:
        p.grad = G.zeros_like(p)
    G.memory.reset_peak("cpu")
    base = G.memory.current_bytes("cpu")
    y = G.checkpoint_sequential(layers, None, x, memory_budget=budget)
    y.sum().backward()
    assert G.memory.peak_bytes("cpu") - base <= budget
