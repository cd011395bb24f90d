"""gpuad.nn.init (gains, fans, the distributions' statistics and shapes, deterministic initialisers) and gpuad.nn.utils
(gradient clipping, parameter vectors) against PyTorch."""
import math

import numpy as np
import pytest

import gpuad as G
from gpuad import nn
from gpuad.nn import init

torch = pytest.importorskip("torch")
tinit = torch.nn.init

N = 400_000  # samples for the statistics: standard errors ~ 1/sqrt(N) = 0.0016 relative


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                                ("tanh", None), ("relu", None), ("leaky_relu", None),
                                                ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_is_pytorchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(tinit.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15)


def test_calculate_gain_rejects_unknown_nonlinearity():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3), (4, 3, 2, 5)], ids=str)
def test_fan_in_and_fan_out_are_pytorchs(shape):
    assert init._calculate_fan_in_and_fan_out(G.zeros(*shape)) == tinit._calculate_fan_in_and_fan_out(
        torch.zeros(*shape))


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(G.zeros(5))


def _stats(t):
    a = t.numpy().reshape(-1)
    return a.min(), a.max(), a.mean(), a.std()


UNIFORM = [
    # (name, call, expected bound)
    ("uniform", lambda t: init.uniform_(t, -0.3, 0.7), None),
    ("xavier_uniform", lambda t: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(6.0 / (400 + 1000))),
    ("kaiming_uniform", lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), math.sqrt(6 / (1 + 5)) / math.sqrt(400)),
    ("kaiming_uniform_fan_out_relu", lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
     math.sqrt(2.0) * math.sqrt(3.0 / 1000)),
]


@pytest.mark.parametrize("name,call,bound", UNIFORM, ids=[u[0] for u in UNIFORM])
def test_uniform_initialisers_have_the_right_range_and_moments(name, call, bound):
    G.manual_seed(0)
    t = G.empty(1000, 400, dtype=G.float64)
    version = t._version_value
    assert call(t) is t and t.shape == (1000, 400) and t._version_value > version
    lo, hi = (-0.3, 0.7) if bound is None else (-bound, bound)
    mn, mx, mean, std = _stats(t)
    assert lo <= mn < lo + (hi - lo) * 1e-3 and hi - (hi - lo) * 1e-3 < mx <= hi
    assert mean == pytest.approx((lo + hi) / 2, abs=(hi - lo) * 2e-3)
    assert std == pytest.approx((hi - lo) / math.sqrt(12), rel=5e-3)


NORMAL = [
    ("normal", lambda t: init.normal_(t, 0.5, 2.0), 0.5, 2.0),
    ("xavier_normal", lambda t: init.xavier_normal_(t), 0.0, math.sqrt(2.0 / 1400)),
    ("kaiming_normal", lambda t: init.kaiming_normal_(t, nonlinearity="relu"), 0.0, math.sqrt(2.0 / 400)),
    ("kaiming_normal_leaky", lambda t: init.kaiming_normal_(t, a=0.1, mode="fan_out"), 0.0,
     math.sqrt(2.0 / (1 + 0.01)) / math.sqrt(1000)),
]


@pytest.mark.parametrize("name,call,mean,std", NORMAL, ids=[n[0] for n in NORMAL])
def test_normal_initialisers_have_the_right_moments(name, call, mean, std):
    G.manual_seed(1)
    t = call(G.empty(1000, 400, dtype=G.float64))
    _, _, m, s = _stats(t)
    assert m == pytest.approx(mean, abs=std * 6e-3) and s == pytest.approx(std, rel=5e-3)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (1.0, 0.5, 0.5, 3.0), (0.0, 0.02, -0.04, 0.04)])
def test_trunc_normal_matches_the_truncated_distribution(mean, std, a, b):
    from math import erf, exp, pi, sqrt
    G.manual_seed(2)
    t = init.trunc_normal_(G.empty(N, dtype=G.float64), mean, std, a, b).numpy()
    assert t.min() >= a and t.max() <= b
    alpha, beta = (a - mean) / std, (b - mean) / std
    phi = lambda x: exp(-x * x / 2) / sqrt(2 * pi)  # noqa: E731
    Z = (erf(beta / sqrt(2)) - erf(alpha / sqrt(2))) / 2
    expected_mean = mean + (phi(alpha) - phi(beta)) / Z * std
    expected_var = std ** 2 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z) ** 2)
    assert t.mean() == pytest.approx(expected_mean, abs=std * 6e-3)
    assert t.var() == pytest.approx(expected_var, rel=1e-2)


@pytest.mark.parametrize("shape,gain", [((6, 4), 1.0), ((3, 7), 2.0), ((4, 2, 3), 0.5)], ids=str)
def test_orthogonal_is_orthogonal_with_gain(shape, gain):
    G.manual_seed(3)
    t = init.orthogonal_(G.empty(*shape, dtype=G.float64), gain=gain).numpy().reshape(shape[0], -1)
    rows, cols = t.shape
    product = t @ t.T if rows <= cols else t.T @ t
    np.testing.assert_allclose(product, gain ** 2 * np.eye(min(rows, cols)), atol=1e-12)


@pytest.mark.parametrize("call", [lambda m, t: m.constant_(t, 0.25), lambda m, t: m.ones_(t), lambda m, t: m.zeros_(t),
                                  lambda m, t: m.eye_(t)], ids=["constant", "ones", "zeros", "eye"])
def test_deterministic_initialisers_equal_pytorchs(call):
    ours, theirs = G.empty(3, 5, dtype=G.float64), torch.empty(3, 5, dtype=torch.float64)
    np.testing.assert_array_equal(call(init, ours).numpy(), call(tinit, theirs).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((2, 2, 1, 3, 3), 1)], ids=str)
def test_dirac_equals_pytorchs(shape, groups):
    ours, theirs = G.empty(*shape, dtype=G.float64), torch.empty(*shape, dtype=torch.float64)
    np.testing.assert_array_equal(init.dirac_(ours, groups).numpy(), tinit.dirac_(theirs, groups).numpy())


def test_sparse_zeroes_the_fraction_of_each_column_like_pytorch():
    G.manual_seed(5)
    ours = init.sparse_(G.empty(20, 6, dtype=G.float64), sparsity=0.3, std=0.5).numpy()
    theirs = tinit.sparse_(torch.empty(20, 6, dtype=torch.float64), sparsity=0.3, std=0.5).numpy()
    np.testing.assert_array_equal((ours == 0).sum(axis=0), (theirs == 0).sum(axis=0))  # ceil(0.3 * 20) per column


def test_init_on_a_parameter_keeps_the_graph_rules():
    p = nn.Parameter(G.zeros(3, 2, dtype=G.float64))
    saved = (p * p).sum()  # p is saved for backward at version 0
    init.normal_(p)
    assert p.requires_grad and p.is_leaf
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        saved.backward()


def test_kaiming_on_an_empty_tensor_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(G.empty(0, 3))


def test_linear_default_init_is_pytorchs_distribution():
    G.manual_seed(4)
    layer = nn.Linear(400, 1000, dtype=G.float64)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) and the bias's U(-1/sqrt(in), 1/sqrt(in))
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > bound * 0.999 and np.abs(b).max() <= bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=5e-3)


# --- nn.utils ---------------------------------------------------------------------------------------------------
def _grads_pair(rng):
    shapes = [(4, 3), (3,), (2, 2, 2)]
    ours = [nn.Parameter(G.zeros(*s, dtype=G.float64)) for s in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(*s, dtype=torch.float64)) for s in shapes]
    for a, b in zip(ours, theirs):
        g = rng.standard_normal(a.shape) * 3
        a.grad, b.grad = G.tensor(g), torch.tensor(g)
    return ours, theirs


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    rng = np.random.default_rng(5)
    ours, theirs = _grads_pair(rng)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, G.Tensor) and total.item() == pytest.approx(ref.item(), rel=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite_and_empty_follow_pytorch():
    p = nn.Parameter(G.zeros(2))
    p.grad = G.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(G.zeros(2))], 1.0).item() == 0.0
    single = nn.Parameter(G.zeros(2, dtype=G.float64))
    single.grad = G.tensor([3.0, 4.0])
    assert nn.utils.clip_grad_norm_(single, 1.0).item() == pytest.approx(5.0)  # one tensor, not a list
    np.testing.assert_allclose(single.grad.numpy(), [0.6, 0.8], rtol=1e-6)


def test_clip_grad_value_matches_pytorch():
    rng = np.random.default_rng(6)
    ours, theirs = _grads_pair(rng)
    assert nn.utils.clip_grad_value_(ours, 1.5) is None
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_parameters_to_vector_and_back_match_pytorch():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)).double()
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    vec = nn.utils.parameters_to_vector(model.parameters())
    np.testing.assert_array_equal(vec.detach().numpy(),
                                  torch.nn.utils.parameters_to_vector(reference.parameters()).detach().numpy())
    vec.sum().backward()  # differentiable, as in PyTorch
    assert all(np.all(p.grad.numpy() == 1) for p in model.parameters())
    params = list(model.parameters())
    nn.utils.vector_to_parameters(G.arange(vec.numel(), dtype=G.float64), model.parameters())
    assert all(p is q for p, q in zip(model.parameters(), params))
    np.testing.assert_array_equal(model[0].weight.detach().numpy().reshape(-1), np.arange(12.0))
    with pytest.raises(TypeError, match="expected gpuad.Tensor"):
        nn.utils.vector_to_parameters(np.zeros(3), model.parameters())
