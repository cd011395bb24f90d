"""What the fuzz tests share: value generators (generic values, or values at kinks and ties), memory layouts
(contiguous, transposed, stepped, expanded), and the checks (PyTorch comparison, JVP/VJP dot-product identity,
central differences)."""
import numpy as np

import gpuad as G
from gpuad import func

# values where ops have kinks, ties or special conventions: relu/abs/sign at 0, clamp at its bounds (+-0.5), ties
SPECIAL = {"normal": [0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0], "positive": [0.5, 1.0, 1.0, 2.0, 3.0],
           "away": [0.5, -0.5, 1.0, -1.0, 2.0], "unit": [0.0, 0.5, -0.5, 0.25, 1.0],
           "with_zeros": [0.0, 0.0, 1.0, -1.0, 0.5, 2.0]}
LAYOUTS = ("contiguous", "transposed", "stepped", "expanded")


def values(kind, shape, rng, special):
    """An array of ``shape``: generic values of the kind, or (``special``) values drawn from its kinks and ties."""
    if special:
        return rng.choice(SPECIAL[kind], size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    if kind == "positive":
        return np.abs(x) + 0.5
    if kind == "away":
        return np.sign(x) * (np.abs(x) + 0.2)
    if kind == "unit":
        return np.tanh(x) * 1.2
    if kind == "with_zeros":  # exact zeros, as op_cases makes them: every third element
        x.reshape(-1)[::3] = 0.0
    return x


def layout_storage(x, layout, rng):
    """(storage array, view function of a library and a storage tensor): the view of the storage is ``x``'s values
    (for "expanded": one slice of x along a dimension, repeated), in a memory layout that is not plain."""
    nd = x.ndim
    if layout == "transposed" and nd >= 2:
        dims = tuple(reversed(range(nd)))
        return np.ascontiguousarray(x.transpose(dims)), lambda lib, w: w.permute(*dims)
    if layout == "stepped" and nd >= 1:
        storage = np.repeat(x, 2, axis=-1)
        storage[..., 1::2] = rng.standard_normal(storage[..., 1::2].shape)
        return storage, lambda lib, w: w[..., ::2]
    if layout == "expanded" and nd >= 1 and x.shape[0] > 1:
        storage = x[:1].copy()
        return storage, lambda lib, w: w.expand(*x.shape)
    return x, lambda lib, w: w


def torch_dtype(torch, dtype):
    return {np.float64: torch.float64, np.float32: torch.float32}[np.dtype(dtype).type]


def as_numpy(t):
    if t is None:
        return None
    if hasattr(t, "detach"):
        t = t.detach()
    return np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t.numpy())


def assert_close(ours, theirs, dtype, what, grad=False):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    if np.dtype(dtype) == np.float64:
        rtol, atol = (1e-8, 1e-10) if grad else (1e-10, 1e-12)
    else:
        rtol, atol = 2e-4, 2e-5
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=what)


def float_outputs(out):
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in out if isinstance(o, G.Tensor) and o.dtype.kind == "f"]


def _dot(tensors, arrays):
    return sum(float((np.asarray(t.detach().numpy(), dtype=np.float64) * a).sum()) for t, a in zip(tensors, arrays))


def check_vjp_against_jvp_and_differences(fn, leaves, rng, smooth, rtol=1e-8):
    """<J^T u, v> by reverse mode, <u, J v> by forward mode and, where ``fn`` is smooth at the point, by central
    differences: the three must agree (float64). Returns False when nothing was differentiable."""
    produced = float_outputs(fn(*leaves))
    us = [rng.standard_normal(o.shape) for o in produced]
    vs = [rng.standard_normal(x.shape) for x in leaves]
    pairs = [(o, u) for o, u in zip(produced, us) if o.requires_grad]
    if not pairs:
        return False
    grads = G.autograd.grad([o for o, _ in pairs], leaves,
                            grad_outputs=[G.tensor(u, dtype=o.dtype) for o, u in pairs], allow_unused=True)
    reverse = sum(float((g.numpy() * v).sum()) for g, v in zip(grads, vs) if g is not None)
    primals = tuple(x.detach() for x in leaves)
    tangents = tuple(G.tensor(v, dtype=x.dtype) for v, x in zip(vs, leaves))
    _, pushed = func.jvp(lambda *xs: tuple(float_outputs(fn(*xs))), primals, tangents)
    forward = _dot(pushed, us)
    scale = 1.0 + abs(reverse) + abs(forward)
    assert abs(reverse - forward) <= rtol * scale, f"<J^T u, v> = {reverse!r} but <u, J v> = {forward!r}"
    if smooth:
        h = 1e-6
        plus = float_outputs(fn(*[G.tensor(x.detach().numpy() + h * v) for x, v in zip(leaves, vs)]))
        minus = float_outputs(fn(*[G.tensor(x.detach().numpy() - h * v) for x, v in zip(leaves, vs)]))
        diff = sum(float(((p.detach().numpy() - m.detach().numpy()) / (2 * h) * u).sum())
                   for p, m, u in zip(plus, minus, us))
        assert abs(reverse - diff) <= 1e-5 * scale, f"<J^T u, v> = {reverse!r} but central differences {diff!r}"
    return True
