"""The reverse-mode engine: worked examples with known answers and PyTorch's autograd semantics."""
import gc
import math
import weakref

import numpy as np
import pytest

import gpuad as G
from gpuad import autograd


def f64(data, requires_grad=True):
    return G.tensor(data, dtype=G.float64, requires_grad=requires_grad)


# --- worked examples --------------------------------------------------------------------------------------------
def test_cubic_derivative_at_two_is_fifteen():
    x = f64(2.0)
    (x ** 3 + 2 * x ** 2 - 5 * x + 1).backward()
    assert x.grad.item() == 15.0


def test_two_x_dot_x_gives_four_x():
    x = G.arange(4.0, requires_grad=True)
    y = 2 * x.dot(x)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 4 * np.arange(4.0))


def test_paths_sum_and_detach_cuts_one():
    x = f64([1.0, 2.0, 3.0])
    y = x * x
    (x * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.detach().numpy() ** 2)

    x.grad = None
    y = x * x
    u = y.detach()
    (u * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), u.numpy())


def test_data_dependent_while_and_if():
    def f(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        if b.sum() > 0:
            c = b
        else:
            c = 100 * b
        return c

    a = G.randn(size=(), requires_grad=True)
    d = f(a)
    d.backward()
    assert a.grad.item() == pytest.approx((d / a).item(), rel=1e-6)


def test_recursion_builds_the_graph_that_ran():
    def power(x, n):
        return x if n == 1 else x * power(x, n - 1)

    x = f64(1.5)
    power(x, 6).backward()
    assert x.grad.item() == pytest.approx(6 * 1.5 ** 5)


def test_deep_chains_do_not_hit_the_recursion_limit():
    x = f64(0.5)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_broadcast_gradients_are_reduced_to_each_input_shape():
    w = f64(np.ones((3, 1)))
    b = f64(np.ones(4))
    x = f64(np.arange(12.0).reshape(3, 4), requires_grad=False)
    (x * w + b).sum().backward()
    assert w.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_array_equal(w.grad.numpy().ravel(), x.numpy().sum(1))
    np.testing.assert_array_equal(b.grad.numpy(), [3.0] * 4)


# --- .grad accumulation and backward() arguments --------------------------------------------------------------
def test_grad_accumulates_until_reset():
    x = f64([1.0, 2.0])
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * np.array([1.0, 2.0]))
    x.grad.zero_()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.grad = None
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_grads_of_two_leaves_never_alias():
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_backward_with_gradient_argument():
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    v = f64([1.0, 0.1, 0.01], requires_grad=False)
    y.backward(gradient=v)
    np.testing.assert_allclose(x.grad.numpy(), 2 * v.numpy())
    v.zero_()  # the user's gradient is not stolen into x.grad
    assert x.grad.numpy()[0] == 2.0


def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_graph_without_saved_values_can_be_walked_twice():
    x = f64([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_backward_inputs_limits_accumulation():
    a, b = f64(2.0), f64(3.0)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 3.0 and b.grad is None


def test_float32_leaf_gets_float32_grad_through_float64_ops():
    x = G.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == G.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


# --- autograd.grad ----------------------------------------------------------------------------------------------
def test_autograd_grad_returns_without_touching_dot_grad():
    x, y = f64(3.0), f64(math.pi / 6)
    gx, gy = autograd.grad(x * y.sin(), (x, y))
    assert gx.item() == pytest.approx(0.5) and gy.item() == pytest.approx(3 * math.cos(math.pi / 6))
    assert x.grad is None and y.grad is None


def test_autograd_grad_of_an_intermediate():
    x = f64([1.0, 2.0])
    h = x * 3
    out = (h * h).sum()
    (gh,) = autograd.grad(out, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy())


def test_autograd_grad_allow_unused():
    x, unused = f64(1.0), f64(2.0)
    with pytest.raises(RuntimeError, match="allow_unused"):
        autograd.grad(x * 2, [x, unused], retain_graph=True)
    gx, gu = autograd.grad(x * 2, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_create_graph_gives_higher_derivatives_of_sin():
    x = f64(0.7)
    (d1,) = autograd.grad(x.sin(), x, create_graph=True)
    (d2,) = autograd.grad(d1, x, create_graph=True)
    (d3,) = autograd.grad(d2, x)
    assert d1.item() == pytest.approx(math.cos(0.7))
    assert d2.item() == pytest.approx(-math.sin(0.7))
    assert d3.item() == pytest.approx(-math.cos(0.7))


def test_backward_create_graph_makes_grad_differentiable():
    x = f64(2.0)
    (x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = autograd.grad(x.grad, x)
    assert g2.item() == pytest.approx(12.0)


def test_double_backward_through_every_smooth_op():
    rng = np.random.default_rng(1)
    x = f64(rng.uniform(0.5, 1.5, size=5))

    def f(x):
        return ((x.exp() * x.log() + x.sqrt().tanh() - x.sigmoid() / x) ** 2).softmax(0).logsumexp(0)

    (g,) = autograd.grad(f(x), x, create_graph=True)
    assert G.gradcheck(lambda t: autograd.grad(f(t), t, create_graph=True)[0], (x,))


# --- hooks and retained grads -----------------------------------------------------------------------------------
def test_retain_grad_on_a_non_leaf():
    x = f64([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.detach().numpy())


def test_hooks_see_and_replace_gradients():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    h = x * 3
    h.register_hook(lambda g: g * 10)
    h.sum().backward()
    np.testing.assert_array_equal(seen[0], [30.0, 30.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])


def test_hook_handle_removes_the_hook():
    x = f64(1.0)
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    (x * 2).backward()
    assert x.grad.item() == 2.0


# --- grad mode --------------------------------------------------------------------------------------------------
def test_no_grad_records_nothing_and_enable_grad_overrides():
    x = f64(1.0)
    with G.no_grad():
        y = x * 2
        with G.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_grad_mode_switches_are_decorators_too():
    x = f64(1.0)

    @G.no_grad()
    def predict(t):
        return t * 2

    @G.set_grad_enabled(False)
    def predict2(t):
        return t * 2

    assert not predict(x).requires_grad and not predict2(x).requires_grad
    assert G.is_grad_enabled()
    with G.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_parameter_update_under_no_grad_is_in_place():
    w = f64([1.0, 2.0])
    (w * w).sum().backward()
    data = w.numpy(force=True)
    with G.no_grad():
        w -= 0.1 * w.grad
    assert w.is_leaf and w.requires_grad
    assert w.numpy(force=True) is data
    np.testing.assert_allclose(data, [0.8, 1.6])


# --- in-place ops and version counters --------------------------------------------------------------------------
def test_in_place_on_a_saved_tensor_raises_at_backward():
    x = f64([1.0, 2.0])
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation.*ExpBackward"):
        y.sum().backward()


def test_in_place_on_an_unsaved_tensor_is_fine():
    x = f64([1.0, 2.0])
    y = x * 2
    y.add_(1)
    y.mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_setitem_is_differentiable():
    x = f64([1.0, 2.0, 3.0])
    v = f64(5.0)
    y = x * 1
    y[1] = v * 2
    (y * G.tensor([1.0, 10.0, 100.0], dtype=G.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 100.0])
    assert v.grad.item() == 20.0


def test_in_place_through_a_view_bumps_the_base_version():
    x = f64([1.0, 2.0, 3.0])
    y = x.exp()
    with G.no_grad():
        y[0:2].mul_(2)
    with pytest.raises(RuntimeError, match="in-place"):
        y.sum().backward()


# --- memory -------------------------------------------------------------------------------------------------------
def test_saved_tensors_are_released_after_backward():
    x = f64(np.ones(1000))
    y = x.exp()
    node = y.grad_fn
    (y * 2).sum().backward()
    assert node.saved_out is None and node.saved_tensors_bytes() == 0


def test_graph_is_freed_when_the_output_goes():
    x = f64(np.ones(10))
    y = (x.exp() * 2).sum()
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None


# --- custom Functions ------------------------------------------------------------------------------------------
class Cube(autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x ** 3 * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2 * ctx.scale, None


def test_function_forward_and_backward():
    x = f64([1.0, 2.0])
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 24.0])
    assert G.gradcheck(lambda t: Cube.apply(t, 0.5), (f64([0.3, -1.2]),))


def test_function_backward_written_in_tensor_ops_is_twice_differentiable():
    x = f64(1.5)
    (g,) = autograd.grad(Cube.apply(x, 1.0), x, create_graph=True)
    (gg,) = autograd.grad(g, x)
    assert gg.item() == pytest.approx(6 * 1.5)


def test_once_differentiable_raises_when_differentiated_twice():
    class Opaque(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @autograd.once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x

    x = f64(1.5)
    (g,) = autograd.grad(Opaque.apply(x), x, create_graph=True)
    assert g.item() == 3.0
    with pytest.raises(RuntimeError, match="once_differentiable"):
        autograd.grad(g, x)


def test_function_with_two_outputs():
    class SplitHalves(autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x[:2] * 1, x[2:] * 1

        @staticmethod
        def backward(ctx, ga, gb):
            return G.cat([ga, gb])

    x = f64([1.0, 2.0, 3.0])
    a, b = SplitHalves.apply(x)
    (a.sum() * 2).backward()  # b unused: its gradient arrives as zeros
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 0.0])


# --- agreement with PyTorch -----------------------------------------------------------------------------------
def test_matches_pytorch_on_a_small_network():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 4))
    w1, b1, w2 = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal((6, 3))
    labels = np.array([0, 2, 1, 1, 0])

    def run(lib, t):
        params = [t(a) for a in (w1, b1, w2)]
        for p in params:
            p.requires_grad_()
        x = t(xs)
        h = lib.tanh(x @ params[0] + params[1])
        h = lib.nn.functional.gelu(h) if lib is torch else G.gelu(h)
        logits = h @ params[2]
        logp = logits.log_softmax(dim=1)
        loss = -logp[np.arange(5), labels].mean() + (params[0] ** 2).sum() * 1e-2 + logits.var(dim=0).sum()
        loss.backward()
        return loss.item(), [p.grad.numpy() for p in params]

    loss_g, grads_g = run(G, lambda a: G.tensor(a, dtype=G.float64))
    loss_t, grads_t = run(torch, lambda a: torch.tensor(a, dtype=torch.float64))
    assert loss_g == pytest.approx(loss_t, rel=1e-12)
    for a, b in zip(grads_g, grads_t):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
