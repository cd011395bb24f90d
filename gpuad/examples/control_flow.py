"""Gradients through Python control flow: the graph is what ran.

f doubles b = 2a until its norm reaches 1000, then keeps it or multiplies by 100 depending on its sign. Whatever path
ran, f(a) = k * a for the k that path produced, so df/da = f(a) / a: the engine differentiates the ops that ran.

    python -m gpuad.examples.control_flow
"""
import gpuad


def f(a):
    b = a * 2
    steps = 0
    while b.norm() < 1000:
        b = b * 2
        steps += 1
    c = b if b.sum() > 0 else 100 * b
    return c, steps


def main(argv=None):
    gpuad.manual_seed(0)
    results = []
    for value in (0.3, -1.7, 250.0):
        a = gpuad.tensor(value, dtype=gpuad.float64, requires_grad=True)
        d, steps = f(a)
        d.backward()
        results.append({"a": value, "doublings": steps, "grad": a.grad.item(), "f(a)/a": (d / a).item()})
        print(f"a = {value:>7}: {steps:2d} doublings, {'kept' if d.item() > 0 else 'times 100'}; "
              f"a.grad = {a.grad.item():.1f}, f(a)/a = {(d / a).item():.1f}")
    return results


if __name__ == "__main__":
    main()
