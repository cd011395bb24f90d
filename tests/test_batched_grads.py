"""Reverse mode with batched cotangents (autograd.grad(..., is_grads_batched=True)) equals one backward per row,
for every op in the registry."""
import numpy as np
import pytest

import gpuad as G
from op_cases import CASES, make_inputs

PARAMS = [pytest.param(case[0], case[1], id=f"{name}-{i}") for name in sorted(CASES)
          for i, case in enumerate(CASES[name])]


@pytest.mark.parametrize("fn,spec", PARAMS)
def test_a_batch_of_cotangents_equals_one_backward_per_row(fn, spec):
    rng = np.random.default_rng(5)
    inputs = make_inputs(spec, rng)
    out = fn(*inputs)
    cotangents = G.tensor(rng.standard_normal((3,) + out.shape), dtype=G.float64)
    together = G.autograd.grad(out, inputs, cotangents, retain_graph=True, allow_unused=True, is_grads_batched=True)
    for k in range(3):
        alone = G.autograd.grad(out, inputs, cotangents[k], retain_graph=True, allow_unused=True)
        for a, b in zip(alone, together):
            if a is None:
                assert b is None
            else:
                assert b.shape == (3,) + a.shape
                np.testing.assert_allclose(b.numpy()[k], a.numpy(), rtol=1e-12, atol=1e-12)


def test_batched_grad_outputs_must_carry_the_batch_dimension():
    x = G.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leading batch dimension"):
        G.autograd.grad(x * 2, x, G.ones(3, 4), is_grads_batched=True)
