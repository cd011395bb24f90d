"""gpuad.nn.functional against PyTorch in float64: every activation and loss (each reduction, weights, ignore_index,
label smoothing, probability targets, N-d inputs), forward values and gradients to 1e-10, from tables."""
import numpy as np
import pytest

import gpuad as G
from gpuad.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def pair(array, requires_grad=True, dtype=np.float64):
    """The same values as a gpuad and a torch tensor."""
    a = np.asarray(array, dtype=dtype)
    g = G.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
    t = torch.tensor(a, requires_grad=requires_grad and a.dtype.kind == "f")
    return g, t


def assert_close(ours, theirs, tol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def compare(ours_fn, theirs_fn, arrays, rng, tol=1e-10, grad=True):
    """Run both functions on the same inputs; compare outputs and the gradients of a random projection of them."""
    ours_in, theirs_in = zip(*(pair(a) for a in arrays))
    out, ref = ours_fn(*ours_in), theirs_fn(*theirs_in)
    assert_close(out, ref, tol)
    if not grad:
        return
    w = rng.standard_normal(ref.shape)
    (out * G.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
        if b.grad is None:
            assert a.grad is None or not a.grad.numpy().any(), f"input {i}"
        else:
            assert_close(a.grad, b.grad, tol)


def away_from(x, points, margin=1e-3):
    """x moved off the kinks at ``points`` (finite differences and conventions differ there)."""
    x = np.array(x)
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + margin * 3
    return x


# --- activations -----------------------------------------------------------------------------------------------
ACTIVATIONS = [
    # (name, gpuad fn, torch fn, kinks)
    ("relu", F.relu, TF.relu, [0]),
    ("relu6", F.relu6, TF.relu6, [0, 6]),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, [0]),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), [0]),
    ("elu", F.elu, TF.elu, [0]),
    ("elu_alpha", lambda x: F.elu(x, alpha=0.7), lambda x: TF.elu(x, alpha=0.7), [0]),
    ("selu", F.selu, TF.selu, [0]),
    ("celu", lambda x: F.celu(x, 1.5), lambda x: TF.celu(x, 1.5), [0]),
    ("silu", F.silu, TF.silu, []),
    ("mish", F.mish, TF.mish, []),
    ("softplus", F.softplus, TF.softplus, []),
    ("softplus_beta", lambda x: F.softplus(x, beta=2, threshold=3), lambda x: TF.softplus(x, beta=2, threshold=3),
     [1.5]),
    ("softsign", F.softsign, TF.softsign, [0]),
    ("hardtanh", F.hardtanh, TF.hardtanh, [-1, 1]),
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, [-3, 3]),
    ("hardswish", F.hardswish, TF.hardswish, [-3, 3]),
    ("hardtanh_range", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0), [-0.5, 2]),
    ("gelu", F.gelu, TF.gelu, []),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), []),
    ("tanh", F.tanh, torch.tanh, []),
    ("sigmoid", F.sigmoid, torch.sigmoid, []),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, []),
    ("tanhshrink", F.tanhshrink, TF.tanhshrink, []),
    ("hardshrink", F.hardshrink, TF.hardshrink, [-0.5, 0.5]),
    ("softshrink", F.softshrink, TF.softshrink, [-0.5, 0.5]),
    ("threshold", lambda x: F.threshold(x, 0.3, -2.0), lambda x: TF.threshold(x, 0.3, -2.0), [0.3]),
    ("softmax0", lambda x: F.softmax(x, dim=0), lambda x: TF.softmax(x, dim=0), []),
    ("softmax-1", lambda x: F.softmax(x, dim=-1), lambda x: TF.softmax(x, dim=-1), []),
    ("log_softmax1", lambda x: F.log_softmax(x, dim=1), lambda x: TF.log_softmax(x, dim=1), []),
    ("softmin", lambda x: F.softmin(x, dim=1), lambda x: TF.softmin(x, dim=1), []),
    ("glu", lambda x: F.glu(x, dim=1), lambda x: TF.glu(x, dim=1), []),
    ("rrelu_eval", F.rrelu, TF.rrelu, [0]),
]


@pytest.mark.parametrize("name,ours,theirs,kinks", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("scale", [1.0, 8.0])
def test_activation_matches_pytorch(name, ours, theirs, kinks, scale):
    rng = np.random.default_rng(0)
    x = away_from(rng.standard_normal((4, 6, 3)) * scale, kinks)
    # PyTorch's hardsigmoid backward multiplies by a float32 1/6 even in float64 (0.16666667163...); gpuad's is exact
    compare(ours, theirs, [x], rng, tol=1e-7 if name == "hardsigmoid" else 1e-10)


ELEMENTWISE = [a for a in ACTIVATIONS if not a[0].startswith(("glu", "softmax", "softmin", "log_softmax"))]


@pytest.mark.parametrize("name,ours,theirs,kinks", ELEMENTWISE, ids=[a[0] for a in ELEMENTWISE])
def test_activation_at_extremes_matches_pytorch(name, ours, theirs, kinks):
    x = np.array([-1e4, -50.0, -20.0, 20.0, 50.0, 1e4, -np.inf, np.inf])
    ours_in, theirs_in = pair(x, requires_grad=False)
    assert_close(ours(ours_in), theirs(theirs_in))


def test_prelu_matches_pytorch_per_channel_and_shared():
    rng = np.random.default_rng(1)
    x = away_from(rng.standard_normal((3, 4, 5)), [0])
    compare(F.prelu, TF.prelu, [x, rng.standard_normal(4)], rng)
    compare(F.prelu, TF.prelu, [x, np.array([0.3])], rng)
    with pytest.raises(ValueError, match="mismatch"):
        F.prelu(G.zeros(3, 4), G.zeros(3))


def test_second_order_of_activations_matches_pytorch():
    rng = np.random.default_rng(2)
    x = away_from(rng.standard_normal(7), [0])
    for name, ours, theirs, _ in ACTIVATIONS:
        if name.startswith(("softmax", "log_softmax", "softmin", "glu", "hard", "relu", "threshold", "rrelu",
                            "leaky", "softshrink")):
            continue
        a, b = pair(x)
        ga, = G.autograd.grad(ours(a).sum(), a, create_graph=True)
        gb, = torch.autograd.grad(theirs(b).sum(), b, create_graph=True)
        assert_close(G.autograd.grad(ga.sum(), a)[0], torch.autograd.grad(gb.sum(), b)[0], 1e-9)


def test_forward_mode_of_activations_matches_reverse():
    rng = np.random.default_rng(3)
    x = G.tensor(away_from(rng.standard_normal(5), [0]))
    for name, ours, _, _ in ACTIVATIONS:
        if name.startswith(("softmax", "log_softmax", "softmin", "glu")):
            continue
        fwd = G.func.jacfwd(ours)(x).numpy()
        rev = G.func.jacrev(ours)(x).numpy()
        np.testing.assert_allclose(fwd, rev, atol=1e-12, err_msg=name)


def test_inplace_activations_write_into_the_input():
    x = G.tensor([-1.0, 2.0])
    version = x._version_value
    assert F.relu(x, inplace=True) is x and x.tolist() == [0.0, 2.0] and x._version_value > version
    y = G.tensor([-1.0, 0.5])
    F.leaky_relu_(y, 0.1)
    np.testing.assert_allclose(y.numpy(), [-0.1, 0.5])


def test_softmax_without_dim_warns_and_picks_pytorchs_dim():
    x, t = pair(np.random.default_rng(4).standard_normal((2, 3)), requires_grad=False)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(x)
    assert_close(out, TF.softmax(t, dim=1))


# --- losses ----------------------------------------------------------------------------------------------------
REDUCTIONS = ["mean", "sum", "none"]


def _probs(rng, *shape):
    return rng.uniform(0.05, 0.95, shape)


_R = np.random.default_rng(99)
W3, P3 = _R.uniform(0.5, 2, 3), _R.uniform(0.5, 3, 3)  # class weights and pos_weight: constants (no gradient)
COUNTS = _R.integers(0, 5, (4, 3)).astype(float)  # Poisson targets: PyTorch's target gradient is NaN at 0


def const(lib, a):
    return lib.tensor(a)


LOSSES = [
    # (name, gpuad fn, torch fn, make inputs(rng) -> arrays, kwargs variants)
    ("mse", F.mse_loss, TF.mse_loss, lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3))], [{}]),
    ("l1", F.l1_loss, TF.l1_loss, lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3))], [{}]),
    ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss,
     lambda r: [r.standard_normal((5, 3)) * 2, r.standard_normal((5, 3))], [{}, {"beta": 0.5}, {"beta": 0.0}]),
    ("huber", F.huber_loss, TF.huber_loss, lambda r: [r.standard_normal((5, 3)) * 2, r.standard_normal((5, 3))],
     [{}, {"delta": 0.3}]),
    ("bce", F.binary_cross_entropy, TF.binary_cross_entropy, lambda r: [_probs(r, 4, 3), _probs(r, 4, 3)], [{}]),
    ("bce_weight", lambda x, t, **k: F.binary_cross_entropy(x, t, weight=const(G, W3), **k),
     lambda x, t, **k: TF.binary_cross_entropy(x, t, weight=const(torch, W3), **k),
     lambda r: [_probs(r, 4, 3), _probs(r, 4, 3)], [{}]),
    ("bce_logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
     lambda r: [r.standard_normal((4, 3)) * 3, _probs(r, 4, 3)], [{}]),
    ("bce_logits_pos_weight",
     lambda x, t, **k: F.binary_cross_entropy_with_logits(x, t, const(G, W3), pos_weight=const(G, P3), **k),
     lambda x, t, **k: TF.binary_cross_entropy_with_logits(x, t, const(torch, W3), pos_weight=const(torch, P3), **k),
     lambda r: [r.standard_normal((4, 3)) * 3, _probs(r, 4, 3)], [{}]),
    ("kl_div", F.kl_div, TF.kl_div, lambda r: [np.log(_probs(r, 4, 3)), _probs(r, 4, 3)],
     [{}, {"log_target": True}]),
    ("cosine_embedding", lambda a, b, **k: F.cosine_embedding_loss(a, b, G.tensor([1, -1, 1, -1]), **k),
     lambda a, b, **k: TF.cosine_embedding_loss(a, b, torch.tensor([1, -1, 1, -1]), **k),
     lambda r: [r.standard_normal((4, 5)), r.standard_normal((4, 5))], [{}, {"margin": -0.2}]),
    ("margin_ranking", lambda a, b, **k: F.margin_ranking_loss(a, b, G.tensor([1.0, -1.0, 1.0, -1.0]), **k),
     lambda a, b, **k: TF.margin_ranking_loss(a, b, torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64), **k),
     lambda r: [r.standard_normal(4), r.standard_normal(4)], [{}, {"margin": 0.3}]),
    ("hinge_embedding", lambda a, **k: F.hinge_embedding_loss(a, G.tensor([1.0, -1.0, 1.0, -1.0]), **k),
     lambda a, **k: TF.hinge_embedding_loss(a, torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64), **k),
     lambda r: [r.standard_normal(4) * 0.7], [{}]),
    ("soft_margin", lambda a, **k: F.soft_margin_loss(a, G.tensor([1.0, -1.0, 1.0, -1.0]), **k),
     lambda a, **k: TF.soft_margin_loss(a, torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64), **k),
     lambda r: [r.standard_normal(4)], [{}]),
    ("multilabel_soft_margin", F.multilabel_soft_margin_loss, TF.multilabel_soft_margin_loss,
     lambda r: [r.standard_normal((4, 3)), (r.uniform(size=(4, 3)) > 0.5).astype(float)], [{}]),
    ("poisson_nll", lambda x, **k: F.poisson_nll_loss(x, const(G, COUNTS), **k),
     lambda x, **k: TF.poisson_nll_loss(x, const(torch, COUNTS), **k),
     lambda r: [r.standard_normal((4, 3))], [{}, {"full": True}]),
    ("poisson_nll_linear", lambda x, t, **k: F.poisson_nll_loss(x, t, log_input=False, **k),
     lambda x, t, **k: TF.poisson_nll_loss(x, t, log_input=False, **k),
     lambda r: [_probs(r, 4, 3) * 3, r.integers(1, 5, (4, 3)).astype(float)], [{}]),
    ("gaussian_nll", F.gaussian_nll_loss, TF.gaussian_nll_loss,
     lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)), _probs(r, 4, 3)], [{}, {"full": True}]),
    ("triplet_margin", F.triplet_margin_loss, TF.triplet_margin_loss,
     lambda r: [r.standard_normal((4, 5)), r.standard_normal((4, 5)), r.standard_normal((4, 5))],
     [{}, {"margin": 2.0, "p": 1}, {"swap": True}]),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,ours,theirs,make,variants", LOSSES, ids=[entry[0] for entry in LOSSES])
def test_loss_matches_pytorch(name, ours, theirs, make, variants, reduction):
    rng = np.random.default_rng(5)
    for kwargs in variants:
        compare(lambda *a: ours(*a, reduction=reduction, **kwargs), lambda *a: theirs(*a, reduction=reduction,
                                                                                     **kwargs), make(rng), rng)


def test_kl_div_batchmean_matches_pytorch():
    rng = np.random.default_rng(6)
    compare(lambda a, b: F.kl_div(a, b, reduction="batchmean"), lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
            [np.log(_probs(rng, 4, 3)), _probs(rng, 4, 3)], rng)


def test_bce_with_logits_at_huge_logits_matches_pytorch():
    x = np.array([-1e4, -100.0, 100.0, 1e4, np.inf, -np.inf])
    t = np.array([0.0, 1.0, 0.0, 0.5, 0.5, 0.5])
    for reduction in ("none", "sum"):
        a, b = pair(x)[0], pair(t, requires_grad=False)[0]
        out = F.binary_cross_entropy_with_logits(a, b, reduction=reduction)
        ref = TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), reduction=reduction)
        assert_close(out, ref)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5), (2, 4, 3, 2), (4,)], ids=str)
def test_nll_loss_matches_pytorch(shape, weighted, reduction):
    rng = np.random.default_rng(7)
    target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    target = rng.integers(0, shape[0 if len(shape) == 1 else 1], target_shape)
    if target.ndim:
        target.reshape(-1)[::3] = -100  # ignored entries
    weight = rng.uniform(0.5, 2.0, shape[0 if len(shape) == 1 else 1]) if weighted else None
    x = np.log(rng.uniform(0.05, 1, shape))
    kw = lambda lib: {"weight": None if weight is None else lib.tensor(weight), "reduction": reduction}  # noqa
    compare(lambda a: F.nll_loss(a, G.tensor(target), **kw(G)), lambda a: TF.nll_loss(a, torch.tensor(target),
                                                                                        **kw(torch)), [x], rng)


# --- cross-entropy ---------------------------------------------------------------------------------------------
CE_SHAPES = [(6, 5), (3, 5, 4), (2, 5, 3, 2), (5,)]


def _ce_case(rng, shape, target_kind, weighted):
    C = shape[0] if len(shape) == 1 else shape[1]
    logits = rng.standard_normal(shape) * 3
    if target_kind == "probs":
        p = rng.uniform(0, 1, shape)
        target = p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        target = rng.integers(0, C, () if len(shape) == 1 else (shape[0],) + shape[2:])
        if target_kind == "ignore" and target.ndim:
            target.reshape(-1)[1::3] = -100
    weight = rng.uniform(0.2, 2.0, C) if weighted else None
    return logits, target, weight


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("target_kind", ["index", "ignore", "probs"])
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
def test_cross_entropy_matches_pytorch(shape, target_kind, weighted, smoothing, reduction):
    rng = np.random.default_rng(abs(hash((shape, target_kind))) % 2**32)
    logits, target, weight = _ce_case(rng, shape, target_kind, weighted)

    def kw(lib):
        return {"weight": None if weight is None else lib.tensor(weight), "reduction": reduction,
                "label_smoothing": smoothing}
    compare(lambda a: F.cross_entropy(a, G.tensor(target), **kw(G)),
            lambda a: TF.cross_entropy(a, torch.tensor(target), **kw(torch)), [logits], rng)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradient_of_probability_targets_matches_pytorch(smoothing):
    rng = np.random.default_rng(8)
    logits, target, weight = _ce_case(rng, (4, 3, 2), "probs", True)
    compare(lambda a, q: F.cross_entropy(a, q, weight=G.tensor(weight), label_smoothing=smoothing),
            lambda a, q: TF.cross_entropy(a, q, weight=torch.tensor(weight), label_smoothing=smoothing),
            [logits, target], rng)


def test_cross_entropy_second_order_and_forward_mode_match_pytorch():
    rng = np.random.default_rng(9)
    logits, target, weight = _ce_case(rng, (5, 4), "ignore", True)
    a, b = pair(logits)
    kw = {"label_smoothing": 0.1}
    ga, = G.autograd.grad(F.cross_entropy(a, G.tensor(target), weight=G.tensor(weight), **kw), a, create_graph=True)
    gb, = torch.autograd.grad(TF.cross_entropy(b, torch.tensor(target), weight=torch.tensor(weight), **kw), b,
                              create_graph=True)
    v = rng.standard_normal(logits.shape)
    hv_a, = G.autograd.grad((ga * G.tensor(v)).sum(), a)
    hv_b, = torch.autograd.grad((gb * torch.tensor(v)).sum(), b)
    assert_close(hv_a, hv_b)
    f = lambda x: F.cross_entropy(x, G.tensor(target), weight=G.tensor(weight), reduction="none", **kw)  # noqa
    x = G.tensor(logits)
    np.testing.assert_allclose(G.func.jacfwd(f)(x).numpy(), G.func.jacrev(f)(x).numpy(), atol=1e-12)


def test_cross_entropy_is_one_node():
    x = G.randn(4, 3, dtype=G.float64, requires_grad=True)
    loss = F.cross_entropy(x, G.tensor([0, -100, 2, 1]), weight=G.ones(3, dtype=G.float64), label_smoothing=0.1)
    assert loss.grad_fn.name() == "CrossEntropyBackward0"
    assert loss.grad_fn.next_functions[0][0].name() == "AccumulateGrad"


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_all_ignored_mean_is_nan_with_zero_gradient_like_pytorch(smoothing):
    x, t = pair(np.zeros((2, 3)))
    ours = F.cross_entropy(x, G.tensor([-100, -100]), label_smoothing=smoothing)
    theirs = TF.cross_entropy(t, torch.tensor([-100, -100]), label_smoothing=smoothing)
    assert np.isnan(ours.item()) and torch.isnan(theirs)
    ours.backward(), theirs.backward()
    assert_close(x.grad, t.grad)
    y = G.tensor(np.zeros((2, 3)))
    hessian = G.func.hessian(lambda v: F.cross_entropy(v, G.tensor([-100, -100]), label_smoothing=smoothing))(y)
    assert not hessian.numpy().any()


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: F.cross_entropy(G.zeros(3, 0), G.zeros(3, dtype=G.int64)), ValueError, "0 classes"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.zeros(2, dtype=G.int64)), ValueError, "does not match"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.zeros(3, dtype=G.int64), weight=G.ones(3)), ValueError, "4 values"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.zeros(3, dtype=G.int64), label_smoothing=1.5), ValueError,
     "label_smoothing"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.zeros(3, dtype=G.int64), reduction="avg"), ValueError, "reduction"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.zeros(3, dtype=G.bool)), TypeError, "class indices"),
    (lambda: F.cross_entropy(G.zeros(3, 4), G.tensor([0, 7, 1]), weight=G.ones(4)), IndexError,
     r"target 7 is out of bounds: class indices must be in \[0, 4\)"),
    (lambda: F.cross_entropy(G.zeros(2, 4, 3), G.tensor([[0, -3, 1], [1, 1, 1]])), IndexError, "target -3"),
], ids=["no-classes", "target-shape", "weight-size", "smoothing", "reduction", "bool-target", "weighted-bad-class",
        "nd-bad-class"])
def test_cross_entropy_errors_name_the_problem(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# --- other functions -------------------------------------------------------------------------------------------
def test_one_hot_matches_pytorch():
    idx = np.array([[0, 3], [2, 1]])
    assert_close(F.one_hot(G.tensor(idx)), TF.one_hot(torch.tensor(idx)))
    assert_close(F.one_hot(G.tensor(idx), 6), TF.one_hot(torch.tensor(idx), 6))
    assert F.one_hot(G.tensor(idx)).dtype == G.int64
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(G.tensor(idx), 3)


@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0, "dim": 0}, {"dim": -1, "eps": 0.5}])
def test_normalize_matches_pytorch(kwargs):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 3))
    x[1] = 0  # a zero row: the eps clamp
    compare(lambda a: F.normalize(a, **kwargs), lambda a: TF.normalize(a, **kwargs), [x], rng)


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cosine_similarity_and_pairwise_distance_match_pytorch(dim):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    a[2] = 1e-10  # near zero: the eps clamp (recorded as PyTorch records it)
    compare(lambda x, y: F.cosine_similarity(x, y, dim=dim), lambda x, y: TF.cosine_similarity(x, y, dim=dim),
            [a, b], rng)
    compare(F.pairwise_distance, TF.pairwise_distance, [a, b], rng)
    compare(lambda x, y: F.pairwise_distance(x, y, p=1, keepdim=True),
            lambda x, y: TF.pairwise_distance(x, y, p=1, keepdim=True), [a, b], rng)


@pytest.mark.parametrize("padding,value", [((1, 2), 0.0), ((0, 1, 2, 0), 1.5), ((1, 1, 1, 1, 1, 1), -1.0),
                                           ((-1, 2), 0.0), ((1, -2, -1, 0), 3.0)], ids=str)
def test_pad_constant_matches_pytorch(padding, value):
    rng = np.random.default_rng(12)
    compare(lambda a: F.pad(a, padding, value=value), lambda a: TF.pad(a, padding, value=value),
            [rng.standard_normal((2, 3, 4))], rng)


def test_pad_other_modes_raise_clearly():
    with pytest.raises(NotImplementedError, match="mode='reflect' is not supported"):
        F.pad(G.zeros(1, 2, 3), (1, 1), mode="reflect")


def test_layer_norm_function_matches_pytorch():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 4, 5))
    compare(lambda a, w, b: F.layer_norm(a, (4, 5), w, b), lambda a, w, b: TF.layer_norm(a, (4, 5), w, b),
            [x, rng.standard_normal((4, 5)), rng.standard_normal((4, 5))], rng)
    compare(lambda a: F.layer_norm(a, [5], eps=0.1), lambda a: TF.layer_norm(a, [5], eps=0.1), [x], rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_function_matches_pytorch(training):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 3, 4))
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    ours_stats = [G.tensor(rm), G.tensor(rv)]
    theirs_stats = [torch.tensor(rm), torch.tensor(rv)]
    compare(lambda a, w, b: F.batch_norm(a, *ours_stats, w, b, training=training, momentum=0.3),
            lambda a, w, b: TF.batch_norm(a, *theirs_stats, w, b, training=training, momentum=0.3),
            [x, rng.standard_normal(3), rng.standard_normal(3)], rng)
    for ours, theirs in zip(ours_stats, theirs_stats):
        assert_close(ours, theirs)


def test_group_norm_function_matches_pytorch():
    rng = np.random.default_rng(15)
    compare(lambda a, w, b: F.group_norm(a, 2, w, b), lambda a, w, b: TF.group_norm(a, 2, w, b),
            [rng.standard_normal((3, 4, 5)), rng.standard_normal(4), rng.standard_normal(4)], rng)


def test_embedding_function_matches_pytorch():
    rng = np.random.default_rng(16)
    idx = np.array([[0, 2, 4], [4, 1, 0]])
    w = rng.standard_normal((5, 3))
    compare(lambda a: F.embedding(G.tensor(idx), a), lambda a: TF.embedding(torch.tensor(idx), a), [w], rng)
    compare(lambda a: F.embedding(G.tensor(idx), a, padding_idx=4),
            lambda a: TF.embedding(torch.tensor(idx), a, padding_idx=4), [w], rng)
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(G.tensor([5]), G.tensor(w))


def test_embedding_max_norm_renormalises_rows_like_pytorch():
    rng = np.random.default_rng(17)
    w = rng.standard_normal((5, 3)) * 3
    idx = np.array([1, 3, 3])
    ours, theirs = G.tensor(w), torch.tensor(w)
    out = F.embedding(G.tensor(idx), ours, max_norm=1.0)
    ref = TF.embedding(torch.tensor(idx), theirs, max_norm=1.0)
    assert_close(out, ref, 1e-7)
    assert_close(ours, theirs, 1e-7)  # the referenced rows were changed in place, the others not


def test_dropout_functions_follow_pytorchs_rules():
    x = G.ones(1000, 8, 4, dtype=G.float64)
    assert F.dropout(x, 0.3, training=False) is x
    assert not F.dropout(x, 1.0).numpy().any()
    G.manual_seed(0)
    channels = F.dropout2d(G.ones(10, 50, 3, 3), 0.4).numpy()
    per_channel = channels.reshape(10, 50, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))  # whole channels kept or dropped
    assert abs((per_channel[..., 0] == 0).mean() - 0.4) < 0.08
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)
    G.manual_seed(1)
    a = F.alpha_dropout(G.randn(200_000, dtype=G.float64), 0.2, training=True).numpy()
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1) < 0.02  # SELU's self-normalisation kept
