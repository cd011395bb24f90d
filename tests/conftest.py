import numpy as np
import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
