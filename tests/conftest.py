import numpy as np
import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_collection_modifyitems(items):
    """Every test that needs a GPU carries the ``cuda`` marker, so ``pytest -m cuda`` runs exactly the GPU suite."""
    for item in items:
        if any(m.name == "skipif" and m.kwargs.get("reason") == "no CUDA GPU available" for m in item.iter_markers()):
            item.add_marker(pytest.mark.cuda)
