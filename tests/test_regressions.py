"""Bugs found by comparing gpuad with PyTorch, each pinned by the behaviour PyTorch has."""
import numpy as np
import pytest

import gpuad as G
from gpuad import func
from gpuad.nn import functional as F


def f64(data, requires_grad=True):
    return G.tensor(data, dtype=G.float64, requires_grad=requires_grad)


def test_linear_forward_mode_with_only_the_bias_moving():
    x, w, b = G.randn(4, 3, dtype=G.float64), G.randn(5, 3, dtype=G.float64), G.randn(5, dtype=G.float64)
    assert func.jvp(lambda b: F.linear(x, w, b), (b,), (G.ones_like(b),))[1].shape == (4, 5)
    np.testing.assert_allclose(func.jacfwd(lambda b: F.linear(x, w, b))(b).numpy(),
                               func.jacrev(lambda b: F.linear(x, w, b))(b).numpy())


def test_clamp_with_tensor_bounds_passes_the_gradient_at_the_bound():
    x, m = f64([0.0, 2.0, 1.0]), f64([1.0, 1.0, 1.0])
    x.clamp(max=m).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(m.grad.numpy(), [0.0, 1.0, 0.0])


def test_std_of_a_constant_and_norm_at_zero_have_zero_gradients():
    x = f64(np.ones(4))
    x.std().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))
    z = f64(np.zeros(3))
    z.norm(p=3).backward()
    np.testing.assert_array_equal(z.grad.numpy(), np.zeros(3))


def test_a_gradient_kept_by_a_hook_is_not_changed_by_later_backwards():
    x, saved = f64([1.0, 2.0]), []
    y = x.clone()
    y.register_hook(saved.append)
    (y * 2).sum().backward()
    (x * 5).sum().backward()
    np.testing.assert_array_equal(saved[0].numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


@pytest.mark.parametrize("update", [lambda y, w: y.pow_(2), lambda y, w: y.clamp_(min=0), lambda y, w: y.mul_(w)])
def test_in_place_ops_that_need_the_old_value_keep_it(update):
    torch = pytest.importorskip("torch")
    x, w = f64([1.0, 2.0]), f64([3.0, 4.0])
    y = x * 1
    update(y, w)
    y.sum().backward()
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    tw = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    ty = tx * 1
    update(ty, tw)
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_setitem_with_a_value_that_has_leading_size_one_dims():
    x, v = G.ones(4, 5, requires_grad=True), G.ones(1, 5, requires_grad=True)
    y = x * 1
    y[-1] = v
    y.sum().backward()
    assert v.grad.shape == (1, 5) and float(v.grad.sum()) == 5.0


def test_softmax_of_a_0d_tensor():
    x = f64(2.0)
    G.softmax(x, 0).backward()
    assert x.grad.item() == 0.0


def test_dim_empty_tuple_reduces_everything():
    assert G.randn(2, 3).sum(()).shape == ()


def test_data_escapes_version_tracking():
    x = f64([1.0, 2.0])
    y = x * x
    x.data.mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 12.0])


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([1.0]) * np.float64(2),
    lambda lib: lib.tensor([1.0]) + lib.tensor(1.0, dtype=lib.float64),
    lambda lib: lib.tensor(2.0, dtype=lib.float64) * lib.tensor([1.0], dtype=lib.float16),
    lambda lib: lib.tensor(2) * lib.tensor([1], dtype=lib.int8),
    lambda lib: lib.tensor([1]) + lib.tensor(1.5, dtype=lib.float64),
    lambda lib: lib.where(lib.tensor([True]), lib.tensor([1]), 2.5),
    lambda lib: lib.tensor([1, 3]).clamp(0.5, 2.5),
    lambda lib: lib.tensor([1, 2]) / lib.tensor([2, 2]),
], ids=["numpy-scalar", "0d-float64", "0d-over-float16", "0d-int", "0d-higher-category", "where-float",
        "clamp-float", "int-true-div"])
def test_type_promotion_matches_pytorch_for_scalars_and_0d_tensors(make):
    torch = pytest.importorskip("torch")
    assert str(make(G).dtype) == str(make(torch).dtype).replace("torch.", "")


def test_float16_reductions_accumulate_in_float32():
    x = G.tensor([300.0, 400.0], dtype=G.float16, requires_grad=True)
    n = x.norm()
    n.backward()
    assert n.item() == 500.0
    np.testing.assert_allclose(x.grad.numpy(force=True).astype(float), [0.6, 0.8], rtol=1e-3)
    assert G.tensor([1000.0, 1001.0, 1002.0], dtype=G.float16).std().item() == 1.0


def test_view_of_a_transpose_refuses_to_copy():
    t = G.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match="reshape"):
        t.T.view(-1)
    v = t.view(4)
    v[0] = 9.0
    assert t[0, 0].item() == 9.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0 ** -1 is inf, as in NumPy
def test_pow_with_a_number_as_base_keeps_its_gradient_on_the_tensors_device():
    t = G.tensor([-1.0, 0.0, 2.0], dtype=G.float64, requires_grad=True)
    (0.0 ** t).sum().backward()  # PyTorch: -inf where the exponent is negative, 0 elsewhere
    np.testing.assert_array_equal(t.grad.numpy(), [-np.inf, 0.0, 0.0])
    x = G.tensor([0.5, 1.0], dtype=G.float64, requires_grad=True)
    (2.0 ** x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 ** np.array([0.5, 1.0]) * np.log(2.0))


def test_softmax_along_an_empty_dimension_is_empty():
    assert G.softmax(G.zeros(0, 4), dim=0).shape == (0, 4)
    assert G.log_softmax(G.zeros(3, 0), dim=-1).shape == (3, 0)


def test_float16_erf_stays_float16():
    assert G.erf(G.tensor([0.5, -1.0], dtype=G.float16)).dtype == G.float16


def test_float16_broadcast_gradients_are_summed_in_float32():
    a = G.ones(3000, 1, dtype=G.float16, requires_grad=True)
    b = G.ones(1, 2, dtype=G.float16, requires_grad=True)
    (a * b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [[3000.0, 3000.0]])  # float16 additions stall at 2048
