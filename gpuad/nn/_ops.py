"""A primitive op the nn functions need and gpuad.ops does not have: constant padding (expm1 is gpuad.ops').

Each is one Op record (forward for xp, VJP and JVP in tensor ops), so gradients, forward mode and higher orders of
everything built on them come from the engine.
"""
from ..ops.core import OUT, Op, apply
from ..ops.math_extra import expm1  # noqa: F401 - used by the activations
from ..ops._lift import one

def _pad_forward(xp, x, widths, value):
    lead = x.ndim - len(widths)
    return xp.pad(x, ((0, 0),) * lead + widths, mode="constant", constant_values=value)


def _unpad(g, widths):
    """The inverse of padding by ``widths`` on the trailing dims: the slice of ``g`` that holds the original."""
    index = (Ellipsis,) + tuple(slice(lo, g.shape[g.ndim - len(widths) + i] - hi) for i, (lo, hi) in enumerate(widths))
    return g[index]


PAD = Op("constant_pad", _pad_forward, lambda n, g: _unpad(g, n.params["widths"]),
         jvp=lambda c, t: apply(PAD, (t,), {"widths": c.params["widths"], "value": 0}))


def constant_pad(x, widths, value):
    """``x`` with ``widths[i] = (before, after)`` elements of ``value`` around each of its trailing dims (widths
    non-negative; cropping is done by the caller)."""
    return apply(PAD, (x,), {"widths": tuple(widths), "value": value})
