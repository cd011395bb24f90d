"""Every differentiable op in the registry passes gradcheck (float64, CPU) over its sample inputs."""
import numpy as np
import pytest

import gpuad as G
from gpuad.ops.core import REGISTRY
from op_cases import CASES, make_inputs

DIFFERENTIABLE = sorted(name for name, op in REGISTRY.items() if op.vjp is not None)
PARAMS = [pytest.param(case[0], case[1], case[2] if len(case) > 2 else {}, id=f"{name}-{i}")
          for name in sorted(CASES) for i, case in enumerate(CASES[name])]


def test_every_differentiable_op_has_gradcheck_cases():
    missing = sorted(set(DIFFERENTIABLE) - set(CASES))
    assert not missing, f"ops without gradcheck cases in tests/op_cases.py: {missing}"


def test_cases_name_only_registered_ops():
    assert not set(CASES) - set(REGISTRY)


@pytest.mark.parametrize("fn,spec,options", PARAMS)
def test_gradcheck(fn, spec, options, rng):
    inputs = make_inputs(spec, rng)
    assert G.gradcheck(fn, inputs, **options)


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - set(DIFFERENTIABLE)))
def test_non_differentiable_ops_never_require_grad(name):
    x = G.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    calls = {"eq": lambda: x == 0.5, "ne": lambda: x != 0.5, "lt": lambda: x < 0, "le": lambda: x <= 0,
             "gt": lambda: x > 0, "ge": lambda: x >= 0, "argmax": lambda: x.argmax(), "argmin": lambda: x.argmin(1),
             "all": lambda: x.all(), "any": lambda: x.any(dim=0), "isnan": lambda: x.isnan(),
             "isinf": lambda: x.isinf(), "isfinite": lambda: x.isfinite(),
             "logical_and": lambda: G.logical_and(x > 0, x < 1), "logical_or": lambda: G.logical_or(x > 0, x < 1),
             "logical_xor": lambda: G.logical_xor(x > 0, x < 1), "logical_not": lambda: G.logical_not(x > 0),
             "bitwise_and": lambda: (x > 0) & (x < 1), "bitwise_or": lambda: (x > 0) | (x < 1),
             "bitwise_xor": lambda: (x > 0) ^ (x < 1), "bitwise_not": lambda: ~(x > 0)}
    out = calls[name]()
    assert not out.requires_grad and out.grad_fn is None


def test_gradcheck_catches_a_wrong_vjp():
    class WrongSquare(G.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 * g * x

    x = G.tensor([1.0, 2.0, 3.0], dtype=G.float64, requires_grad=True)
    with pytest.raises(G.autograd.GradcheckError, match=r"input 0, at input index \(0,\).*numerical 2\.0.*analytical 1\.0"):
        G.gradcheck(WrongSquare.apply, (x,))
    assert G.gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_gradcheck_rejects_float32_inputs():
    x = G.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="float64"):
        G.gradcheck(G.exp, (x,))


def test_empty_tensors_flow_through_backward():
    x = G.zeros(0, 3, dtype=G.float64, requires_grad=True)
    (x.exp() * 2).sum().backward()
    assert x.grad.shape == (0, 3)


def test_repeated_indices_sum_their_gradients():
    x = G.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 2, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])


def _random_shape(rng, max_dims=3):
    return tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(0, max_dims + 1)))


def _broadcast_partner(rng, shape):
    """A random shape that broadcasts with ``shape``: some dims dropped from the front, some set to 1."""
    keep = shape[rng.integers(0, len(shape) + 1):] if shape else ()
    return tuple(1 if rng.random() < 0.4 else s for s in keep)


UNARY = {"neg": G.neg, "exp": G.exp, "sin": G.sin, "cos": G.cos, "tanh": G.tanh, "sigmoid": G.sigmoid,
         "erf": G.erf, "gelu": G.gelu, "softplus": G.softplus, "log": lambda x: G.log(x * x + 0.5),
         "sqrt": lambda x: G.sqrt(x * x + 0.5), "log1p": lambda x: G.log1p(x * x), "abs": lambda x: G.abs(x + 10),
         "relu": lambda x: G.relu(x + 10), "clamp": lambda x: G.clamp(x, -10, 10), "sum": G.sum, "mean": G.mean,
         "logsumexp": G.logsumexp, "norm": lambda x: G.norm(x + 10), "softmax": lambda x: G.softmax(x.reshape(-1))}
BINARY = {"add": G.add, "sub": G.sub, "mul": G.mul, "div": lambda a, b: a / (b * b + 0.5),
          "pow": lambda a, b: (a * a + 0.5) ** b, "maximum": lambda a, b: G.maximum(a, b + 10),
          "minimum": lambda a, b: G.minimum(a, b + 10), "where": lambda a, b: G.where(a > 0, a, b)}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_on_random_shapes_including_0d_and_empty(name, seed):
    rng = np.random.default_rng(seed)
    shape = (0, 2) if seed == 5 else _random_shape(rng)
    x = G.tensor(rng.standard_normal(shape), dtype=G.float64, requires_grad=True)
    if name in ("mean", "logsumexp", "softmax") and x.numel() == 0:
        pytest.skip(f"{name} of an empty tensor has no gradient to check")
    assert G.gradcheck(UNARY[name], (x,))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_on_random_broadcast_shapes(name, seed):
    rng = np.random.default_rng(100 + seed)
    shape_a = _random_shape(rng)
    shape_b = _broadcast_partner(rng, shape_a)
    if seed % 2:
        shape_a, shape_b = shape_b, shape_a
    a = G.tensor(rng.standard_normal(shape_a), dtype=G.float64, requires_grad=True)
    b = G.tensor(rng.standard_normal(shape_b), dtype=G.float64, requires_grad=True)
    assert G.gradcheck(BINARY[name], (a, b))
