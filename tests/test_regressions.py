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


# --- issue 11: the fuzzing audit -------------------------------------------------------------------------------------
def _both(program):
    """Run ``program(lib)`` with gpuad and with PyTorch; return both results as NumPy arrays (or lists of them)."""
    torch = pytest.importorskip("torch")
    out = []
    for lib in (G, torch):
        result = program(lib)
        result = result if isinstance(result, (tuple, list)) else (result,)
        out.append([np.asarray(r.detach().numpy() if hasattr(r, "detach") else r, dtype=np.float64) for r in result])
    return out


def _assert_like_torch(program):
    ours, theirs = _both(program)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _source(lib):
    return lib.full((3,), 2.0, dtype=lib.float64).requires_grad_()


@pytest.mark.parametrize("write", [lambda y, b: y[:2].add_(b[:2]), lambda y, b: y[:2].copy_(b[:2]),
                                   lambda y, b: y.view(-1).mul_(b), lambda y, b: y[1:].__setitem__(0, b[0])],
                         ids=["add_", "copy_", "mul_-through-view", "setitem-through-view"])
def test_in_place_through_a_view_of_a_tensor_without_grad_reaches_the_source(write):
    def program(lib):
        y, b = lib.ones(3, dtype=lib.float64), _source(lib)
        write(y, b)
        ((y * y).sum() + b.sum()).backward()
        return b.grad
    _assert_like_torch(program)


def test_a_view_taken_before_an_in_place_op_on_its_base_sees_the_new_history():
    def program(lib):
        x = lib.ones(3, dtype=lib.float64, requires_grad=True)
        y = x * 1
        v = y[0:2]
        y.mul_(2)
        v.sum().backward()
        return x.grad
    _assert_like_torch(program)


@pytest.mark.parametrize("program", [
    lambda lib, x: x * 1,
    lambda lib, x: (x * x).T,
    lambda lib, x: (x * x).reshape(3, 2),
], ids=["base", "transposed-base", "reshaped-base"])
def test_in_place_ops_on_views_of_tensors_that_require_grad(program):
    def run(lib):
        x = lib.tensor(np.arange(6.0).reshape(2, 3) / 7, dtype=lib.float64, requires_grad=True)
        y = program(lib, x)
        before = y[0]  # taken before the changes: it must see them
        y[:, 0] *= 2
        y[-1, 1:].add_(x.reshape(-1)[:y.shape[1] - 1] ** 2)
        if y.is_contiguous():
            y.view(-1)[1::2].mul_(3)
        y[1].tanh_()
        out = (y.exp() * 1.5).sum() + (before * before).sum()
        out.backward()
        return out, x.grad
    _assert_like_torch(run)


def test_a_reshape_that_had_to_copy_is_not_a_view():
    def program(lib):
        x = lib.tensor(np.arange(6.0).reshape(2, 3), dtype=lib.float64, requires_grad=True)
        y = x * 1
        copied = y.T.reshape(-1)  # a transpose can't be flattened in place: a copy, so writing it leaves y alone
        copied.mul_(2)
        ((y * y).sum() + copied.sum()).backward()
        return y, copied, x.grad
    _assert_like_torch(program)


def test_in_place_on_a_view_of_a_leaf_that_requires_grad_raises():
    x = G.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf"):
        x[:2].add_(1)
    with pytest.raises(RuntimeError, match="view of a leaf"):
        x.view(-1).mul_(2)
    with G.no_grad():
        x[:2].add_(1)  # parameter updates stay allowed
    np.testing.assert_array_equal(x.detach().numpy(), [2.0, 2.0, 1.0])


def test_forward_mode_broadcasts_the_tangent_of_the_smaller_operand():
    x = G.ones(1, 2, dtype=G.float64)
    big = G.zeros(3, 2, dtype=G.float64)
    for fn in (lambda x: (x + big).sum(), lambda x: (x - big).sum(), lambda x: G.where(big > -1, x, big).sum(),
               lambda x: (x % (big + 5)).sum()):
        assert func.jvp(fn, (x,), (G.ones(1, 2, dtype=G.float64),))[1].item() == 6.0
    small = G.ones(1, dtype=G.float64)
    np.testing.assert_array_equal(func.jacfwd(lambda s: s - G.zeros(3, 1, dtype=G.float64))(small).numpy(),
                                  np.ones((3, 1, 1)))


def test_remainder_gradient_uses_the_floor_division_of_the_forward():
    _assert_like_torch(lambda lib: _remainder_grad(lib))


def _remainder_grad(lib):
    b = lib.tensor([0.1, 0.3, -0.7], dtype=lib.float64, requires_grad=True)
    lib.remainder(lib.tensor([1.0, 0.9, 2.1], dtype=lib.float64), b).sum().backward()
    return b.grad


def test_maximum_jvp_keeps_float64_tangents_with_a_0d_operand():
    a = G.tensor([1.0, 2.0, 2.0], dtype=G.float64)
    b = G.tensor(2.0, dtype=G.float64)
    tangent = G.tensor(0.1, dtype=G.float64)
    for fn in (G.maximum, G.minimum):
        out = func.jvp(lambda b: fn(a, b), (b,), (tangent,))[1]
        expected = {G.maximum: [0.1, 0.05, 0.05], G.minimum: [0.0, 0.05, 0.05]}[fn]
        np.testing.assert_array_equal(out.numpy(), np.array(expected) if fn is G.minimum else
                                      np.array([0.1, 0.1 * 0.5, 0.1 * 0.5]))


def test_norm_with_p_below_one_has_zero_gradient_at_zero():
    def program(lib):
        x = lib.tensor([0.0, 1.0, -2.0], dtype=lib.float64, requires_grad=True)
        x.norm(p=0.5).backward()
        return x.grad
    _assert_like_torch(program)


def test_float16_cumsum_and_repeated_index_gradients_accumulate_in_float32():
    assert G.cumsum(G.ones(5000, dtype=G.float16), 0)[-1].item() == 5000.0
    e = G.ones(1, dtype=G.float16, requires_grad=True)
    e[np.zeros(3000, dtype=np.int64)].sum().backward()
    assert e.grad.item() == 3000.0
    x = G.ones(3000, dtype=G.float16, requires_grad=True)
    (x.cumsum(0) * 1e-3).sum().backward()  # the reversed running sum of 0.001s: float16 steps are 0.002 near 2
    assert abs(x.grad[0].item() - 3.0) < 0.01


def test_narrow_with_a_negative_start():
    np.testing.assert_array_equal(G.arange(5).narrow(0, -2, 2).numpy(), [3, 4])
    with pytest.raises(IndexError, match="start"):
        G.arange(5).narrow(0, -6, 2)
    with pytest.raises(ValueError, match="exceeds"):
        G.arange(5).narrow(0, 4, 2)


def test_python_ints_out_of_range():
    with pytest.raises(ValueError, match="int64"):
        G.tensor(2 ** 63)
    with pytest.raises(ValueError, match="int64"):
        G.tensor([1, -2 ** 63 - 1])
    with pytest.raises(RuntimeError, match="overflow"):
        G.tensor([300], dtype=G.uint8)
    _assert_like_torch(lambda lib: (lib.tensor([1], dtype=lib.uint8) + (-1), lib.tensor([1], dtype=lib.int32) + 2 ** 40,
                                    lib.tensor([1], dtype=lib.int8) * 1000, lib.tensor([255], dtype=lib.uint8) == -1,
                                    lib.tensor([1], dtype=lib.uint8).add_(-1), lib.tensor([-1], dtype=lib.uint8)))
    with pytest.raises(OverflowError):
        G.tensor([1]) + 2 ** 64
    for fill in (lambda: G.full((2,), 300, dtype=G.uint8), lambda: G.zeros(2, dtype=G.uint8).fill_(300),
                 lambda: G.zeros(2, dtype=G.int8).fill_(-129)):
        with pytest.raises(RuntimeError, match="overflow"):
            fill()


def test_expanded_views_refuse_in_place_writes():
    x = G.ones(3)
    for write in (lambda e: e.add_(1), lambda e: e.fill_(0), lambda e: e.__setitem__(0, 5.0), lambda e: e.copy_(x),
                  lambda e: e.mul_(2)):
        with pytest.raises(RuntimeError, match="single memory location"):
            write(x.expand(4, 3))
    np.testing.assert_array_equal(x.numpy(), np.ones(3))
    x.expand(1, 3).add_(1)  # no element repeated: allowed, as in PyTorch
    np.testing.assert_array_equal(x.numpy(), 2 * np.ones(3))


@pytest.mark.parametrize("make", [lambda a: a.clone(), lambda a: a.reshape(3, 1), lambda a: a * 1.0,
                                  lambda a: a.expand(2, 3).sum(0) / 2], ids=["clone", "reshape", "mul", "expand"])
def test_gradients_from_autograd_grad_never_alias_the_grad_outputs(make):
    a = G.ones(3, requires_grad=True)
    out = make(a)
    given = G.ones(out.shape)
    g, = G.autograd.grad(out, a, grad_outputs=given)
    g.add_(1)
    np.testing.assert_array_equal(given.numpy(), np.ones(out.shape))
    s = G.ones(1, requires_grad=True)
    g1, = G.autograd.grad(s.sum(), s)
    g1.add_(1)  # the cached implicit seed must not change
    g2, = G.autograd.grad(s.sum(), s)
    assert g2.item() == 1.0


def test_integer_division_by_zero_raises():
    for fn in (lambda: G.tensor([1]) // G.tensor([0]), lambda: G.tensor([1]) % G.tensor([0]),
               lambda: G.tensor([1]) % 0, lambda: 7 // G.tensor([0, 1])):
        with pytest.raises(ZeroDivisionError):
            fn()
        with pytest.raises(RuntimeError):  # PyTorch raises RuntimeError("ZeroDivisionError")
            fn()
    with np.errstate(divide="ignore"):
        assert np.isinf((G.tensor([1.0]) // G.tensor([0.0])).item())


def test_chunk_and_split_of_an_empty_dimension():
    torch = pytest.importorskip("torch")
    for lib_call in (lambda lib: lib.zeros(0).chunk(3), lambda lib: lib.zeros(0).split(2),
                     lambda lib: lib.zeros(2, 0).chunk(3, 1), lambda lib: lib.zeros(5).chunk(3)):
        assert [tuple(p.shape) for p in lib_call(G)] == [tuple(p.shape) for p in lib_call(torch)]


def test_empty_boolean_masks_stay_masks():
    x = G.zeros(1, 0, 3, requires_grad=True)
    mask = np.zeros((1, 0), bool)
    assert x[mask].shape == (0, 3)
    x[mask].sum().backward()
    assert x.grad.shape == (1, 0, 3)
    assert func.jvp(lambda x: x[mask], (x.detach(),), (G.ones(1, 0, 3),))[1].shape == (0, 3)


@pytest.mark.parametrize("write", [lambda y, lib: y.zero_(), lambda y, lib: y.fill_(3.0),
                                   lambda y, lib: y.copy_(lib.ones(3) * 5)], ids=["zero_", "fill_", "copy_"])
def test_overwriting_a_non_leaf_keeps_it_in_the_graph(write):
    def program(lib):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        write(y, lib)
        assert y.requires_grad
        (y * x).sum().backward()
        return x.grad
    _assert_like_torch(program)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_var_and_std_without_degrees_of_freedom_are_nan_or_inf():
    def program(lib):
        one = lib.ones(1, dtype=lib.float64, requires_grad=True)
        v = one.var()
        v.backward()
        two = lib.tensor([1.0, 2.0], dtype=lib.float64)
        return v, one.grad, two.var(correction=2), two.std(correction=3), lib.zeros(0).var(), lib.ones(2, 1).var(1)
    _assert_like_torch(program)


def test_cat_and_stack_in_forward_mode_with_a_constant_first():
    a = G.ones(2, dtype=G.float64)
    b = G.ones(2, dtype=G.float64)
    np.testing.assert_array_equal(func.jvp(lambda b: G.cat([a, b]), (b,), (b,))[1].numpy(), [0, 0, 1, 1])
    np.testing.assert_array_equal(func.jvp(lambda b: G.stack([a, b]), (b,), (b,))[1].numpy(), [[0, 0], [1, 1]])


def test_checkpointing_in_one_thread_while_another_trains():
    import threading
    from gpuad.autograd.checkpoint import checkpoint
    errors, barrier = [], threading.Barrier(2)

    def train():
        try:
            w = G.randn(8, 8, dtype=G.float64, requires_grad=True)
            barrier.wait()
            for _ in range(200):
                ((G.randn(4, 8, dtype=G.float64) @ w).tanh() ** 2).sum().backward()
        except Exception as exc:  # reported below
            errors.append(exc)

    def checkpointed():
        try:
            x = G.randn(4, 8, dtype=G.float64, requires_grad=True)
            barrier.wait()
            for _ in range(200):
                checkpoint(lambda t: (t.sin() * t).exp(), x).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), 200 * _checkpointed_grad(x.detach().numpy()), rtol=1e-10)
        except Exception as exc:
            errors.append(exc)
    threads = [threading.Thread(target=train), threading.Thread(target=checkpointed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _checkpointed_grad(x):
    return np.exp(np.sin(x) * x) * (np.cos(x) * x + np.sin(x))


def test_add_of_two_numbers_is_a_tensor():
    _assert_like_torch(lambda lib: (lib.add(1, 2), lib.add(1.5, 2), lib.mul(2, 3)))
    assert G.add(1, 2).dtype == G.int64 and G.add(1.5, 2).dtype == G.float32
