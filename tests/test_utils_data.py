"""gpuad.utils.data against torch.utils.data: samplers, collate, random_split, datasets and DataLoader give the same
lengths, orders (where deterministic), batch shapes and dtypes, and the same errors; random ones are permutations
with the right coverage, reproducible under a seed."""
import collections
import threading

import numpy as np
import pytest

import gpuad as G
from gpuad.utils import data as D

torch = pytest.importorskip("torch")
T = torch.utils.data


def plain(x):
    """A structure comparable across libraries: tensors become (dtype name, shape, values)."""
    if isinstance(x, (G.Tensor, torch.Tensor)):
        return ("tensor", str(x.dtype).split(".")[-1], tuple(x.shape), x.tolist())
    if isinstance(x, dict):
        return (type(x).__name__, {k: plain(v) for k, v in x.items()})
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return ("namedtuple", type(x).__name__, [plain(v) for v in x])
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [plain(v) for v in x])
    return x


def both(fn, *args, **kwargs):
    """fn(lib) for gpuad and torch, where lib has .tensor, .data and .Generator."""
    return fn(_Lib(G, D), *args, **kwargs), fn(_Lib(torch, T), *args, **kwargs)


class _Lib:
    def __init__(self, top, data):
        self.top, self.data = top, data

    def __getattr__(self, name):
        return getattr(self.data, name) if hasattr(self.data, name) else getattr(self.top, name)


def raises_like_torch(fn):
    """fn(lib) raises the same exception type in gpuad as in torch; returns the two messages."""
    errors = []
    for lib in (_Lib(G, D), _Lib(torch, T)):
        with pytest.raises(Exception) as info:
            fn(lib)
        errors.append(info)
    assert errors[0].type is errors[1].type, (errors[0].value, errors[1].value)
    return str(errors[0].value), str(errors[1].value)


# --- samplers -----------------------------------------------------------------------------------------------------
def test_sequential_sampler_matches_torch():
    ours, theirs = both(lambda lib: list(lib.SequentialSampler(range(7))))
    assert ours == theirs == list(range(7))


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("num_samples", [None, 4, 10, 23])
def test_random_sampler_length_and_coverage(replacement, num_samples):
    ours = D.RandomSampler(range(10), replacement=replacement, num_samples=num_samples)
    theirs = T.RandomSampler(range(10), replacement=replacement, num_samples=num_samples)
    drawn = list(ours)
    assert len(ours) == len(theirs) == len(drawn) == len(list(theirs))
    assert all(type(i) is int and 0 <= i < 10 for i in drawn)
    if not replacement:  # whole permutations, then part of one
        k = len(drawn)
        counts = np.bincount(drawn, minlength=10)
        assert counts.max() - counts.min() <= 1 and counts.min() == k // 10
        assert sorted(drawn[:k - k % 10]) == sorted(list(range(10)) * (k // 10))


def test_random_sampler_is_reproducible_with_a_generator_and_with_manual_seed():
    def order(seed):
        return list(D.RandomSampler(range(50), generator=G.Generator().manual_seed(seed)))
    assert order(1) == order(1) != order(2)
    G.manual_seed(5)
    first = list(D.RandomSampler(range(50)))
    G.manual_seed(5)
    assert list(D.RandomSampler(range(50))) == first and sorted(first) == list(range(50))


@pytest.mark.parametrize("make", [
    lambda lib: lib.RandomSampler(range(3), replacement=1),
    lambda lib: lib.RandomSampler(range(3), num_samples=0),
    lambda lib: lib.RandomSampler(range(3), num_samples=2.5),
    lambda lib: lib.BatchSampler(range(3), 0, False),
    lambda lib: lib.BatchSampler(range(3), 2, "no"),
    lambda lib: lib.WeightedRandomSampler([1.0, 2.0], 0),
    lambda lib: lib.WeightedRandomSampler([[1.0, 2.0]], 2),
    lambda lib: lib.WeightedRandomSampler([1.0, 2.0], 2, replacement=None),
], ids=["replacement", "num_samples-0", "num_samples-float", "batch-0", "drop_last", "weighted-n",
        "weighted-2d", "weighted-replacement"])
def test_sampler_argument_errors_match_torch(make):
    ours, theirs = raises_like_torch(make)
    assert ours.split(",")[0] == theirs.split(",")[0]


def test_subset_random_sampler_permutes_exactly_the_subset():
    indices = [3, 9, 4, 0, 7]
    ours = D.SubsetRandomSampler(indices, generator=G.Generator().manual_seed(0))
    assert len(ours) == len(T.SubsetRandomSampler(indices)) and sorted(ours) == sorted(indices)


@pytest.mark.parametrize("replacement", [True, False])
def test_weighted_random_sampler_never_draws_zero_weights(replacement):
    weights = [0.0, 1.0, 5.0, 0.0, 2.0, 2.0]
    ours = D.WeightedRandomSampler(weights, 4, replacement=replacement)
    drawn = list(ours)
    assert len(ours) == len(T.WeightedRandomSampler(weights, 4, replacement=replacement)) == len(drawn)
    assert all(weights[i] > 0 for i in drawn)
    if not replacement:
        assert len(set(drawn)) == 4


def test_weighted_random_sampler_follows_the_weights():
    drawn = np.array(list(D.WeightedRandomSampler(G.tensor([1.0, 3.0]), 20000, generator=G.Generator())))
    assert abs(drawn.mean() - 0.75) < 0.02


def test_weighted_sampling_without_replacement_draws_zero_weights_last_as_torch():
    ours, theirs = both(lambda lib: list(lib.WeightedRandomSampler([1.0, 0.0, 1.0], 3, replacement=False)))
    assert sorted(ours) == sorted(theirs) == [0, 1, 2] and ours[2] == 1
    raises_like_torch(lambda lib: list(lib.WeightedRandomSampler([1.0, 0.0, 1.0], 4, replacement=False)))


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n,size", [(10, 3), (9, 3), (2, 5), (0, 2)])
def test_batch_sampler_matches_torch(n, size, drop_last):
    ours, theirs = both(lambda lib: lib.BatchSampler(lib.SequentialSampler(range(n)), size, drop_last))
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert [b.tolist() for b in ours._index_arrays()] == list(theirs)


# --- collate ------------------------------------------------------------------------------------------------------
Point = collections.namedtuple("Point", "x y")
SAMPLES = {
    "ints": [1, 2, 3],
    "floats": [1.5, 2.0],
    "bools": [True, False],
    "int-then-float": [1, 2.5],
    "strings": ["a", "bc"],
    "numpy-float32": [np.ones(2, np.float32), np.zeros(2, np.float32)],
    "numpy-int16": [np.arange(3, dtype=np.int16)] * 2,
    "numpy-scalars": [np.float64(1.5), np.float64(2)],
    "numpy-int32-scalars": [np.int32(1), np.int32(2)],
    "numpy-bool": [np.array([True]), np.array([False])],
    "tuples": [(1, 2.0, "a"), (3, 4.0, "b")],
    "lists": [[1, 2], [3, 4]],
    "dicts": [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]}],
    "ordered": [collections.OrderedDict(z=1, a=2)] * 2,
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [{"x": (np.ones(2), 1), "y": {"z": ["s", 1.0]}}] * 3,
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_default_collate_matches_torch(name):
    samples = SAMPLES[name]
    assert plain(D.default_collate(samples)) == plain(T.default_collate(samples))
    assert plain(D.default_convert(samples[0])) == plain(T.default_convert(samples[0]))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool", "float16"])
def test_default_collate_of_tensors_matches_torch(dtype):
    data = (np.arange(6).reshape(3, 2) % 2).astype(dtype)
    ours = D.default_collate([G.tensor(row) for row in data] + [G.tensor(data[0])])
    theirs = T.default_collate([torch.tensor(row) for row in data] + [torch.tensor(data[0])])
    assert plain(ours) == plain(theirs)


@pytest.mark.parametrize("samples", [[object(), object()], [np.array(["a"]), np.array(["b"])],
                                     [[1, 2], [3]]], ids=["object", "str-array", "ragged"])
def test_default_collate_errors_match_torch(samples):
    ours, theirs = raises_like_torch(lambda lib: lib.default_collate(samples))
    assert ours.split(";")[0] == theirs.split(";")[0]


# --- datasets and random_split ------------------------------------------------------------------------------------
def test_tensor_subset_and_concat_datasets_index_as_torch():
    def build(lib):
        base = lib.TensorDataset(lib.arange(10), lib.arange(10) * 2)
        sub = lib.Subset(base, [5, 1, 8])
        cat = lib.ConcatDataset([sub, lib.TensorDataset(lib.arange(4) + 100, lib.arange(4))])
        return base, sub, cat, cat + sub

    ours, theirs = both(build)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b)
        for i in range(-len(b), len(b)):
            assert plain(a[i]) == plain(b[i])
    assert ours[2].cumulative_sizes == theirs[2].cumulative_sizes
    raises_like_torch(lambda lib: build(lib)[2][-20])


def test_dataset_errors_match_torch():
    """PyTorch checks some arguments with ``assert`` (gone under ``python -O``); gpuad raises ValueError there."""
    with pytest.raises(ValueError, match="datasets should not be an empty iterable"):
        D.ConcatDataset([])
    raises_like_torch(lambda lib: lib.Dataset()[0])
    with pytest.raises(ValueError, match="Size mismatch"):
        D.TensorDataset(G.zeros(3), G.zeros(4))


@pytest.mark.parametrize("n", [0, 1, 7, 10, 101])
@pytest.mark.parametrize("fractions", [[0.5, 0.5], [0.8, 0.2], [0.1, 0.2, 0.7], [1 / 3] * 3, [0.25] * 4,
                                       [0.05, 0.95], [1.0], [0.6, 0.3, 0.1]])
def test_random_split_sizes_match_torch_and_partition_the_dataset(n, fractions):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = D.random_split(range(n), fractions, generator=G.Generator().manual_seed(0))
        theirs = T.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))


def test_random_split_with_lengths_is_reproducible_and_checks_the_sum():
    a = D.random_split(range(10), [3, 7], generator=G.Generator().manual_seed(4))
    b = D.random_split(range(10), [3, 7], generator=G.Generator().manual_seed(4))
    assert [list(s) for s in a] == [list(s) for s in b]
    raises_like_torch(lambda lib: lib.random_split(range(10), [3, 6]))
    raises_like_torch(lambda lib: lib.random_split(range(10), [1.2, -0.2]))
    ours, _ = raises_like_torch(lambda lib: lib.random_split(range(10), [0.5, 0.6]))
    assert "fractions must sum to 1" in ours and "1.1" in ours  # the sum is the problem, not the first fraction
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        D.random_split(range(2), [0.9, 0.1])


# --- DataLoader ---------------------------------------------------------------------------------------------------
def tensor_pair(lib, n=11, dtype="float32"):
    x = lib.tensor(np.arange(n * 3).reshape(n, 3).astype(dtype))
    y = lib.tensor(np.arange(n) % 4)
    return lib.TensorDataset(x, y)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8", "bool"])
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (4, False), (4, True), (11, True), (20, False),
                                                  (20, True)])
def test_sequential_tensor_batches_equal_torch(batch_size, drop_last, dtype):
    ours, theirs = both(lambda lib: lib.DataLoader(tensor_pair(lib, dtype=dtype), batch_size=batch_size,
                                                   drop_last=drop_last))
    assert len(ours) == len(theirs)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


def test_batch_size_none_and_per_sample_datasets_equal_torch():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, np.float32), "y": i * i, "name": f"s{i}"}

    for kwargs in ({"batch_size": None}, {"batch_size": 2}, {"batch_size": 2, "drop_last": True}):
        ours, theirs = both(lambda lib: lib.DataLoader(Squares(), **kwargs))
        assert len(ours) == len(theirs)
        assert [plain(b) for b in ours] == [plain(b) for b in theirs]


@pytest.mark.parametrize("sampler", ["shuffle", "replacement", "weighted", "subset", "list"])
def test_the_gather_path_gives_the_batches_of_the_per_sample_path(sampler):
    def loader(collate_fn):
        ds = tensor_pair(_Lib(G, D), n=37)
        gen = G.Generator().manual_seed(3)
        opts = {
            "shuffle": dict(shuffle=True, generator=gen),
            "replacement": dict(sampler=D.RandomSampler(ds, replacement=True, num_samples=50, generator=gen)),
            "weighted": dict(sampler=D.WeightedRandomSampler(np.arange(37.0), 40, generator=gen)),
            "subset": dict(sampler=D.SubsetRandomSampler(range(5, 30), generator=gen)),
            "list": dict(sampler=[36, 0, -1, 5, 5, 2]),
        }[sampler]
        return D.DataLoader(ds, batch_size=6, collate_fn=collate_fn, **opts)

    fast = [plain(b) for b in loader(None)]
    slow = [plain(b) for b in loader(lambda batch: D.default_collate(batch))]
    assert fast == slow and len(fast) == len(loader(None))


def test_subsets_of_a_tensor_dataset_gather_the_batches_of_the_per_sample_path(monkeypatch):
    ds = tensor_pair(_Lib(G, D), n=40)
    train, _ = D.random_split(ds, [0.75, 0.25], generator=G.Generator().manual_seed(1))
    nested = D.Subset(train, [-1, 0, 3, 3, 7])

    def epoch(subset, collate_fn):
        return [plain(b) for b in D.DataLoader(subset, batch_size=4, shuffle=True, collate_fn=collate_fn,
                                               generator=G.Generator().manual_seed(2))]

    slow = [epoch(s, lambda b: D.default_collate(b)) for s in (train, nested)]
    monkeypatch.setattr(G, "stack", None)  # the gather path never stacks samples
    assert [epoch(s, None) for s in (train, nested)] == slow


def test_a_seeded_shuffle_is_the_same_order_with_and_without_workers():
    def epoch(workers):
        return [b.tolist() for b in D.DataLoader(range(30), batch_size=4, shuffle=True, num_workers=workers,
                                                 generator=G.Generator().manual_seed(9))]
    assert epoch(0) == epoch(2) and sorted(sum(epoch(0), [])) == list(range(30))


def test_a_tensor_dataset_is_batched_without_stacking_samples(monkeypatch):
    def no_stack(*args, **kwargs):
        raise AssertionError("the TensorDataset path stacked samples one by one")
    monkeypatch.setattr(G, "stack", no_stack)
    batches = list(D.DataLoader(tensor_pair(_Lib(G, D)), batch_size=4, shuffle=True))
    assert [len(b[0]) for b in batches] == [4, 4, 3]
    assert sorted(v for b in batches for v in b[1].tolist()) == sorted((np.arange(11) % 4).tolist())


def test_a_shuffled_epoch_is_a_permutation_and_reproducible():
    ds = D.TensorDataset(G.arange(100))
    G.manual_seed(0)
    first = [b[0].tolist() for b in D.DataLoader(ds, batch_size=7, shuffle=True)]
    G.manual_seed(0)
    assert [b[0].tolist() for b in D.DataLoader(ds, batch_size=7, shuffle=True)] == first
    assert sorted(v for b in first for v in b) == list(range(100))
    second = [b[0].tolist() for b in D.DataLoader(ds, batch_size=7, shuffle=True)]
    assert second != first  # a new epoch is a new order


def test_gradients_flow_to_a_dataset_tensor_that_requires_grad():
    x = G.arange(6, dtype=G.float64).requires_grad_()
    batches = list(D.DataLoader(D.TensorDataset(x), batch_size=4, sampler=[5, 1, 1, 0]))
    (batches[0][0] * G.tensor([1.0, 2.0, 3.0, 4.0], dtype=G.float64)).sum().backward()
    assert x.grad.tolist() == [4.0, 5.0, 0.0, 0.0, 0.0, 1.0]


def test_an_out_of_range_index_from_a_sampler_is_an_index_error():
    with pytest.raises(IndexError, match="index 11 is out of bounds"):
        list(D.DataLoader(tensor_pair(_Lib(G, D)), batch_size=2, sampler=[0, 11]))


def test_a_custom_batch_sampler_is_used_as_given():
    batches = [[3, 1], [0], [2, 2, 2]]
    ours, theirs = both(lambda lib: lib.DataLoader(tensor_pair(lib, n=4), batch_sampler=batches))
    assert len(ours) == len(theirs) == 3
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


def make_stream(lib, n=7):
    class Numbers(lib.IterableDataset):
        def __iter__(self):
            info = lib.get_worker_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(range(start, n, step))

        def __len__(self):
            return n
    return Numbers()


@pytest.mark.parametrize("kwargs", [{"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None},
                                    {"batch_size": 3, "num_workers": 2}])
def test_iterable_datasets_batch_as_torch(kwargs):
    ours, theirs = both(lambda lib: lib.DataLoader(make_stream(lib), **kwargs))
    assert len(ours) == len(theirs)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


@pytest.mark.parametrize("make", [
    lambda lib: lib.DataLoader(make_stream(lib), shuffle=True),
    lambda lib: lib.DataLoader(make_stream(lib), sampler=[0]),
    lambda lib: lib.DataLoader(make_stream(lib), batch_sampler=[[0]]),
    lambda lib: lib.DataLoader(range(4), sampler=[0], shuffle=True),
    lambda lib: lib.DataLoader(range(4), batch_sampler=[[0]], batch_size=2),
    lambda lib: lib.DataLoader(range(4), batch_size=None, drop_last=True),
    lambda lib: lib.DataLoader(range(4), num_workers=-1),
    lambda lib: lib.DataLoader(range(4), prefetch_factor=2),
    lambda lib: lib.DataLoader(range(4), persistent_workers=True),
    lambda lib: setattr(lib.DataLoader(range(4)), "batch_size", 3),
], ids=["iter-shuffle", "iter-sampler", "iter-batch-sampler", "sampler-shuffle", "batch-sampler-size",
        "none-drop-last", "workers", "prefetch", "persistent", "set-batch-size"])
def test_dataloader_argument_errors_match_torch(make):
    ours, theirs = raises_like_torch(make)
    assert ours == theirs


def test_threaded_workers_give_the_batches_of_num_workers_0_and_run_worker_init_fn():
    seen, infos = [], set()

    class Rows(D.Dataset):
        def __len__(self):
            return 23

        def __getitem__(self, i):
            info = D.get_worker_info()
            infos.add((info.id, info.num_workers, threading.current_thread() is not threading.main_thread()))
            return np.full(2, i, np.float64), i

    threaded = D.DataLoader(Rows(), batch_size=4, num_workers=3, worker_init_fn=seen.append, prefetch_factor=1)
    got = [plain(b) for b in threaded]
    assert D.get_worker_info() is None
    assert got == [plain(T.default_collate([(np.full(2, i, np.float64), i) for i in range(s, min(s + 4, 23))]))
                   for s in range(0, 23, 4)]
    assert sorted(seen) == [0, 1, 2] and infos <= {(0, 3, True), (1, 3, True), (2, 3, True)} and len(infos) == 3


def test_an_error_in_a_worker_reaches_the_caller_and_early_exit_stops_the_workers():
    class Broken(D.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 6:
                raise KeyError("sample 6 is missing")
            return i

    with pytest.raises(RuntimeError, match="sample 6 is missing"):
        list(D.DataLoader(Broken(), batch_size=2, num_workers=2))
    before = threading.active_count()
    for batch in D.DataLoader(range(1000), batch_size=2, num_workers=2):
        break
    import gc
    gc.collect()
    for _ in range(100):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.02)
    assert threading.active_count() <= before


@pytest.mark.filterwarnings("ignore:'pin_memory' argument")
def test_pin_memory_is_accepted_and_len_is_torchs():
    ours, theirs = both(lambda lib: lib.DataLoader(range(10), batch_size=3, pin_memory=True))
    assert len(ours) == len(theirs) == 4 and [b.tolist() for b in ours] == [b.tolist() for b in theirs]


# --- Generator and randperm ---------------------------------------------------------------------------------------
def test_generator_api_as_torch():
    g = G.Generator()
    assert g.device == "cpu" and g.initial_seed() == torch.Generator().initial_seed()
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    state = g.get_state()
    assert state.dtype == G.uint8 and state.ndim == 1
    first = G.rand(5, generator=g).tolist()
    g.set_state(state)
    assert G.rand(5, generator=g).tolist() == first
    assert isinstance(g.seed(), int) and g.initial_seed() != 7
    assert isinstance(G.manual_seed(3), G.Generator) and G.initial_seed() == 3


@pytest.mark.parametrize("draw", [
    lambda g: G.rand(4, generator=g), lambda g: G.randn(2, 3, generator=g, dtype=G.float64),
    lambda g: G.randint(0, 10, (6,), generator=g), lambda g: G.randperm(20, generator=g)],
    ids=["rand", "randn", "randint", "randperm"])
def test_a_generator_makes_draws_reproducible_and_leaves_the_global_stream_alone(draw):
    G.manual_seed(0)
    reference = G.rand(3).tolist()
    G.manual_seed(0)
    a = draw(G.Generator().manual_seed(11)).tolist()
    assert G.rand(3).tolist() == reference
    assert draw(G.Generator().manual_seed(11)).tolist() == a != draw(G.Generator().manual_seed(12)).tolist()


@pytest.mark.parametrize("n", [0, 1, 5, 100])
def test_randperm_is_a_permutation_with_torchs_dtype(n):
    p = G.randperm(n)
    assert p.dtype == G.int64 and str(torch.randperm(n).dtype) == "torch.int64"
    assert sorted(p.tolist()) == list(range(n))
    assert G.randperm(n, dtype=G.float32).dtype == G.float32


def test_randint_with_high_and_size_as_torch():
    ours, theirs = G.randint(5, (3, 2)), torch.randint(5, (3, 2))
    assert ours.shape == tuple(theirs.shape) and ours.dtype == G.int64
    assert 0 <= ours.min().item() and ours.max().item() < 5
    raises_like_torch(lambda lib: lib.randperm(-1))


# --- CUDA ---------------------------------------------------------------------------------------------------------
requires_cuda = pytest.mark.skipif(not G.cuda.is_available(), reason="no CUDA GPU available")


@requires_cuda
def test_a_cuda_tensor_dataset_batches_on_the_gpu_as_on_the_cpu():
    x, y = G.randn(50, 3), G.arange(50)
    cpu = D.DataLoader(D.TensorDataset(x, y), batch_size=8, shuffle=True, generator=G.Generator().manual_seed(0))
    gpu = D.DataLoader(D.TensorDataset(x.cuda(), y.cuda()), batch_size=8, shuffle=True,
                       generator=G.Generator().manual_seed(0))
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert xg.device == "cuda:0" and yg.dtype == G.int64
        assert xg.cpu().tolist() == xc.tolist() and yg.cpu().tolist() == yc.tolist()
    seq = [b[1].cpu().tolist() for b in D.DataLoader(D.TensorDataset(x.cuda(), y.cuda()), batch_size=16)]
    assert seq == [list(range(i, min(i + 16, 50))) for i in range(0, 50, 16)]


@requires_cuda
def test_a_cuda_generator_is_reproducible_and_refused_by_cpu_draws():
    g = G.Generator(device="cuda")
    g.manual_seed(4)
    a = G.randn(5, generator=g, device="cuda").cpu().tolist()
    perm = G.randperm(10, generator=g, device="cuda")
    assert perm.device == "cuda:0" and sorted(perm.cpu().tolist()) == list(range(10))
    state = g.get_state()
    b = G.rand(3, generator=g, device="cuda").cpu().tolist()
    g.set_state(state)
    assert G.rand(3, generator=g, device="cuda").cpu().tolist() == b
    g.manual_seed(4)
    assert G.randn(5, generator=g, device="cuda").cpu().tolist() == a
    with pytest.raises(RuntimeError, match="expected a 'cpu' device type for generator but found 'cuda'"):
        G.randperm(3, generator=g, device="cpu")
    with pytest.raises(RuntimeError, match="generator"):
        D.DataLoader(range(3), shuffle=True, generator=g)


# --- end to end ---------------------------------------------------------------------------------------------------
def test_training_with_a_loader_resumes_bitwise_from_a_checkpoint(tmp_path):
    """Train 3 epochs straight, or 1 epoch, save model + optimizer + shuffling generator, reload into fresh objects
    and train 2 more: the same weights to the last bit."""
    from gpuad import nn, optim
    from gpuad.nn import functional as F
    G.manual_seed(0)
    x, y = G.randn(64, 5), G.randint(0, 3, (64,))
    train, _ = D.random_split(D.TensorDataset(x, y), [0.75, 0.25], generator=G.Generator().manual_seed(0))

    def fresh():
        G.manual_seed(1)
        model = nn.MLP([5, 8, 3])
        gen = G.Generator().manual_seed(2)
        return model, optim.Adam(model.parameters(), lr=0.01), gen

    def epoch(model, opt, gen):
        for xb, yb in D.DataLoader(train, batch_size=10, shuffle=True, generator=gen):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()

    straight = fresh()
    for _ in range(3):
        epoch(*straight)

    model, opt, gen = fresh()
    epoch(model, opt, gen)
    G.save({"model": model.state_dict(), "optim": opt.state_dict(), "rng": gen.get_state()}, tmp_path / "ck.pt")
    del model, opt, gen
    ckpt = G.load(tmp_path / "ck.pt")
    model, opt, gen = fresh()
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optim"])
    gen.set_state(ckpt["rng"])
    for _ in range(2):
        epoch(model, opt, gen)
    for p, q in zip(straight[0].parameters(), model.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


def test_chain_and_stack_datasets_as_torch():
    def build(lib):
        chained = make_stream(lib, 3) + make_stream(lib, 2)
        stacked = lib.StackDataset(lib.TensorDataset(lib.arange(3)), range(3))
        keyed = lib.StackDataset(a=range(3), b=[10, 11, 12])
        return list(chained), len(chained), [stacked[i] for i in range(3)], [keyed[i] for i in range(3)]

    ours, theirs = both(build)
    assert plain(ours) == plain(theirs)
    raises_like_torch(lambda lib: lib.StackDataset(range(3), range(4)))
