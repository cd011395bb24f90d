"""gpuad.func.vmap, grad_and_value, functional_call and pytree arguments against torch.func: a table of functions
whose results depend on per-example shapes (reductions over all elements, dim= arguments, matmul, indexing, shape
ops), mapped alone and composed with grad, jacrev, jacfwd and hessian in both orders."""
import numpy as np
import pytest

import gpuad as G
from gpuad import func

torch = pytest.importorskip("torch")

B, SHAPE = 5, (3, 4)


def _w(lib):
    return lib.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), dtype=lib.float64)


# each f(lib, x) for one example x of shape SHAPE; the same code runs on gpuad and on torch
FUNCTIONS = {
    "sum_of_all_elements": lambda lib, x: (lib.sin(x) * x).sum(),
    "softmax_over_last_dim": lambda lib, x: lib.softmax(x, dim=-1) * x,
    "sum_over_dim0_times_mean": lambda lib, x: x.sum(0) * x.mean(),
    "matmul_with_own_transpose": lambda lib, x: x @ x.T,
    "indexing_rows_and_columns": lambda lib, x: x[0] * x[:, 1].sum(),
    "reshape_then_slice": lambda lib, x: lib.exp(x.reshape(-1)[:5]),
    "transpose_then_cumsum": lambda lib, x: x.transpose(0, 1).cumsum(0),
    "logsumexp_over_dim1": lambda lib, x: lib.logsumexp(x, dim=1),
    "divide_by_norm": lambda lib, x: x / x.norm(),
    "cat_of_rows": lambda lib, x: lib.cat([x[0], x[1] * 2.0, x[-1:].flatten()]),
    "where_leaky": lambda lib, x: lib.where(x > 0, x, x * 0.1),
    "tanh_layer": lambda lib, x: lib.tanh(x @ _w(lib)).sum(-1),
    "var_over_dim0": lambda lib, x: x.var(0) + x.std(),
    "unsqueeze_broadcast": lambda lib, x: (x.unsqueeze(0) * x.unsqueeze(1)).sum((1, 2)),
}
NAMES = sorted(FUNCTIONS)


def _scalar(f):
    return lambda lib, x: lib.sin(f(lib, x)).sum()


def _batch(seed=0):
    return np.random.default_rng(seed).standard_normal((B,) + SHAPE)


def _run(transform, f, x):
    """``transform`` (written against a func module) applied to f, on gpuad and on torch."""
    ours = transform(func, lambda t: f(G, t))(G.tensor(x))
    theirs = transform(torch.func, lambda t: f(torch, t))(torch.tensor(x))
    return ours, theirs


def _close(ours, theirs, tol=1e-10):
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _close(a, b, tol)
        return
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for k in theirs:
            _close(ours[k], theirs[k], tol)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol, atol=tol)


TRANSFORMS = {
    "vmap": lambda F, f: F.vmap(f),
    "vmap_of_grad": lambda F, f: F.vmap(F.grad(lambda t: f(t).sin().sum())),
    "grad_of_vmap": lambda F, f: F.grad(lambda t: F.vmap(f)(t).sin().sum()),
    "vmap_of_jacrev": lambda F, f: F.vmap(F.jacrev(f)),
    "jacrev_of_vmap": lambda F, f: F.jacrev(F.vmap(f)),
    "vmap_of_jacfwd": lambda F, f: F.vmap(F.jacfwd(f)),
    "jacfwd_of_vmap": lambda F, f: F.jacfwd(F.vmap(f)),
    "vmap_of_hessian": lambda F, f: F.vmap(F.hessian(lambda t: f(t).sin().sum())),
    "nested_vmap": lambda F, f: F.vmap(F.vmap(f, in_dims=1), in_dims=0),
    "vmap_out_dims_last": lambda F, f: F.vmap(f, out_dims=-1),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", NAMES)
def test_transform_matches_torch_func(transform, name):
    f = FUNCTIONS[name]
    if transform == "nested_vmap":  # map over the batch, then over dim 1 of a (B, 2, 3, 4) input
        x = np.random.default_rng(1).standard_normal((B, 2) + SHAPE)
    else:
        x = _batch()
    ours, theirs = _run(TRANSFORMS[transform], f, x)
    _close(ours, theirs)


def test_reductions_inside_vmap_are_per_example():
    x = G.tensor(_batch())
    per_example = func.vmap(lambda t: t.sum())(x)
    np.testing.assert_allclose(per_example.numpy(), _batch().sum(axis=(1, 2)), rtol=1e-14)


def test_shapes_inside_vmap_are_per_example():
    seen = []
    func.vmap(lambda t: seen.append((tuple(t.shape), t.ndim, len(t))) or t)(G.tensor(_batch()))
    assert set(seen) == {(SHAPE, 2, 3)}


def test_in_dims_tuple_with_none_and_mapped_non_leading_dim():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, B)), rng.standard_normal((3, 2))

    def f(lib, a, m):
        return a @ m + a.sum()
    ours = func.vmap(lambda a, m: f(G, a, m), in_dims=(1, None))(G.tensor(x), G.tensor(w))
    theirs = torch.func.vmap(lambda a, m: f(torch, a, m), in_dims=(1, None))(torch.tensor(x), torch.tensor(w))
    _close(ours, theirs)


def test_pytree_inputs_and_outputs_with_prefix_dims():
    rng = np.random.default_rng(3)
    a, b, c = rng.standard_normal((B, 3)), rng.standard_normal(3), rng.standard_normal((2, B))

    def f(lib, tree, scale):
        (u, v), d = tree["pair"], tree["d"]
        return {"sum": (u * v).sum() * scale, "parts": [u + v, d * 2.0]}

    def run(lib, F):
        tree = {"pair": (lib.tensor(a), lib.tensor(b)), "d": lib.tensor(c)}
        return F.vmap(lambda t, s: f(lib, t, s), in_dims=({"pair": (0, None), "d": 1}, None),
                      out_dims={"sum": 0, "parts": [0, 1]})(tree, 3.0)
    _close(run(G, func), run(torch, torch.func))


def test_vmap_of_grad_of_functional_call_gives_per_sample_gradients():
    rng = np.random.default_rng(4)
    xs, ys = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    weights = {"0.weight": rng.standard_normal((4, 3)), "0.bias": rng.standard_normal(4),
               "2.weight": rng.standard_normal((2, 4)), "2.bias": rng.standard_normal(2)}

    def per_sample(lib, F, nn):
        model = nn.Sequential(nn.Linear(3, 4, dtype=lib.float64), nn.Tanh(), nn.Linear(4, 2, dtype=lib.float64))
        params = {k: lib.tensor(v) for k, v in weights.items()}

        def loss(p, x, y):
            out = F.functional_call(model, p, (x.unsqueeze(0),))
            return ((out - y.unsqueeze(0)) ** 2).mean()
        return F.vmap(F.grad(loss), in_dims=(None, 0, 0))(params, lib.tensor(xs), lib.tensor(ys))

    _close(per_sample(G, func, G.nn), per_sample(torch, torch.func, torch.nn))


def test_functional_call_restores_the_module_and_keeps_parameter_order():
    model = G.nn.Linear(3, 2, dtype=G.float64)
    before = [(k, id(v)) for k, v in model.named_parameters()]
    zero = {"weight": G.zeros(2, 3, dtype=G.float64)}
    out = func.functional_call(model, zero, G.ones(1, 3, dtype=G.float64))
    np.testing.assert_allclose(out.detach().numpy(), model.bias.detach().numpy()[None])
    assert [(k, id(v)) for k, v in model.named_parameters()] == before
    with pytest.raises(RuntimeError, match="strict=True.*missing.*bias"):
        func.functional_call(model, zero, (G.ones(1, 3, dtype=G.float64),), strict=True)
    with pytest.raises(AttributeError, match="submodule 'nope'"):
        func.functional_call(model, {"nope.weight": zero["weight"]}, (G.ones(1, 3, dtype=G.float64),))
    assert [(k, id(v)) for k, v in model.named_parameters()] == before


@pytest.mark.parametrize("has_aux", [False, True])
def test_grad_and_value_matches_torch(has_aux):
    x = np.random.default_rng(5).standard_normal(4)

    def f(lib, t):
        value = (lib.tanh(t) * t).sum()
        return (value, {"double": value * 2}) if has_aux else value
    ours = func.grad_and_value(lambda t: f(G, t), has_aux=has_aux)(G.tensor(x))
    theirs = torch.func.grad_and_value(lambda t: f(torch, t), has_aux=has_aux)(torch.tensor(x))
    _close(ours, theirs, 1e-13)
    value = ours[1][0] if has_aux else ours[1]
    assert not value.requires_grad and not ours[0].requires_grad


def test_grad_over_a_dict_of_parameters_and_jacrev_argnums():
    rng = np.random.default_rng(6)
    w, b, x = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal(3)

    def loss(lib, p, v):
        return lib.sin(v @ p["w"] + p["b"]).sum()

    def run(lib, F):
        p = {"w": lib.tensor(w), "b": lib.tensor(b)}
        return (F.grad(lambda p, v: loss(lib, p, v))(p, lib.tensor(x)),
                F.jacrev(lambda p, v: lib.sin(v @ p["w"] + p["b"]), argnums=(0, 1))(p, lib.tensor(x)),
                F.jacfwd(lambda p, v: lib.sin(v @ p["w"] + p["b"]), argnums=0)(p, lib.tensor(x)))
    _close(run(G, func), run(torch, torch.func))


def test_vjp_jvp_and_linearize_with_tuple_outputs():
    x = np.random.default_rng(7).standard_normal(3)

    def f(lib, t):
        return lib.sin(t), (t ** 2).sum()

    def run(F, lib):
        t = lib.tensor(x)
        out, pull = F.vjp(lambda u: f(lib, u), t)
        (g,) = pull((lib.ones(3, dtype=lib.float64), lib.tensor(2.0, dtype=lib.float64)))
        value, tangent = F.jvp(lambda u: f(lib, u), (t,), (t * 0 + 1,))
        lin_value, jvp_fn = F.linearize(lambda u: lib.exp(u), t)
        return out, g, value, tangent, lin_value, jvp_fn(t)
    _close(run(func, G), run(torch.func, torch))


def test_vmap_randomness():
    x = G.ones(4, 3)
    with pytest.raises(RuntimeError, match="randomness='error'"):
        func.vmap(lambda t: t * G.rand(3))(x)
    same = func.vmap(lambda t: t * G.rand(3), randomness="same")(x).numpy()
    assert np.all(same == same[0])
    different = func.vmap(lambda t: t * G.rand(3), randomness="different")(x).numpy()
    assert not np.all(different == different[0])


def test_vmap_errors_name_the_problem():
    x, y = G.ones(4, 3), G.ones(5, 3)
    with pytest.raises(ValueError, match="same size in its mapped dimension.*4 and 5"):
        func.vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(ValueError, match="in_dim=2 is out of range.*\\(4, 3\\)"):
        func.vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="in_dims is a tuple of 1.*2 positional"):
        func.vmap(lambda a, b: a, in_dims=(0,))(x, x)
    with pytest.raises(ValueError, match="type int.*use None"):
        func.vmap(lambda a, n: a * n, in_dims=(0, 0))(x, 3)
    with pytest.raises(ValueError, match="at least one input"):
        func.vmap(lambda a: a, in_dims=None)(x)
    with pytest.raises(ValueError, match="only tensors"):
        func.vmap(lambda a: 3)(x)
    with pytest.raises(ValueError, match="out_dims is None.*batched"):
        func.vmap(lambda a: a * 1, out_dims=None)(G.tensor([[1.0], [2.0]]))
    assert func.vmap(lambda a: G.ones(2), out_dims=None)(x).shape == (2,)
    assert func.vmap(lambda a: G.tensor([float("nan")]), out_dims=None)(x).isnan().all()
    with pytest.raises(ValueError, match="randomness must be one of"):
        func.vmap(lambda a: a, randomness="sometimes")


def test_vmap_is_also_top_level_as_torch_vmap():
    assert G.vmap is func.vmap
    x = _batch()
    _close(G.vmap(lambda t: t.sum(0))(G.tensor(x)), torch.vmap(lambda t: t.sum(0))(torch.tensor(x)))


def test_ensemble_with_stack_module_state_and_vmap_matches_torch():
    rng = np.random.default_rng(9)
    weights = [(rng.standard_normal((2, 3)), rng.standard_normal(2)) for _ in range(4)]
    x = rng.standard_normal((5, 3))

    def run(lib, F, nn):
        models = []
        for w, b in weights:
            m = nn.Linear(3, 2, dtype=lib.float64)
            m.weight.data, m.bias.data = lib.tensor(w), lib.tensor(b)
            models.append(m)
        params, buffers = F.stack_module_state(models)
        assert params["weight"].shape == (4, 2, 3) and params["weight"].requires_grad and params["weight"].is_leaf
        return F.vmap(lambda p, b, v: F.functional_call(models[0], (p, b), (v,)), in_dims=(0, 0, None))(
            params, buffers, lib.tensor(x))
    _close(run(G, func, G.nn), run(torch, torch.func, torch.nn))


AUX_CALLS = {
    "grad": lambda F, f, a, b: F.grad(f, argnums=(0, 1), has_aux=True)(a, b),
    "jacrev": lambda F, f, a, b: F.jacrev(lambda u, v: (f(u, v)[0] * u, f(u, v)[1]), argnums=1, has_aux=True)(a, b),
    "jacfwd": lambda F, f, a, b: F.jacfwd(lambda u, v: (f(u, v)[0] * u, f(u, v)[1]), argnums=(0, 1),
                                          has_aux=True)(a, b),
    "vjp": lambda F, f, a, b: (lambda out, pull, aux: (out, pull(out * 0 + 1), aux))(*F.vjp(f, a, b, has_aux=True)),
    "jvp": lambda F, f, a, b: F.jvp(f, (a, b), (a * 0 + 1, b * 2), has_aux=True),
    "hessian_argnums": lambda F, f, a, b: F.hessian(lambda u, v: f(u, v)[0], argnums=(0, 1))(a, b),
}


@pytest.mark.parametrize("call", sorted(AUX_CALLS))
def test_has_aux_and_argnums_match_torch_func(call):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal(3), rng.standard_normal(3)

    def make(lib):
        def f(u, v):
            value = (lib.sin(u) * v).sum() + (u ** 2 * v ** 3).sum()
            return value, {"u_norm": u.norm(), "pair": (v * 2, u.sum())}
        return f
    ours = AUX_CALLS[call](func, make(G), G.tensor(a), G.tensor(b))
    theirs = AUX_CALLS[call](torch.func, make(torch), torch.tensor(a), torch.tensor(b))
    _close(ours, theirs)


def test_hessian_over_a_dict_of_parameters_is_a_dict_of_dicts_as_in_torch():
    rng = np.random.default_rng(12)
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)

    def run(lib, F):
        params = {"w": lib.tensor(w), "b": lib.tensor(b)}
        return F.hessian(lambda p: (lib.tanh(p["w"]).sum(1) * p["b"] ** 2).sum())(params)
    _close(run(G, func), run(torch, torch.func))
