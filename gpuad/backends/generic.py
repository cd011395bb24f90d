"""The device-agnostic raw-array code behind the backends' fused methods, written once for ``xp`` = numpy or cupy.

The CPU backend's methods are these functions on NumPy; the CUDA backend runs our kernels instead and falls back to
these on CuPy while fused kernels are off (gpuad.cuda.fused_kernels(False)), which is also the reference the kernels
are tested against.
"""
from .. import activations


# --- the fused linear layer: activation(x @ w.T + b) ---------------------------------------------------------------
def linear(xp, x, w, b, activation):
    """(output, what backward keeps): the GEMM, then bias and activation in place on its result."""
    z = xp.matmul(x, w.T)
    if b is not None:
        z += b
    return activations.ACTIVATIONS[activation].forward(xp, z)


def linear_grad(xp, g, kept, x, w, activation, needs):
    """(gx, gw, gb) of the linear layer from raw arrays (None where ``needs`` says no): the activation's derivative
    times ``g`` in one pass, its column sums, then the two GEMMs."""
    dz = activations.ACTIVATIONS[activation].grad(xp, g, kept)
    return linear_gemms(xp, dz, x, w, needs, dz.reshape(matrix(dz.shape)).sum(axis=0) if needs[2] else None)


def linear_gemms(xp, dz, x, w, needs, gb):
    """(gx, gw, gb): the input and weight gradients from dz, the two GEMMs of the linear layer's backward."""
    gx = xp.matmul(dz, w) if needs[0] else None
    gw = None
    if needs[1]:
        if dz.ndim != 2:
            dz, x = dz.reshape(matrix(dz.shape)), x.reshape(matrix(x.shape))
        gw = xp.matmul(dz.T, x)
    return gx, gw, gb


def matrix(shape):
    """(rows, last dim) for a batch of rows; unlike reshape(-1, n) it also works when n or the batch is 0."""
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return rows, shape[-1]


# --- cross-entropy over (rows, C) logits with class-index targets ----------------------------------------------------
def row_stats(xp, x2):
    """Per row: the max m (0 where it is not finite) and log s = log sum exp(x - m)."""
    if x2.shape[0] == 0:
        empty = xp.zeros(0, x2.dtype)
        return empty, empty
    m = x2.max(axis=1)
    m = xp.where(xp.isfinite(m), m, 0)
    e = xp.subtract(x2, m[:, None])
    xp.exp(e, out=e)
    return m, xp.log(e.sum(axis=1))


def cross_entropy_rows(xp, x2, target):
    """(per-row loss, m, log s): the loss is log s - (x_t - m), so two large numbers are never subtracted."""
    m, log_s = row_stats(xp, x2)
    return log_s - (x2[xp.arange(x2.shape[0]), target] - m), m, log_s


def cross_entropy_rows_grad(xp, x2, target, m, log_s, scale):
    """(softmax(x) - onehot(target)) * scale per row, from the forward's row statistics."""
    rows = x2.shape[0]
    p = xp.subtract(x2, m[:, None])
    xp.exp(p, out=p)  # softmax = exp(x - m) / s
    p *= (scale * xp.exp(-log_s))[:, None]
    p[xp.arange(rows), target] -= scale
    return p
