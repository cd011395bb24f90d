"""DistributedSampler against torch.utils.data.DistributedSampler: the same index lists without shuffling for every
split, and with shuffling (where the generators differ) the same coverage: each epoch's shards together are the
dataset exactly once (plus PyTorch's padding), and set_epoch reshuffles."""
import collections

import pytest

from gpuad.utils.data import DistributedSampler

SIZES = [0, 1, 2, 3, 5, 7, 10, 16, 17]
REPLICAS = [1, 2, 3, 4, 8]


def test_unshuffled_shards_equal_pytorchs_for_every_split():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    checked = 0
    for n in SIZES:
        for replicas in REPLICAS:
            for drop_last in (False, True):
                for rank in range(replicas):
                    ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                    theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
                    assert list(ours) == list(theirs), (n, replicas, rank, drop_last)
                    assert len(ours) == len(theirs) == ours.num_samples
                    assert ours.total_size == theirs.total_size
                    checked += 1
    assert checked == len(SIZES) * sum(REPLICAS) * 2


@pytest.mark.parametrize("n,replicas", [(10, 2), (17, 4), (5, 8), (16, 3)])
def test_shuffled_shards_cover_the_dataset_once_per_epoch(n, replicas):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler
    for drop_last in (False, True):
        samplers = [DistributedSampler(range(n), replicas, r, seed=3, drop_last=drop_last) for r in range(replicas)]
        reference = [TorchSampler(range(n), replicas, r, seed=3, drop_last=drop_last) for r in range(replicas)]
        orders = []
        for epoch in range(3):
            for s, t in zip(samplers, reference):
                s.set_epoch(epoch)
                t.set_epoch(epoch)
            shards = [list(s) for s in samplers]
            torch_shards = [list(t) for t in reference]
            assert [len(s) for s in shards] == [len(t) for t in torch_shards]
            counts = collections.Counter(i for shard in shards for i in shard)
            torch_counts = collections.Counter(i for shard in torch_shards for i in shard)
            # each index appears as often as in PyTorch's split: once, twice where padded, never where dropped
            assert sorted(counts.values()) == sorted(torch_counts.values())
            assert set(counts) <= set(range(n))
            if not drop_last:
                assert set(counts) == set(range(n))
            orders.append(shards)
        if samplers[0].total_size > 1:
            assert orders[0] != orders[1] != orders[2]
        again = DistributedSampler(range(n), replicas, 0, seed=3, drop_last=drop_last)
        again.set_epoch(1)
        assert list(again) == orders[1][0]  # the order is a function of seed and epoch


def test_bad_rank_and_replicas_are_clear_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        DistributedSampler(range(4), num_replicas=0, rank=0)


def test_without_a_process_group_rank_and_replicas_must_be_given():
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(4))
