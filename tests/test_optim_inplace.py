"""The optimizer step is cheap: it updates every parameter in its own array (the same memory, its version counter
bumped so saved values see the change) and, once its buffers exist, allocates no parameter-sized array."""
import tracemalloc

import numpy as np
import pytest

import gpuad as G
from gpuad import optim
from optim_cases import CONFIGS, IDS

SHAPE = (96, 96)  # 72 KiB per float64 array


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_a_step_updates_in_place_and_allocates_no_array(name, options):
    rng = np.random.default_rng(0)
    params = [G.tensor(rng.standard_normal(SHAPE), requires_grad=True) for _ in range(2)]
    for p in params:
        p.grad = G.tensor(rng.standard_normal(SHAPE))
    opt = getattr(optim, name)(params, **options)
    opt.step()
    opt.step()  # every buffer exists now
    arrays = [p._data for p in params]
    before = [p.detach().numpy().copy() for p in params]
    versions = [p._version_counter.value for p in params]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        opt.step()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < np.prod(SHAPE) * 8 // 8, f"the step allocated {peak} bytes"
    for p, a, b, v in zip(params, arrays, before, versions):
        assert p._data is a and not np.array_equal(p.detach().numpy(), b)
        assert p._version_counter.value == v + 1
