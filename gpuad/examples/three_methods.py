"""One derivative, three methods: forward differences, central differences and automatic differentiation.

f(x) = x**3 + 2x**2 - 5x + 1 has f'(2) = 15 exactly. A forward difference with h = 0.01 gives 15.0801 (error O(h)),
a central difference is far closer (error O(h**2)), AD gives 15 to the last bit. Then, for f(x) = sum(x_i**2) in N
dimensions, the full gradient by finite differences costs N + 1 evaluations while AD costs one backward pass; SymPy's
symbolic gradient is timed too where SymPy is installed.

    python -m gpuad.examples.three_methods
"""
import time

import numpy as np

import gpuad


SYMBOLIC_LIMIT = 300


def f(x):
    return x ** 3 + 2 * x ** 2 - 5 * x + 1


def single_variable(x0=2.0, h=0.01):
    forward = (f(x0 + h) - f(x0)) / h
    central = (f(x0 + h) - f(x0 - h)) / (2 * h)
    x = gpuad.tensor(x0, dtype=gpuad.float64, requires_grad=True)
    f(x).backward()
    return {"forward difference": forward, "central difference": central, "AD": x.grad.item()}


def sum_of_squares(n, rng):
    x0 = rng.standard_normal(n)
    exact = 2 * x0

    start = time.perf_counter()
    base = float(np.sum(x0 ** 2))
    h = 1e-6
    fd = np.empty(n)
    for i in range(n):  # one extra evaluation per coordinate
        shifted = x0.copy()
        shifted[i] += h
        fd[i] = (float(np.sum(shifted ** 2)) - base) / h
    t_fd = time.perf_counter() - start

    start = time.perf_counter()
    x = gpuad.tensor(x0, dtype=gpuad.float64, requires_grad=True)
    (x ** 2).sum().backward()
    ad = x.grad.numpy()
    t_ad = time.perf_counter() - start
    row = {"N": n, "fd_seconds": t_fd, "fd_error": float(np.abs(fd - exact).max()),
           "ad_seconds": t_ad, "ad_error": float(np.abs(ad - exact).max())}
    try:
        import sympy  # lazy: optional, only for the symbolic method
    except ImportError:
        return row
    if n <= SYMBOLIC_LIMIT:  # N symbolic derivatives of an N-term sum: quadratic, ~30 s at N = 1000
        start = time.perf_counter()
        symbols = sympy.symbols(f"x0:{n}")
        expr = sum(s ** 2 for s in symbols)
        gradient = sympy.lambdify([symbols], [sympy.diff(expr, s) for s in symbols], "numpy")
        sym = np.asarray(gradient(x0), dtype=float)
        row["symbolic_seconds"] = time.perf_counter() - start
        row["symbolic_error"] = float(np.abs(sym - exact).max())
    return row


def main(argv=None):
    print("f(x) = x**3 + 2x**2 - 5x + 1 at x = 2, exact f'(2) = 15")
    results = single_variable()
    for method, value in results.items():
        print(f"  {method:<20} {value:.10f}   error {abs(value - 15):.2e}")
    print("\ngradient of sum(x_i**2): finite differences (N+1 evaluations) against AD (one backward pass)")
    rng = np.random.default_rng(0)
    rows = [sum_of_squares(n, rng) for n in (100, 1000, 10000)]
    has_sympy = any("symbolic_seconds" in r for r in rows)
    print(f"  {'N':>6}  {'FD seconds':>10}  {'FD error':>9}  {'AD seconds':>10}  {'AD error':>9}"
          + (f"  {'symbolic s':>10}  {'sym error':>9}" if has_sympy else ""))
    for r in rows:
        line = (f"  {r['N']:>6}  {r['fd_seconds']:>10.4f}  {r['fd_error']:>9.1e}  {r['ad_seconds']:>10.4f}  "
                f"{r['ad_error']:>9.1e}")
        if "symbolic_seconds" in r:
            line += f"  {r['symbolic_seconds']:>10.4f}  {r['symbolic_error']:>9.1e}"
        elif has_sympy:
            line += f"  (skipped above N = {SYMBOLIC_LIMIT}: it grows as N**2)"
        print(line)
    if not has_sympy:
        print("  (install SymPy to add the symbolic column)")
    return {"single": results, "rows": rows}


if __name__ == "__main__":
    main()
