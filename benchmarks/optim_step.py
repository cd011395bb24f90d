"""Time of one optimizer step (``opt.step()`` alone, gradients fixed) for every gpuad optimizer against torch.optim.

    python benchmarks/optim_step.py [--device cpu|cuda] [--size S|M] [--rounds 3] [--repeat 5] [--min-time 0.05]

S: the 6 parameters (weights and biases) of a 784-128-128-10 MLP (overhead-dominated: what a step costs per
parameter); M: 784-512-512-512-10 (the arithmetic dominates). float32. Each library runs in its own process, the
processes alternate for ``--rounds`` rounds, and the table shows each library's best per-step time; PyTorch runs
its default implementation (foreach on CUDA, the for-loop on the CPU). Writes results/optim-step-<host>-<date>.json.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, best_time, round_robin, run_worker, write_result  # noqa: E402

import numpy as np  # noqa: E402

SIZES = {"S": [784, 128, 128, 10], "M": [784, 512, 512, 512, 10]}
OPTIMIZERS = {"SGD": {"lr": 0.01}, "SGD-momentum": {"lr": 0.01, "momentum": 0.9}, "Adam": {}, "AdamW": {},
              "RMSprop": {}, "Adagrad": {}, "Adamax": {}, "NAdam": {}, "RAdam": {}}


def shapes(size):
    sizes = SIZES[size]
    return [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((b, a), (b,))]


def worker(lib, size, device, min_time, repeat):
    """Per-step seconds of every optimizer in ``lib`` (gpuad or torch)."""
    rng = np.random.default_rng(0)
    values = [(rng.standard_normal(s).astype(np.float32), rng.standard_normal(s).astype(np.float32))
              for s in shapes(size)]
    if lib == "gpuad":
        import gpuad as L
    else:
        import torch as L
    out = {}
    for name, options in OPTIMIZERS.items():
        params = []
        for p, g in values:
            t = L.tensor(p, device=device).requires_grad_()
            t.grad = L.tensor(g, device=device)
            params.append(t)
        opt = getattr(L.optim, name.split("-")[0])(params, **options)
        for _ in range(3):
            opt.step()  # state and buffers exist before the timer starts
        out[name] = best_time(opt.step, device, min_time, repeat)
    return out


def main():
    parser = bench_parser(__doc__, rounds=3, repeat=5, min_time=0.05)
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    args = parser.parse_args()
    best = {"gpuad": {}, "torch": {}}
    for lib in round_robin(best, args.rounds):
        for name, seconds in run_worker(worker, lib, args.size, args.device, args.min_time,
                                            args.repeat).items():
            best[lib][name] = min(seconds, best[lib].get(name, float("inf")))
    print(f"optimizer step, size {args.size} ({len(shapes(args.size))} parameters), {args.device}, best of "
          f"{args.rounds} rounds")
    print(f"{'optimizer':14} {'gpuad us':>10} {'torch us':>10} {'gpuad/torch':>12}")
    for name in OPTIMIZERS:
        a, b = best["gpuad"][name] * 1e6, best["torch"][name] * 1e6
        print(f"{name:14} {a:10.1f} {b:10.1f} {a / b:12.2f}")
    write_result(args, "optim-step", {"size": args.size, "seconds": best})


if __name__ == "__main__":
    main()
