"""Every op on CUDA agrees with the CPU path (forward and VJP), driven by the same case table as the gradcheck suite:
float64 and float32 against the CPU in the same dtype, float16 against the CPU's float32 result for the same float16
inputs. Odd sizes, layouts, empty tensors, the fused kernels, losses and optimizers are in test_cuda_kernels.py.

Skipped, with a reason, where no GPU is present."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from op_cases import CASES, make_inputs

pytestmark = [requires_cuda, pytest.mark.cuda]

DEVICE = "cuda"
HALF_TOL = 1e-2  # float16 (computed in float32 inside the kernels) against the CPU's float32 result

PARAMS = [pytest.param(case[0], case[1], id=f"{name}-{i}") for name in sorted(CASES)
          for i, case in enumerate(CASES[name]) if name != "to_device"]


def _seed(shape, round_to=None):
    """1, 1 + 1/7, 1 + 2/7, ... over the output: every element gets its own weight in the VJP."""
    values = 1.0 + np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.float64).reshape(shape) / 7
    return values if round_to is None else values.astype(round_to)


def _run(fn, inputs, round_seeds_to=None):
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    seeds = [G.tensor(_seed(o.shape, round_seeds_to), dtype=o.dtype, device=o.device) for o in outs]
    grads = G.autograd.grad(outs, inputs, grad_outputs=seeds, allow_unused=True)
    return ([o.detach().cpu().numpy() for o in outs],
            [None if g is None else g.detach().cpu().numpy() for g in grads])


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("fn,spec", PARAMS)
def test_cuda_matches_cpu(fn, spec, dtype, rtol):
    cpu_inputs = make_inputs(spec, np.random.default_rng(0), dtype=dtype)
    gpu_inputs = make_inputs(spec, np.random.default_rng(0), dtype=dtype, device=DEVICE)
    out_c, grad_c = _run(fn, cpu_inputs)
    out_g, grad_g = _run(fn, gpu_inputs)
    assert len(out_c) == len(out_g) and len(grad_c) == len(grad_g)
    for a, b in zip(out_c, out_g):
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    for a, b in zip(grad_c, grad_g):
        assert (a is None) == (b is None)
        if a is not None:
            assert b.dtype == a.dtype and b.shape == a.shape
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)


def _as_half(dtype):
    """The dtype a float16 run should give where the float32 reference gives ``dtype``."""
    return np.dtype(np.float16) if dtype == np.float32 else dtype


@pytest.mark.parametrize("fn,spec", PARAMS)
def test_cuda_float16_matches_cpu_float32(fn, spec):
    half_cpu = make_inputs(spec, np.random.default_rng(0), dtype="float16")
    try:  # where the CPU has no float16 for this case there is nothing to hold CUDA to
        _run(fn, half_cpu, round_seeds_to=np.float16)
    except (TypeError, NotImplementedError) as exc:
        pytest.skip(f"float16 is not supported on the CPU for this case: {exc}")
    reference = [G.tensor(t.detach().numpy().astype(np.float32), requires_grad=True) for t in half_cpu]
    gpu_inputs = make_inputs(spec, np.random.default_rng(0), dtype="float16", device=DEVICE)
    assert all(t.dtype == np.float16 for t in gpu_inputs)
    out_r, grad_r = _run(fn, reference, round_seeds_to=np.float16)
    out_g, grad_g = _run(fn, gpu_inputs, round_seeds_to=np.float16)
    assert len(out_r) == len(out_g) and len(grad_r) == len(grad_g)
    for a, b in zip(out_r, out_g):
        assert b.dtype == _as_half(a.dtype) and b.shape == a.shape
        np.testing.assert_allclose(b.astype(np.float64), a, rtol=HALF_TOL, atol=HALF_TOL)
    for a, b in zip(grad_r, grad_g):
        assert (a is None) == (b is None)
        if a is not None:
            assert b.dtype == np.float16 and b.shape == a.shape
            np.testing.assert_allclose(b.astype(np.float64), a, rtol=HALF_TOL, atol=HALF_TOL)


def test_tensors_stay_on_the_gpu():
    x = G.randn(3, 4, device=DEVICE, requires_grad=True)
    y = (x.sigmoid() * 2).sum()
    y.backward()
    assert y.device == "cuda:0" and x.grad.device == "cuda:0"
    assert type(x.grad._data).__module__.startswith("cupy")


def test_moving_between_devices_is_differentiable():
    x = G.randn(5, dtype=G.float64, requires_grad=True)
    (x.to(DEVICE) * 3).cpu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(5, 3.0))


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="cpu.*cuda:0|cuda:0.*cpu"):
        G.ones(2) + G.ones(2, device=DEVICE)


def test_numpy_on_cuda_points_to_cpu():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        G.ones(2, device=DEVICE).numpy()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("size", [1, 31, 1025, 2 ** 20 + 3])
def test_activation_kernels_match_the_reference(dtype, size):
    x = G.randn(size, dtype=dtype) * 4
    for fn in (G.sigmoid, G.gelu, lambda t: G.gelu(t, approximate="tanh")):
        ref = fn(x.double()).numpy()
        got = fn(x.to(DEVICE)).cpu().double().numpy()
        tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_kernels_handle_non_contiguous_inputs():
    x = G.randn(64, 33, device=DEVICE)
    np.testing.assert_allclose(G.sigmoid(x.T).cpu().numpy(), G.sigmoid(x.cpu().T).numpy(), rtol=1e-6)


def test_manual_seed_reproduces_on_cuda():
    G.manual_seed(3)
    a = G.randn(4, device=DEVICE).cpu().numpy()
    G.manual_seed(3)
    np.testing.assert_array_equal(G.randn(4, device=DEVICE).cpu().numpy(), a)


def test_dlpack_round_trip_with_cupy():
    cupy = pytest.importorskip("cupy")
    x = G.arange(4.0, device=DEVICE)
    c = cupy.from_dlpack(x)
    c += 1
    np.testing.assert_array_equal(x.cpu().numpy(), [1.0, 2.0, 3.0, 4.0])
    assert G.from_dlpack(c).device == "cuda:0"
