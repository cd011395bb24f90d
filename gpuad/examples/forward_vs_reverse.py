"""Forward against reverse mode on y = x1*x2 + x2 - log(x1) at (3, -4), with the trace tables side by side.

Forward mode carries one tangent column per input direction: d/dx1 and d/dx2 each need a pass. Reverse mode computes
every adjoint in one backward pass; where a value feeds several ops (x1 and x2 both do) its adjoint sums their
contributions. Both give dy/dx1 = -4.333... and dy/dx2 = 4.

    python -m gpuad.examples.forward_vs_reverse
"""
import gpuad
from gpuad import viz


def y(x1, x2):
    return x1 * x2 + x2 - gpuad.log(x1)


def main(argv=None):
    by_x1 = viz.trace(y, 3.0, -4.0, wrt="x1", show=False)
    by_x2 = viz.trace(y, 3.0, -4.0, wrt="x2", show=False)
    print("y = x1*x2 + x2 - log(x1) at (3, -4)\n")
    print("reverse mode, one backward pass (adjoint = dy/dv):")
    print(by_x2)
    print("\nforward mode, one pass per input direction (tangent = dv/dx):")
    header = f"{'var':<5} {'op':<6} {'value':>9} {'d/dx1':>9} {'d/dx2':>9}"
    print(header + "\n" + "-" * len(header))
    for a, b in zip(by_x1.rows, by_x2.rows):
        print(f"{a.name:<5} {a.op:<6} {float(a.value):>9.4f} {float(a.tangent):>9.4f} {float(b.tangent):>9.4f}")
    forward = (float(by_x1.rows[-1].tangent), float(by_x2.rows[-1].tangent))
    reverse = (float(by_x2.rows[0].adjoint), float(by_x2.rows[1].adjoint))
    print(f"\nforward mode: dy/dx1 = {forward[0]:.6f}, dy/dx2 = {forward[1]:.6f}")
    print(f"reverse mode: dy/dx1 = {reverse[0]:.6f}, dy/dx2 = {reverse[1]:.6f}")
    return {"forward": forward, "reverse": reverse, "trace": by_x2}


if __name__ == "__main__":
    main()
