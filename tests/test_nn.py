"""gpuad.nn: module registration, modes, state dicts, the fused linear layer, losses and checkpointed MLPs."""
import math

import numpy as np
import pytest

import gpuad as G
from gpuad import activations, memory, nn
from gpuad.nn import functional as F

ACTIVATIONS = list(activations.NAMES)  # every record of the activation table
# what each computes unfused: its nn module (the identity has none)
UNFUSED = {a.name: getattr(nn, a.module)() if a.module else (lambda z: z) for a in activations.ACTIVATIONS.values()}


def t64(array, requires_grad=False):
    return G.tensor(np.asarray(array, dtype=np.float64), dtype=G.float64, requires_grad=requires_grad)


def grads(tensors):
    return [t.grad.numpy().copy() for t in tensors]


# --- registration ---------------------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(G.ones(3))
        self.inner = nn.Linear(3, 2)
        self.plain = G.zeros(3)  # a plain tensor is not a parameter


def test_parameters_are_registered_in_order_with_dotted_names():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [id(p) for p in block.parameters()] == [id(p) for _, p in block.named_parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in block.parameters())

    mlp = nn.MLP([4, 8, 8, 3])
    assert [n for n, _ in mlp.named_parameters()] == [f"layers.{i}.{k}" for i in range(3) for k in ("weight", "bias")]
    assert isinstance(mlp.layers[1], nn.Linear) and len(mlp.layers) == 3


def test_reassigning_and_sharing_parameters():
    block = Block()
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'scale'"):  # PyTorch's rule
        block.scale = G.ones(3)
    block.scale = None  # None keeps the name with no parameter
    assert [n for n, _ in block.named_parameters()] == ["inner.weight", "inner.bias"]
    del block.scale
    block.scale = G.ones(3)  # once deleted, a plain tensor is a plain attribute
    assert [n for n, _ in block.named_parameters()] == ["inner.weight", "inner.bias"]
    shared = nn.Linear(3, 3)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2  # a shared module's parameters are listed once
    assert len(list(nn.Linear(3, 2, bias=False).parameters())) == 1


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    model = nn.MLP([3, 4, 2])
    model(G.randn(5, 3)).sum().backward()
    before = [p.grad for p in model.parameters()]
    assert all(g is not None for g in before)
    model.zero_grad(set_to_none=set_to_none)
    for p, old in zip(model.parameters(), before):
        if set_to_none:
            assert p.grad is None
        else:  # zeroed in place, the same gradient tensor kept
            assert p.grad is old and not p.grad.numpy().any()


def test_zero_grad_defaults_to_none():
    model = nn.Linear(3, 2)
    model(G.randn(4, 3)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# --- train / eval and dropout -------------------------------------------------------------------------------------
def test_train_and_eval_propagate_to_every_submodule():
    model = nn.MLP([4, 8, 8, 2], dropout=0.5)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_dropout_is_the_identity_in_eval():
    drop = nn.Dropout(0.5).eval()
    x = G.randn(100, 10)
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_zeroes_about_p_and_scales_survivors(p):
    G.manual_seed(0)
    x = G.ones(200_000, dtype=G.float64, requires_grad=True)
    y = nn.Dropout(p)(x)
    out = y.detach().numpy()
    kept = out != 0
    assert abs((~kept).mean() - p) < 0.01
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-12)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out)  # gradient: the same mask and scale


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(p)


# --- state dicts -----------------------------------------------------------------------------------------------------
def test_state_dict_round_trip_copies_values_and_keeps_parameters():
    a, b = nn.MLP([4, 6, 3]), nn.MLP([4, 6, 3])
    state = a.state_dict()
    assert list(state) == [n for n, _ in a.named_parameters()]
    assert not any(v.requires_grad for v in state.values())
    params = list(b.parameters())
    b.load_state_dict(state)
    assert all(p is q for p, q in zip(params, b.parameters()))
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
    x = G.randn(5, 4)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    with G.no_grad():  # a copy, not shared memory
        next(b.parameters()).add_(1.0)
    assert not np.array_equal(next(a.parameters()).detach().numpy(), next(b.parameters()).detach().numpy())


def test_load_state_dict_accepts_numpy_arrays():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict({k: v.numpy().copy() for k, v in a.state_dict().items()})
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())


def _broken(kind):
    state = nn.MLP([4, 6, 3]).state_dict()
    if kind == "missing":
        del state["layers.1.bias"]
        return state, r"Missing key\(s\) in state_dict: \"layers\.1\.bias\""
    if kind == "unexpected":
        state["layers.9.weight"] = G.zeros(2)
        return state, r"Unexpected key\(s\) in state_dict: \"layers\.9\.weight\""
    state["layers.0.weight"] = G.zeros(6, 5)
    return state, r"size mismatch for layers\.0\.weight: .*shape \(6, 5\) from checkpoint.*current model is \(6, 4\)"


@pytest.mark.parametrize("kind", ["missing", "unexpected", "shape"])
def test_load_state_dict_errors_name_the_key(kind):
    model = nn.MLP([4, 6, 3])
    before = [p.detach().numpy().copy() for p in model.parameters()]
    state, pattern = _broken(kind)
    with pytest.raises(RuntimeError, match=pattern):
        model.load_state_dict(state)
    for p, old in zip(model.parameters(), before):  # nothing was copied
        np.testing.assert_array_equal(p.detach().numpy(), old)


@pytest.mark.parametrize("kind", ["missing", "unexpected"])
def test_load_state_dict_non_strict_ignores_missing_and_unexpected(kind):
    model = nn.MLP([4, 6, 3])
    state, _ = _broken(kind)
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model.layers[0].weight.detach().numpy(), state["layers.0.weight"].numpy())


def test_load_state_dict_non_strict_still_rejects_shape_mismatch():
    state, pattern = _broken("shape")
    with pytest.raises(RuntimeError, match=pattern):
        nn.MLP([4, 6, 3]).load_state_dict(state, strict=False)


# --- devices and dtypes -------------------------------------------------------------------------------------------
def test_to_cpu_and_dtype_keep_the_parameter_objects():
    model = nn.MLP([3, 5, 2])
    model(G.randn(4, 3)).sum().backward()
    params = list(model.parameters())
    assert model.to("cpu") is model and model.cpu() is model
    assert all(p is q for p, q in zip(params, model.parameters()))
    model.to(G.float64)
    assert all(p is q for p, q in zip(params, model.parameters()))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 and p.requires_grad for p in params)
    assert all(p.device.type == "cpu" for p in params)
    assert model(G.randn(4, 3, dtype=G.float64)).dtype == np.float64


# --- Linear ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_features,out_features", [(1, 3), (64, 32), (300, 7)])
def test_linear_init_within_pytorch_bound_and_shapes(in_features, out_features):
    layer = nn.Linear(in_features, out_features)
    bound = 1 / math.sqrt(in_features)
    for p in (layer.weight, layer.bias):
        values = p.detach().numpy()
        assert np.all(np.abs(values) <= bound)
        assert values.std() > 0.3 * bound  # spread over the interval, not clumped at zero
    assert layer.weight.shape == (out_features, in_features) and layer.bias.shape == (out_features,)
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(in_features, out_features)
    assert layer.weight.shape == tuple(ref.weight.shape) and layer.bias.shape == tuple(ref.bias.shape)


def test_linear_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        nn.Linear(3, 2, activation="softmax")


# --- the fused linear layer ---------------------------------------------------------------------------------------
def _linear_inputs(rng, batch=6, n_in=5, n_out=4, dtype=G.float64):
    def make(*shape):
        return G.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=True)
    return make(batch, n_in), make(n_out, n_in), make(n_out)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_linear_equals_unfused_in_value_and_gradient(activation, rng):
    x, w, b = _linear_inputs(rng)
    g = rng.standard_normal((6, 4))
    fused = F.linear(x, w, b, activation)
    fused.backward(t64(g))
    fused_grads = grads((x, w, b))
    for t in (x, w, b):
        t.grad = None
    unfused = UNFUSED[activation](x @ w.T + b)
    unfused.backward(t64(g))
    np.testing.assert_allclose(fused.detach().numpy(), unfused.detach().numpy(), rtol=1e-12, atol=1e-15)
    for got, want in zip(fused_grads, grads((x, w, b))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_linear_records_one_node(activation, rng):
    x, w, b = _linear_inputs(rng)
    y = F.linear(x, w, b, activation)
    assert y.grad_fn.name() == "LinearBackward0"
    assert [fn.name() for fn, _ in y.grad_fn.next_functions] == ["AccumulateGrad"] * 3


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_linear_without_bias_and_with_3d_input(activation, rng):
    x = G.tensor(rng.standard_normal((2, 3, 5)), dtype=G.float64, requires_grad=True)
    w = G.tensor(rng.standard_normal((4, 5)), dtype=G.float64, requires_grad=True)
    F.linear(x, w, None, activation).sum().backward()
    fused_grads = grads((x, w))
    x.grad = w.grad = None
    UNFUSED[activation](x @ w.T).sum().backward()
    for got, want in zip(fused_grads, grads((x, w))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _saved_bytes(activation, fused, rng, batch=64, n_in=32, n_out=16):
    x, w, b = _linear_inputs(rng, batch, n_in, n_out, dtype=G.float32)
    y = F.linear(x, w, b, activation) if fused else UNFUSED[activation](x @ w.T + b)
    return memory.saved_tensors_bytes(y)


def test_fused_linear_saves_no_more_than_unfused(rng):
    table = {a: (_saved_bytes(a, True, rng), _saved_bytes(a, False, rng)) for a in ACTIVATIONS}
    print("\nsaved bytes for backward, float32, x (64, 32) -> (64, 16), leaves excluded")
    print(f"{'activation':<10} {'fused':>7} {'unfused':>8}")
    for activation, (fused, unfused) in table.items():
        print(f"{str(activation):<10} {fused:>7} {unfused:>8}")
    for activation, (fused, unfused) in table.items():
        assert fused <= unfused, activation
    assert table["relu"][0] == 64 * 16  # the 1-byte mask
    assert table["relu"][0] < table["relu"][1]


@pytest.mark.parametrize("make,exc,pattern", [
    (lambda x, w, b: F.linear(x, w.T, b), ValueError, r"shape.*weight"),
    (lambda x, w, b: F.linear(x, w, G.zeros(3, dtype=G.float64)), ValueError, r"bias.*shape"),
    (lambda x, w, b: F.linear(x, w, b, "swish"), ValueError, r"activation.*swish"),
    (lambda x, w, b: F.linear(x, w.detach().float(), b), TypeError, r"dtype"),
    (lambda x, w, b: F.linear(x.detach().numpy(), w, b), TypeError, r"input must be a tensor"),
], ids=["input-vs-weight", "bias", "activation", "mixed-dtypes", "not-a-tensor"])
def test_linear_bad_input_errors_name_the_problem(make, exc, pattern, rng):
    with pytest.raises(exc, match=pattern):
        make(*_linear_inputs(rng))


# --- losses -----------------------------------------------------------------------------------------------------------
def _torch_loss(torch, name, logits, target, reduction):
    tf = torch.nn.functional
    if name == "cross_entropy":
        return tf.cross_entropy(logits, target, reduction=reduction)
    if name == "mse_loss":
        return tf.mse_loss(logits, target, reduction=reduction)
    return tf.binary_cross_entropy_with_logits(logits, target, reduction=reduction)


def _loss_case(name, rng, scale=1.0):
    logits = rng.standard_normal((7, 5)) * scale
    if name == "cross_entropy":
        target = rng.integers(0, 5, size=7)
    elif name == "mse_loss":
        target = rng.standard_normal((7, 5))
    else:
        target = rng.random((7, 5))
    return logits, target


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["normal", "huge"])
def test_losses_match_pytorch(name, reduction, scale, rng):
    torch = pytest.importorskip("torch")
    logits, target = _loss_case(name, rng, scale)
    x = t64(logits, requires_grad=True)
    tgt = G.tensor(target) if target.dtype.kind == "i" else t64(target)
    loss = getattr(F, name)(x, tgt, reduction=reduction)
    upstream = rng.standard_normal(loss.shape)
    loss.backward(t64(upstream))

    tx = torch.tensor(logits, requires_grad=True)
    ref = _torch_loss(torch, name, tx, torch.tensor(target), reduction)
    ref.backward(torch.tensor(upstream))
    assert np.all(np.isfinite(loss.detach().numpy())) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(loss.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy_with_logits"])
def test_losses_stable_on_huge_logits(name):
    x = t64([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], requires_grad=True)
    target = G.tensor([2, 1]) if name == "cross_entropy" else t64([[0, 1, 1], [1, 1, 0]])
    loss = getattr(F, name)(x, target)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad.numpy()))
    if name == "cross_entropy":  # row 0 is off by 2e4, row 1 is right: mean 1e4
        assert loss.item() == pytest.approx(1e4)
        np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0, -0.5], [0, 0, 0]], atol=1e-12)


@pytest.mark.parametrize("target,exc,pattern", [
    ([0, 5, 1], IndexError, r"target 5 is out of bounds.*\[0, 5\)"),
    ([0, -1, 1], IndexError, r"target -1 is out of bounds.*\[0, 5\)"),
    (np.array([0.0, 1.0, 2.0]), ValueError, r"probability targets must have the input's shape"),
], ids=["too-big", "negative", "float"])
def test_cross_entropy_rejects_bad_targets(target, exc, pattern):
    logits = G.randn(3, 5, dtype=G.float64)
    target = G.tensor(np.asarray(target)) if isinstance(target, np.ndarray) else G.tensor(target)
    with pytest.raises(exc, match=pattern):
        F.cross_entropy(logits, target)


def test_loss_bad_reduction_and_shape():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(G.zeros(3), G.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="shape"):
        F.mse_loss(G.zeros(3), G.zeros(4))
    with pytest.warns(UserWarning, match="different to the input size"):  # broadcastable: PyTorch warns
        F.mse_loss(G.zeros(3, 1), G.zeros(3))


# --- checkpointing ------------------------------------------------------------------------------------------------
def _param_and_input_grads(model, x, y):
    model.zero_grad()
    x.grad = None
    F.cross_entropy(model(x), y).backward()
    return grads(list(model.parameters()) + [x])


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
@pytest.mark.parametrize("segments", [1, 2, 4])
def test_checkpointed_mlp_gives_identical_gradients(segments, activation, rng):
    sizes = [6, 16, 16, 16, 4]
    plain = nn.MLP(sizes, activation=activation, dtype=G.float64)
    ckpt = nn.MLP(sizes, activation=activation, checkpoint_segments=segments, dtype=G.float64)
    ckpt.load_state_dict(plain.state_dict())
    x, y = t64(rng.standard_normal((10, 6)), requires_grad=True), G.tensor(rng.integers(0, 4, 10))
    for got, want in zip(_param_and_input_grads(ckpt, x, y), _param_and_input_grads(plain, x, y)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("segments", [0, 4])
def test_mlp_rejects_bad_checkpoint_segments(segments):
    with pytest.raises(ValueError, match="checkpoint_segments"):
        nn.MLP([3, 4, 4, 2], checkpoint_segments=segments)


def test_checkpoint_module_gives_identical_gradients(rng):
    inner = nn.Sequential(nn.Linear(6, 12, activation="gelu", dtype=G.float64), nn.Tanh(),
                          nn.Linear(12, 4, dtype=G.float64))
    wrapped = nn.Checkpoint(inner)
    assert [n for n, _ in wrapped.named_parameters()] == ["module.0.weight", "module.0.bias", "module.2.weight",
                                                          "module.2.bias"]
    x, y = t64(rng.standard_normal((10, 6)), requires_grad=True), G.tensor(rng.integers(0, 4, 10))
    want = _param_and_input_grads(inner, x, y)
    for got, ref in zip(_param_and_input_grads(wrapped, x, y), want):
        np.testing.assert_array_equal(got, ref)
