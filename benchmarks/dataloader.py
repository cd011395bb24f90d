"""One epoch over a TensorDataset through DataLoader, against slicing the tensors by hand, and against PyTorch.

    python benchmarks/dataloader.py [--rows 60000] [--features 784] [--batch-sizes 64 512] [--rounds 3]

The data is MNIST-sized by default: (rows, features) float32 inputs and int64 labels. For each batch size and for
sequential and shuffled order, one epoch is ``for xb, yb in DataLoader(TensorDataset(x, y), batch_size=b,
shuffle=s): pass`` against the same batches sliced by hand: ``x[i:i + b], y[i:i + b]`` in order, or
``x[p[i:i + b]], y[p[i:i + b]]`` with ``p = randperm(rows)`` drawn inside the timed epoch when shuffled (the loader
draws its permutation inside the epoch too). A DataLoader batch is a new tensor (as in PyTorch: changing it in place
never changes the dataset), so in order the by-hand epoch that does the same work is ``x[i:i + b].clone()``; plain
slicing returns views and copies nothing, and is reported too. Each library runs in a process of its own (gpuad, then
PyTorch, round-robin for ``--rounds`` passes); each times its loader and its hand slicing like ``timeit`` (loops grow
until one run lasts ``--min-time``, best of ``--repeat``). Target: gpuad's DataLoader epoch <= 1.2 x gpuad's hand
slicing that makes the same copies (the gather when shuffled, slice + clone in order). The ratio to view slicing and
PyTorch's DataLoader and hand slicing are reported alongside, with no target. Results go to
benchmarks/results/dataloader-<host>-<date>.json with the machine's facts.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, best_time, round_robin, run_worker, write_result  # noqa: E402

TARGET = 1.2
LIBS = ["gpuad", "torch"]


def epochs(lib, rows, features, batch_size, shuffle):
    """(loader epoch, hand-sliced epoch, hand-sliced epoch with copies) functions of ``lib`` over the same data,
    and whether the loader's first batch is the expected one."""
    import numpy as np
    rng = np.random.default_rng(0)
    x_h = rng.standard_normal((rows, features), dtype=np.float32)
    y_h = rng.integers(0, 10, rows, dtype=np.int64)
    if lib == "gpuad":
        import gpuad as top
        from gpuad.utils import data
    else:
        import torch as top
        from torch.utils import data
    x, y = top.from_numpy(x_h), top.from_numpy(y_h)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)

    def through_loader():
        for xb, yb in loader:
            pass

    def by_hand():
        if shuffle:
            p = top.randperm(rows)
            for i in range(0, rows, batch_size):
                idx = p[i:i + batch_size]
                xb, yb = x[idx], y[idx]
        else:
            for i in range(0, rows, batch_size):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]

    def by_hand_copies():
        if shuffle:
            return by_hand()  # the gather copies already
        for i in range(0, rows, batch_size):
            xb, yb = x[i:i + batch_size].clone(), y[i:i + batch_size].clone()

    xb, yb = next(iter(loader))
    expect = slice(0, batch_size)
    check = shuffle or (np.array_equal(xb.numpy(), x_h[expect]) and np.array_equal(yb.numpy(), y_h[expect]))
    return through_loader, by_hand, by_hand_copies, bool(check) and tuple(xb.shape) == (batch_size, features)


def worker(lib, rows, features, batch_sizes, min_time, repeat):
    out = {"lib": lib, "cases": []}
    for batch_size in batch_sizes:
        for shuffle in (False, True):
            loader, hand, hand_copies, ok = epochs(lib, rows, features, batch_size, shuffle)
            timed = {name: best_time(fn, "cpu", min_time, repeat)
                     for name, fn in (("loader_s", loader), ("by_hand_s", hand), ("by_hand_copies_s", hand_copies))}
            out["cases"].append({"batch_size": batch_size, "shuffle": shuffle, "first_batch_ok": ok, **timed})
    if lib == "torch":
        import torch
        out["version"], out["threads"] = torch.__version__, torch.get_num_threads()
    else:
        import gpuad
        out["version"] = gpuad.__version__
    return out


def summarize(runs):
    """Best time of every pass per case and library, and the ratios."""
    rows = []
    for i, case in enumerate(runs["gpuad"][0]["cases"]):
        row = {"batch_size": case["batch_size"], "shuffle": case["shuffle"]}
        for lib in runs:
            row[f"{lib}_loader_s"] = min(r["cases"][i]["loader_s"] for r in runs[lib])
            row[f"{lib}_by_hand_s"] = min(r["cases"][i]["by_hand_s"] for r in runs[lib])
            row[f"{lib}_by_hand_copies_s"] = min(r["cases"][i]["by_hand_copies_s"] for r in runs[lib])
            row[f"{lib}_first_batch_ok"] = all(r["cases"][i]["first_batch_ok"] for r in runs[lib])
        row["gpuad_loader_over_by_hand_copies"] = row["gpuad_loader_s"] / row["gpuad_by_hand_copies_s"]
        row["gpuad_loader_over_by_hand_views"] = row["gpuad_loader_s"] / row["gpuad_by_hand_s"]
        if "torch" in runs:
            row["gpuad_loader_over_torch_loader"] = row["gpuad_loader_s"] / row["torch_loader_s"]
        row["pass"] = row["gpuad_loader_over_by_hand_copies"] <= TARGET and row["gpuad_first_batch_ok"]
        rows.append(row)
    return rows


def main(argv=None):
    parser = bench_parser(__doc__, device=None, rounds=3, repeat=3, min_time=0.2)
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    args = parser.parse_args(argv)
    import importlib.util
    libs = LIBS if importlib.util.find_spec("torch") is not None else ["gpuad"]
    runs = {lib: [] for lib in libs}
    for lib in round_robin(libs, args.rounds):
        runs[lib].append(run_worker(worker, lib, args.rows, args.features, args.batch_sizes, args.min_time,
                                    args.repeat))
    rows = summarize(runs)
    print(f"epoch over {args.rows} x {args.features} float32 + int64 labels (ms, best of {args.rounds} passes)")
    print(f"{'batch':>6} {'order':>10} {'loader':>9} {'by hand':>9} {'ratio':>6} {'views':>9} {'ratio':>6} "
          f"{'torch DL':>9} {'torch hand':>10}  target: ratio to by hand (same copies) <= {TARGET}")
    for row in rows:
        print(f"{row['batch_size']:>6} {'shuffled' if row['shuffle'] else 'sequential':>10} "
              f"{row['gpuad_loader_s'] * 1e3:>9.2f} {row['gpuad_by_hand_copies_s'] * 1e3:>9.2f} "
              f"{row['gpuad_loader_over_by_hand_copies']:>6.2f} {row['gpuad_by_hand_s'] * 1e3:>9.2f} "
              f"{row['gpuad_loader_over_by_hand_views']:>6.2f} "
              f"{row.get('torch_loader_s', float('nan')) * 1e3:>9.2f} "
              f"{row.get('torch_by_hand_s', float('nan')) * 1e3:>10.2f}  {'PASS' if row['pass'] else 'FAIL'}")
    write_result(args, "dataloader", {"rows": args.rows, "features": args.features, "target": TARGET,
                                      "cases": rows, "raw": runs,
                                      "versions": {lib: runs[lib][0]["version"] for lib in libs},
                                      "torch_threads": runs.get("torch", [{}])[0].get("threads")})
    return 0 if all(row["pass"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
