"""Every op on CUDA agrees with the CPU path (forward and VJP), driven by the same case table as the gradcheck suite.

Skipped, with a reason, where no GPU is present."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from op_cases import CASES, make_inputs

pytestmark = [requires_cuda, pytest.mark.cuda]

PARAMS = [pytest.param(case[0], case[1], id=f"{name}-{i}") for name in sorted(CASES)
          for i, case in enumerate(CASES[name]) if name != "to_device"]


def _run(fn, inputs):
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    seeds = [G.ones_like(o) * (1.0 + G.arange(o.numel(), dtype=o.dtype, device=o.device).reshape(o.shape) / 7)
             for o in outs]
    grads = G.autograd.grad(outs, inputs, grad_outputs=seeds, allow_unused=True)
    return [o.cpu().numpy() for o in outs], [None if g is None else g.cpu().numpy() for g in grads]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("fn,spec", PARAMS)
def test_cuda_matches_cpu(fn, spec, dtype, rtol):
    cpu_inputs = make_inputs(spec, np.random.default_rng(0), dtype=dtype)
    gpu_inputs = make_inputs(spec, np.random.default_rng(0), dtype=dtype, device="cuda")
    out_c, grad_c = _run(fn, cpu_inputs)
    out_g, grad_g = _run(fn, gpu_inputs)
    for a, b in zip(out_c, out_g):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
    for a, b in zip(grad_c, grad_g):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)


def test_tensors_stay_on_the_gpu():
    x = G.randn(3, 4, device="cuda", requires_grad=True)
    y = (x.sigmoid() * 2).sum()
    y.backward()
    assert y.device == "cuda:0" and x.grad.device == "cuda:0"
    assert type(x.grad._data).__module__.startswith("cupy")


def test_moving_between_devices_is_differentiable():
    x = G.randn(5, dtype=G.float64, requires_grad=True)
    (x.cuda() * 3).cpu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(5, 3.0))


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="cpu.*cuda:0|cuda:0.*cpu"):
        G.ones(2) + G.ones(2, device="cuda")


def test_numpy_on_cuda_points_to_cpu():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        G.ones(2, device="cuda").numpy()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("size", [1, 31, 1025, 2 ** 20 + 3])
def test_activation_kernels_match_the_reference(dtype, size):
    x = G.randn(size, dtype=dtype) * 4
    for fn in (G.sigmoid, G.gelu, lambda t: G.gelu(t, approximate="tanh")):
        ref = fn(x.double()).numpy()
        got = fn(x.cuda()).cpu().double().numpy()
        tol = {"float16": 2e-3, "float32": 1e-6, "float64": 1e-12}[dtype]
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_kernels_handle_non_contiguous_inputs():
    x = G.randn(64, 33, device="cuda")
    np.testing.assert_allclose(G.sigmoid(x.T).cpu().numpy(), G.sigmoid(x.cpu().T).numpy(), rtol=1e-6)


def test_manual_seed_reproduces_on_cuda():
    G.manual_seed(3)
    a = G.randn(4, device="cuda").cpu().numpy()
    G.manual_seed(3)
    np.testing.assert_array_equal(G.randn(4, device="cuda").cpu().numpy(), a)


def test_dlpack_round_trip_with_cupy():
    cupy = pytest.importorskip("cupy")
    x = G.arange(4.0, device="cuda")
    c = cupy.from_dlpack(x)
    c += 1
    np.testing.assert_array_equal(x.cpu().numpy(), [1.0, 2.0, 3.0, 4.0])
    assert G.from_dlpack(c).device == "cuda:0"
