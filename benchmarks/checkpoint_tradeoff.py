"""Memory against compute for checkpointed MLP training steps.

    python benchmarks/checkpoint_tradeoff.py [--device cpu|cuda] [--depths 8 16 32 64] [--width 256] [--batch 1024]

For each depth n and each segment count (1, 2, 4, sqrt(n), 8, n), one training step of a tanh MLP (forward,
backward; gradient buffers allocated beforehand and zeroed in place) is measured against the un-checkpointed step in
the same process: the peak activation memory (gpuad.memory peak during the step minus what was allocated before it)
and the median step time (timed with memory counting off). Targets at sqrt(n) segments: memory <= 2.5 sqrt(n)/n of the
baseline, time <= 1.4x (the median of step-time ratios to an un-checkpointed step run just before each). Prints the
table, writes results/checkpoint-<host>-<date>.json and, where matplotlib is installed,
results/checkpoint-<host>-<date>.png (memory ratio against time ratio, one curve per depth).
"""
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, result_path, sync, timed_steps, write_atomically, write_result  # noqa: E402

import numpy as np  # noqa: E402

import gpuad as G  # noqa: E402
from gpuad import memory  # noqa: E402


def build(depth, width, batch, device):
    rng = np.random.default_rng(depth)
    weights = [G.tensor(rng.standard_normal((width, width)) / math.sqrt(width), dtype=G.float32, device=device,
                        requires_grad=True) for _ in range(depth)]
    for w in weights:
        w.grad = G.zeros_like(w)
    layers = [lambda h, w=w: G.tanh(h @ w) for w in weights]
    x = G.tensor(rng.standard_normal((batch, width)), dtype=G.float32, device=device)
    return layers, weights, x


def step(layers, weights, x, segments):
    for w in weights:
        w.grad.zero_()
    if segments is None:
        h = x
        for f in layers:
            h = f(h)
    else:
        h = G.checkpoint_sequential(layers, segments, x)
    h.sum().backward()


def peak_of(layers, weights, x, segments, device):
    step(layers, weights, x, segments)  # warm-up
    sync(device)
    memory.reset_peak(device)
    base = memory.current_bytes(device)
    step(layers, weights, x, segments)
    sync(device)
    return memory.peak_bytes(device) - base


def _timed(layers, weights, x, segments, device):
    return timed_steps(lambda: step(layers, weights, x, segments), device, 1)[0]


def time_ratio_of(layers, weights, x, segments, device, repeat):
    """(median step seconds, median of the ratios to the baseline step run just before it): pairs run back to back
    cancel most of a noisy machine's drift."""
    times, ratios = [], []
    for _ in range(repeat):
        base = _timed(layers, weights, x, None, device)
        t = _timed(layers, weights, x, segments, device)
        times.append(t)
        ratios.append(t / base)
    return statistics.median(times), statistics.median(ratios)


def main(argv=None):
    parser = bench_parser(__doc__, repeat=15)
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args(argv)
    rows = []
    print(f"checkpointed tanh MLP step, width {args.width}, batch {args.batch}, float32, device={args.device}")
    print(f"{'depth':>5} {'segments':>8} {'peak MiB':>9} {'mem ratio':>9} {'target':>7} {'step ms':>8} "
          f"{'time ratio':>10}  result")
    for depth in args.depths:
        layers, weights, x = build(depth, args.width, args.batch, args.device)
        sqrt_n = max(1, round(math.sqrt(depth)))
        choices = [None] + sorted({1, 2, 4, sqrt_n, 8, depth} & set(range(1, depth + 1)))
        memory.start(args.device)
        peaks = {s: peak_of(layers, weights, x, s, args.device) for s in choices}
        if args.device == "cpu":
            memory.stop("cpu")  # tracing slows Python down: time without it
        timed = {s: time_ratio_of(layers, weights, x, s, args.device, args.repeat) for s in choices}
        for s in choices:
            mem_ratio = peaks[s] / peaks[None]
            step_seconds, time_ratio = timed[s]
            judged = s == sqrt_n
            target = 2.5 * math.sqrt(depth) / depth
            verdict = ("PASS" if mem_ratio <= target and time_ratio <= 1.4 else "FAIL") if judged else "-"
            rows.append({"depth": depth, "segments": s, "peak_bytes": peaks[s], "step_seconds": step_seconds,
                         "memory_ratio": mem_ratio, "time_ratio": time_ratio, "sqrt_segments": judged,
                         "memory_target": target if judged else None, "verdict": verdict})
            label = "none" if s is None else (f"{s} (sqrt)" if judged else str(s))
            print(f"{depth:>5} {label:>8} {peaks[s] / 2 ** 20:>9.1f} {mem_ratio:>9.2f} "
                  f"{(f'{target:.2f}' if judged else ''):>7} {step_seconds * 1e3:>8.1f} {time_ratio:>10.2f}  {verdict}")
    if write_result(args, "checkpoint", {"benchmark": "checkpoint_tradeoff", "width": args.width,
                                         "batch": args.batch, "rows": rows}) is None:
        return rows
    png = result_path(args, "checkpoint", ".png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'gpuad[plot]')")
        return rows
    fig, ax = plt.subplots(figsize=(6, 4))
    for depth in args.depths:
        pts = [(r["time_ratio"], r["memory_ratio"], r["segments"]) for r in rows
               if r["depth"] == depth and r["segments"] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"depth {depth}")
        for t, m, s in pts:
            ax.annotate(str(s), (t, m), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xlabel("step time / un-checkpointed")
    ax.set_ylabel("peak activation memory / un-checkpointed")
    ax.set_title("checkpointing: memory against compute (labels: segments)")
    ax.legend()
    fig.tight_layout()
    write_atomically(png, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return rows


if __name__ == "__main__":
    main()
