"""SGD's and Adam's updates on raw arrays through an array namespace ``xp``, term by term as torch.optim computes them.

The CPU backend runs them with NumPy; the CUDA backend with CuPy (inside its device context) where its fused kernels
(kernels/optim.cu) are off or do not apply. Arrays are updated in place; temporaries come from ``scratch``, a dict the
caller keeps per parameter, so that a step allocates nothing after the first.
"""


def scratch_array(xp, scratch, like, slot):
    """An array shaped like ``like`` kept in ``scratch`` under ``slot``; made again when the parameter's shape, dtype or
    array type changed (a parameter loaded onto another device, or resized)."""
    buf = scratch.get(slot)
    if buf is None or buf.shape != like.shape or buf.dtype != like.dtype or type(buf) is not type(like):
        buf = scratch[slot] = xp.empty_like(like)
    return buf


def direction(xp, p, g, scratch, weight_decay, maximize):
    """The gradient PyTorch's update uses: -g when maximizing, plus ``weight_decay`` p (L2 decay). Returns ``g`` itself
    when neither applies (never written to), else the scratch array "d"."""
    if not (weight_decay or maximize):
        return g
    d = scratch_array(xp, scratch, p, "d")
    if not weight_decay:
        return xp.negative(g, out=d)
    xp.multiply(p, weight_decay, out=d)
    return xp.subtract(d, g, out=d) if maximize else xp.add(g, d, out=d)


def sgd_step(xp, p, g, buf, scratch, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """d = direction; with momentum, buf = d on the ``first`` step, else momentum buf + (1 - dampening) d, and
    d = buf (d + momentum buf with Nesterov); p -= lr d."""
    d = direction(xp, p, g, scratch, weight_decay, maximize)
    t = scratch_array(xp, scratch, p, "t")
    if momentum:
        if first:
            xp.copyto(buf, d)
        else:
            buf *= momentum
            if dampening:
                buf += xp.multiply(d, 1 - dampening, out=t)
            else:
                buf += d
        if nesterov:
            xp.multiply(buf, momentum, out=t)
            d = xp.add(d, t, out=t)
        else:
            d = buf
    p -= xp.multiply(d, lr, out=t)


def adam_step(xp, p, g, m, v, scratch, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
              max_exp_avg_sq):
    """Adam's step number ``step`` (counted from 1): decoupled decay p *= 1 - lr wd (AdamW) or L2 decay in d;
    m = b1 m + (1 - b1) d, v = b2 v + (1 - b2) d d (with amsgrad, ``max_exp_avg_sq`` = max(itself, v) is used for v);
    p -= lr / (1 - b1^step) m / (sqrt(v) / sqrt(1 - b2^step) + eps)."""
    if weight_decay and decoupled:
        p *= 1 - lr * weight_decay
    d = direction(xp, p, g, scratch, 0 if decoupled else weight_decay, maximize)
    t = scratch_array(xp, scratch, p, "t")
    m *= beta1
    m += xp.multiply(d, 1 - beta1, out=t)
    v *= beta2
    xp.multiply(d, 1 - beta2, out=t)
    t *= d
    v += t
    if max_exp_avg_sq is not None:
        v = xp.maximum(max_exp_avg_sq, v, out=max_exp_avg_sq)
    denom = xp.sqrt(v, out=t)
    denom /= (1 - beta2 ** step) ** 0.5
    denom += eps
    xp.divide(m, denom, out=denom)
    denom *= lr / (1 - beta1 ** step)
    p -= denom
