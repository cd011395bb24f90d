"""DistributedDataParallel on 2 MPI processes, each on half of every batch, equals one process on the whole batch:
float64 MLP, SGD with momentum and Adam, no_sync() accumulation, buckets smaller than one parameter and larger than
all, an unused parameter with find_unused_parameters=True; PyTorch's errors; the state_dict prefix."""
import numpy as np
import pytest

from test_distributed_worker import reference, requires_mpi, run_scenario

CASES = {"sgd": ("sgd", 1, False), "adam": ("adam", 1, False), "no_sync": ("sgd", 2, False),
         "tiny_buckets": ("adam", 1, False), "huge_buckets": ("sgd", 1, False), "unused": ("sgd", 1, True)}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    return run_scenario("ddp", tmp_path_factory.mktemp("ddp"))


@requires_mpi
@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_match_one_process_on_the_whole_batch(ranks, case):
    optimizer, micro_batches, extra = CASES[case]
    expected = reference(optimizer, micro_batches, extra)
    for rank, res in enumerate(ranks):
        for name, want in expected.items():
            got = res[f"{case}/{name}"]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-10, err_msg=f"{case} rank {rank} {name}")
    for name in expected:  # and the replicas never drift apart
        np.testing.assert_array_equal(ranks[0][f"{case}/{name}"], ranks[1][f"{case}/{name}"])


@requires_mpi
def test_a_parameter_used_on_one_rank_only_gets_the_average_everywhere(ranks):
    from test_distributed_worker import make_branch_model, reference_branch
    expected = reference_branch()
    start = make_branch_model().extra.detach().numpy()
    assert np.abs(expected["extra"] - start).max() > 1e-3  # it did train
    for rank, res in enumerate(ranks):
        for name, want in expected.items():
            np.testing.assert_allclose(res[f"branch/{name}"], want, rtol=0, atol=1e-10, err_msg=f"rank {rank} {name}")


@requires_mpi
def test_training_moved_the_parameters(ranks):
    from test_distributed_worker import make_model
    start = {n: p.detach().numpy() for n, p in make_model().named_parameters()}
    for case in CASES:
        prefix = f"{case}/mlp." if case == "unused" else f"{case}/"
        assert all(np.abs(ranks[0][prefix + n] - v).max() > 1e-3 for n, v in start.items())


@requires_mpi
def test_bucket_sizes_follow_bucket_cap_mb(ranks):
    res = ranks[0]
    n_params = int(res["tiny_buckets/n_params"])
    assert len(res["tiny_buckets/buckets"]) == n_params  # smaller than any parameter: one bucket each
    # reverse registration order: the last layer's bias (3 float64) comes first, the first weight (10x6) last
    assert list(res["tiny_buckets/buckets"]) == [3 * 8, 30 * 8, 10 * 8, 100 * 8, 10 * 8, 60 * 8]
    assert list(res["huge_buckets/buckets"]) == [sum(res["tiny_buckets/buckets"])]


@requires_mpi
def test_each_bucket_starts_as_soon_as_its_gradients_are_in(ranks):
    for res in ranks:
        offsets = res["timeline/launched_minus_backward_end"]  # launch times relative to the end of backward
        assert len(offsets) == 6
        assert (offsets <= 0).all()  # every all-reduce started during backward, before the final wait
        assert (np.diff(offsets) > 0).all() and offsets[0] < offsets[-1]  # one after another, in bucket order
        assert res["no_grad_forwards_are_fine"]


@requires_mpi
def test_an_unused_parameter_keeps_no_gradient_and_its_value(ranks):
    for res in ranks:
        assert res["unused/grad_is_none/unused"]
        np.testing.assert_array_equal(res["unused/unused"], np.ones(4))
        assert not res["unused/grad_is_none/mlp.layers.0.weight"]


@requires_mpi
def test_pytorchs_errors_are_raised_on_every_rank(ranks):
    for res in ranks:
        unused = str(res["error/unused_without_find"])
        assert "parameters ['unused'] received no gradient" in unused and "find_unused_parameters=True" in unused
        assert "Expected to have finished reduction in the prior iteration" in str(res["error/forward_twice"])
        mismatch = str(res["error/mismatch"])
        assert ("parameter 0 is 'layers.0.weight' of shape (12, 6) (float64) on rank 1 and 'layers.0.weight' of "
                "shape (10, 6) (float64) on rank 0") in mismatch


@requires_mpi
def test_state_dict_keys_carry_the_module_prefix_like_pytorch(ranks):
    keys = list(ranks[0]["state_dict_keys"])
    assert keys[0] == "module.layers.0.weight" and all(k.startswith("module.") for k in keys)
    assert "load them with ddp.module.load_state_dict" in str(ranks[0]["error/plain_state_dict"])
