"""Random sampling ops: shapes, dtypes, supports and moments (with fixed seeds), generator= with gpuad's global
generator, a NumPy Generator or an object with the RNG interface, and the in-place samplers' autograd rules."""
import numpy as np
import pytest

import gpuad as G


def test_randperm_is_a_permutation_and_follows_the_seed():
    G.manual_seed(0)
    p = G.randperm(50)
    assert p.dtype == G.int64 and sorted(p.tolist()) == list(range(50))
    G.manual_seed(0)
    assert G.randperm(50).tolist() == p.tolist()
    assert G.randperm(0).shape == (0,) and G.randperm(4, dtype=G.int32).dtype == G.int32


def test_generator_argument_takes_a_gpuad_generator_or_an_object_with_the_rng_interface():
    a = G.rand(20, generator=G.Generator().manual_seed(3))
    b = G.rand(20, generator=G.Generator().manual_seed(3))
    assert a.tolist() == b.tolist()

    class Counting:
        """The backend RNG interface: rand/randn/randint(shape, dtype)."""
        calls = 0

        def rand(self, shape, dtype):
            Counting.calls += 1
            return np.linspace(0.9, 0.1, int(np.prod(shape))).reshape(shape).astype(dtype)

        def randn(self, shape, dtype):
            return np.zeros(shape, dtype)

        def randint(self, low, high, shape, dtype):
            return np.full(shape, low, dtype)

    assert G.empty(4).uniform_(generator=Counting()).tolist() == pytest.approx([0.9, 0.6333333, 0.3666667, 0.1])
    assert Counting.calls == 1
    assert G.empty(3).normal_(2.0, 5.0, generator=Counting()).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="generator"):
        G.randperm(3, generator=object())


@pytest.mark.parametrize("name,args,check", [
    ("uniform_", (-2.0, 3.0), lambda v: v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.1),
    ("normal_", (1.0, 2.0), lambda v: abs(v.mean() - 1) < 0.1 and abs(v.std() - 2) < 0.1),
    ("exponential_", (2.0,), lambda v: v.min() >= 0 and abs(v.mean() - 0.5) < 0.05),
    ("geometric_", (0.25,), lambda v: v.min() >= 1 and np.all(v == np.round(v)) and abs(v.mean() - 4) < 0.3),
    ("log_normal_", (0.0, 0.5), lambda v: v.min() > 0 and abs(np.log(v).std() - 0.5) < 0.05),
    ("bernoulli_", (0.3,), lambda v: set(np.unique(v)) <= {0.0, 1.0} and abs(v.mean() - 0.3) < 0.05),
    ("random_", (3, 7), lambda v: set(np.unique(v)) == {3.0, 4.0, 5.0, 6.0}),
    ("cauchy_", (), lambda v: abs(np.median(v)) < 0.1),
])
def test_in_place_samplers_fill_with_the_right_distribution(name, args, check):
    G.manual_seed(1)
    x = G.empty(4000, dtype=G.float64)
    assert getattr(x, name)(*args) is x
    assert check(x.numpy())


def test_random_on_integer_tensors_and_bounds():
    G.manual_seed(2)
    x = G.zeros(1000, dtype=G.int64).random_(5)
    assert set(x.tolist()) == {0, 1, 2, 3, 4}
    assert G.zeros(100, dtype=G.bool).random_().dtype == G.bool
    with pytest.raises(ValueError, match="from < to"):
        G.zeros(3).random_(4, 2)


def test_in_place_samplers_follow_autograd_rules():
    w = G.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.normal_()
    with G.no_grad():
        w.uniform_(-1, 1)
    assert w.requires_grad and w.grad_fn is None and w.abs().max() <= 1
    y = w * 2
    with G.no_grad():
        y.normal_()
    version = w._version_value
    with G.no_grad():
        w.exponential_()
    assert w._version_value == version + 1  # saved tensors see the change


def test_bernoulli_multinomial_and_normal():
    G.manual_seed(4)
    p = G.full((2000,), 0.2, dtype=G.float64)
    draws = G.bernoulli(p)
    assert draws.dtype == G.float64 and abs(draws.mean().item() - 0.2) < 0.03
    assert set(p.bernoulli().unique().tolist()) <= {0.0, 1.0}
    weights = G.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    idx = G.multinomial(weights, 400, replacement=True)
    assert idx.shape == (2, 400) and idx.dtype == G.int64
    counts = np.bincount(idx[0].numpy(), minlength=3)
    assert counts[1] == 0 and abs(counts[2] / 400 - 0.75) < 0.08
    assert set(idx[1].tolist()) == {1}
    no_repeat = G.multinomial(G.tensor([1.0, 2.0, 3.0, 4.0]), 4)
    assert sorted(no_repeat.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="nonzero"):
        G.multinomial(G.tensor([1.0, 0.0]), 2)
    mean = G.zeros(3, dtype=G.float64, requires_grad=True)
    std = G.ones(3, dtype=G.float64, requires_grad=True)
    sample = G.normal(mean, std)
    sample.sum().backward()  # reparameterised: d/dmean = 1, d/dstd = the noise
    assert mean.grad.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(std.grad.numpy(), sample.detach().numpy())
    fixed = G.normal(2.0, 0.5, size=(1000,))
    assert fixed.dtype == G.float32 and abs(fixed.mean().item() - 2.0) < 0.05
    with pytest.raises(ValueError, match="size"):
        G.normal(0.0, 1.0)


def test_poisson_and_randint_like():
    G.manual_seed(5)
    rates = G.full((3000,), 3.0, dtype=G.float64)
    k = G.poisson(rates)
    assert k.dtype == G.float64 and np.all(k.numpy() == np.round(k.numpy()))
    assert abs(k.mean().item() - 3.0) < 0.15 and abs(k.var().item() - 3.0) < 0.3
    r = G.randint_like(G.zeros(2, 3, dtype=G.int32), 2, 5)
    assert r.shape == (2, 3) and r.dtype == G.int32 and r.min() >= 2 and r.max() < 5


def test_in_place_api_ops_record_like_their_out_of_place_ops():
    x = G.tensor([1.0, -2.0, 3.0], dtype=G.float64, requires_grad=True)
    y = x * 1
    y.masked_fill_(y < 0, 0.0)
    y.clamp_min_(0.5)
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 1.0]
    z = G.zeros(3, 4, dtype=G.int64)
    z.scatter_(1, G.tensor([[1], [0], [3]]), 1)
    assert z.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    m = G.ones(3, 3)
    m.tril_()
    assert m.sum().item() == 6.0
    acc = G.zeros(3)
    acc.index_add_(0, G.tensor([0, 0, 2]), G.ones(3))
    assert acc.tolist() == [2.0, 0.0, 1.0]
