"""``torch.autograd.functional``: jacobian, hessian, vjp, jvp, vhp and hvp of a function at given inputs.

Signatures, result layouts (a tensor for a tensor, tuples for tuples, tuples of tuples for tuples of both) and the
``strict`` checks follow PyTorch. Results carry no graph unless ``create_graph=True``, in which case they are
differentiable with respect to inputs that require grad. ``jacobian`` computes all rows of each output in one
batched backward pass whatever ``vectorize`` says (``vectorize`` only changes which options PyTorch allows with it);
``strategy="forward-mode"`` pushes all columns through one batched forward pass. ``jvp`` uses forward mode (dual
numbers) rather than PyTorch's double-backward trick: same values, one forward pass. ``hvp`` equals ``vhp`` (the
Hessian of a twice-differentiable function is symmetric), computed as reverse over reverse.
"""
from . import forward_ad as fwAD
from .engine import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from ..tensor import Tensor
from ..factories import eye, ones_like, zeros, zeros_like


def _ones_like(t):
    return ones_like(t)

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


# --- the tuple conventions and checks PyTorch's versions share ----------------------------------------------------
def _as_tuple(value, what, who):
    """(whether ``value`` was a tuple, it as a tuple of tensors)."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {what}"
            raise TypeError(f"The {what} given to {who} must be either a Tensor or a tuple of Tensors but {where} "
                            f"has type {type(el).__name__}.")
    return is_tuple, items


def _untuple(res, is_tuple):
    return res if is_tuple else res[0]


def _untuple2(res, outer_is_tuple, inner_is_tuple):
    if not inner_is_tuple:
        res = tuple(el[0] for el in res)
    return res if outer_is_tuple else res[0]


def _prepare(inputs, create_graph, need_graph):
    """New tensor objects for the inputs: differentiable views when an outer graph is wanted, otherwise detached
    copies (requiring grad when the computation needs a graph of its own)."""
    out = []
    for x in inputs:
        if create_graph and x.requires_grad:
            out.append(x.view_as(x))
        else:
            x = x.detach()
            if need_graph:
                x.requires_grad_(True)
            out.append(x)
    return tuple(out)


def _finish(values, create_graph):
    if create_graph:
        return values
    return tuple(v.detach() if isinstance(v, Tensor) else _finish(v, create_graph) for v in values)


def _validate_v(v, other, other_is_tuple):
    if len(v) != len(other):
        if other_is_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (a, b) in enumerate(zip(v, other)):
        if a.shape != b.shape:
            prefix = f"Entry {i} in " if other_is_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {b.shape} but got {a.shape}.")


def _check_outputs(outputs, strict):
    if strict:
        for i, o in enumerate(outputs):
            if not o.requires_grad:
                raise RuntimeError(f"Output {i} of the user-provided function does not require gradients. The "
                                   f"outputs must be computed in a differentiable manner from the input when running "
                                   f"in strict mode.")


def _grads(outputs, inputs, grad_outputs, create_graph, batched=False):
    """autograd.grad over the outputs that require grad (None for inputs they do not reach)."""
    live = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not live:
        return (None,) * len(inputs)
    return _grad([o for o, _ in live], inputs, [g for _, g in live], retain_graph=True, create_graph=create_graph,
                 allow_unused=True, is_grads_batched=batched)


def _fill_zeros(grads, refs, strict, create_graph, what):
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(f"The {what} is independent of input {i}. This is not allowed in strict mode.")
            g = zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(f"The {what} with respect to input {i} is independent of the inputs. This is not "
                               f"allowed in strict mode when create_graph=True.")
        out.append(g)
    return tuple(out)


_ONE_INPUT = "the input to the user-provided function is a single Tensor with a single element"


def _vector(v, against, against_tuple, create_graph, who, when_optional):
    """The vector of a vjp/jvp/hvp/vhp, checked against the tensors it pairs with; ones where ``v`` is None, which
    is allowed only when those are a single one-element tensor (``when_optional`` says so in the error)."""
    if v is not None:
        v = _prepare(_as_tuple(v, "v", who)[1], create_graph, need_graph=False)
        _validate_v(v, against, against_tuple)
        return v
    if len(against) != 1 or against[0].numel() != 1:
        raise RuntimeError(f"The vector v can only be None if {when_optional}.")
    return (_ones_like(against[0]),)


# --- the functions --------------------------------------------------------------------------------------------------
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T J)``; ``v`` may be omitted when ``func`` returns one single-element tensor."""
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_outputs(outputs, strict)
        v = _vector(v, outputs, outputs_tuple, create_graph, "vjp",
                    "the user-provided function returns a single Tensor with a single element")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _fill_zeros(_grads(outputs, inputs, v, create_graph), inputs, strict, create_graph,
                            "output of the user-provided function")
    return _untuple(_finish(outputs, create_graph), outputs_tuple), _untuple(_finish(grads, create_graph),
                                                                              inputs_tuple)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), J v)``; ``v`` may be omitted when there is one single-element input."""
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _vector(v, inputs, inputs_tuple, create_graph, "jvp", _ONE_INPUT)
        with fwAD.dual_level():
            duals = [fwAD.make_dual(x, t) for x, t in zip(inputs, v)]
            outputs_tuple, outs = _as_tuple(func(*duals), "outputs of the user-provided function", "jvp")
            unpacked = [fwAD.unpack_dual(o) for o in outs]
        outputs = tuple(u.primal for u in unpacked)
        _check_outputs(outputs, strict)
        tangents = []
        for i, u in enumerate(unpacked):
            if u.tangent is None:
                if strict:
                    raise RuntimeError(f"The output {i} of the user-provided function is independent of the inputs. "
                                       f"This is not allowed in strict mode.")
                tangents.append(zeros_like(u.primal))
            else:
                tangents.append(u.tangent)
    return _untuple(_finish(outputs, create_graph), outputs_tuple), _untuple(_finish(tuple(tangents), create_graph),
                                                                              outputs_tuple)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for an output of shape O and an input of shape I, a tensor of shape
    O + I; a tuple per input for tuple inputs, a tuple per output for tuple outputs (tuples of tuples for both)."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'jacobian: strategy must be "forward-mode" or "reverse-mode", got {strategy!r}')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError('jacobian: create_graph=True and strategy="forward-mode" are not supported '
                                      'together (as in PyTorch); use strategy="reverse-mode"')
        if strict:
            raise RuntimeError('jacobian: strict=True and strategy="forward-mode" are not supported together (as in '
                               'PyTorch); set strict=False')
        if not vectorize:
            raise NotImplementedError('jacobian: strategy="forward-mode" needs vectorize=True (as in PyTorch)')
        return _jacobian_forward(func, inputs)
    if vectorize and strict:
        raise RuntimeError("jacobian: strict=True and vectorize=True are not supported together (as in PyTorch); "
                           "set strict=False or vectorize=False")
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_outputs(outputs, strict)
    rows = []
    with set_grad_enabled(create_graph or is_grad_enabled()):
        for i, o in enumerate(outputs):
            m = o.numel()
            if m and o.requires_grad:
                basis = eye(m, dtype=o.dtype, device=o.device).reshape((m,) + o.shape)
                grads = _grads((o,), inputs, (basis,), create_graph, batched=True)
            else:
                grads = (None,) * len(inputs)
            blocks = []
            for j, (g, x) in enumerate(zip(grads, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"Output {i} of the user-provided function is independent of input {j}. "
                                           f"This is not allowed in strict mode.")
                    g = zeros(o.shape + x.shape, dtype=x.dtype, device=x.device)
                elif strict and create_graph and not g.requires_grad:
                    raise RuntimeError(f"The jacobian of the user-provided function is independent of input {j}. "
                                       f"This is not allowed in strict mode when create_graph=True.")
                blocks.append(g.reshape(o.shape + x.shape))
            rows.append(tuple(blocks))
    return _untuple2(_finish(tuple(rows), create_graph), outputs_tuple, inputs_tuple)


def _jacobian_forward(func, inputs):
    from ..func import jacfwd  # lazy: gpuad.func imports autograd
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    seen = {}

    def checked(*xs):
        seen["tuple"], outs = _as_tuple(func(*xs), "outputs of the user-provided function", "jacobian")
        return outs  # always a tuple, so the result is a tuple (per output) of tuples (per input)
    rows = jacfwd(checked, argnums=tuple(range(len(inputs))))(*(x.detach() for x in inputs))
    return _untuple2(_finish(rows, False), seen["tuple"], inputs_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func``: a tensor of shape I + I for one input, a tuple of tuples (block (i, j) of
    shape I_i + I_j) for several."""
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'hessian: outer_jacobian_strategy must be "forward-mode" or "reverse-mode", got '
                         f'{outer_jacobian_strategy!r}')
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def single_output(*xs):
        out = func(*xs)
        out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_outputs(outs, strict)
        if out_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.reshape(())

    def gradient(*xs):
        jac = jacobian(single_output, xs, create_graph=True)
        if strict:
            for i, j in enumerate(jac):
                if not j.requires_grad:
                    raise RuntimeError(f"While computing the hessian, found that the jacobian of the user-provided "
                                       f"function with respect to input {i} is independent of the input. This is "
                                       f"not allowed in strict mode.")
        return jac

    if outer_jacobian_strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError('hessian: create_graph=True and outer_jacobian_strategy="forward-mode" are not '
                                      'supported together (as in PyTorch)')
        if not vectorize:
            raise NotImplementedError('hessian: outer_jacobian_strategy="forward-mode" needs vectorize=True (as in '
                                      'PyTorch)')
        from ..func import jacfwd, jacrev  # lazy: gpuad.func imports autograd
        xs = tuple(x.detach() for x in inputs)
        res = jacfwd(jacrev(single_output, argnums=tuple(range(len(xs)))), argnums=tuple(range(len(xs))))(*xs)
        return _untuple2(_finish(res, False), inputs_tuple, inputs_tuple)
    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize)
    return _untuple2(res, inputs_tuple, inputs_tuple)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), v^T H)`` for a scalar ``func``."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(*inputs), H v)`` for a scalar ``func`` (equal to ``vhp``: the Hessian is symmetric)."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph, strict, who):
    with enable_grad():
        inputs_tuple, inputs = _as_tuple(inputs, "inputs", who)
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _vector(v, inputs, inputs_tuple, create_graph, who, _ONE_INPUT)
        outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", who)
        _check_outputs(outputs, strict)
        if outputs_tuple:
            raise RuntimeError(f"The function given to {who} should return a single Tensor")
        if outputs[0].numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {who} should contain a single element")
        jac = _grads(outputs, inputs, (_ones_like(outputs[0]),), create_graph=True)
        if strict:
            for i, j in enumerate(jac):
                if j is None or not j.requires_grad:
                    raise RuntimeError(f"While computing the {who}, found that the jacobian of the user-provided "
                                       f"function with respect to input {i} is independent of the input. This is not "
                                       f"allowed in strict mode.")
    with set_grad_enabled(create_graph or is_grad_enabled()):
        grads = _grads(jac, inputs, v, create_graph)
        grads = _fill_zeros(grads, inputs, strict, create_graph, "jacobian of the user-provided function")
    return _untuple(_finish(outputs, create_graph), outputs_tuple), _untuple(_finish(grads, create_graph),
                                                                              inputs_tuple)
