"""A DistributedDataParallel training step at 1 and 2 ranks against the same step in a single process without DDP:
step time, throughput, the time spent in communication and how much of it overlapped backward.

    python benchmarks/ddp_step.py [--size M] [--steps 30] [--bucket-cap-mb 25]

Each rank trains the same float32 MLP (benchmarks/train_step.py's sizes) on its own batch of the size's batch size
(weak scaling: the job's batch grows with the ranks), forward + cross_entropy + backward + Adam, with one BLAS thread
per process so that the ranks do not share cores. Per step:
- ``step``: the whole step; ``backward``: loss.backward(), DDP's final wait included;
- ``waited`` (``exposed_comm``): the time backward spent waiting for all-reduces after its last gradient (DDP's
  final callback); part of it is ``skew``, how much later the slowest rank finished its own backward;
- ``exposed`` (``exposed_after_last``): how long the all-reduces ran on after the slowest rank's backward ended;
- ``comm`` (``comm_alone``): the same buckets all-reduced back to back outside backward (what communication costs
  when nothing hides it); ``overlapped = 1 - exposed / comm`` is the share of it hidden behind backward.
Each figure is the slowest rank's in its step; medians over --steps steps after --warmup. Results go to
benchmarks/results/ddp-step-<size>-<host>-<date>.json.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, mpiexec, run_worker, write_result  # noqa: E402
from train_step import SIZES  # noqa: E402

# one BLAS thread per process, so that the ranks do not share cores: what torchrun sets for every DDP job, and
# the single process gets it too, so that it is the same per-rank compute (a user's own setting is kept)
THREADS = {k: os.environ.get(k, "1") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def worker(mode, size, steps, warmup, bucket_cap_mb):
    """One process of a run: mode "single" (no DDP, no MPI) or "ddp" (every rank under mpiexec; rank 0 returns the
    merged result, the others None)."""
    import numpy as np
    import gpuad
    from gpuad import nn, optim
    from gpuad.nn import functional as F
    batch, layers = SIZES[size]
    rank, world = 0, 1
    if mode == "ddp":
        import gpuad.distributed as dist
        dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(rank)
    x = gpuad.tensor(rng.standard_normal((batch, layers[0])).astype(np.float32))
    y = gpuad.tensor(rng.integers(0, layers[-1], batch))
    gpuad.manual_seed(0)
    model = nn.MLP(layers, activation="relu")
    net = model
    if mode == "ddp":
        from gpuad.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
        net._reducer.timeline = []  # per backward: when its last gradient came, how long it then waited
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rows = []
    for i in range(warmup + steps):
        if mode == "ddp":
            dist.barrier()  # every rank starts the step together, so waits measure communication, not skew
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= warmup:
            row = {"step": t3 - t0, "forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2}
            if mode == "ddp":
                last = net._reducer.timeline[-1]
                row["exposed_comm"] = last["waited"]
                row["backward_end_clock"] = last["backward_end"]  # CLOCK_MONOTONIC: comparable across processes
                row["finalized_clock"] = last["backward_end"] + last["waited"]
            rows.append(row)
    result = {"mode": mode, "world": world, "batch_per_rank": batch, "layers": layers,
              "parameters": sum(p.numel() for p in model.parameters())}
    if mode == "ddp":
        reducer = net._reducer
        result["buckets_bytes"] = [b.buffer.nbytes for b in reducer.buckets]
        alone = []
        for _ in range(steps):
            dist.barrier()
            t0 = time.perf_counter()
            works = [dist.all_reduce(b.tensor, async_op=True) for b in reducer.buckets]
            for w in works:
                w.wait()
            alone.append(time.perf_counter() - t0)
        for row, a in zip(rows, alone):
            row["comm_alone"] = a
        from mpi4py import MPI
        gathered = MPI.COMM_WORLD.gather(rows, root=0)
        dist.destroy_process_group()
        if rank != 0:
            return None
        result["per_rank"] = gathered
        merged = []
        for i in range(len(rows)):
            row = {k: max(r[i][k] for r in gathered) for k in rows[i] if not k.endswith("_clock")}  # slowest rank
            ends = [r[i]["backward_end_clock"] for r in gathered]
            row["skew"] = max(ends) - min(ends)  # how much later the last rank finished its backward
            # communication still running once the slowest rank's backward had ended: what overlap did not hide
            row["exposed_after_last"] = max(0.0, max(r[i]["finalized_clock"] for r in gathered) - max(ends))
            merged.append(row)
        rows = merged
    result["rows"] = rows
    return result


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def summarize(result):
    rows = result["rows"]
    keys = [k for k in rows[0]]
    s = {k: median([r[k] for r in rows]) for k in keys}
    s["samples_per_second"] = result["world"] * result["batch_per_rank"] / s["step"]
    if "comm_alone" in s:
        s["overlapped"] = max(0.0, min(1.0, 1 - s["exposed_after_last"] / s["comm_alone"])) if s["comm_alone"] \
            else None
    return s


def main(argv=None):
    parser = bench_parser(__doc__, device=None, steps=30)
    parser.add_argument("--size", default="M", choices=sorted(SIZES))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--bucket-cap-mb", type=float, default=None)
    args = parser.parse_args(argv)
    settings = (args.size, args.steps, args.warmup, args.bucket_cap_mb)
    runs = {"single": run_worker(worker, "single", *settings, env=THREADS)}
    for ranks in (1, 2):
        runs[f"ddp-{ranks}"] = run_worker(worker, "ddp", *settings, env=THREADS, launcher=mpiexec(ranks))
    summary = {label: summarize(r) for label, r in runs.items()}
    base = summary["single"]
    print(f"size {args.size}: batch {SIZES[args.size][0]} per rank, layers {SIZES[args.size][1]}, "
          f"{runs['single']['parameters']:,} parameters ({runs['single']['parameters'] * 4 / 2**20:.1f} MiB), "
          f"buckets {runs['ddp-2']['buckets_bytes']}")
    print(f"{'run':8} {'step ms':>8} {'fwd':>7} {'bwd':>7} {'opt':>7} {'waited':>7} {'skew':>7} {'exposed':>8} "
          f"{'comm':>7} {'overlap':>8} {'samples/s':>10} {'vs single':>9}")
    for label, s in summary.items():
        cell = lambda k, w: f"{s[k] * 1e3:{w}.2f}" if k in s else f"{'-':>{w}}"  # noqa: E731
        overlap = f"{s['overlapped']:8.0%}" if s.get("overlapped") is not None else f"{'-':>8}"
        print(f"{label:8} {s['step'] * 1e3:8.2f} {s['forward'] * 1e3:7.2f} {s['backward'] * 1e3:7.2f} "
              f"{s['optimizer'] * 1e3:7.2f} {cell('exposed_comm', 7)} {cell('skew', 7)} "
              f"{cell('exposed_after_last', 8)} {cell('comm_alone', 7)} {overlap} {s['samples_per_second']:10,.0f} "
              f"{s['samples_per_second'] / base['samples_per_second']:9.2f}")
    write_result(args, f"ddp-step-{args.size}", {"size": args.size, "steps": args.steps, "warmup": args.warmup,
                                                 "thread_env": THREADS, "summary": summary, "runs": runs,
                                                 "load_average_1_5_15_min": os.getloadavg()})


if __name__ == "__main__":
    main()
