"""The activation table of the fused linear layer: one record per activation, from which everything else derives.

``nn.functional.linear(x, w, b, activation)``'s forward, VJP and JVP, the CUDA epilogue instantiations
(kernels/linear.cu, through RAW_TEMPLATES), ``nn.Sequential``'s fusion of a Linear with the activation module after
it, the ``gpuad-train --activation`` choices and the tests all read ``ACTIVATIONS``. A new activation is one record
here plus one functor in ``kernels/linear.cu``'s ``gpuad::act`` namespace.

Each record computes exactly what the unfused op computes (same formulas in the same order), so fusing changes no
bit of the result. This module imports nothing from gpuad: the backends use it too.
"""
import math

INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# What an activation keeps for backward, besides the layer's inputs:
NOTHING, MASK, INPUT, OUTPUT = None, "mask", "input", "output"


class Activation:
    """One activation of the fused linear layer.

    forward(xp, z) -> (output, kept): the activation of the GEMM output ``z`` (plus bias), in place on ``z`` where
        the backward does not need ``z`` itself; ``kept`` is what ``keeps`` says (a 1-byte mask, z, or the output)
    grad(xp, g, kept) -> dz: g * activation'(z) on raw arrays, from what forward kept
    slope(out, z) -> activation'(z) in Tensor ops (differentiable again: double backward, forward mode); ``out``
        and ``z`` are callables giving the output and the pre-activation, so only the one needed is computed
    cuda: the functor in kernels/linear.cu (``gpuad::act::...``) the CUDA epilogue is instantiated with
    module: the nn module class whose stock instance nn.Sequential may fuse into the Linear before it
    """
    __slots__ = ("name", "keeps", "forward", "grad", "slope", "cuda", "module")

    def __init__(self, name, keeps, forward, grad, slope, cuda, module=None):
        self.name, self.keeps, self.forward, self.grad, self.slope = name, keeps, forward, grad, slope
        self.cuda, self.module = cuda, module

    def __repr__(self):
        return f"<Activation {self.name}>"


def sigmoid_forward(xp, x):
    """1 / (1 + exp(-x)) without overflow: exp of -|x| only (the unfused sigmoid op computes this too)."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def gelu_forward(xp, x):
    """x * Phi(x) with erf (the unfused gelu's ``approximate="none"``)."""
    return 0.5 * x * (1 + xp.erf(x * INV_SQRT_2))


def gelu_slope(x):
    """d gelu(x) / dx = Phi(x) + x phi(x), in Tensor ops."""
    cdf = 0.5 * (1 + (x * INV_SQRT_2).erf())
    pdf = (-0.5 * x * x).exp() * INV_SQRT_2PI
    return cdf + x * pdf


# --- the records ---------------------------------------------------------------------------------------------------
def _relu_forward(xp, z):
    mask = z > 0                # 1 byte per element
    xp.maximum(z, 0, out=z)     # as the unfused relu: 0 at -inf (z * mask would give NaN), NaN kept
    return z, mask


def _tanh_forward(xp, z):
    xp.tanh(z, out=z)
    return z, z


def _tanh_grad(xp, g, y):
    dz = y * y
    xp.subtract(1, dz, out=dz)
    xp.multiply(dz, g, out=dz)
    return dz


def _sigmoid_forward_kept(xp, z):
    out = sigmoid_forward(xp, z)
    return out, out


def _sigmoid_grad(xp, g, y):
    dz = 1 - y
    xp.multiply(dz, y, out=dz)
    xp.multiply(dz, g, out=dz)
    return dz


def _gelu_forward_kept(xp, z):
    return gelu_forward(xp, z), z  # backward needs the pre-activation


def _gelu_grad(xp, g, z):
    """g * (Phi(z) + z phi(z)), in gelu_slope's order, reusing two buffers."""
    cdf = xp.erf(z * INV_SQRT_2)
    cdf += 1
    cdf *= 0.5
    pdf = z * z
    pdf *= -0.5
    xp.exp(pdf, out=pdf)
    pdf *= INV_SQRT_2PI
    pdf *= z
    cdf += pdf
    cdf *= g
    return cdf


def _tanh_slope(out, z):
    o = out()
    return 1 - o * o


def _sigmoid_slope(out, z):
    o = out()
    return o * (1 - o)


ACTIVATIONS = {a.name: a for a in (
    Activation(None, NOTHING, lambda xp, z: (z, None), lambda xp, g, kept: g, lambda out, z: 1,
               "gpuad::act::Identity"),
    Activation("relu", MASK, _relu_forward, lambda xp, g, mask: g * mask, lambda out, z: out() > 0,
               "gpuad::act::Relu", "ReLU"),
    Activation("gelu", INPUT, _gelu_forward_kept, _gelu_grad, lambda out, z: gelu_slope(z()),
               "gpuad::act::Gelu", "GELU"),
    Activation("tanh", OUTPUT, _tanh_forward, _tanh_grad, _tanh_slope, "gpuad::act::Tanh", "Tanh"),
    Activation("sigmoid", OUTPUT, _sigmoid_forward_kept, _sigmoid_grad, _sigmoid_slope, "gpuad::act::Sigmoid",
               "Sigmoid"),
)}
NAMES = tuple(ACTIVATIONS)  # (None, "relu", "gelu", "tanh", "sigmoid")


def get(name, where="linear"):
    """The record of ``name``, or a ValueError naming the choices."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: activation must be one of {NAMES}, got {name!r}") from None
