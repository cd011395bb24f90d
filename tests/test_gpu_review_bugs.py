"""The GPU bugs a review found by reading (issue 12): each pinned here, on the CPU where the logic allows and on
CUDA (skipped without a GPU) where only a device shows it."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from gpuad.backends.cuda import _half_safe

two_gpus = pytest.mark.skipif(G.cuda.device_count() < 2, reason="needs two CUDA GPUs")


def test_half_safe_computes_float16_in_float32_and_casts_back():
    widening = _half_safe(lambda x: x.astype(np.float64) * 2)  # CuPy's erf: an e->d loop
    out = widening(np.array([0.5, 1.0], np.float16))
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.array([1.0, 2.0], np.float16))
    assert widening(np.array([0.5], np.float32)).dtype == np.float64  # other dtypes untouched


def test_cpu_reference_keeps_float32_denormals_that_cuda_flushes():
    """The CPU is the reference; CUDA flushes float32 denormals (CuPy's -ftz=true, documented in cuda_kernels)."""
    out = G.sigmoid(G.tensor([-100.0], dtype=G.float32)).numpy()
    assert 0 < out[0] < np.finfo(np.float32).tiny


def test_cuda_extras_bring_the_cuda_toolkit_libraries():
    import pathlib
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(dep.startswith("cupy-cuda12x[ctk]") for dep in extras["cuda12"])
    assert any(dep.startswith("cupy-cuda13x[ctk]") for dep in extras["cuda13"])


@requires_cuda
@pytest.mark.parametrize("fn", [G.erf, G.gelu])
def test_float16_erf_family_stays_float16_on_cuda(fn):
    x = G.tensor([-1.0, 0.0, 0.5], dtype=G.float16, device="cuda")
    y = fn(x)
    assert y.dtype == G.float16
    np.testing.assert_allclose(y.cpu().numpy().astype(np.float32), fn(x.cpu().float()).numpy(), atol=2e-3)


@requires_cuda
def test_sigmoid_denormal_edge_on_cuda_within_float32_tiny():
    x = G.tensor([-100.0, -87.0, -80.0], dtype=G.float32)
    np.testing.assert_allclose(G.sigmoid(x.cuda()).cpu().numpy(), G.sigmoid(x).numpy(), rtol=1e-6,
                               atol=np.finfo(np.float32).tiny)


@requires_cuda
def test_memory_peak_ignores_a_failed_allocation():
    G.memory.reset_peak("cuda")
    before = G.memory.peak_bytes("cuda")
    with pytest.raises(Exception):
        G.empty(1 << 50, device="cuda")  # far more than any GPU holds
    assert G.memory.peak_bytes("cuda") == before


@requires_cuda
@two_gpus
def test_memory_peak_on_two_devices():
    for index in (0, 1):
        G.memory.reset_peak(f"cuda:{index}")
    x = G.zeros(1 << 20, device="cuda:1")
    assert G.memory.peak_bytes("cuda:1") >= x.numel() * 4
    assert G.memory.peak_bytes("cuda:0") < x.numel() * 4


@requires_cuda
@two_gpus
def test_ops_on_the_second_gpu_stay_there():
    a = G.randn(4, 3, device="cuda:1", requires_grad=True)
    b = G.ones(3, 2, device="cuda:1")
    out = (a @ b).relu().sum()
    out.backward()
    assert out.device == G.device("cuda:1") and a.grad.device == G.device("cuda:1")
    assert a.grad._data.device.id == 1
