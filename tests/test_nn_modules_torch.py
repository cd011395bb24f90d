"""gpuad.nn modules against PyTorch: printing, state_dict keys, forward and gradients with the same weights (float64
to 1e-10), running statistics, containers, hooks, traversal, load_state_dict results and device/dtype moves."""
from collections import OrderedDict

import numpy as np
import pytest

import gpuad as G
from gpuad import nn

from conftest import requires_cuda

torch = pytest.importorskip("torch")
tnn = torch.nn


def to_gpuad_state(module):
    """A torch module's state_dict as gpuad tensors (the conversion a user does: same keys, same values)."""
    return OrderedDict((k, G.tensor(v.detach().numpy())) for k, v in module.state_dict().items())


def assert_close(ours, theirs, tol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(ours.detach().numpy(), theirs, rtol=tol, atol=tol)


def twins(make, *args, **kwargs):
    """The same module from both libraries, in float64, gpuad's loaded from torch's state_dict."""
    theirs = make(tnn, *args, **kwargs).double()
    ours = make(nn, *args, **kwargs).double()
    result = ours.load_state_dict(to_gpuad_state(theirs))
    assert result.missing_keys == [] and result.unexpected_keys == []
    return ours, theirs


def run_both(ours, theirs, x, rng, index_input=False):
    """Forward both on x, backward a random projection; compare outputs, input gradients and parameter gradients."""
    if index_input:
        xa, xb = G.tensor(x), torch.tensor(x)
    else:
        xa, xb = G.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xa), theirs(xb)
    assert out.shape == tuple(ref.shape)
    assert_close(out, ref)
    w = rng.standard_normal(tuple(ref.shape))
    (out * G.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    if not index_input:
        assert_close(xa.grad, xb.grad)
    ours_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is None:
            assert ours_params[name].grad is None or not ours_params[name].grad.numpy().any()
        else:
            assert_close(ours_params[name].grad, p.grad)


# --- printing: print(model) as PyTorch prints it -------------------------------------------------------------
REPRS = [
    lambda m: m.Linear(3, 4), lambda m: m.Linear(3, 4, bias=False), lambda m: m.ReLU(), lambda m: m.ReLU(inplace=True),
    lambda m: m.LeakyReLU(), lambda m: m.LeakyReLU(0.2, inplace=True), lambda m: m.ELU(), lambda m: m.ELU(0.5),
    lambda m: m.SELU(), lambda m: m.CELU(), lambda m: m.SiLU(), lambda m: m.Mish(), lambda m: m.Softplus(),
    lambda m: m.Softplus(beta=2, threshold=5), lambda m: m.Softmax(dim=1), lambda m: m.Softmax(),
    lambda m: m.LogSoftmax(-1),
    lambda m: m.Softmin(0), lambda m: m.Hardtanh(), lambda m: m.Hardtanh(-2.0, 2.0), lambda m: m.ReLU6(),
    lambda m: m.PReLU(), lambda m: m.PReLU(3), lambda m: m.GELU(), lambda m: m.GELU(approximate="tanh"),
    lambda m: m.Tanh(), lambda m: m.Sigmoid(), lambda m: m.LogSigmoid(), lambda m: m.Softsign(),
    lambda m: m.Tanhshrink(), lambda m: m.Threshold(0.1, 20), lambda m: m.Hardshrink(), lambda m: m.Softshrink(0.3),
    lambda m: m.GLU(), lambda m: m.RReLU(), lambda m: m.Hardswish(), lambda m: m.Hardsigmoid(inplace=True),
    lambda m: m.Identity(), lambda m: m.Flatten(), lambda m: m.Flatten(0, 2),
    lambda m: m.Unflatten(1, (2, 3)), lambda m: m.Dropout(), lambda m: m.Dropout(0.2, inplace=True),
    lambda m: m.Dropout1d(0.1), lambda m: m.Dropout2d(), lambda m: m.AlphaDropout(0.3),
    lambda m: m.LayerNorm(5), lambda m: m.LayerNorm((2, 3), eps=1e-3, elementwise_affine=False),
    lambda m: m.BatchNorm1d(4), lambda m: m.BatchNorm1d(4, momentum=None, affine=False),
    lambda m: m.BatchNorm2d(3, track_running_stats=False), lambda m: m.GroupNorm(2, 4),
    lambda m: m.Embedding(10, 3), lambda m: m.Embedding(10, 3, padding_idx=0, max_norm=1.0),
    lambda m: m.MSELoss(), lambda m: m.CrossEntropyLoss(label_smoothing=0.1), lambda m: m.BCEWithLogitsLoss(),
    lambda m: m.Sequential(m.Linear(2, 3), m.ReLU(), m.Sequential(m.Linear(3, 3), m.Tanh()), m.Linear(3, 1)),
    lambda m: m.Sequential(OrderedDict([("fc", m.Linear(2, 2)), ("act", m.ReLU())])),
    lambda m: m.ModuleList([m.Linear(2, 2) for _ in range(3)] + [m.ReLU(), m.ReLU(), m.Tanh()]),
    lambda m: m.ModuleDict({"a": m.Linear(1, 2), "b": m.ModuleList([m.ReLU()])}),
    lambda m: m.ModuleList(), lambda m: m.Sequential(),
]


@pytest.mark.parametrize("make", REPRS, ids=range(len(REPRS)))
def test_repr_is_pytorchs(make):
    assert repr(make(nn)) == repr(make(tnn))


def test_repr_of_a_custom_module_with_extra_repr():
    def build(m):
        class Net(m.Module):
            def __init__(self):
                super().__init__()
                self.body = m.Sequential(m.Linear(4, 8), m.GELU())
                self.head = m.Linear(8, 2)
                self.register_buffer("scale", (G if m is nn else torch).ones(2))

            def extra_repr(self):
                return "custom=1\nsecond line"
        return Net()
    assert repr(build(nn)) == repr(build(tnn))


# --- layers: same weights, same numbers -------------------------------------------------------------------------
LAYERS = [
    # (id, constructor, input shape)
    ("linear", lambda m: m.Linear(5, 3), (4, 5)),
    ("linear_3d", lambda m: m.Linear(5, 3, bias=False), (2, 4, 5)),
    ("layernorm", lambda m: m.LayerNorm(5), (4, 5)),
    ("layernorm_2d", lambda m: m.LayerNorm((3, 5), eps=1e-3), (2, 3, 5)),
    ("layernorm_noaffine", lambda m: m.LayerNorm(5, elementwise_affine=False), (4, 5)),
    ("layernorm_nobias", lambda m: m.LayerNorm(5, bias=False), (4, 5)),
    ("groupnorm", lambda m: m.GroupNorm(2, 4), (3, 4, 5)),
    ("prelu", lambda m: m.PReLU(4), (3, 4, 2)),
    ("flatten", lambda m: m.Flatten(), (2, 3, 4)),
    ("unflatten", lambda m: m.Unflatten(1, (2, 6)), (3, 12)),
    ("dropout_eval", lambda m: m.Dropout(0.5).eval(), (3, 4)),
    ("softmax", lambda m: m.Softmax(dim=1), (3, 4)),
    ("mlp", lambda m: m.Sequential(m.Linear(4, 6), m.ReLU(), m.Linear(6, 6), m.Tanh(), m.Linear(6, 6), m.Sigmoid(),
                                   m.Linear(6, 6), m.GELU(), m.Linear(6, 2)), (5, 4)),
    ("mixed", lambda m: m.Sequential(m.Linear(4, 6), m.LeakyReLU(0.1), m.LayerNorm(6), m.Linear(6, 6), m.ELU(),
                                     m.Linear(6, 6), m.SiLU(), m.Linear(6, 3), m.LogSoftmax(dim=1)), (5, 4)),
]


@pytest.mark.parametrize("name,make,shape", LAYERS, ids=[entry[0] for entry in LAYERS])
def test_layer_matches_pytorch(name, make, shape):
    rng = np.random.default_rng(0)
    ours, theirs = twins(make)
    for p in ours.parameters():  # make affine parameters non-trivial
        with G.no_grad():
            p.add_(G.tensor(rng.standard_normal(p.shape) * 0.1))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    x = rng.standard_normal(shape)
    x[x == 0] = 0.1
    run_both(ours, theirs, x, rng)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("kind,shape", [("1d", (8, 3)), ("1d", (6, 3, 5)), ("2d", (4, 3, 2, 2))], ids=str)
def test_batchnorm_running_statistics_and_eval_match_pytorch(kind, shape, momentum):
    rng = np.random.default_rng(1)
    make = (lambda m: m.BatchNorm1d(3, momentum=momentum)) if kind == "1d" else \
        (lambda m: m.BatchNorm2d(3, momentum=momentum))
    ours, theirs = twins(make)
    for step in range(3):
        run_both(ours, theirs, rng.standard_normal(shape) * 2 + step, rng)
        ours.zero_grad()
        theirs.zero_grad()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), atol=1e-12, err_msg=key)
    assert ours.num_batches_tracked.item() == 3 and ours.num_batches_tracked.dtype == G.int64
    ours.eval(), theirs.eval()
    run_both(ours, theirs, rng.standard_normal(shape), rng)


def test_batchnorm_without_running_stats_and_errors_match_pytorch():
    rng = np.random.default_rng(2)
    ours, theirs = twins(lambda m: m.BatchNorm1d(3, track_running_stats=False, affine=False))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    ours.eval(), theirs.eval()  # without running statistics, eval still uses the batch's
    run_both(ours, theirs, rng.standard_normal((5, 3)), rng)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(G.randn(1, 3))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(G.randn(2, 3, 4, 5))


def test_embedding_matches_pytorch_with_padding_idx():
    rng = np.random.default_rng(3)
    ours, theirs = twins(lambda m: m.Embedding(7, 4, padding_idx=2))
    assert not ours.weight.detach().numpy()[2].any()  # the padding row starts at zero
    with G.no_grad():
        ours.weight.add_(G.tensor(rng.standard_normal((7, 4))))
    theirs.load_state_dict({"weight": torch.tensor(ours.weight.detach().numpy())})
    idx = np.array([[0, 2, 6], [2, 2, 1]])
    run_both(ours, theirs, idx, rng, index_input=True)
    assert not ours.weight.grad.numpy()[2].any()
    pretrained = nn.Embedding.from_pretrained(G.tensor(rng.standard_normal((3, 2))))
    assert not pretrained.weight.requires_grad and repr(pretrained) == "Embedding(3, 2)"


LOSS_MODULES = [
    ("mse", lambda m: m.MSELoss(), "regression"), ("l1_sum", lambda m: m.L1Loss(reduction="sum"), "regression"),
    ("smooth_l1", lambda m: m.SmoothL1Loss(beta=0.5), "regression"), ("huber", lambda m: m.HuberLoss(delta=0.7),
                                                                      "regression"),
    ("ce", lambda m: m.CrossEntropyLoss(), "classes"), ("ce_none", lambda m: m.CrossEntropyLoss(reduction="none"),
                                                       "classes"),
    ("ce_smooth_ignore", lambda m: m.CrossEntropyLoss(ignore_index=1, label_smoothing=0.2), "classes"),
    ("ce_weight", lambda m: m.CrossEntropyLoss(weight=(G if m is nn else torch).tensor([1.0, 2.0, 0.5]).double()),
     "classes"),
    ("nll", lambda m: m.NLLLoss(), "log_classes"), ("bce", lambda m: m.BCELoss(), "probabilities"),
    ("bce_logits", lambda m: m.BCEWithLogitsLoss(pos_weight=(G if m is nn else torch).tensor([2.0]).double()),
     "binary"),
    ("kldiv", lambda m: m.KLDivLoss(reduction="batchmean"), "distributions"),
    ("legacy_size_average", lambda m: m.MSELoss(size_average=False), "regression"),
]


def _loss_inputs(kind, rng):
    if kind == "regression":
        return rng.standard_normal((6, 3)), rng.standard_normal((6, 3)), True
    if kind in ("classes", "log_classes"):
        x = rng.standard_normal((6, 3))
        return (np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True)) if kind == "log_classes" else x,
                rng.integers(0, 3, 6), False)
    if kind == "probabilities":
        return rng.uniform(0.05, 0.95, (6, 1)), rng.uniform(0, 1, (6, 1)), True
    if kind == "binary":
        return rng.standard_normal((6, 1)), (rng.uniform(size=(6, 1)) > 0.5).astype(float), True
    p = rng.uniform(0.1, 1, (6, 3))
    return np.log(p / p.sum(1, keepdims=True)), rng.dirichlet(np.ones(3), 6), True


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,make,kind", LOSS_MODULES, ids=[entry[0] for entry in LOSS_MODULES])
def test_loss_module_matches_pytorch(name, make, kind):
    rng = np.random.default_rng(4)
    x, target, float_target = _loss_inputs(kind, rng)
    ours, theirs = make(nn), make(tnn)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weight / pos_weight are buffers in both
    assert repr(ours) == repr(theirs)
    xa, xb = G.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(xa, G.tensor(target)), theirs(xb, torch.tensor(target))
    assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    assert_close(xa.grad, xb.grad)


# --- containers -------------------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing_follow_pytorch():
    def build(m):
        return m.Sequential(OrderedDict([("a", m.Linear(2, 3)), ("b", m.ReLU()), ("c", m.Linear(3, 1))]))
    ours, theirs = build(nn), build(tnn)
    assert isinstance(ours[:-1], nn.Sequential) and repr(ours[:-1]) == repr(theirs[:-1])
    assert repr(ours[1:]) == repr(theirs[1:]) and repr(ours[-1]) == repr(theirs[-1])
    assert [n for n, _ in ours.named_children()] == ["a", "b", "c"]
    ours, theirs = nn.Sequential(*ours), tnn.Sequential(*theirs)  # numbered keys, for insert
    ours.append(nn.Tanh()), theirs.append(tnn.Tanh())
    ours.insert(1, nn.Identity()), theirs.insert(1, tnn.Identity())
    del ours[0], theirs[0]
    assert repr(ours) == repr(theirs) and len(ours) == len(theirs) == 4
    ours[0], theirs[0] = nn.Sigmoid(), tnn.Sigmoid()
    assert isinstance(ours[0], nn.Sigmoid) and repr(ours) == repr(theirs)
    with pytest.raises(IndexError):
        ours[7]
    assert repr(ours + nn.Sequential(nn.ReLU())) == repr(theirs + tnn.Sequential(tnn.ReLU()))


def test_module_list_and_dict_follow_pytorch():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    layers.append(nn.Linear(2, 1))
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Identity", "Linear", "ReLU", "Linear", "Tanh"]
    assert len(list(layers.parameters())) == 4 and isinstance(layers[1:3], nn.ModuleList)
    with pytest.raises(NotImplementedError):
        layers(G.zeros(1))
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3)})
    heads["reg"] = nn.Linear(4, 1)
    assert list(heads.keys()) == ["cls", "reg"] and "reg" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()] == ["cls.weight", "cls.bias", "reg.weight", "reg.bias"]
    params = nn.ParameterList([nn.Parameter(G.ones(2)), G.zeros(3)])
    assert [n for n, _ in params.named_parameters()] == ["0", "1"] and isinstance(params[1], nn.Parameter)


# --- module behaviour -------------------------------------------------------------------------------------------
class _Net:
    """The same small network in both libraries: containers, a buffer (persistent and not), shared structure."""

    @staticmethod
    def build(m, lib):
        class Net(m.Module):
            def __init__(self):
                super().__init__()
                self.encoder = m.Sequential(m.Linear(4, 8), m.ReLU(), m.BatchNorm1d(8))
                self.blocks = m.ModuleList([m.Linear(8, 8), m.LayerNorm(8)])
                self.heads = m.ModuleDict({"out": m.Linear(8, 3)})
                self.register_buffer("step", lib.zeros(1))
                self.register_buffer("cache", lib.zeros(2), persistent=False)
                self.scale = m.Parameter(lib.ones(1))

            def forward(self, x):
                h = self.encoder(x)
                for block in self.blocks:
                    h = block(h)
                return self.heads["out"](h) * self.scale
        return Net()


def test_state_dict_keys_traversal_and_buffers_are_pytorchs():
    ours, theirs = _Net.build(nn, G), _Net.build(tnn, torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert "cache" not in ours.state_dict() and ours.cache.shape == (2,)
    seen_ours, seen_theirs = [], []
    ours.apply(lambda m: seen_ours.append(type(m).__name__))
    theirs.apply(lambda m: seen_theirs.append(type(m).__name__))
    assert seen_ours == seen_theirs
    assert ours.get_submodule("encoder.2") is ours.encoder[2]
    assert ours.get_parameter("heads.out.bias") is ours.heads["out"].bias


def test_a_pytorch_state_dict_loads_and_gives_the_same_outputs():
    rng = np.random.default_rng(5)
    ours, theirs = _Net.build(nn, G).double(), _Net.build(tnn, torch).double()
    theirs.train()
    theirs(torch.tensor(rng.standard_normal((6, 4))))  # running statistics that are not the defaults
    result = ours.load_state_dict(to_gpuad_state(theirs))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    ours.eval(), theirs.eval()
    x = rng.standard_normal((5, 4))
    assert_close(ours(G.tensor(x)), theirs(torch.tensor(x)))


def test_load_state_dict_assign_uses_the_given_memory():
    model = nn.Linear(3, 2)
    state = {"weight": G.ones(2, 3), "bias": G.zeros(2)}
    model.load_state_dict(state, assign=True)
    with G.no_grad():
        state["weight"].add_(1)
    np.testing.assert_array_equal(model.weight.detach().numpy(), np.full((2, 3), 2.0))
    assert model.weight.requires_grad


def test_load_state_dict_strict_and_non_strict_report_keys_like_pytorch():
    ours, theirs = _Net.build(nn, G), _Net.build(tnn, torch)
    state_ours, state_theirs = to_gpuad_state(theirs), theirs.state_dict()
    for state in (state_ours, state_theirs):
        del state["blocks.0.bias"]
        state["extra.weight"] = state["scale"]
    result_ours = ours.load_state_dict(state_ours, strict=False)
    result_theirs = theirs.load_state_dict(state_theirs, strict=False)
    assert result_ours.missing_keys == result_theirs.missing_keys == ["blocks.0.bias"]
    assert result_ours.unexpected_keys == result_theirs.unexpected_keys == ["extra.weight"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "blocks.0.bias"'):
        ours.load_state_dict(state_ours)


def _mlp_pair():
    """A Linear-Tanh-Linear model in both libraries with the same float64 weights."""
    theirs = tnn.Sequential(tnn.Linear(3, 4), tnn.Tanh(), tnn.Linear(4, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    ours.load_state_dict(to_gpuad_state(theirs))
    return ours, theirs


def test_forward_hooks_match_pytorch():
    x = np.random.default_rng(7).standard_normal((2, 3))
    results = []
    for model, lib in zip(_mlp_pair(), (G, torch)):
        seen = []
        pre = model[0].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        post = model[2].register_forward_hook(lambda mod, args, out: out + 1)
        model[1].register_forward_hook(lambda mod, args, out: seen.append(out.detach().numpy().copy()))
        model[2].register_forward_hook(lambda mod, args, kwargs, out: seen.append(len(kwargs)), with_kwargs=True)
        model[2].register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True)
        hooked = model(lib.tensor(x))
        pre.remove(), post.remove()
        results.append((hooked.detach().numpy(), model(lib.tensor(x)).detach().numpy(), seen))
    (a1, a2, seen_a), (b1, b2, seen_b) = results
    np.testing.assert_allclose(a1, b1, atol=1e-12)
    np.testing.assert_allclose(a2, b2, atol=1e-12)
    assert not np.allclose(a1, a2)  # the removed hooks no longer apply
    np.testing.assert_allclose(seen_a[0], seen_b[0], atol=1e-12)
    assert seen_a[1] == seen_b[1] == 0


def test_full_backward_hooks_see_pytorchs_gradients_and_can_replace_them():
    x = np.random.default_rng(6).standard_normal((5, 3))
    results = []
    for model, lib in zip(_mlp_pair(), (G, torch)):
        got = []

        def hook(mod, grad_input, grad_output, got=got):
            got.append(grad_input[0].detach().numpy().copy())
            got.append(grad_output[0].detach().numpy().copy())
            return (grad_input[0] * 3,)
        model[1].register_full_backward_hook(hook)
        model[2].register_full_backward_pre_hook(lambda mod, go, got=got: got.append(go[0].detach().numpy().copy()))
        model[0].register_full_backward_hook(lambda mod, gi, go, got=got: got.append(gi))  # no input requires grad
        xt = lib.tensor(x, requires_grad=False)
        model(xt).pow(2).sum().backward()
        results.append((model[0].weight.grad.detach().numpy(), got))
    (grad_a, got_a), (grad_b, got_b) = results
    np.testing.assert_allclose(grad_a, grad_b, atol=1e-12)  # the hook's replacement (x3) reached the first layer
    assert len(got_a) == len(got_b) == 4
    for a, b in zip(got_a[:3], got_b[:3]):
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert got_a[3] == got_b[3] == (None,)


def test_registration_rules_follow_pytorch():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
        m.weight = G.zeros(2, 2)
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", G.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("training", G.zeros(1))
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        m.missing
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"] and "bias" not in m.state_dict()
    with pytest.raises(AttributeError, match="before Module.__init__"):
        class Broken(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(G.zeros(1))
        Broken()
    with pytest.raises(TypeError, match="Parameter or None required"):
        m.register_parameter("w2", G.zeros(1))


def test_train_eval_zero_grad_requires_grad_follow_pytorch():
    model = _Net.build(nn, G)
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    model(G.randn(4, 4)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.numpy().any() for p, g in zip(model.parameters(), grads))
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.requires_grad_(False) is model and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="boolean"):
        model.train("yes")


def test_to_dtype_and_device_keep_parameter_objects_and_cast_only_floats():
    model = _Net.build(nn, G)
    params = list(model.parameters())
    assert model.double() is model and all(p.dtype == G.float64 for p in model.parameters())
    assert model.encoder[2].num_batches_tracked.dtype == G.int64  # integer buffers keep their dtype
    assert model.encoder[2].running_mean.dtype == G.float64
    model.to(G.float32)
    assert all(p is q and p.dtype == G.float32 for p, q in zip(model.parameters(), params))
    model.half().float()
    model.to("cpu").to(device="cpu", dtype=G.float64)
    assert all(p.device == G.device("cpu") and p.dtype == G.float64 for p in model.parameters())
    with pytest.raises(TypeError, match="floating point"):
        model.to(G.int64)


def test_cuda_accepts_an_index_like_tensor_cuda():
    from gpuad.nn.module import _device_of
    assert _device_of(1) == G.device("cuda:1") and _device_of("cuda") == G.device("cuda:0")
    with pytest.raises(ValueError, match="must be cuda device"):
        _device_of("cpu", cuda=True)
    if not G.cuda.is_available():
        with pytest.raises(Exception) as info:  # no GPU here: an error about CUDA, not a TypeError about the int
            nn.Linear(2, 2).cuda(1)
        assert not isinstance(info.value, TypeError)


@requires_cuda
@pytest.mark.parametrize("spec", [0, "cuda", "cuda:0"])
def test_module_cuda_with_an_int_or_string(spec):
    model = nn.Linear(3, 2).cuda(spec) if spec != "cuda" else nn.Linear(3, 2).cuda()
    assert model.weight.device == G.device("cuda:0")
    model.cuda(device=0)
    assert model(G.randn(4, 3, device="cuda")).device == G.device("cuda:0")


@pytest.mark.skipif(not G.cuda.is_available() or G.cuda.device_count() < 2 if hasattr(G.cuda, "device_count")
                    else True, reason="no CUDA GPU available")
def test_module_cuda_1_lands_on_the_second_gpu():
    model = nn.Linear(3, 2).cuda(1)
    assert model.weight.device == G.device("cuda:1") and model.bias.device == G.device("cuda:1")
