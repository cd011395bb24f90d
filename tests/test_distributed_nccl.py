"""CUDA tensors over NCCL on 2 processes, one GPU each: the collectives and DDP against one CPU process. Runs where
two GPUs and NCCL exist and skips with the reason elsewhere; without GPUs only the error paths are checked."""
import numpy as np
import pytest

import gpuad
from test_distributed_worker import reference, requires_mpi, run_scenario, value


def _gpus():
    if not gpuad.cuda.is_available():
        return 0
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


def _nccl_missing():
    from gpuad.distributed.nccl_transport import load_nccl
    try:
        load_nccl()
        return None
    except RuntimeError as exc:
        return str(exc)


requires_two_gpus = pytest.mark.skipif(_gpus() < 2 or _nccl_missing() is not None,
                                       reason="NCCL tests need 2 CUDA GPUs and NCCL (cupy.cuda.nccl)")


@requires_mpi
@requires_two_gpus
def test_nccl_collectives_and_ddp_on_two_gpus(tmp_path):
    ranks = run_scenario("nccl", tmp_path)
    inputs = lambda dtype, shape=(2, 3): np.stack([value(r, shape, dtype) for r in range(2)])  # noqa: E731
    for dtype in ("float16", "float32", "float64", "int64", "bool"):
        stack = inputs(dtype)
        want = {"SUM": stack.any(0) if dtype == "bool" else stack.sum(0).astype(dtype),
                "MAX": stack.max(0), "MIN": stack.min(0),
                "PRODUCT": stack.all(0) if dtype == "bool" else stack.prod(0).astype(dtype)}
        if dtype.startswith("float"):
            want["AVG"] = (stack.sum(0) / 2).astype(dtype)
        for op, expected in want.items():
            for res in ranks:
                np.testing.assert_array_equal(res[f"all_reduce/{dtype}/{op}"], expected, err_msg=f"{dtype} {op}")
    for rank, res in enumerate(ranks):
        np.testing.assert_array_equal(res["broadcast"], value(1, (3,), "float32"))
        np.testing.assert_array_equal(res["all_gather_into_tensor"], inputs("float64"))
        np.testing.assert_array_equal(res["reduce_scatter_tensor"],
                                      inputs("float64", (4, 3)).sum(0)[rank * 2:(rank + 1) * 2])
        np.testing.assert_array_equal(res["scatter"], value(rank + 10, (2, 2), "float32"))
    np.testing.assert_array_equal(ranks[0]["gather"], inputs("int64", (3,)))
    expected = reference("adam")
    for res in ranks:
        for name, want in expected.items():
            np.testing.assert_allclose(res[f"ddp/{name}"], want, rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.skipif(_nccl_missing() is None, reason="NCCL is available here")
def test_a_missing_nccl_names_what_to_install():
    from gpuad.distributed.nccl_transport import load_nccl
    with pytest.raises(RuntimeError, match="NCCL is not available to CuPy.*nvidia-nccl-cu12.*backend='mpi'"):
        load_nccl()
