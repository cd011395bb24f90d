"""``gpuad-demo``: the foundation at work. Checks a worked derivative, then fits a small two-layer network to
sin(x) by gradient descent with ``backward()``, on the CPU or a GPU.

    gpuad-demo [--device auto|cpu|cuda] [--steps 500] [--seed 0]
"""
import argparse
import math
import sys

import gpuad


def worked_example():
    """f(x) = x**3 + 2x**2 - 5x + 1 has f'(2) = 15."""
    x = gpuad.tensor(2.0, dtype=gpuad.float64, requires_grad=True)
    f = x ** 3 + 2 * x ** 2 - 5 * x + 1
    f.backward()
    return f.item(), x.grad.item()


def fit_sine(device, steps, seed, hidden=32, lr=0.05, log=print):
    """Fit y = sin(x) on [-pi, pi] with a tanh MLP; returns the final mean squared error."""
    gpuad.manual_seed(seed)
    x = gpuad.linspace(-math.pi, math.pi, 256, device=device).reshape(-1, 1)
    y = x.sin()
    w1 = (gpuad.randn(1, hidden, device=device) * 1.0).requires_grad_()
    b1 = gpuad.zeros(hidden, device=device, requires_grad=True)
    w2 = (gpuad.randn(hidden, 1, device=device) / math.sqrt(hidden)).requires_grad_()
    b2 = gpuad.zeros(1, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    loss = None
    for step in range(steps + 1):
        pred = (x @ w1 + b1).tanh() @ w2 + b2
        loss = ((pred - y) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with gpuad.no_grad():
            for p in params:
                p -= lr * p.grad
        if step % max(steps // 5, 1) == 0:
            log(f"step {step:5d}  mse {loss.item():.6f}")
    return loss.item()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gpuad-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = ("cuda" if gpuad.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    value, slope = worked_example()
    print(f"f(x) = x**3 + 2x**2 - 5x + 1 at x = 2: f = {value:g}, f'(2) by backward() = {slope:g} (exact: 15)")
    print(f"fitting sin(x) with a 1-32-1 tanh network on {device}")
    mse = fit_sine(device, args.steps, args.seed)
    print(f"final mse {mse:.6f}")
    return 0 if mse < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
