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
