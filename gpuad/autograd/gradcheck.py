"""Numerical gradient checking: compare the Jacobian that backward gives with central differences, in float64."""
import numpy as np

from .engine import grad
from ..tensor import Tensor, wrap
from ..factories import tensor


class GradcheckError(AssertionError):
    """The analytic and numerical Jacobians disagree; the message names the input, the indices and both values."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in out if isinstance(o, Tensor) and o.dtype.kind == "f"]


def numerical_jacobians(fn, inputs, wrt, eps):
    """For each input in ``wrt``: a list (per output) of (out.numel, in.numel) central-difference Jacobians."""
    result = []
    for i in wrt:
        x = inputs[i]
        flat = x._device.backend.to_host(x._data).reshape(-1)
        columns = []
        for k in range(flat.size):
            values = []
            for step in (eps, -eps):
                shifted = flat.copy()
                shifted[k] += step
                probe = list(inputs)
                probe[i] = wrap(x._device.backend.from_host(shifted.reshape(x.shape)), x._device)
                probe[i]._rg = True  # fn may differentiate internally (checking a gradient function)
                values.append([o._device.backend.to_host(o._data).astype(np.float64).reshape(-1)
                               for o in _outputs(fn, probe)])
            columns.append([(p - m) / (2 * eps) for p, m in zip(*values)])
        n_out = len(columns[0]) if columns else len(_outputs(fn, inputs))
        result.append([np.stack([c[o] for c in columns], axis=1) if columns else None for o in range(n_out)])
    return result


def analytical_jacobians(fn, inputs, wrt):
    """Same layout as numerical_jacobians, row by row through autograd.grad."""
    outputs = _outputs(fn, inputs)
    targets = [inputs[i] for i in wrt]
    jac = [[np.zeros((o.numel(), t.numel())) for o in outputs] for t in targets]
    for o_index, o in enumerate(outputs):
        if not o.requires_grad:
            continue
        host = np.zeros(o.numel(), dtype=o.dtype)
        for row in range(o.numel()):
            host[:] = 0
            host[row] = 1
            seed = wrap(o._device.backend.from_host(host.reshape(o.shape)), o._device)
            grads = grad(o, targets, grad_outputs=seed, retain_graph=True, allow_unused=True)
            for t_index, g in enumerate(grads):
                if g is not None:
                    jac[t_index][o_index][row] = g._device.backend.to_host(g._data).reshape(-1)
    return jac


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True if ``fn``'s gradients match central finite differences for every input that requires grad.

    Inputs that require grad must be float64 (differences in float32 are too coarse to say anything).
    On a mismatch raises GradcheckError (or returns False with ``raise_exception=False``).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad; pass tensors created with requires_grad=True")
    for i in wrt:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 inputs (x.double()) "
                             f"so that finite differences are accurate")
    numeric = numerical_jacobians(fn, inputs, wrt, eps)
    analytic = analytical_jacobians(fn, inputs, wrt)
    for w, i in enumerate(wrt):
        for o, (num, ana) in enumerate(zip(numeric[w], analytic[w])):
            if num is None:
                continue
            bad = ~(np.abs(ana - num) <= atol + rtol * np.abs(num))
            if bad.any():
                row, col = np.argwhere(bad)[0]
                in_index = np.unravel_index(col, inputs[i].shape) if inputs[i].ndim else ()
                message = (f"gradcheck: Jacobian mismatch for output {o} with respect to input {i}, "
                           f"at input index {tuple(int(c) for c in in_index)} and output element {int(row)}: "
                           f"numerical {float(num[row, col])!r} vs analytical {float(ana[row, col])!r} "
                           f"({int(bad.sum())} of {bad.size} entries differ)")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True if ``fn``'s second derivatives match finite differences of its first (as PyTorch's gradgradcheck): the
    vector-Jacobian product with ``grad_outputs`` (random float64 ones when not given), taken with create_graph=True,
    is itself gradchecked with respect to the inputs and the grad_outputs."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device,
                                    requires_grad=True) for o in outputs)
    else:
        grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
        if len(grad_outputs) != len(outputs):
            raise ValueError(f"gradgradcheck: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    n = len(inputs)

    def first_derivatives(*args):
        xs, seeds = args[:n], args[n:]
        pairs = [(o, g) for o, g in zip(_outputs(fn, xs), seeds) if o.requires_grad]
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        if not pairs:
            return ()
        grads = grad([o for o, _ in pairs], wrt, grad_outputs=[g for _, g in pairs], create_graph=True,
                     allow_unused=True)
        return tuple(g for g in grads if g is not None)
    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
