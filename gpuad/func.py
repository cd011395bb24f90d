"""Function transforms with the names and semantics of ``torch.func`` and JAX.

- grad, value_and_grad, vjp: reverse mode.
- jvp: forward mode (dual numbers), one pass whatever the number of outputs.
- jacrev: all rows of the Jacobian in ONE backward pass, seeding a batch of basis cotangents
  (``autograd.grad(..., is_grads_batched=True)``); cost grows with the number of outputs m.
- jacfwd: all columns in ONE forward pass, pushing a batch of basis tangents; cost grows with the number of inputs n.
- hessian: forward over reverse, ``jacfwd(jacrev(f))``; hvp: forward over reverse without forming the Hessian.

Transforms compose (grad of grad, jacfwd of jacrev); forward over forward is not supported. Inputs being
differentiated must be floating-point tensors. A custom Function's backward and jvp are called once per direction of
a batch unless its class sets ``batched_backward`` / ``batched_jvp``.
"""
import functools

from .autograd import forward_ad as fwAD
from .autograd.engine import grad as _autograd_grad
from .autograd.grad_mode import enable_grad, no_grad
from .factories import eye, zeros, zeros_like
from .ops.convert import alias
from .tensor import Tensor

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "hvp"]


# --- helpers ----------------------------------------------------------------------------------------------------
def _argnums(argnums, n_args, who):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums:
        raise ValueError(f"{who}: argnums must not be empty")
    for i in nums:
        if not isinstance(i, int) or not -n_args <= i < n_args:
            raise ValueError(f"{who}: argnums {argnums!r} is out of range for a function called with {n_args} "
                             f"positional argument(s)")
    return tuple(i % n_args for i in nums), single


def _checked_input(x, who, i):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: argument {i} must be a tensor to be differentiated, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: argument {i} has dtype {x.dtype}; only floating-point tensors can be differentiated")
    return x


def _watched_call(f, args, kwargs, argnums, has_aux, who):
    """Call ``f`` with the arguments in ``argnums`` replaced by watched stand-ins; returns
    (out, aux, watched stand-ins, whether they were single, whether an outer transform is watching too)."""
    nums, single = _argnums(argnums, len(args), who)
    args = list(args)
    nested = any(_checked_input(args[i], who, i).requires_grad for i in nums)
    watched = []
    for i in nums:
        args[i] = _watch(args[i])
        watched.append(args[i])
    with enable_grad():
        out, aux = _split_aux(f(*args, **kwargs), has_aux, who)
    return out, aux, watched, single, nested


def _watch(x):
    """A fresh tensor standing for ``x`` whose gradient we can ask for: it keeps ``x``'s history and tangent."""
    with enable_grad():
        w = alias(x)
    w._rg = True
    return w


def _as_outputs(out, who):
    outs = out if isinstance(out, tuple) else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{who}: the function must return a tensor or a tuple of tensors, got {type(o).__name__}")
    return outs


def _split_aux(out, has_aux, who):
    if not has_aux:
        return out, None
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"{who}: with has_aux=True the function must return a pair (output, aux)")
    return out


def _plain(t, nested):
    """The value to hand back: without our internal graph unless an outer transform is watching."""
    if nested or not isinstance(t, Tensor):
        return t
    with no_grad():
        return alias(t)


# --- reverse mode -------------------------------------------------------------------------------------------------
def value_and_grad(f, argnums=0, has_aux=False):
    """``f``'s value and its gradient with respect to the arguments in ``argnums``; ``f`` must return a scalar."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        out, aux, watched, single, nested = _watched_call(f, args, kwargs, argnums, has_aux, "grad")
        if not isinstance(out, Tensor) or out.numel() != 1 or out.dtype.kind != "f":
            raise RuntimeError(f"grad: the function must return a floating-point tensor with one element, got "
                               f"{getattr(out, 'shape', type(out).__name__)}; use jacrev or vjp for other outputs")
        if out.requires_grad:
            grads = _autograd_grad(out, watched, create_graph=nested, allow_unused=True)
        else:
            grads = (None,) * len(watched)
        grads = tuple(g if g is not None else zeros_like(w) for g, w in zip(grads, watched))
        value = _plain(out, nested)
        result = grads[0] if single else grads
        return ((value, aux) if has_aux else value), result
    return wrapper


def grad(f, argnums=0, has_aux=False):
    """The gradient of a scalar function with respect to the arguments in ``argnums`` (JAX's / torch.func's grad)."""
    inner = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        (value, aux), g = inner(*args, **kwargs) if has_aux else ((None, None), inner(*args, **kwargs)[1])
        return (g, aux) if has_aux else g
    return wrapper


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` returns one gradient per primal."""
    nested = any(_checked_input(p, "vjp", i).requires_grad for i, p in enumerate(primals))
    watched = [_watch(p) for p in primals]
    with enable_grad():
        out, aux = _split_aux(f(*watched), has_aux, "vjp")
    outs = _as_outputs(out, "vjp")

    def vjp_fn(cotangents):
        cots = cotangents if isinstance(cotangents, tuple) else (cotangents,)
        if len(cots) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangent(s), one per output, got {len(cots)}")
        for i, (o, c) in enumerate(zip(outs, cots)):
            if not isinstance(c, Tensor) or c.shape != o.shape:
                raise ValueError(f"vjp_fn: cotangent {i} has shape {getattr(c, 'shape', None)}, "
                                 f"the output has shape {o.shape}")
        live = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        grads = (None,) * len(watched) if not live else _autograd_grad(
            [o for o, _ in live], watched, [c for _, c in live], retain_graph=True, create_graph=nested,
            allow_unused=True)
        return tuple(g if g is not None else zeros_like(w) for g, w in zip(grads, watched))

    value = tuple(_plain(o, nested) for o in outs) if isinstance(out, tuple) else _plain(out, nested)
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def jacrev(f, argnums=0, has_aux=False):
    """The Jacobian by reverse mode: for each output, all of its rows in one batched backward pass.

    The result for an output of shape O and an input of shape I has shape O + I; for several outputs a tuple, for a
    tuple ``argnums`` a tuple per output."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        out, aux, watched, single, nested = _watched_call(f, args, kwargs, argnums, has_aux, "jacrev")
        outs = _as_outputs(out, "jacrev")
        jacobians = []
        for o in outs:
            m = o.numel()
            if o.requires_grad and m:
                basis = eye(m, dtype=o.dtype, device=o.device).reshape((m,) + o.shape)
                grads = _autograd_grad(o, watched, basis, retain_graph=True, create_graph=nested, allow_unused=True,
                                       is_grads_batched=True)
            else:
                grads = (None,) * len(watched)
            per_input = tuple(zeros(o.shape + w.shape, dtype=w.dtype, device=w.device) if g is None
                              else g.reshape(o.shape + w.shape) for g, w in zip(grads, watched))
            jacobians.append(per_input[0] if single else per_input)
        result = tuple(jacobians) if isinstance(out, tuple) else jacobians[0]
        return (result, aux) if has_aux else result
    return wrapper


# --- forward mode -------------------------------------------------------------------------------------------------
def jvp(f, primals, tangents, has_aux=False):
    """``(f(*primals), J @ tangents)`` in one forward pass with dual numbers."""
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        _checked_input(p, "jvp", i)
        if not isinstance(t, Tensor) or t.shape != p.shape:
            raise ValueError(f"jvp: tangent {i} has shape {getattr(t, 'shape', None)}, its primal {p.shape}")
    with fwAD.dual_level():
        duals = [fwAD.make_dual(p, t) for p, t in zip(primals, tangents)]
        out, aux = _split_aux(f(*duals), has_aux, "jvp")
        outs = _as_outputs(out, "jvp")
        unpacked = [fwAD.unpack_dual(o) for o in outs]
    values = tuple(u.primal for u in unpacked)
    pushed = tuple(u.tangent if u.tangent is not None else zeros_like(u.primal) for u in unpacked)
    if not isinstance(out, tuple):
        values, pushed = values[0], pushed[0]
    return (values, pushed, aux) if has_aux else (values, pushed)


def jacfwd(f, argnums=0, has_aux=False):
    """The Jacobian by forward mode: all columns in one forward pass, pushing a batch of basis tangents.

    Same result layout as ``jacrev``."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        nums, single = _argnums(argnums, len(args), "jacfwd")
        args = list(args)
        inputs = [_checked_input(args[i], "jacfwd", i) for i in nums]
        sizes = [x.numel() for x in inputs]
        n = sum(sizes)
        basis = eye(n, dtype=inputs[0].dtype, device=inputs[0].device)
        with fwAD.dual_level():
            offset = 0
            for i, x, size in zip(nums, inputs, sizes):
                tangent = basis[:, offset:offset + size].reshape((n,) + x.shape).to(x.dtype)
                args[i] = fwAD.make_dual(x, tangent, batched=True)
                offset += size
            out, aux = _split_aux(f(*args, **kwargs), has_aux, "jacfwd")
            outs = _as_outputs(out, "jacfwd")
            tangents = [fwAD.tangent_of(o) for o in outs]
        jacobians = []
        for o, t in zip(outs, tangents):
            if t is None:
                per_input = tuple(zeros(o.shape + x.shape, dtype=o.dtype, device=o.device) for x in inputs)
            else:
                columns = t.permute(tuple(range(1, t.ndim)) + (0,)) if t.ndim > 1 else t  # O + (n,)
                per_input, offset = [], 0
                for x, size in zip(inputs, sizes):
                    block = columns[(Ellipsis, slice(offset, offset + size))]
                    per_input.append(block.reshape(o.shape + x.shape))
                    offset += size
                per_input = tuple(per_input)
            jacobians.append(per_input[0] if single else per_input)
        result = tuple(jacobians) if isinstance(out, tuple) else jacobians[0]
        if has_aux:
            return result, aux
        return result
    return wrapper


def hessian(f, argnums=0):
    """The Hessian of a scalar function: forward over reverse, ``jacfwd(jacrev(f))`` (one backward pass pushed
    through one batched forward pass)."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """``(f(*primals), H @ tangents)`` for a scalar ``f``, forward over reverse, without forming H."""
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    gradient = value_and_grad(f, argnums=tuple(range(len(primals))))

    def value_and_gradients(*xs):
        value, grads = gradient(*xs)
        return (value,) + grads

    outs, pushed = jvp(value_and_gradients, primals, tangents)
    products = pushed[1:]
    return outs[0], (products[0] if len(primals) == 1 else products)
