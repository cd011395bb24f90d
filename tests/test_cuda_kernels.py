"""gpuad's CUDA kernels against the CPU path, through the public API only: elementwise forward and backward at odd
sizes and on non-contiguous views, broadcasting gradients, empty tensors, the fused linear layer, cross-entropy,
softmax and log-softmax, the optimizers, an MLP training run, and the fused kernels against plain CuPy
(``gpuad.cuda.fused_kernels(False)``).

Every comparison holds the GPU to the CPU for the same input values (rounded once to the dtype under test). float16
is compared with the CPU's float32 result for the same float16 inputs, since the kernels compute float16 in float32.
Tolerances are per dtype: relative to each element, and, as the absolute part, relative to the largest magnitude in
the reference (so a gradient whose entries are all ~1e-7 is still held to its own scale).

Skipped, with a reason, where no GPU is present."""
import operator

import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from op_cases import fused_grad_cases
from gpuad import activations, nn, optim
from gpuad.nn import functional as F

pytestmark = [requires_cuda, pytest.mark.cuda]

DEVICE = "cuda"
DTYPES = ["float64", "float32", "float16"]
TOL = {"float64": 1e-10, "float32": 1e-5, "float16": 1e-2}       # GPU against the CPU
TIGHT = {"float64": 1e-12, "float32": 2e-6, "float16": 5e-3}     # fused kernels against plain CuPy on the GPU
REFERENCE_DTYPE = {"float64": "float64", "float32": "float32", "float16": "float32"}
ODD_SIZES = [1, 31, 1025, 2 ** 20 + 3]


# --- helpers ----------------------------------------------------------------------------------------------------------
def host(t):
    """A NumPy copy of a tensor's values, wherever it lives (a copy: optimizers update CPU parameters in place)."""
    return np.array(t.detach().cpu().numpy() if isinstance(t, G.Tensor) else t, copy=True)


def assert_close(got, ref, tol, what=""):
    """|got - ref| <= tol * |ref| + tol * max|ref| elementwise (tol alone where ref is all zeros), with matching
    shapes and non-finite positions."""
    got, ref = host(got), host(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, expected {ref.shape}"
    if not ref.size:
        return
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    finite = np.isfinite(ref64)
    scale = float(np.abs(ref64[finite]).max()) if finite.any() else 0.0
    scale = scale or 1.0
    np.testing.assert_allclose(got64, ref64, rtol=tol, atol=tol * scale, err_msg=what)


def sample(rng, shape, kind="normal"):
    """float64 test values: normal, positive (>= 0.5), away (|x| >= 0.2, clear of kinks), as in tests/op_cases.py,
    and uniform (in [0.5, 2]: sums of these are well conditioned in any order)."""
    if kind == "uniform":
        return rng.uniform(0.5, 2.0, shape)
    x = rng.standard_normal(shape)
    if kind == "positive":
        return np.abs(x) + 0.5
    if kind == "away":
        return np.where(x < 0, x - 0.2, x + 0.2)
    assert kind == "normal", kind
    return x


def seed_for(shape, dtype, kind="normal"):
    """The incoming gradient for a VJP: the same values (rounded to ``dtype``) for every run of a check."""
    return sample(np.random.default_rng(99), shape, kind).astype(dtype)


def forward_backward(fn, arrays, dtype, device, seed_dtype, seed_transposed=False, seed_kind="normal"):
    """fn on leaves holding ``arrays`` (already rounded to the dtype under test), then the VJP of ``seed_for``'s values
    rounded to ``seed_dtype``; returns (leaves, output, gradients) as tensors on ``device``."""
    leaves = [G.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
    out = fn(*leaves)
    seed = seed_for(out.shape, seed_dtype, seed_kind)
    if seed_transposed:  # the incoming gradient itself a non-contiguous view
        g = G.tensor(np.ascontiguousarray(seed.T), dtype=dtype, device=device).T
        assert not g.is_contiguous()
    else:
        g = G.tensor(seed, dtype=dtype, device=device)
    grads = G.autograd.grad(out, leaves, grad_outputs=g)
    return leaves, out, grads


def check_against_cpu(fn, arrays, dtype, seed_transposed=False, seed_kind="normal"):
    """Run ``fn`` forward and backward on the GPU in ``dtype`` and on the CPU (float32 for float16) from the same
    values; check the output and every input gradient: device, dtype, shape and values."""
    tol = TOL[dtype]
    arrays = [np.asarray(a).astype(dtype) for a in arrays]
    _, ref_out, ref_grads = forward_backward(fn, arrays, REFERENCE_DTYPE[dtype], "cpu", dtype, seed_transposed,
                                             seed_kind)
    leaves, out, grads = forward_backward(fn, arrays, dtype, DEVICE, dtype, seed_transposed, seed_kind)
    assert out.device == DEVICE and out.dtype == np.dtype(dtype), (out.device, out.dtype)
    assert_close(out, ref_out, tol, "output")
    for i, (leaf, g, ref_g) in enumerate(zip(leaves, grads, ref_grads)):
        assert g.device == DEVICE and g.dtype == np.dtype(dtype), (i, g.device, g.dtype)
        assert g.shape == leaf.shape, f"gradient {i} has shape {g.shape}, its input {leaf.shape}"
        assert_close(g, ref_g, tol, f"gradient {i}")
    return out, grads


def check_fused_against_plain(fn, arrays, dtype, seed_kind="normal"):
    """The same computation on the GPU with gpuad's fused kernels and with plain CuPy: outputs and gradients agree."""
    tol = TIGHT[dtype]
    arrays = [np.asarray(a).astype(dtype) for a in arrays]
    with G.cuda.fused_kernels(True):
        assert G.cuda.fused_kernels_enabled()
        _, out_fused, grads_fused = forward_backward(fn, arrays, dtype, DEVICE, dtype, seed_kind=seed_kind)
    with G.cuda.fused_kernels(False):
        assert not G.cuda.fused_kernels_enabled()
        _, out_plain, grads_plain = forward_backward(fn, arrays, dtype, DEVICE, dtype, seed_kind=seed_kind)
    assert G.cuda.fused_kernels_enabled()  # restored on leaving the block
    assert out_plain.dtype == out_fused.dtype == np.dtype(dtype)
    assert_close(out_fused, out_plain, tol, "output")
    for i, (a, b) in enumerate(zip(grads_fused, grads_plain)):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert_close(a, b, tol, f"gradient {i}")


# --- elementwise ops: odd sizes, non-contiguous inputs ----------------------------------------------------------------
# case id -> (function, kind of sample for each input): every op with a fused backward (Op.cuda_grad), through its
# cases in tests/op_cases.py, so that an op given a fused rule is tested here without anyone listing it
ELEMENTWISE = {case: (fn, kinds) for case, (fn, kinds, _, _) in fused_grad_cases().items()}
UNARY = sorted(name for name, (_, kinds) in ELEMENTWISE.items() if len(kinds) == 1)
BINARY = sorted(name for name, (_, kinds) in ELEMENTWISE.items() if len(kinds) == 2)


@pytest.mark.parametrize("size", ODD_SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_odd_sizes(name, dtype, size):
    fn, kinds = ELEMENTWISE[name]
    rng = np.random.default_rng(size)
    check_against_cpu(fn, [sample(rng, (size,), k) for k in kinds], dtype)


# name -> (shape of the leaf, the view the op sees); every view is (31, 1025) and none is C-contiguous
LAYOUTS = {
    "transposed": ((1025, 31), lambda t: t.T),
    "every_other_column": ((31, 2050), lambda t: t[:, ::2]),
    "offset_step3": ((31, 3077), lambda t: t[:, 2::3]),
    "strided_rows_transposed": ((2050, 31), lambda t: t[::2].T),
    "expanded_row": ((1, 1025), lambda t: t.expand(31, 1025)),
    "expanded_column": ((31, 1), lambda t: t.expand(31, 1025)),
    "broadcast_vector": ((1025,), lambda t: G.broadcast_to(t, (31, 1025))),
}
BINARY_LAYOUTS = [("transposed", "every_other_column"), ("expanded_row", "transposed"),
                  ("every_other_column", "expanded_column"), ("strided_rows_transposed", "offset_step3"),
                  ("broadcast_vector", "expanded_column")]


def test_layouts_are_what_they_claim():
    for name, (shape, view) in LAYOUTS.items():
        v = view(G.zeros(*shape, device=DEVICE))
        assert v.shape == (31, 1025) and not v.is_contiguous(), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", UNARY)
def test_unary_on_non_contiguous_views(name, layout, dtype):
    fn, (kind,) = ELEMENTWISE[name]
    shape, view = LAYOUTS[layout]
    rng = np.random.default_rng(len(layout))
    check_against_cpu(lambda a: fn(view(a)), [sample(rng, shape, kind)], dtype, seed_transposed=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layouts", BINARY_LAYOUTS, ids="-".join)
@pytest.mark.parametrize("name", BINARY)
def test_binary_on_non_contiguous_views(name, layouts, dtype):
    fn, kinds = ELEMENTWISE[name]
    (shape_a, view_a), (shape_b, view_b) = LAYOUTS[layouts[0]], LAYOUTS[layouts[1]]
    rng = np.random.default_rng(7)
    arrays = [sample(rng, shape_a, kinds[0]), sample(rng, shape_b, kinds[1])]
    check_against_cpu(lambda a, b: fn(view_a(a), view_b(b)), arrays, dtype, seed_transposed=True)


# --- broadcasting gradients: the reduction back to each input's shape -------------------------------------------------
BROADCAST_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
                 "maximum": G.maximum}
BROADCAST_SHAPES = [((1000, 1), (1, 777)), ((1000, 777), (777,)), ((1000, 777), (1000, 1)), ((1, 777), (1000, 777)),
                    ((3, 1, 5), (4, 1)), ((), (1025,)), ((31, 1, 1), (1, 33, 2)), ((1, 1), (65, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BROADCAST_OPS))
def test_broadcasting_gradients(name, shapes, dtype):
    rng = np.random.default_rng(3)
    arrays = [sample(rng, s, "uniform") for s in shapes]
    out, (ga, gb) = check_against_cpu(BROADCAST_OPS[name], arrays, dtype, seed_kind="uniform")
    assert out.shape == np.broadcast_shapes(*shapes)
    assert ga.shape == shapes[0] and gb.shape == shapes[1]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("small", [(1,), ()], ids=["one", "scalar"])
@pytest.mark.parametrize("name", ["add", "mul"])
def test_broadcast_gradient_of_a_million_elements_into_one(name, small, dtype):
    rng = np.random.default_rng(5)
    arrays = [sample(rng, (2 ** 20 + 3,), "uniform"), sample(rng, small, "uniform")]
    _, (_, g_small) = check_against_cpu(BROADCAST_OPS[name], arrays, dtype, seed_kind="uniform")
    assert g_small.shape == small


# --- empty tensors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4)], ids=str)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_empty_tensors_elementwise(name, shape, dtype):
    fn, kinds = ELEMENTWISE[name]
    rng = np.random.default_rng(0)
    out, grads = check_against_cpu(fn, [sample(rng, shape, k) for k in kinds], dtype)
    assert out.shape == shape and all(g.shape == shape for g in grads)


EMPTY_CASES = {  # name -> (function, input shapes, expected output shape)
    "mul_broadcast_rows": (operator.mul, [(3, 0), (3, 1)], (3, 0)),
    "add_scalar": (operator.add, [(0,), ()], (0,)),
    "div_vector": (operator.truediv, [(0, 4), (4,)], (0, 4)),
    "sum_all": (lambda a: a.sum(), [(3, 0)], ()),
    "sum_dim0": (lambda a: a.sum(0), [(0, 3)], (3,)),
    "softmax_last": (lambda a: G.softmax(a, dim=-1), [(0, 4)], (0, 4)),
    "softmax_empty_dim": (lambda a: G.softmax(a, dim=0), [(0, 4)], (0, 4)),
    "log_softmax_last": (lambda a: G.log_softmax(a, dim=-1), [(3, 0)], (3, 0)),
    "linear_empty_batch": (lambda x, w, b: F.linear(x, w, b, "gelu"), [(0, 5), (3, 5), (3,)], (0, 3)),
    "linear_relu_empty_batch": (lambda x, w, b: F.linear(x, w, b, "relu"), [(0, 5), (3, 5), (3,)], (0, 3)),
    "cross_entropy_sum": (lambda z: F.cross_entropy(z, G.zeros(0, dtype=G.int64, device=z.device), reduction="sum"),
                          [(0, 4)], ()),
    "cross_entropy_none": (lambda z: F.cross_entropy(z, G.zeros(0, dtype=G.int64, device=z.device),
                                                     reduction="none"), [(0, 4)], (0,)),
    "cross_entropy_mean": (lambda z: F.cross_entropy(z, G.zeros(0, dtype=G.int64, device=z.device)), [(0, 4)], ()),
}


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", sorted(EMPTY_CASES))
def test_empty_tensors_through_reductions_and_layers(name, dtype):
    fn, shapes, expected = EMPTY_CASES[name]
    rng = np.random.default_rng(0)
    out, grads = check_against_cpu(fn, [sample(rng, s) for s in shapes], dtype)
    assert out.shape == expected
    for g, s in zip(grads, shapes):
        assert g.shape == s
        if np.prod(s, dtype=np.int64):  # a non-empty input of an empty computation gets a zero gradient
            assert not host(g).any()


# --- the fused linear layer ---------------------------------------------------------------------------------------
ACTIVATIONS = list(activations.NAMES)  # every record of the activation table


def linear_data(rng, batch_shape, n_in, n_out, bias):
    """x in quarter steps, weights in 1/32 steps, biases odd multiples of 1/256: exact in float16, and x @ w.T is
    exact in float32 in any summation order, so the GPU and the CPU see the same pre-activation (relu's mask cannot
    differ by a rounding), and with a bias it is never exactly zero."""
    arrays = [rng.integers(-8, 9, tuple(batch_shape) + (n_in,)) / 4, rng.integers(-4, 5, (n_out, n_in)) / 32]
    if bias:
        arrays.append((2 * rng.integers(-32, 32, n_out) + 1) / 256)
    return arrays


def linear_fn(activation):
    return lambda x, w, b=None: F.linear(x, w, b, activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("features", [1, 33, 256])
@pytest.mark.parametrize("batch", [1, 7, 64, 1025])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_fused_linear_matches_cpu(activation, bias, batch, features, dtype):
    rng = np.random.default_rng(batch * 1000 + features)
    arrays = linear_data(rng, (batch,), features, features, bias)
    out, grads = check_against_cpu(linear_fn(activation), arrays, dtype)
    assert out.shape == (batch, features) and len(grads) == (3 if bias else 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_shape", [(7,), (2, 9)], ids=str)
@pytest.mark.parametrize("n_in,n_out", [(1, 33), (33, 256), (256, 1)])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_fused_linear_rectangular_and_batched(activation, n_in, n_out, batch_shape, dtype):
    rng = np.random.default_rng(n_in + n_out)
    out, _ = check_against_cpu(linear_fn(activation), linear_data(rng, batch_shape, n_in, n_out, True), dtype)
    assert out.shape == batch_shape + (n_out,)


# --- cross-entropy, softmax and log-softmax -------------------------------------------------------------------------
LOSS_SHAPES = [(1, 1), (5, 3), (4096, 1000), (3, 70000)]


def labels_for(rng, shape):
    labels = rng.integers(0, shape[1], shape[0])
    labels[-1] = shape[1] - 1  # the last class, and (for one row) class 0
    labels[0] = 0
    return labels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=str)
def test_cross_entropy_matches_cpu(shape, reduction, dtype):
    rng = np.random.default_rng(shape[0] + shape[1])
    labels = labels_for(rng, shape)
    out, (g,) = check_against_cpu(
        lambda z: F.cross_entropy(z, G.tensor(labels, device=z.device), reduction=reduction),
        [sample(rng, shape) * 3], dtype)
    assert out.shape == (shape[:1] if reduction == "none" else ())
    assert g.shape == shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("shape", LOSS_SHAPES + [(7, 33, 5)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax_match_cpu(name, shape, dim, dtype):
    rng = np.random.default_rng(sum(shape))
    fn = getattr(G, name)
    out, _ = check_against_cpu(lambda x: fn(x, dim=dim), [sample(rng, shape) * 3], dtype)
    if name == "softmax":  # and the output is a distribution along dim
        assert_close(host(out).astype(np.float64).sum(axis=dim), np.ones(np.delete(shape, dim)), TOL[dtype] * 10)


# --- optimizers ---------------------------------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd_momentum_dampening": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.05),
    "sgd_momentum_weight_decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.05),
    "sgd_nesterov_weight_decay": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
    "adam": lambda ps: optim.Adam(ps, lr=0.05),
    "adam_weight_decay": lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}
PARAM_SHAPES = [(1,), (31,), (33, 17), (1025, 3), (2 ** 20 + 3,)]
STEPS = 5


def optimizer_run(make, dtype, device):
    """STEPS steps of ``make``'s optimizer on parameters of odd sizes, minimising sum(c p + p^2 / 4): the gradient
    c + p / 2 stays clear of zero (|c| >= 1, |p| <= 1/2 at the start), where Adam's g / sqrt(v) would magnify the
    last bit. Returns the parameters at the start and after every step, and the final optimizer state, on the host."""
    rng = np.random.default_rng(11)
    params = [G.tensor(rng.uniform(-0.5, 0.5, s), dtype=dtype, device=device, requires_grad=True)
              for s in PARAM_SHAPES]
    coefs = [G.tensor(rng.choice([-1.0, 1.0], s) * rng.uniform(1.0, 2.0, s), dtype=dtype, device=device)
             for s in PARAM_SHAPES]
    opt = make(params)
    history = [[host(p) for p in params]]
    for _ in range(STEPS):
        opt.zero_grad()
        loss = G.zeros((), dtype=dtype, device=device)
        for p, c in zip(params, coefs):
            loss = loss + (p * c).sum() + 0.25 * (p * p).sum()
        loss.backward()
        opt.step()
        history.append([host(p) for p in params])
    state = {k: {name: host(v) if isinstance(v, G.Tensor) else v for name, v in s.items()}
             for k, s in opt.state_dict()["state"].items()}
    assert all(p.device == device and p.dtype == np.dtype(dtype) for p in params)
    return history, state


def assert_same_run(got, ref, tol):
    (hist_g, state_g), (hist_r, state_r) = got, ref
    assert len(hist_g) == len(hist_r) == STEPS + 1
    for step, (pg, pr) in enumerate(zip(hist_g, hist_r)):
        for i, (a, b) in enumerate(zip(pg, pr)):
            assert_close(a, b, tol, f"parameter {i} after step {step}")
    assert sorted(state_g) == sorted(state_r)
    for k in state_r:
        assert sorted(state_g[k]) == sorted(state_r[k])
        for name, value in state_r[k].items():
            if isinstance(value, np.ndarray):
                assert_close(state_g[k][name], value, tol, f"state {name!r} of parameter {k}")
            else:
                assert state_g[k][name] == value, name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_cpu(name, dtype):
    ref = optimizer_run(OPTIMIZERS[name], dtype, "cpu")
    got = optimizer_run(OPTIMIZERS[name], dtype, DEVICE)
    moved = max(float(np.abs(last - first).max()) for first, last in zip(ref[0][0], ref[0][-1]))
    assert moved > 0.05  # the steps did move the parameters, by far more than the tolerance
    assert_same_run(got, ref, TOL[dtype])


# --- an MLP trained on the GPU ------------------------------------------------------------------------------------
def mlp_run(device, activation, steps=5):
    G.manual_seed(0)
    model = nn.MLP([20, 64, 33, 5], activation=activation, dtype=G.float64).to(device)
    rng = np.random.default_rng(2)
    x = G.tensor(rng.standard_normal((48, 20)), dtype=G.float64, device=device)
    y = G.tensor(rng.integers(0, 5, 48), device=device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), [host(p) for p in model.parameters()]


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "sigmoid"])
def test_mlp_training_matches_cpu(activation):
    cpu_losses, cpu_params = mlp_run("cpu", activation)
    gpu_losses, gpu_params = mlp_run(DEVICE, activation)
    assert cpu_losses[-1] < cpu_losses[0]  # it trained
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-9, atol=0)
    for i, (a, b) in enumerate(zip(gpu_params, cpu_params)):
        assert_close(a, b, 1e-9, f"parameter {i}")


# --- fused kernels against plain CuPy on the GPU --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_fused_elementwise_matches_unfused(name, dtype):
    fn, kinds = ELEMENTWISE[name]
    rng = np.random.default_rng(1)
    view = LAYOUTS["transposed"][1]
    arrays = [sample(rng, (1025, 31), k) for k in kinds] + [sample(rng, (31, 1), "uniform")]
    # a transposed operand, and a broadcast factor so that the gradient is reduced too
    check_fused_against_plain(lambda *ts: fn(*[view(t) for t in ts[:-1]]) * ts[-1], arrays, dtype)


@pytest.mark.parametrize("dtype,shapes", [(d, ((1000, 1), (1, 777))) for d in DTYPES] +
                         [(d, ((2 ** 20 + 3,), ())) for d in ("float64", "float32")],  # float16 would overflow
                         ids=lambda v: str(v))
@pytest.mark.parametrize("name", ["mul", "div"])
def test_fused_broadcast_reduction_matches_unfused(name, shapes, dtype):
    rng = np.random.default_rng(2)
    check_fused_against_plain(BROADCAST_OPS[name], [sample(rng, s, "uniform") for s in shapes], dtype, "uniform")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("features", [33, 256])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
def test_fused_linear_matches_unfused(activation, bias, features, dtype):
    rng = np.random.default_rng(features)
    check_fused_against_plain(linear_fn(activation), linear_data(rng, (1025,), features, features, bias), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4096, 1000), (3, 70000)], ids=str)
def test_fused_cross_entropy_matches_unfused(shape, reduction, dtype):
    rng = np.random.default_rng(4)
    labels = labels_for(rng, shape)
    check_fused_against_plain(lambda z: F.cross_entropy(z, G.tensor(labels, device=z.device), reduction=reduction),
                              [sample(rng, shape) * 3], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_fused_softmax_matches_unfused(name, dim, dtype):
    rng = np.random.default_rng(6)
    fn = getattr(G, name)
    check_fused_against_plain(lambda x: fn(x, dim=dim), [sample(rng, (4096, 1000)) * 3], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_optimizer_matches_unfused(name, dtype):
    with G.cuda.fused_kernels(True):
        fused = optimizer_run(OPTIMIZERS[name], dtype, DEVICE)
    with G.cuda.fused_kernels(False):
        plain = optimizer_run(OPTIMIZERS[name], dtype, DEVICE)
    assert_same_run(fused, plain, TIGHT[dtype])


def test_fused_mlp_training_matches_unfused():
    with G.cuda.fused_kernels(True):
        fused_losses, fused_params = mlp_run(DEVICE, "gelu")
    with G.cuda.fused_kernels(False):
        plain_losses, plain_params = mlp_run(DEVICE, "gelu")
    np.testing.assert_allclose(fused_losses, plain_losses, rtol=TIGHT["float64"], atol=0)
    for i, (a, b) in enumerate(zip(fused_params, plain_params)):
        assert_close(a, b, TIGHT["float64"], f"parameter {i}")


@pytest.mark.parametrize("fused", [True, False])
def test_bad_class_indices_raise_at_the_next_read_back_without_stalling_the_step(fused):
    logits = G.randn(4, 3, device=DEVICE, requires_grad=True)
    with G.cuda.fused_kernels(fused):
        loss = F.cross_entropy(logits, G.tensor([0, 1, 3, 2], device=DEVICE))  # 3 is out of range
        with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\)"):
            loss.item()
        ok = F.cross_entropy(logits, G.tensor([0, 1, 2, 2], device=DEVICE))  # reported once, then clear
        assert np.isfinite(ok.item())
