"""Training-step time of nn.Sequential(nn.Linear, nn.ReLU, ...) against gpuad's own nn.MLP and PyTorch eager.

    python benchmarks/sequential_vs_mlp.py [--device cpu|cuda] [--sizes S M] [--steps 40] [--rounds 5]

The common PyTorch form must cost what nn.MLP costs: Sequential runs each Linear + activation pair as one fused node.
All three run the same ReLU MLP (the sizes of train_step.py), cross-entropy and SGD, in one process, interleaved
step by step in rounds so that the machine's drift hits them alike; the table gives median step times and the
ratios Sequential / MLP and each against PyTorch. Writes results/sequential-vs-mlp-<host>-<date>.json.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, timed_steps, write_result  # noqa: E402
from train_step import SIZES, gpuad_step, torch_step  # noqa: E402


def run(size, device, steps, rounds):
    """Median step seconds of nn.MLP, nn.Sequential and PyTorch (where installed), interleaved in rounds."""
    contenders = {"mlp": gpuad_step(size, device, "mlp"), "sequential": gpuad_step(size, device, "sequential")}
    try:
        contenders["pytorch"] = torch_step(size, device)
    except ImportError:
        pass
    times = {name: [] for name in contenders}
    for step in contenders.values():  # warm-up
        timed_steps(step, device, 3)
    for _ in range(rounds):
        for name, step in contenders.items():
            times[name] += timed_steps(step, device, steps)
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    parser = bench_parser(__doc__, steps=40, rounds=5)
    parser.add_argument("--sizes", nargs="+", default=["S", "M"], choices=sorted(SIZES))
    args = parser.parse_args()
    results = {}
    print(f"{'size':<5} {'MLP ms':>9} {'Sequential ms':>14} {'PyTorch ms':>11} {'Seq/MLP':>8} {'MLP/torch':>10} "
          f"{'Seq/torch':>10}")
    for size in args.sizes:
        m = run(size, args.device, args.steps, args.rounds)
        results[size] = m
        torch_ms = m.get("pytorch")
        ratio = (lambda a: f"{a / torch_ms:10.2f}") if torch_ms else (lambda a: f"{'-':>10}")
        print(f"{size:<5} {m['mlp'] * 1e3:9.3f} {m['sequential'] * 1e3:14.3f} "
              f"{(torch_ms or float('nan')) * 1e3:11.3f} {m['sequential'] / m['mlp']:8.3f} {ratio(m['mlp'])} "
              f"{ratio(m['sequential'])}")
    write_result(args, "sequential-vs-mlp", {"median_step_seconds": results, "steps": args.steps,
                                             "rounds": args.rounds})


if __name__ == "__main__":
    main()
