"""gpuad.distributed's collectives in a real 2-process MPI job: every op on every dtype (0-d, empty and 2-D tensors),
non-contiguous views, async handles, the gather/scatter family, and the errors each call names. The job runs once
(tests/test_distributed_worker.py); each test checks its part of both ranks' results against NumPy."""
import sys

import numpy as np
import pytest

from test_distributed_worker import DTYPES, OPS, requires_mpi, run_scenario, value

WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    return run_scenario("collectives", tmp_path_factory.mktemp("collectives"), n=WORLD)


def expected(op, shape, dtype):
    inputs = np.stack([value(r, shape, dtype) for r in range(WORLD)])
    if dtype == "bool":
        return inputs.any(0) if op in ("SUM", "MAX") else inputs.all(0)
    if op == "AVG":
        return (inputs.sum(0) / WORLD).astype(dtype)
    return {"SUM": inputs.sum(0), "MAX": inputs.max(0), "MIN": inputs.min(0), "PRODUCT": inputs.prod(0)}[op] \
        .astype(dtype)


@requires_mpi
def test_all_reduce_every_op_dtype_and_shape(ranks):
    checked = 0
    for dtype in DTYPES:
        for op in OPS:
            if op == "AVG" and not dtype.startswith("float"):
                continue
            for shape in [(), (0,), (2, 3)]:
                for rank, res in enumerate(ranks):
                    got = res[f"all_reduce/{dtype}/{op}/{shape}"]
                    assert got.dtype == np.dtype(dtype) and got.shape == shape, (dtype, op, shape)
                    np.testing.assert_array_equal(got, expected(op, shape, dtype), err_msg=f"{dtype} {op} {shape}")
                    checked += 1
    assert checked == WORLD * 3 * (3 * 5 + 5 * 4)


@requires_mpi
def test_avg_of_integers_and_bools_raises_like_pytorch(ranks):
    for dtype in ("int8", "uint8", "int32", "int64", "bool"):
        assert f"ReduceOp.AVG needs a floating-point tensor, got {dtype}" in str(ranks[0][f"error/avg/{dtype}"])


@requires_mpi
def test_non_contiguous_views_receive_the_result_in_place(ranks):
    transposed = expected("SUM", (4, 6), "float64")
    strided = value(0, (4, 6), "float64")
    strided[:, ::2] = expected("MAX", (4, 6), "float64")[:, ::2]
    for res in ranks:
        np.testing.assert_array_equal(res["noncontig/transposed"], transposed)
        np.testing.assert_array_equal(res["noncontig/strided"][:, ::2], strided[:, ::2])
    # the columns outside the view keep each rank's own values
    for rank, res in enumerate(ranks):
        np.testing.assert_array_equal(res["noncontig/strided"][:, 1::2], value(rank, (4, 6), "float64")[:, 1::2])


@requires_mpi
def test_async_handles_wait_and_report_completion(ranks):
    for res in ranks:
        assert res["async/returned"] and res["async/completed"] and res["async/version_bumped"]
        np.testing.assert_array_equal(res["async/all_reduce"], expected("AVG", (1000,), "float64"))
        np.testing.assert_array_equal(res["async/broadcast"], value(1, (3,), "float32"))


@requires_mpi
def test_broadcast_and_all_gather(ranks):
    for dtype in ("float32", "int64", "bool"):
        for res in ranks:
            np.testing.assert_array_equal(res[f"broadcast/{dtype}"], value(1, (2, 3), dtype))
            np.testing.assert_array_equal(res[f"all_gather/{dtype}"],
                                          np.stack([value(r, (2, 3), dtype) for r in range(WORLD)]))


@requires_mpi
def test_all_gather_into_tensor_stacked_and_concatenated(ranks):
    for res in ranks:
        for shape in [(2, 3), ()]:
            np.testing.assert_array_equal(res[f"all_gather_into_tensor/stacked/{shape}"],
                                          np.stack([value(r, shape, "float64") for r in range(WORLD)]))
        np.testing.assert_array_equal(res["all_gather_into_tensor/concatenated"],
                                      np.concatenate([value(r, (2, 3), "float64") for r in range(WORLD)]))


@requires_mpi
def test_reduce_scatter_tensor_gives_each_rank_its_reduced_chunk(ranks):
    for op in ("SUM", "AVG", "MAX"):
        full = expected(op, (WORLD * 2, 3), "float64")
        for rank, res in enumerate(ranks):
            np.testing.assert_array_equal(res[f"reduce_scatter_tensor/{op}"], full[rank * 2:(rank + 1) * 2])


@requires_mpi
def test_reduce_gather_and_scatter_reach_only_their_root(ranks):
    np.testing.assert_array_equal(ranks[1]["reduce/product_to_1"], expected("PRODUCT", (4,), "float64"))
    np.testing.assert_array_equal(ranks[0]["reduce/product_to_1"], value(0, (4,), "float64"))  # left unchanged
    np.testing.assert_array_equal(ranks[0]["gather/to_0"], np.stack([value(r, (3,), "int64") for r in range(WORLD)]))
    assert "gather/to_0" not in ranks[1]
    for rank, res in enumerate(ranks):
        np.testing.assert_array_equal(res["scatter/from_1"], value(rank + 10, (2, 2), "float32"))


@requires_mpi
def test_bad_arguments_are_errors_naming_the_call_and_the_problem(ranks):
    wanted = {
        "list_length": "all_gather: tensor_list must be a list of world_size=2 tensors, got 1 tensors",
        "list_shape": "all_gather: tensor_list[1] has shape (4,), the input has shape (3,)",
        "list_dtype": "TypeError: all_gather: tensor_list[1] has dtype int64, the input has float32",
        "stacked_shape": "output_tensor has shape (5,); with world_size=2 and a chunk of shape (2,) it must be (4,) "
                         "or (2, 2)",
        "bad_src": "broadcast: src=2 is not a rank of this job (ranks 0 to 1)",
        "not_a_tensor": "all_reduce: tensor must be a gpuad Tensor, got ndarray",
        "bad_op": "op must be one of ReduceOp.SUM, AVG, MAX, MIN, PRODUCT, got 'median'",
        "gather_list_off_root": "``gather_list`` must NOT be specified on non-destination ranks",
        "twice": "trying to initialize the default process group twice!",
        "subgroup": "only the default group (every rank) is supported",
    }
    for res in ranks:
        for name, text in wanted.items():
            assert text in str(res[f"error/{name}"]), name


@requires_mpi
def test_ranks_and_backend_come_from_mpi(ranks):
    assert [list(res["world"]) for res in ranks] == [[0, 2], [1, 2]]
    assert str(ranks[0]["backend"]) == "cpu:mpi,cuda:nccl"


# --- without a job ----------------------------------------------------------------------------------------------------
def test_calls_before_init_process_group_name_it():
    import gpuad
    import gpuad.distributed as dist
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, lambda: dist.all_reduce(gpuad.ones(2))):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            call()
    from gpuad.nn.parallel import DistributedDataParallel
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedDataParallel(gpuad.nn.Linear(2, 2))


def test_a_missing_mpi4py_names_the_extra(monkeypatch):
    import gpuad.distributed as dist
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install \"gpuad\[distributed\]\".*mpi4py"):
        dist.init_process_group()
    assert not dist.is_initialized()


def test_unknown_backends_and_init_methods_are_refused():
    import gpuad.distributed as dist
    with pytest.raises(ValueError, match="backend must be 'mpi', 'nccl' or None.*gloo"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="takes ranks from MPI"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")


def test_contiguous_tensors_reach_mpi_as_their_own_array_without_a_copy():
    import gpuad
    from gpuad.distributed.collectives import _contiguous
    t = gpuad.arange(6.0).reshape(2, 3)
    buf, staged = _contiguous(t)
    assert not staged and np.shares_memory(buf, t._data) and buf.shape == (6,)
    buf, staged = _contiguous(t.T)  # a non-contiguous view is staged through a copy and written back
    assert staged and not np.shares_memory(buf, t._data)
    buf, staged = _contiguous(gpuad.tensor(3.0))  # 0-d: a one-element view
    assert not staged and buf.shape == (1,)
