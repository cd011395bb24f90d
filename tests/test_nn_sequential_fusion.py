"""nn.Sequential(nn.Linear, nn.ReLU, ...) runs each Linear + activation pair as one fused node, with outputs and
gradients identical (bit for bit) to running the modules one after the other, and falls back where fusion would
change what the user sees (hooks, subclasses, approximate GELU)."""
import numpy as np
import pytest

import gpuad as G
from gpuad import nn


def unfused(model, x):
    """The modules run one by one (what Sequential computes without fusion)."""
    for m in model:
        x = m(x)
    return x


def grads_of(model, forward, x, seed):
    model.zero_grad()
    out = forward(model, x)
    w = G.tensor(np.random.default_rng(seed).standard_normal(out.shape), dtype=out.dtype)
    (out * w).sum().backward()
    return out.detach().numpy().copy(), [p.grad.numpy().copy() for p in model.parameters()], x.grad.numpy().copy()


def node_names(t):
    names, stack, seen = [], [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(node.name())
        stack.extend(n for n, _ in getattr(node, "next_functions", ()))
    return names


@pytest.mark.parametrize("dtype", [G.float64, G.float32])
def test_fused_sequential_is_identical_to_running_the_modules(dtype):
    G.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(),
                          nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8), nn.ReLU(inplace=True), nn.Linear(8, 3)).to(dtype)
    x = G.randn(16, 6, dtype=dtype) * 3
    x[0, 0] = float("-inf")  # a row of -inf pre-activations: relu must give 0, not NaN, either way
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    fused_out, fused_grads, fused_gx = grads_of(model, lambda m, v: m(v), xa, 1)
    plain_out, plain_grads, plain_gx = grads_of(model, unfused, xb, 1)
    np.testing.assert_array_equal(fused_out, plain_out)
    np.testing.assert_array_equal(fused_gx, plain_gx)
    for a, b in zip(fused_grads, plain_grads):
        np.testing.assert_array_equal(a, b)
    names = node_names(model(G.randn(2, 6, dtype=dtype, requires_grad=True)))
    assert names.count("LinearBackward0") == 6
    assert not any(n in names for n in ("ReluBackward0", "TanhBackward0", "SigmoidBackward0", "GeluBackward0"))


def test_fused_sequential_second_order_and_forward_mode_match_the_modules():
    G.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x = G.randn(7, 3, dtype=G.float64)
    hf = G.func.hessian(lambda v: model(v).sum())(x).detach().numpy()
    hp = G.func.hessian(lambda v: unfused(model, v).sum())(x).detach().numpy()
    np.testing.assert_allclose(hf, hp, atol=1e-12)
    jf = G.func.jacfwd(lambda v: model(v))(x).detach().numpy()
    np.testing.assert_allclose(jf, G.func.jacrev(lambda v: unfused(model, v))(x).detach().numpy(), atol=1e-12)


def test_hooks_subclasses_and_tanh_gelu_are_not_fused():
    G.manual_seed(2)
    calls = []

    class MyLinear(nn.Linear):
        def forward(self, x):
            calls.append("sub")
            return super().forward(x) * 2

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), MyLinear(4, 4), nn.ReLU(), nn.Linear(4, 4),
                          nn.GELU(approximate="tanh"), nn.Linear(4, 2), nn.Sigmoid()).double()
    model[1].register_forward_hook(lambda m, args, out: calls.append("hook") or out * 3)
    model[7].register_forward_pre_hook(lambda m, args: calls.append("pre"))
    x = G.randn(5, 3, dtype=G.float64)
    out = model(x)
    np.testing.assert_array_equal(out.detach().numpy(), unfused(model, x).detach().numpy())
    assert calls == ["hook", "sub", "pre"] * 2
    names = node_names(model(x.requires_grad_()))
    assert "ReluBackward0" in names and "GeluBackward0" in names and "SigmoidBackward0" in names


def test_linear_with_its_own_activation_is_left_alone():
    model = nn.Sequential(nn.Linear(3, 3, activation="tanh"), nn.ReLU())
    x = G.randn(4, 3)
    expected = G.relu(G.tanh(x @ model[0].weight.T + model[0].bias))
    np.testing.assert_allclose(model(x).detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    assert node_names(model(x)).count("ReluBackward0") == 1
