import os

import numpy as np
import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")

try:  # fuzz budgets (tests/test_fuzz.py): "ci" is fixed and small; `pytest --hypothesis-profile=deep` runs long
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a dev dependency; without it the fuzz tests skip
    pass
else:
    _relaxed = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                HealthCheck.function_scoped_fixture]
    settings.register_profile("ci", max_examples=6, derandomize=True, deadline=None, database=None,
                              suppress_health_check=_relaxed, print_blob=True)
    settings.register_profile("deep", max_examples=300, deadline=None, suppress_health_check=_relaxed,
                              print_blob=True)
    settings.load_profile(os.environ.get("GPUAD_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(items):
    """Every test that needs a GPU carries the ``cuda`` marker, so ``pytest -m cuda`` runs exactly the GPU suite."""
    for item in items:
        if any(m.name == "skipif" and m.kwargs.get("reason") == "no CUDA GPU available" for m in item.iter_markers()):
            item.add_marker(pytest.mark.cuda)
