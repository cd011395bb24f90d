"""Forward mode: every op's JVP agrees with its VJP (the dot-product test), and batched tangents push several
directions at once."""
import math

import numpy as np
import pytest

import gpuad as G
from gpuad.autograd import forward_ad as fwAD
from gpuad.ops.core import REGISTRY
from op_cases import CASES, make_inputs

PARAMS = [pytest.param(case[0], case[1], id=f"{name}-{i}") for name in sorted(CASES)
          for i, case in enumerate(CASES[name])]
LOSSY = {"to_dtype"}  # cases that pass through float32 on purpose


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


def _push(fn, inputs, tangents, batched=False):
    """The outputs and their tangents, by forward mode."""
    with fwAD.dual_level():
        duals = [fwAD.make_dual(x, t, batched=batched) for x, t in zip(inputs, tangents)]
        outs = _outputs(fn(*duals))
        return [fwAD.unpack_dual(o) for o in outs]


def test_every_differentiable_op_has_a_jvp():
    missing = sorted(name for name, op in REGISTRY.items() if op.vjp is not None and op.jvp is None)
    assert not missing, f"ops with a VJP but no JVP rule: {missing}"


def test_worked_example_x_cubed_plus_log_x():
    with fwAD.dual_level():
        x = fwAD.make_dual(G.tensor(2.0, dtype=G.float64), G.tensor(1.0, dtype=G.float64))
        y = x ** 3 + G.log(x)
        primal, tangent = fwAD.unpack_dual(y)
    assert tangent.item() == 12.5
    assert primal.item() == pytest.approx(8 + math.log(2))


def test_tangents_are_ignored_outside_their_level():
    with fwAD.dual_level():
        x = fwAD.make_dual(G.tensor(1.0), G.tensor(1.0))
    assert fwAD.unpack_dual(x * 2).tangent is None


def test_make_dual_outside_a_level_is_a_clear_error():
    with pytest.raises(RuntimeError, match="dual_level"):
        fwAD.make_dual(G.tensor(1.0), G.tensor(1.0))


def test_make_dual_checks_the_tangent_shape():
    with fwAD.dual_level(), pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        fwAD.make_dual(G.ones(2), G.ones(3))


@pytest.mark.parametrize("fn,spec", PARAMS)
def test_jvp_and_vjp_agree_on_random_directions(fn, spec, request):
    """<jvp(u), v> == <u, vjp(v)> for random u and v: the two modes compute the same derivative."""
    rng = np.random.default_rng(7)
    inputs = make_inputs(spec, rng)
    tangents = [G.tensor(rng.standard_normal(x.shape), dtype=G.float64) for x in inputs]
    pushed = _push(fn, inputs, tangents)
    outs = _outputs(fn(*inputs))
    cotangents = [G.tensor(rng.standard_normal(o.shape), dtype=G.float64) for o in outs]
    grads = G.autograd.grad(outs, inputs, grad_outputs=cotangents, allow_unused=True)
    forward = sum(float((p.tangent * v).sum()) for p, v in zip(pushed, cotangents) if p.tangent is not None)
    reverse = sum(float((u * g).sum()) for u, g in zip(tangents, grads) if g is not None)
    rel = 1e-6 if request.node.callspec.id.split("-")[0] in LOSSY else 1e-10
    assert forward == pytest.approx(reverse, rel=rel, abs=1e-12)


@pytest.mark.parametrize("fn,spec", PARAMS)
def test_a_batch_of_tangents_equals_one_direction_at_a_time(fn, spec):
    rng = np.random.default_rng(3)
    inputs = make_inputs(spec, rng, requires_grad=False)
    batch = [G.tensor(rng.standard_normal((3,) + x.shape), dtype=G.float64) for x in inputs]
    together = _push(fn, inputs, batch, batched=True)
    for k in range(3):
        alone = _push(fn, inputs, [t[k] for t in batch])
        for a, b in zip(alone, together):
            if a.tangent is None:
                assert b.tangent is None
            else:
                np.testing.assert_allclose(b.tangent.numpy()[k], a.tangent.numpy(), rtol=1e-12, atol=1e-12)


def test_function_with_jvp_works_in_forward_mode_and_without_raises():
    class Square(G.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g * ctx.saved_tensors[0]

        @staticmethod
        def jvp(ctx, t):
            return 2 * t * ctx.saved_tensors[0]

    class NoJvp(Square):
        jvp = None

    with fwAD.dual_level():
        x = fwAD.make_dual(G.tensor(3.0), G.tensor(1.0))
        assert fwAD.unpack_dual(Square.apply(x)).tangent.item() == 6.0
        with pytest.raises(RuntimeError, match="NoJvp has no jvp"):
            NoJvp.apply(x)


def test_in_place_ops_carry_tangents():
    with fwAD.dual_level():
        x = fwAD.make_dual(G.tensor([1.0, 2.0]), G.tensor([1.0, 1.0]))
        y = x * 1
        y.mul_(3)
        y[0] = 0.0
        np.testing.assert_array_equal(fwAD.unpack_dual(y).tangent.numpy(), [0.0, 3.0])
