"""Property-based fuzzing (hypothesis), driven from the op registry so that every registered op is fuzzed.

- Every case of every registered differentiable op (tests/op_cases.py) runs on random values, generic or at kinks and
  ties, in random memory layouts (transposed, stepped, expanded): reverse mode must agree with forward mode by the
  dot-product identity, with central differences where the function is smooth, and float32 with float64.
- Against PyTorch (where installed): random shapes with broadcasting, 0-d and empty tensors, non-contiguous inputs,
  negative dims and keepdim, float32 and float64: forward values, gradients, and second derivatives on a subset;
  indexing and setitem with repeated indices and masks; in-place programs through views with version counters; and
  dtype promotion between int/bool/float tensors and Python scalars.

CI runs the derandomized "ci" profile (tests/conftest.py); ``pytest --hypothesis-profile=deep tests/test_fuzz.py`` (or
GPUAD_HYPOTHESIS_PROFILE=deep) runs the long budget.
"""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import gpuad as G  # noqa: E402
from gpuad.ops.core import REGISTRY  # noqa: E402
from fuzz_support import (LAYOUTS, assert_close, as_numpy, check_vjp_against_jvp_and_differences,  # noqa: E402
                          float_outputs, layout_storage, torch_dtype, values)
from op_cases import CASES  # noqa: E402

DIFFERENTIABLE = sorted(name for name, op in REGISTRY.items() if op.vjp is not None)
SEEDS = st.integers(0, 2 ** 32 - 1)


# --- every registered op, from its cases ------------------------------------------------------------------------
def test_every_registered_differentiable_op_is_fuzzed():
    assert not set(DIFFERENTIABLE) - set(CASES), "every differentiable op needs cases in tests/op_cases.py"


REGISTRY_CASES = [pytest.param(name, i, id=f"{name}-{i}") for name in sorted(CASES) for i in range(len(CASES[name]))]


@pytest.mark.parametrize("name,index", REGISTRY_CASES)
@given(seed=SEEDS, special=st.booleans(), layouts=st.lists(st.sampled_from(LAYOUTS), min_size=3, max_size=3))
def test_registered_op_reverse_forward_and_differences_agree(name, index, seed, special, layouts):
    fn, spec = CASES[name][index][:2]
    coarse = len(CASES[name][index]) > 2  # cases with gradcheck options compute in float32 inside
    smooth = not special and not coarse
    try:
        _fuzz_case(fn, spec, seed, smooth, special, layouts, 1e-5 if coarse else 1e-8)
    except RuntimeError as exc:  # view() of a non-contiguous layout refuses, as in PyTorch: use plain memory
        if "view" not in str(exc) or set(layouts) == {"contiguous"}:
            raise
        _fuzz_case(fn, spec, seed, smooth, special, ["contiguous"] * len(layouts), 1e-5 if coarse else 1e-8)


def _fuzz_case(fn, spec, seed, smooth, special, layouts, rtol):
    rng = np.random.default_rng(seed)
    storages, views = [], []
    for (kind, shape), layout in zip(spec, layouts):
        storage, view = layout_storage(values(kind, shape, rng, special), layout, rng)
        storages.append(storage)
        views.append(view)

    def program(*leaves):
        return fn(*[view(G, leaf) for view, leaf in zip(views, leaves)])
    leaves = [G.tensor(s, dtype=G.float64, requires_grad=True) for s in storages]
    assert check_vjp_against_jvp_and_differences(program, leaves, rng, smooth=smooth, rtol=rtol)
    wide = float_outputs(program(*[G.tensor(s, dtype=G.float64) for s in storages]))
    narrow = float_outputs(program(*[G.tensor(s, dtype=G.float32) for s in storages]))
    for w, n in zip(wide, narrow):  # float32 against the float64 reference
        np.testing.assert_allclose(n.numpy().astype(np.float64), w.numpy(), rtol=2e-3, atol=2e-3, equal_nan=True)


# --- against PyTorch ---------------------------------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch")


def _gelu(L, x, approximate="none"):
    return G.gelu(x, approximate) if L is G else L.nn.functional.gelu(x, approximate=approximate)


def _softplus(L, x):
    return G.softplus(x, beta=2.0, threshold=3.0) if L is G else L.nn.functional.softplus(x, beta=2.0, threshold=3.0)


UNARY = {
    "neg": (lambda L, x: -x, "normal"), "abs": (lambda L, x: x.abs(), "normal"),
    "sign": (lambda L, x: x.sign() * x, "normal"), "exp": (lambda L, x: x.exp(), "normal"),
    "log": (lambda L, x: x.log(), "positive"), "log1p": (lambda L, x: x.log1p(), "positive"),
    "sqrt": (lambda L, x: x.sqrt(), "positive"), "rsqrt": (lambda L, x: x.rsqrt(), "positive"),
    "sin": (lambda L, x: x.sin(), "normal"), "cos": (lambda L, x: x.cos(), "normal"),
    "tan": (lambda L, x: x.tan(), "unit"), "tanh": (lambda L, x: x.tanh(), "normal"),
    "erf": (lambda L, x: x.erf(), "normal"), "sigmoid": (lambda L, x: x.sigmoid(), "normal"),
    "relu": (lambda L, x: x.relu(), "normal"), "gelu": (lambda L, x: _gelu(L, x), "normal"),
    "gelu_tanh": (lambda L, x: _gelu(L, x, "tanh"), "normal"), "softplus": (_softplus, "normal"),
    "clamp": (lambda L, x: x.clamp(-0.5, 0.5), "normal"), "clamp_min": (lambda L, x: x.clamp(min=0.5), "normal"),
    "floor": (lambda L, x: (x * 3).floor() + x, "normal"), "ceil": (lambda L, x: (x * 3).ceil() * x, "normal"),
    "round": (lambda L, x: (x * 3).round() + x, "normal"), "square": (lambda L, x: x.square(), "normal"),
    "pow_int": (lambda L, x: x ** 3, "normal"), "pow_half": (lambda L, x: x ** 0.5, "positive"),
    "pow_neg": (lambda L, x: x ** -2, "away"), "rpow": (lambda L, x: 2.0 ** x, "normal"),
    "rdiv": (lambda L, x: 2.0 / x, "away"), "rsub": (lambda L, x: 1.5 - x, "normal"),
    "scalar_maximum": (lambda L, x: L.maximum(x, L.tensor(0.5, dtype=x.dtype)), "normal"),
    "clone_contiguous": (lambda L, x: x.clone().contiguous() * 2, "normal"),
}
BINARY = {
    "add": (lambda L, a, b: a + b, "normal", "normal"), "sub": (lambda L, a, b: a - b, "normal", "normal"),
    "mul": (lambda L, a, b: a * b, "normal", "normal"), "div": (lambda L, a, b: a / b, "normal", "away"),
    "pow": (lambda L, a, b: a ** b, "positive", "normal"),
    "maximum": (lambda L, a, b: L.maximum(a, b), "normal", "normal"),
    "minimum": (lambda L, a, b: L.minimum(a, b), "normal", "normal"),
    "remainder": (lambda L, a, b: L.remainder(a, b), "normal", "away"),
    "floor_divide": (lambda L, a, b: L.floor_divide(a, b) + a * b, "normal", "away"),
    "where": (lambda L, a, b: L.where(a > 0, a, b), "normal", "normal"),
    "matmul_like": (lambda L, a, b: (a * b).sum(-1), "normal", "normal"),
}
SECOND_ORDER = {"exp", "log", "sqrt", "tan", "tanh", "sigmoid", "gelu", "gelu_tanh", "softplus", "erf", "pow_int",
                "pow_half", "rpow", "rdiv", "mul", "div", "pow", "maximum", "where", "sum", "mean", "logsumexp",
                "norm", "var", "std", "softmax", "log_softmax", "cumsum", "matmul", "getitem_advanced", "cat"}


@st.composite
def _shape(draw, min_dims=0, max_dims=3, min_side=0):
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4))


def _run_against_torch(program, arrays, kinds, dtype, seed, special, layouts, name, second=False):
    """Run ``program(lib, *inputs)`` in gpuad and PyTorch on the same values and layouts; compare the outputs and,
    in float64, the gradients (and on request the second derivatives)."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    data = [values(kind, a, rng, special) if isinstance(a, tuple) else a for kind, a in zip(kinds, arrays)]
    laid = [layout_storage(x, layout, rng) for x, layout in zip(data, layouts)]
    grads = np.dtype(dtype) == np.float64
    results = {}
    for lib in (torch, G):
        dt = torch_dtype(torch, dtype) if lib is torch else np.dtype(dtype)
        leaves = [lib.tensor(s, dtype=dt, requires_grad=grads) for s, _ in laid]
        try:
            out = program(lib, *[view(lib, leaf) for (_, view), leaf in zip(laid, leaves)])
        except Exception as exc:  # noqa: BLE001 - PyTorch refusing the input: gpuad must refuse it too
            results[lib] = exc
            continue
        outs = out if isinstance(out, (tuple, list)) else (out,)
        entry = {"out": [as_numpy(o) for o in outs]}
        if grads and any(o.requires_grad for o in outs):
            us = [lib.tensor(np.random.default_rng(seed + 1 + i).standard_normal(tuple(o.shape)), dtype=dt)
                  for i, o in enumerate(outs)]
            pairs = [(o, u) for o, u in zip(outs, us) if o.requires_grad]
            try:
                g = lib.autograd.grad([o for o, _ in pairs], leaves, grad_outputs=[u for _, u in pairs],
                                      allow_unused=True, create_graph=second)
            except RuntimeError as exc:  # PyTorch has no derivative for it (floor_divide): nothing to compare
                if lib is not torch or "not implemented" not in str(exc):
                    raise
                results[lib] = entry
                continue
            entry["grad"] = [None if x is None else as_numpy(x) for x in g]
            if second:
                weights = [lib.tensor(np.random.default_rng(seed + 7 + i).standard_normal(tuple(x.shape)), dtype=dt)
                           for i, x in enumerate(leaves)]
                total = [(x * w).sum() for x, w in zip(g, weights) if x is not None and x.requires_grad]
                if total:
                    gg = lib.autograd.grad(sum(total[1:], total[0]), leaves, allow_unused=True)
                    entry["grad2"] = [None if x is None else as_numpy(x) for x in gg]
        results[lib] = entry
    ours, theirs = results[G], results[torch]
    if not isinstance(theirs, Exception) and not isinstance(ours, Exception) and "grad" not in theirs:
        ours.pop("grad", None), ours.pop("grad2", None)
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"{name}: PyTorch raises {theirs!r}, gpuad returns a value"
        return
    if isinstance(ours, Exception):
        raise ours
    for key in ("out", "grad", "grad2"):
        if key not in theirs:
            continue
        assert key in ours, f"{name}: PyTorch has {key}, gpuad does not"
        for i, (a, b) in enumerate(zip(ours[key], theirs[key])):
            if a is None or b is None:  # an unused input: None in one library may be zeros in the other
                assert not np.any(a if a is not None else b), f"{name}: {key} {i} is None in one library only"
                continue
            assert_close(a, b, dtype, f"{name} {key} {i} (seed {seed}, special {special}, layouts {layouts})",
                         grad=key != "out")


DTYPES = st.sampled_from(["float64", "float64", "float32"])


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=_shape(), dtype=DTYPES, seed=SEEDS, special=st.booleans(), layout=st.sampled_from(LAYOUTS))
def test_unary_ops_match_pytorch(name, shape, dtype, seed, special, layout):
    fn, kind = UNARY[name]
    _run_against_torch(fn, [shape], [kind], dtype, seed, special, [layout], name, second=name in SECOND_ORDER)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3),
       dtype=DTYPES, seed=SEEDS, special=st.booleans(), layouts=st.lists(st.sampled_from(LAYOUTS), min_size=2,
                                                                         max_size=2))
def test_binary_ops_with_broadcasting_match_pytorch(name, shapes, dtype, seed, special, layouts):
    fn, ka, kb = BINARY[name]
    _run_against_torch(fn, list(shapes.input_shapes), [ka, kb], dtype, seed, special, layouts, name,
                       second=name in SECOND_ORDER)


def _dims(draw, ndim, one=False):
    if ndim == 0:
        return None if not one else draw(st.sampled_from([0, -1]))
    if one:
        return draw(st.integers(-ndim, ndim - 1))
    if draw(st.booleans()):
        return None
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in chosen)


REDUCTIONS = {
    "sum": lambda L, x, dim, keep: x.sum() if dim is None else x.sum(dim, keepdim=keep),
    "mean": lambda L, x, dim, keep: x.mean() if dim is None else x.mean(dim, keepdim=keep),
    "amax": lambda L, x, dim, keep: x.amax() if dim is None else x.amax(dim, keepdim=keep),
    "amin": lambda L, x, dim, keep: x.amin() if dim is None else x.amin(dim, keepdim=keep),
    "logsumexp": lambda L, x, dim, keep: L.logsumexp(x, tuple(range(x.ndim)) if dim is None else dim, keepdim=keep),
    # PyTorch's p=2 (its "fro") norm refuses more than two dims as a tuple (it becomes matrix_norm): at most two here
    "norm": lambda L, x, dim, keep: x.norm(dim=dim if dim is None or len(dim) <= 2 else dim[:2], keepdim=keep),
    "norm_p1": lambda L, x, dim, keep: x.norm(p=1, dim=dim, keepdim=keep),
    "norm_p3": lambda L, x, dim, keep: x.norm(p=3, dim=dim, keepdim=keep),
    "norm_half": lambda L, x, dim, keep: x.norm(p=0.5, dim=dim, keepdim=keep),
    "norm_inf": lambda L, x, dim, keep: x.norm(p=float("inf"), dim=dim, keepdim=keep),
    "var": lambda L, x, dim, keep: x.var(dim=dim, keepdim=keep),
    "var0": lambda L, x, dim, keep: x.var(dim=dim, keepdim=keep, correction=0),
    "std": lambda L, x, dim, keep: x.std(dim=dim, keepdim=keep),
}
ONE_DIM = {
    "softmax": lambda L, x, dim: x.softmax(dim), "log_softmax": lambda L, x, dim: x.log_softmax(dim),
    "cumsum": lambda L, x, dim: x.cumsum(dim), "flip": lambda L, x, dim: x.flip(dim) * x,
    "unbind_stack": lambda L, x, dim: L.stack(x.unbind(dim), dim=-1),
    "chunk_cat": lambda L, x, dim: L.cat([c * (i + 1) for i, c in enumerate(x.chunk(2, dim))], dim),
    "split_cat": lambda L, x, dim: L.cat([c.exp() for c in x.split(1, dim)][::-1], dim),
    "narrow": lambda L, x, dim: x.narrow(dim, -1, 1) if x.shape[dim] else x,
    "unsqueeze_squeeze": lambda L, x, dim: x.unsqueeze(dim).squeeze(dim) * x.unsqueeze(-1).squeeze(-1),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data(), shape=_shape(), dtype=DTYPES, seed=SEEDS, special=st.booleans(),
       layout=st.sampled_from(LAYOUTS))
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_reductions_with_dims_and_keepdim_match_pytorch(name, data, shape, dtype, seed, special, layout):
    dim, keep = _dims(data.draw, len(shape)), data.draw(st.booleans())
    fn = REDUCTIONS[name]
    _run_against_torch(lambda L, x: fn(L, x, dim, keep), [shape], ["normal"], dtype, seed, special, [layout], name,
                       second=name in SECOND_ORDER and not special)


@pytest.mark.parametrize("name", sorted(ONE_DIM))
@given(data=st.data(), shape=_shape(min_dims=1), dtype=DTYPES, seed=SEEDS, special=st.booleans(),
       layout=st.sampled_from(LAYOUTS))
def test_ops_along_one_dim_match_pytorch(name, data, shape, dtype, seed, special, layout):
    dim = _dims(data.draw, len(shape), one=True)
    fn = ONE_DIM[name]
    _run_against_torch(lambda L, x: fn(L, x, dim), [shape], ["normal"], dtype, seed, special, [layout], name,
                       second=name in SECOND_ORDER)


@given(data=st.data(), dtype=DTYPES, seed=SEEDS, special=st.booleans())
def test_movement_ops_match_pytorch(data, dtype, seed, special):
    shape = data.draw(_shape(min_dims=1, min_side=1))
    nd = len(shape)
    perm = tuple(data.draw(st.permutations(range(nd))))
    lead = data.draw(st.integers(1, 3))
    program = data.draw(st.sampled_from([
        ("reshape", lambda L, x: x.reshape(-1).sin()),
        ("permute", lambda L, x: x.permute(*perm) * L.arange(shape[perm[-1]], dtype=x.dtype)),
        ("transpose", lambda L, x: x.transpose(0, -1).exp()),
        ("expand", lambda L, x: x.expand(lead, *shape) * L.arange(lead, dtype=x.dtype).reshape((lead,) + (1,) * nd)),
        ("flatten", lambda L, x: x.flatten().cumsum(0)),
        ("cat", lambda L, x: L.cat([x, x * 2, x.exp()], dim=-1)),
        ("stack", lambda L, x: L.stack([x, x.tanh()], dim=data_dim)),
    ]))
    global data_dim
    data_dim = data.draw(st.integers(-nd - 1, nd))
    _run_against_torch(program[1], [shape], ["normal"], dtype, seed, special, [data.draw(st.sampled_from(LAYOUTS))],
                       program[0], second=program[0] == "cat")


data_dim = 0


@given(data=st.data(), seed=SEEDS, special=st.booleans(), layout=st.sampled_from(LAYOUTS))
def test_matmul_matches_pytorch(data, seed, special, layout):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    other_batch = batch[data.draw(st.integers(0, len(batch))):] if batch else ()
    shapes = data.draw(st.sampled_from([((k,), (k,)), ((n, k), (k,)), ((k,), (k, m)), ((n, k), (k, m)),
                                        (batch + (n, k), other_batch + (k, m)), (batch + (n, k), (k,)),
                                        ((k,), batch + (k, m))]))
    _run_against_torch(lambda L, a, b: a @ b, list(shapes), ["normal", "normal"], "float64", seed, special,
                       [layout, "contiguous"], "matmul", second=True)


@given(data=st.data(), dtype=DTYPES, seed=SEEDS, special=st.booleans())
def test_indexing_with_repeated_indices_and_masks_matches_pytorch(data, dtype, seed, special):
    shape = data.draw(_shape(min_dims=1, max_dims=3, min_side=1))
    size = shape[0]
    index = data.draw(st.lists(st.integers(-size, size - 1), min_size=0, max_size=6))  # repeats sum their gradients
    mask = np.asarray(data.draw(hnp.arrays(np.bool_, shape[:data.draw(st.integers(1, len(shape)))])))
    start = data.draw(st.integers(-size, size))
    step = data.draw(st.integers(1, 3))
    programs = {
        "getitem_advanced": lambda L, x: x[L.tensor(index, dtype=L.int64)] * 2,
        "getitem_list": lambda L, x: x[index].exp() if index else x[L.tensor(index, dtype=L.int64)],
        "getitem_mask": lambda L, x: x[L.tensor(mask)].sin(),
        "getitem_basic": lambda L, x: x[start::step, None, ...].tanh(),
        "getitem_int": lambda L, x: x[start % size] * x[-1],
        "setitem_index": lambda L, x: _setitem(L, x, sorted(set(i % size for i in index))),
        "setitem_mask": lambda L, x: _setitem(L, x, L.tensor(mask)),
        "index_put_repeated": lambda L, x: _setitem(L, x, index, value_grad=False),
    }
    name = data.draw(st.sampled_from(sorted(programs)))
    _run_against_torch(programs[name], [shape], ["normal"], dtype, seed, special, ["contiguous"], name,
                       second=name == "getitem_advanced")


def _setitem(L, x, index, value_grad=True):
    """``y = x * 1; y[index] = v(x)``: gradients to the kept part of x and (unless repeated indices make the written
    value ambiguous) through the value."""
    y = x * 1
    selected = y[index] if not isinstance(index, list) else y[L.tensor(index, dtype=L.int64)]
    value = (selected.detach() * 0 + 3.0) if not value_grad else selected.sin() * 2
    if isinstance(index, list):
        index = L.tensor(index, dtype=L.int64)
    y[index] = value
    return y * y


# --- in-place programs through views ---------------------------------------------------------------------------------
VIEWS = [
    ("row", lambda y: y[1]), ("column", lambda y: y[:, 2]), ("block", lambda y: y[1:, 1:3]),
    ("transposed", lambda y: y.T), ("flat_step", lambda y: y.view(-1)[::3]), ("whole", lambda y: y),
    ("column_of_transpose", lambda y: y.T[0]), ("reshaped_row", lambda y: y.reshape(4, 3)[2]),
    ("reshaped_copy", lambda y: y.T.reshape(-1)),  # a copy, not a view: writing it leaves y alone
]
UPDATES = [
    ("mul_", lambda L, v, x: v.mul_(1.5)), ("add_", lambda L, v, x: v.add_(x.sum() * 0.25)),
    ("sub_", lambda L, v, x: v.sub_(x[0, 0])), ("tanh_", lambda L, v, x: v.tanh_()),
    ("sigmoid_", lambda L, v, x: v.sigmoid_()), ("zero_", lambda L, v, x: v.zero_()),
    ("fill_", lambda L, v, x: v.fill_(0.75)), ("copy_", lambda L, v, x: v.copy_(x.max() * 2)),
    ("setitem", lambda L, v, x: v.__setitem__(0, x.min())), ("pow_", lambda L, v, x: v.pow_(2)),
    ("clamp_", lambda L, v, x: v.clamp_(-0.5, 0.5)), ("exp_", lambda L, v, x: v.exp_()),
    ("div_", lambda L, v, x: v.div_(x.abs().sum() + 1)), ("neg_", lambda L, v, x: v.neg_()),
]


@given(steps=st.lists(st.tuples(st.integers(0, len(VIEWS) - 1), st.integers(0, len(UPDATES) - 1),
                                st.booleans()), min_size=1, max_size=5),
       seed=SEEDS, source_grad=st.booleans())
def test_in_place_programs_through_views_match_pytorch(steps, seed, source_grad):
    """A base (a non-leaf, or a tensor without grad written with values that require grad) changed in place through
    random views, with views taken before the changes used afterwards: values, gradients and version counters."""
    torch = _torch()
    x0 = np.random.default_rng(seed).standard_normal((3, 4))
    results = []
    for L in (torch, G):
        try:
            results.append(_view_program(L, steps, x0, source_grad))
        except RuntimeError as exc:  # PyTorch's saved outputs see later in-place changes; gpuad's own copies don't
            if L is not torch or "modified by an inplace operation" not in str(exc):
                raise
            _view_program(G, steps, x0, source_grad)  # gpuad still computes it (its saved values are separate)
            return
    (lt, gt, yt, vt), (lg, gg, yg, vg) = results
    what = f"steps {[(VIEWS[a][0], UPDATES[b][0], k) for a, b, k in steps]}"
    np.testing.assert_allclose(lg, lt, rtol=1e-12, atol=1e-12, err_msg=what)
    np.testing.assert_allclose(yg, yt, rtol=1e-12, atol=1e-12, err_msg=what)
    np.testing.assert_allclose(gg, gt, rtol=1e-10, atol=1e-12, err_msg=what)
    assert vg == vt, f"{what}: version {vg}, PyTorch {vt}"


def _view_program(L, steps, x0, source_grad):
    """(loss, x.grad, final y, y's version) after the in-place ``steps`` through views of y."""
    x = L.tensor(x0, dtype=L.float64, requires_grad=True)
    y = x * 1 if source_grad else L.zeros(3, 4, dtype=L.float64)
    kept = []
    for view_i, update_i, keep in steps:
        view = VIEWS[view_i][1](y)
        if keep:
            kept.append(VIEWS[(view_i + 1) % len(VIEWS)][1](y))  # taken before, used after
        UPDATES[update_i][1](L, view, x)
    loss = (y * y.cos()).sum() + sum((k * k).sum() for k in kept) + x.sum()
    loss.backward()
    version = y._version if L is not G else y._version_value
    return loss.item(), x.grad.numpy(), y.detach().numpy(), version


# --- dtype promotion ----------------------------------------------------------------------------------------------
TENSOR_DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
PROMOTING = {
    "add": lambda L, a, b: L.add(a, b), "mul": lambda L, a, b: L.mul(a, b), "div": lambda L, a, b: L.div(a, b),
    "sub": lambda L, a, b: L.sub(a, b), "maximum": lambda L, a, b: L.maximum(a, b),
    "eq": lambda L, a, b: L.eq(a, b), "lt": lambda L, a, b: L.lt(a, b), "where": lambda L, a, b: L.where(a > 0, a, b),
}


@st.composite
def _operand(draw, allow_scalar):
    if allow_scalar and draw(st.booleans()):
        return ("scalar", draw(st.sampled_from([True, 0, 3, -2, 2.5, -0.5])))
    return ("tensor", draw(st.sampled_from(TENSOR_DTYPES)), draw(st.sampled_from([(), (3,)])))


def _make(L, operand, rng_values):
    if operand[0] == "scalar":
        return operand[1]
    _, dtype, shape = operand
    data = np.asarray(rng_values[:int(np.prod(shape))]).reshape(shape)
    return L.tensor(data.astype(dtype), dtype=getattr(L, dtype))


@given(name=st.sampled_from(sorted(PROMOTING)), a=_operand(False), b=_operand(True), seed=SEEDS)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_dtype_promotion_matches_pytorch(name, a, b, seed):
    torch = _torch()
    raw = np.random.default_rng(seed).integers(-3, 4, size=3)
    out = {}
    for L in (torch, G):
        try:
            out[L] = PROMOTING[name](L, _make(L, a, raw), _make(L, b, raw))
        except Exception as exc:  # noqa: BLE001
            out[L] = exc
    theirs, ours = out[torch], out[G]
    if isinstance(theirs, Exception):  # e.g. subtracting bools, maximum with a number: gpuad may be more lenient
        return
    assert not isinstance(ours, Exception), f"{name}({a}, {b}): PyTorch gives {theirs.dtype}, gpuad raises {ours!r}"
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), f"{name}({a}, {b})"
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=1e-3,
                               equal_nan=True, err_msg=f"{name}({a}, {b})")
