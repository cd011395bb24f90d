"""The cheap-gradient principle, measured: for a chain of L elementwise ops, the time of value_and_grad (reverse mode)
and of jvp (forward mode) over the time of evaluating f alone stays bounded as L grows.

    python benchmarks/cheap_gradient.py [--device cpu|cuda] [--sizes 1000 100000] [--lengths 10 100 1000]

The chain cycles through sin, x * 1.5, tanh and x + 0.25 and ends in a sum. Targets: value_and_grad / f <= 3 and
jvp / f <= 2.5, judged where arithmetic dominates (the largest size); at small sizes the per-op Python overhead of
recording and of the backward engine dominates instead, and those ratios are reported for information.
Results go to benchmarks/results/cheap-gradient-<host>-<date>.json.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, best_time, write_result  # noqa: E402

import gpuad as G  # noqa: E402
from gpuad import func  # noqa: E402

OPS = [G.sin, lambda x: x * 1.5, G.tanh, lambda x: x + 0.25]
TARGETS = {"value_and_grad": 3.0, "jvp": 2.5}


def chain(length):
    def f(x):
        for i in range(length):
            x = OPS[i % len(OPS)](x)
        return x.sum()
    return f


def main(argv=None):
    parser = bench_parser(__doc__, repeat=3, min_time=0.1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args(argv)
    judged = max(args.sizes)
    rows = []
    print(f"cheap gradient: chain of L elementwise ops, float64, device={args.device}; targets judged at n={judged}")
    print(f"{'n':>8} {'L':>6} {'f ms':>9} {'grad ms':>9} {'jvp ms':>9} {'grad/f':>7} {'jvp/f':>7}  result")
    for n in args.sizes:
        x = G.randn(n, dtype=G.float64, device=args.device)
        tangent = G.ones_like(x)
        for length in args.lengths:
            f = chain(length)
            value_and_grad = func.value_and_grad(f)
            t_f = best_time(lambda: f(x), args.device, args.min_time, args.repeat)
            t_g = best_time(lambda: value_and_grad(x), args.device, args.min_time, args.repeat)
            t_j = best_time(lambda: func.jvp(f, (x,), (tangent,)), args.device, args.min_time, args.repeat)
            ratios = {"value_and_grad": t_g / t_f, "jvp": t_j / t_f}
            verdict = "-" if n != judged else (
                "PASS" if all(ratios[k] <= TARGETS[k] for k in TARGETS) else "FAIL")
            rows.append({"n": n, "L": length, "f_s": t_f, "value_and_grad_s": t_g, "jvp_s": t_j,
                         "ratios": ratios, "judged": n == judged, "verdict": verdict})
            print(f"{n:>8} {length:>6} {t_f * 1e3:>9.2f} {t_g * 1e3:>9.2f} {t_j * 1e3:>9.2f} "
                  f"{ratios['value_and_grad']:>7.2f} {ratios['jvp']:>7.2f}  {verdict}")
    write_result(args, "cheap-gradient", {"benchmark": "cheap_gradient", "targets": TARGETS, "rows": rows})


if __name__ == "__main__":
    main()
