"""Time of one optimizer step (``opt.step()`` alone, gradients fixed) for every gpuad optimizer against torch.optim.

    python benchmarks/optim_step.py [--device cpu|cuda] [--size S|M] [--rounds 3]

S: the 8 parameters of a 784-128-128-10 MLP's shapes plus biases (overhead-dominated: what a step costs per
parameter); M: 784-512-512-512-10 (the arithmetic dominates). float32. Each library runs in its own process, the
processes alternate for ``--rounds`` rounds, and the table shows each library's best per-step time; PyTorch runs
its default implementation (foreach on CUDA, the for-loop on the CPU). Writes results/optim-step-<host>-<date>.json.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import MALLOC_ENV, bench_parser, best_time, device_sync, write_result  # noqa: E402

import numpy as np  # noqa: E402

SIZES = {"S": [784, 128, 128, 10], "M": [784, 512, 512, 512, 10]}
OPTIMIZERS = {"SGD": {"lr": 0.01}, "SGD-momentum": {"lr": 0.01, "momentum": 0.9}, "Adam": {}, "AdamW": {},
              "RMSprop": {}, "Adagrad": {}, "Adamax": {}, "NAdam": {}, "RAdam": {}}


def shapes(size):
    sizes = SIZES[size]
    return [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((b, a), (b,))]


def child(lib, size, device):
    """Per-step seconds of every optimizer in ``lib`` (gpuad or torch), printed as JSON."""
    rng = np.random.default_rng(0)
    values = [(rng.standard_normal(s).astype(np.float32), rng.standard_normal(s).astype(np.float32))
              for s in shapes(size)]
    if lib == "gpuad":
        import gpuad as L
    else:
        import torch as L
    sync = device_sync(device) if lib == "gpuad" else (L.cuda.synchronize if device == "cuda" else lambda: None)
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
        out[name] = best_time(opt.step, sync, 0.05, 5)
    print(json.dumps(out))


def main():
    parser = bench_parser(__doc__)
    parser.add_argument("--size", default="S", choices=sorted(SIZES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["gpuad", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.size, args.device)
    best = {"gpuad": {}, "torch": {}}
    env = dict(os.environ, **MALLOC_ENV)  # the children import this checkout's gpuad, not an installed one
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(HERE), env.get("PYTHONPATH")]))
    for r in range(args.rounds):
        for lib in (("gpuad", "torch") if r % 2 == 0 else ("torch", "gpuad")):
            run = subprocess.run([sys.executable, __file__, "--child", lib, "--size", args.size, "--device",
                                  args.device], capture_output=True, text=True, env=env)
            if run.returncode:
                sys.exit(f"{lib} child failed:\n{run.stderr}")
            for name, seconds in json.loads(run.stdout.strip().splitlines()[-1]).items():
                best[lib][name] = min(seconds, best[lib].get(name, float("inf")))
    print(f"optimizer step, size {args.size} ({len(shapes(args.size))} parameters), {args.device}, best of "
          f"{args.rounds} rounds")
    print(f"{'optimizer':14} {'gpuad us':>10} {'torch us':>10} {'gpuad/torch':>12}")
    for name in OPTIMIZERS:
        a, b = best["gpuad"][name] * 1e6, best["torch"][name] * 1e6
        print(f"{name:14} {a:10.1f} {b:10.1f} {a / b:12.2f}")
    if not args.no_json:
        write_result("optim-step", args.device, {"size": args.size, "seconds": best})


if __name__ == "__main__":
    main()
