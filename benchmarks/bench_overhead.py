"""Per-op overhead benchmarks: gpuad against the hand-written NumPy floor and PyTorch.

    pytest benchmarks/bench_overhead.py --benchmark-enable             # measure
    pytest benchmarks/bench_overhead.py                                 # smoke test: every body runs once

Cases (``_workloads.py`` has the code each library runs):
  small-fwd-bwd   (a * b + c).sum() forward + backward, 10-element float32 tensors that require grad
  small-fwd       the same expression, forward only
  small-mul       one op with requires_grad: a * b
  small-bwd       backward() alone on the tiny graph (the graph is built outside the timer)
  large-fwd-bwd   as small-fwd-bwd on 1M-element tensors

All libraries run in this one process here, which is convenient but can distort the numbers (PyTorch's idle thread
pools slow NumPy down); ``overhead_table.py`` measures each library in its own process and checks the targets.
Set GPUAD_BENCH_DEVICE=cuda to run on a GPU (the bodies synchronize before returning).
"""
import os

import pytest

import _workloads as w
from _common import sync

DEVICE = os.environ.get("GPUAD_BENCH_DEVICE", "cpu")

if DEVICE != "cpu":
    import gpuad
    if not gpuad.cuda.is_available():
        pytest.skip(f"GPUAD_BENCH_DEVICE={DEVICE} but no CUDA GPU is usable", allow_module_level=True)


def workload(lib, n):
    if lib == "torch":
        torch = pytest.importorskip("torch")
        if DEVICE != "cpu" and not torch.cuda.is_available():
            pytest.skip("this PyTorch build has no CUDA")
    wl = w.make(lib, n, DEVICE)
    w.check(wl, n)  # the smoke test is also a correctness test
    return wl


def timed(wl, fn):
    if wl.device == "cpu":
        return fn

    def body():
        fn()
        sync(wl.device)
    return body


@pytest.mark.parametrize("case", ["fwd_bwd", "fwd", "mul"])
@pytest.mark.parametrize("lib", w.LIBS)
def test_small(benchmark, lib, case):
    """small-fwd-bwd, small-fwd and small-mul: one workload function, timed whole."""
    benchmark.group = "small-" + case.replace("_", "-")
    wl = workload(lib, w.SMALL)
    benchmark(timed(wl, getattr(wl, case)))


@pytest.mark.benchmark(group="small-bwd")
@pytest.mark.parametrize("lib", w.LIBS)
def test_small_bwd(benchmark, lib):
    wl = workload(lib, w.SMALL)

    def setup():
        loss = wl.prepare_bwd()
        sync(wl.device)
        return (loss,), {}

    benchmark.pedantic(timed(wl, wl.bwd), setup=setup, rounds=2000, warmup_rounds=100)


@pytest.mark.benchmark(group="large-fwd-bwd")
@pytest.mark.parametrize("lib", w.LIBS)
def test_large_fwd_bwd(benchmark, lib):
    wl = workload(lib, w.LARGE)
    benchmark(timed(wl, wl.fwd_bwd))
