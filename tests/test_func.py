"""gpuad.func transforms: worked examples with known answers, forward and reverse Jacobians agreeing, Hessians,
composition, and clear errors. Each runs on the CPU and, where a GPU is present, on CUDA."""
import math

import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from gpuad import func

DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]


def f64(value, device="cpu"):
    return G.tensor(value, dtype=G.float64, device=device)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


# --- worked examples ----------------------------------------------------------------------------------------------
def test_sqrt_of_x_squared_plus_one_at_three(device):
    d = func.grad(lambda x: G.sqrt(x ** 2 + 1))(f64(3.0, device))
    assert d.item() == pytest.approx(3 / math.sqrt(10), rel=1e-15)


def test_x_sin_y_at_three_and_pi_over_six(device):
    gx, gy = func.grad(lambda x, y: x * G.sin(y), argnums=(0, 1))(f64(3.0, device), f64(math.pi / 6, device))
    assert gx.item() == pytest.approx(0.5, rel=1e-15)
    assert gy.item() == pytest.approx(3 * math.cos(math.pi / 6), rel=1e-15)  # 2.598...


@pytest.mark.parametrize("jacobian", [func.jacrev, func.jacfwd])
def test_x1_x2_plus_x2_minus_log_x1_by_both_modes(jacobian, device):
    def y(x1, x2):
        return x1 * x2 + x2 - G.log(x1)
    d1, d2 = jacobian(y, argnums=(0, 1))(f64(3.0, device), f64(-4.0, device))
    assert d1.item() == pytest.approx(-4 - 1 / 3, rel=1e-15)
    assert d2.item() == pytest.approx(4.0, rel=1e-15)


@pytest.mark.parametrize("jacobian", [func.jacrev, func.jacfwd])
def test_elementwise_square_has_diagonal_jacobian(jacobian, device):
    x = f64([1.0, -2.0, 0.5, 3.0], device)
    np.testing.assert_array_equal(jacobian(lambda t: t ** 2)(x).cpu().numpy(), np.diag(2 * x.cpu().numpy()))


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_log_x_squared_sin_x_plus_one_over_x(mode, device):
    def f(x):
        return G.log(x ** 2) * G.sin(x) + 1 / x

    def expected(x):
        return 2 * math.sin(x) / x + math.log(x ** 2) * math.cos(x) - 1 / x ** 2
    for value in (0.7, 2.0, -3.1):
        x = f64(value, device)
        d = func.grad(f)(x) if mode == "reverse" else func.jvp(f, (x,), (f64(1.0, device),))[1]
        assert d.item() == pytest.approx(expected(value), rel=1e-13)


def test_forward_mode_of_x_cubed_plus_log_x(device):
    value, tangent = func.jvp(lambda x: x ** 3 + G.log(x), (f64(2.0, device),), (f64(1.0, device),))
    assert tangent.item() == 12.5 and value.item() == pytest.approx(8 + math.log(2))


def test_third_derivative_of_sin_is_minus_cos(device):
    d3 = func.grad(func.grad(func.grad(G.sin)))(f64(0.4, device))
    assert d3.item() == pytest.approx(-math.cos(0.4), rel=1e-14)


# --- forward against reverse on random smooth functions ----------------------------------------------------------
SMOOTH = [
    ("tanh-matmul", lambda x: G.tanh(x @ G.linspace(-1, 1, 12, dtype=G.float64, device=x.device).reshape(3, 4)),
     (5, 3)),
    ("softmax", lambda x: G.softmax(x * x, dim=-1), (2, 4)),
    ("reductions", lambda x: G.stack([x.logsumexp(0), x.var(0), x.norm(dim=0), x.mean(0)]), (4, 3)),
    ("shapes", lambda x: G.cat([x.T, x.exp().T], dim=1).reshape(-1)[::2], (3, 2)),
    ("broadcast", lambda x: (x.unsqueeze(0) - x.unsqueeze(1)).sigmoid() * G.gelu(x), (5,)),
    ("scalar", lambda x: (x.sin() ** 2).sum() / (1 + x.abs().sum()), (2, 3)),
    ("indexing", lambda x: x[[0, 2, 2]] * x[1:].sum(0), (3, 2)),
]


@pytest.mark.parametrize("name,f,shape", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_jacfwd_equals_jacrev(name, f, shape, device):
    x = f64(np.random.default_rng(1).standard_normal(shape), device)
    forward, reverse = func.jacfwd(f)(x), func.jacrev(f)(x)
    assert forward.shape == reverse.shape == f(x).shape + x.shape
    np.testing.assert_allclose(forward.cpu().numpy(), reverse.cpu().numpy(), rtol=1e-12, atol=1e-12)


def test_jacobians_of_several_inputs_and_outputs(device):
    def f(a, b):
        return a @ b, (a.sum() * b).exp()
    a = f64(np.random.default_rng(2).standard_normal((2, 3)), device)
    b = f64(np.random.default_rng(3).standard_normal((3, 2)), device)
    forward = func.jacfwd(f, argnums=(0, 1))(a, b)
    reverse = func.jacrev(f, argnums=(0, 1))(a, b)
    assert forward[0][1].shape == (2, 2, 3, 2) and forward[1][0].shape == (3, 2, 2, 3)
    for fo, ro in zip(forward, reverse):
        for fi, ri in zip(fo, ro):
            np.testing.assert_allclose(fi.cpu().numpy(), ri.cpu().numpy(), rtol=1e-12, atol=1e-12)


# --- Hessians -----------------------------------------------------------------------------------------------------
def rosenbrock(x):
    return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum() + G.log1p(x.exp().sum())


def test_hessian_is_symmetric_and_matches_differences_of_the_gradient(device):
    x = f64(np.random.default_rng(4).uniform(-1, 1, 5), device)
    h = func.hessian(rosenbrock)(x).cpu().numpy()
    np.testing.assert_allclose(h, h.T, rtol=1e-13, atol=1e-10)
    gradient = func.grad(rosenbrock)
    eps = 1e-6
    columns = []
    for j in range(5):
        step = np.zeros(5)
        step[j] = eps
        plus = gradient(x + f64(step, device)).cpu().numpy()
        minus = gradient(x - f64(step, device)).cpu().numpy()
        columns.append((plus - minus) / (2 * eps))
    np.testing.assert_allclose(h, np.stack(columns, axis=1), rtol=1e-6, atol=1e-5)


def test_hvp_equals_hessian_times_v(device):
    x = f64(np.random.default_rng(5).uniform(-1, 1, 5), device)
    v = f64(np.random.default_rng(6).standard_normal(5), device)
    value, product = func.hvp(rosenbrock, (x,), (v,))
    h = func.hessian(rosenbrock)(x)
    assert value.item() == pytest.approx(rosenbrock(x).item())
    np.testing.assert_allclose(product.cpu().numpy(), (h @ v).cpu().numpy(), rtol=1e-12, atol=1e-10)


def test_hessian_by_reverse_over_reverse_agrees():
    x = f64(np.random.default_rng(7).uniform(-1, 1, 4))
    np.testing.assert_allclose(func.jacrev(func.jacrev(rosenbrock))(x).numpy(),
                               func.hessian(rosenbrock)(x).numpy(), rtol=1e-12, atol=1e-10)


# --- API details ----------------------------------------------------------------------------------------------------
def test_value_and_grad_with_aux():
    (value, aux), g = func.value_and_grad(lambda x: ((x ** 2).sum(), "aux"), has_aux=True)(f64([1.0, 2.0]))
    assert value.item() == 5.0 and aux == "aux" and not value.requires_grad
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])


def test_vjp_returns_the_output_and_a_pullback():
    out, pullback = func.vjp(lambda a, b: a * b, f64([1.0, 2.0]), f64([3.0, 4.0]))
    ga, gb = pullback(f64([1.0, 10.0]))
    np.testing.assert_array_equal(out.numpy(), [3.0, 8.0])
    np.testing.assert_array_equal(ga.numpy(), [3.0, 40.0])
    np.testing.assert_array_equal(gb.numpy(), [1.0, 20.0])


def test_grad_of_an_unused_argument_is_zero():
    assert func.grad(lambda x, y: x * 2, argnums=1)(f64(1.0), f64(5.0)).item() == 0.0


def test_grad_needs_a_scalar_output():
    with pytest.raises(RuntimeError, match=r"one element.*\(3,\).*jacrev"):
        func.grad(lambda x: x * 2)(f64([1.0, 2.0, 3.0]))


def test_bad_argnums_and_tangents_are_clear_errors():
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        func.grad(lambda x: x.sum(), argnums=2)(f64([1.0]))
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\), its primal \(3,\)"):
        func.jvp(G.sin, (f64([1.0, 2.0, 3.0]),), (f64([1.0, 2.0]),))
    with pytest.raises(TypeError, match="int64.*floating"):
        func.grad(lambda x: x.sum())(G.tensor([1, 2]))


def test_forward_over_forward_is_refused_clearly():
    with pytest.raises(RuntimeError, match="nested dual_level"):
        func.jacfwd(func.jacfwd(lambda x: (x ** 3).sum()))(f64([1.0, 2.0]))


def test_matches_torch_func_where_installed():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal(4)

    def f(lib, t):
        return lib.tanh(t) * t.sum() + t ** 3
    ours = func.jacrev(lambda t: f(G, t))(f64(x)).numpy()
    theirs = torch.func.jacrev(lambda t: f(torch, t))(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-13)


# --- second derivatives through every op: forward over reverse against reverse over reverse ---------------------
from op_cases import CASES, make_inputs  # noqa: E402

SECOND = [pytest.param(case[0], case[1], id=f"{name}-{i}") for name in sorted(CASES)
          for i, case in enumerate(CASES[name]) if name not in ("to_dtype",)]


@pytest.mark.parametrize("fn,spec", SECOND)
def test_forward_over_reverse_equals_reverse_over_reverse(fn, spec):
    rng = np.random.default_rng(11)
    inputs = make_inputs(spec, rng, requires_grad=False)
    weights = f64(rng.standard_normal(fn(*inputs).shape))

    def scalar(*xs):
        return (fn(*xs) * weights).sum()
    gradient = func.grad(scalar, argnums=0)
    forward_over_reverse = func.jacfwd(gradient, argnums=0)(*inputs)
    reverse_over_reverse = func.jacrev(gradient, argnums=0)(*inputs)
    np.testing.assert_allclose(forward_over_reverse.numpy(), reverse_over_reverse.numpy(), rtol=1e-10, atol=1e-10)


class ShapeMinded(G.autograd.Function):
    """A custom op whose backward and jvp use shapes, so they only work one direction at a time."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * x).reshape(-1)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.reshape(x.shape) * 2 * x

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return (2 * x * t).reshape(-1)


def test_custom_functions_serve_batched_jacobians_one_direction_at_a_time():
    x = f64(np.arange(1.0, 7.0).reshape(2, 3))
    expected = np.diag(2 * np.arange(1.0, 7.0)).reshape(6, 2, 3)
    np.testing.assert_array_equal(func.jacrev(ShapeMinded.apply)(x).numpy(), expected)
    np.testing.assert_array_equal(func.jacfwd(ShapeMinded.apply)(x).numpy(), expected)
