"""Detaching cuts a path of the chain rule.

z = x * y with y = x * x is z = x**3, so dz/dx = 3x**2: the gradient flows through both factors.
With u = y.detach(), z = x * u treats u as a constant, so dz/dx = u = x**2: only the direct path remains.

    python -m gpuad.examples.detach
"""
import gpuad


def main(argv=None):
    x = gpuad.arange(4.0, dtype=gpuad.float64, requires_grad=True)
    y = x * x
    z = x * y
    z.sum().backward()
    through_both = x.grad.clone()
    print(f"x                      = {x.detach().tolist()}")
    print(f"z = x * y,   y = x*x:  dz/dx = {through_both.tolist()}   (3x**2)")

    x.grad = None
    y = x * x
    u = y.detach()
    z = x * u
    z.sum().backward()
    print(f"z = x * u,   u = y.detach(): dz/dx = {x.grad.tolist()}   (u = x**2)")
    return {"attached": through_both.tolist(), "detached": x.grad.tolist(), "u": u.tolist()}


if __name__ == "__main__":
    main()
