"""sin and its derivative by AD, plotted on [-2 pi, 2 pi].

The derivative comes from the engine (the gradient of sum(sin(x)) with respect to each x_i), not from writing cos;
the printed error against cos shows it is exact to rounding.

    python -m gpuad.examples.sin_derivative [--out sin.png]     (the plot needs matplotlib)
"""
import argparse
import math
import os

import gpuad


def derivative_by_ad(n=401):
    x = gpuad.linspace(-2 * math.pi, 2 * math.pi, n, dtype=gpuad.float64, requires_grad=True)
    y = gpuad.sin(x)
    y.sum().backward()  # d(sum sin x_i)/dx_i = sin'(x_i): one backward pass gives the derivative everywhere
    return x.detach().numpy(), y.detach().numpy(), x.grad.numpy()


def plot(x, y, dy, path):
    import matplotlib  # lazy: optional, only for the plot
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: optional, only for the plot
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(x, y, label="sin(x)")
    ax.plot(x, dy, label="d/dx sin(x) by AD")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("x")
    ax.legend()
    fig.tight_layout()
    tmp = path + ".part.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="sin_derivative.png")
    args = parser.parse_args(argv)
    x, y, dy = derivative_by_ad()
    error = float(abs(dy - __import__("numpy").cos(x)).max())
    print(f"max |AD derivative - cos(x)| on [-2pi, 2pi]: {error:.1e}")
    try:
        path = plot(x, y, dy, args.out)
        print(f"plot written to {path}")
    except ImportError:
        path = None
        print("matplotlib is not installed: pip install 'gpuad[plot]' to draw the plot")
    return {"max_error": error, "plot": path}


if __name__ == "__main__":
    main()
