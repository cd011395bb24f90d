"""Forward against reverse mode for whole Jacobians: f: R^n -> R^m over a grid of n and m.

    python benchmarks/jacobian_table.py [--device cpu|cuda] [--sizes 1 10 100 1000]

f(x) = sin(B @ tanh(A @ x)) with a hidden width of 32 (A: 32 x n, B: m x 32). jacfwd pushes n basis tangents through
one batched forward pass, so its work grows with n; jacrev pulls m basis cotangents through one batched backward pass,
so its work grows with m. Both give the same m x n matrix (checked before timing). The table prints the time of each,
and which is faster; results go to benchmarks/results/jacobian-<host>-<date>.json.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, best_time, write_result  # noqa: E402

import numpy as np  # noqa: E402

import gpuad as G  # noqa: E402
from gpuad import func  # noqa: E402

HIDDEN = 32


def problem(n, m, device):
    rng = np.random.default_rng(n * 7919 + m)
    a = G.tensor(rng.standard_normal((HIDDEN, n)) / np.sqrt(n), dtype=G.float64, device=device)
    b = G.tensor(rng.standard_normal((m, HIDDEN)) / np.sqrt(HIDDEN), dtype=G.float64, device=device)
    x = G.tensor(rng.standard_normal(n), dtype=G.float64, device=device)
    return (lambda v: G.sin(b @ G.tanh(a @ v))), x


def main(argv=None):
    parser = bench_parser(__doc__, repeat=3, min_time=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    args = parser.parse_args(argv)
    rows = []
    print(f"Jacobian of f: R^n -> R^m, f(x) = sin(B tanh(A x)), hidden {HIDDEN}, float64, device={args.device}")
    print(f"{'n':>6} {'m':>6} {'jacfwd ms':>10} {'jacrev ms':>10} {'fwd/rev':>8}  faster")
    for n in args.sizes:
        for m in args.sizes:
            f, x = problem(n, m, args.device)
            forward, reverse = func.jacfwd(f)(x), func.jacrev(f)(x)
            assert forward.shape == reverse.shape == (m, n)
            np.testing.assert_allclose(forward.cpu().numpy(), reverse.cpu().numpy(), rtol=1e-10, atol=1e-12)
            t_fwd = best_time(lambda: func.jacfwd(f)(x), args.device, args.min_time, args.repeat)
            t_rev = best_time(lambda: func.jacrev(f)(x), args.device, args.min_time, args.repeat)
            rows.append({"n": n, "m": m, "jacfwd_s": t_fwd, "jacrev_s": t_rev})
            print(f"{n:>6} {m:>6} {t_fwd * 1e3:>10.3f} {t_rev * 1e3:>10.3f} {t_fwd / t_rev:>8.2f}  "
                  f"{'jacfwd' if t_fwd < t_rev else 'jacrev'}")
    write_result(args, "jacobian", {"benchmark": "jacobian_table", "hidden": HIDDEN, "rows": rows})


if __name__ == "__main__":
    main()
