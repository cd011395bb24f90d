"""Function transforms with the names and semantics of ``torch.func`` and JAX.

- grad, grad_and_value, value_and_grad, vjp: reverse mode.
- jvp, linearize: forward mode (dual numbers), one pass whatever the number of outputs.
- jacrev: all rows of the Jacobian in ONE backward pass, seeding a batch of basis cotangents
  (``autograd.grad(..., is_grads_batched=True)``); cost grows with the number of outputs m.
- jacfwd: all columns in ONE forward pass, pushing a batch of basis tangents; cost grows with the number of inputs n.
- hessian: forward over reverse, ``jacfwd(jacrev(f))``; hvp: forward over reverse without forming the Hessian.
- vmap: maps ``func`` over a leading (or any) dimension of its inputs. It calls ``func`` once per example on that
  example's slices and stacks the results, so every op sees per-example shapes (``x.sum()`` sums one example,
  ``dim=`` arguments and indexing mean what they mean unbatched): correct for every op and every composition with the
  other transforms, at the cost of B calls (it is not vectorized).
- functional_call: run a module with some of its parameters and buffers replaced; stack_module_state stacks an
  ensemble's parameters for vmap.

Arguments and results may be pytrees (nested tuples, lists and dicts of tensors), as in torch.func. Transforms
compose (grad of grad, jacfwd of jacrev, vmap of grad and grad of vmap); forward over forward is not supported.
Inputs being differentiated must be floating-point tensors. A custom Function's backward and jvp are called once per
direction of a batch unless its class sets ``batched_backward`` / ``batched_jvp``.
"""
import contextlib
import functools

from ._pytree import broadcast_prefix, tree_flatten, tree_map, tree_unflatten
from .autograd import forward_ad as fwAD
from .autograd.engine import grad as _autograd_grad
from .autograd.grad_mode import enable_grad, no_grad
from .factories import eye, zeros, zeros_like
from .ops.convert import alias
from .tensor import Tensor
from .ops.shape import stack
from . import random as _random
from .backends.cpu import CPU_BACKEND

__all__ = ["grad", "grad_and_value", "value_and_grad", "vjp", "jvp", "linearize", "jacrev", "jacfwd", "hessian",
           "hvp", "vmap", "functional_call", "stack_module_state"]


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
    nums = tuple(i % n_args for i in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{who}: argnums {argnums!r} names an argument twice")
    return nums, single


def _checked_input(x, who, i):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: argument {i} must be a tensor (or a pytree of tensors) to be differentiated, "
                        f"got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: argument {i} has dtype {x.dtype}; only floating-point tensors can be differentiated")
    return x


class _Primals:
    """The arguments picked by ``argnums``, flattened to a list of tensor leaves, and how to rebuild results shaped
    like them (one pytree for an int ``argnums``, a tuple of pytrees for a tuple)."""

    def __init__(self, args, argnums, who):
        self.nums, self.single = _argnums(argnums, len(args), who)
        self.specs, self.leaves = [], []
        for i in self.nums:
            leaves, spec = tree_flatten(args[i])
            if not leaves:
                raise ValueError(f"{who}: argument {i} has no tensors to differentiate")
            self.leaves.extend(_checked_input(x, who, i) for x in leaves)
            self.specs.append(spec)

    def substitute(self, args, new_leaves):
        """``args`` with the picked arguments rebuilt from ``new_leaves``."""
        args, start = list(args), 0
        for i, spec in zip(self.nums, self.specs):
            args[i] = tree_unflatten(new_leaves[start:start + spec.num_leaves], spec)
            start += spec.num_leaves
        return args

    def rebuild(self, flat):
        parts, start = [], 0
        for spec in self.specs:
            parts.append(tree_unflatten(flat[start:start + spec.num_leaves], spec))
            start += spec.num_leaves
        return parts[0] if self.single else tuple(parts)


def _watched_call(f, args, kwargs, argnums, has_aux, who):
    """Call ``f`` with the arguments in ``argnums`` replaced by watched stand-ins; returns
    (out, aux, watched leaves, the _Primals, whether an outer transform is watching too)."""
    primals = _Primals(args, argnums, who)
    nested = any(x.requires_grad for x in primals.leaves)
    watched = [_watch(x) for x in primals.leaves]
    with enable_grad():
        out, aux = _split_aux(f(*primals.substitute(args, watched), **kwargs), has_aux, who)
    return out, aux, watched, primals, nested


def _watch(x):
    """A fresh tensor standing for ``x`` whose gradient we can ask for: it keeps ``x``'s history and tangent."""
    with enable_grad():
        w = alias(x)
    w._rg = True
    return w


def _output_leaves(out, who):
    leaves, spec = tree_flatten(out)
    for o in leaves:
        if not isinstance(o, Tensor):
            raise TypeError(f"{who}: the function must return a tensor or a pytree (tuple, list, dict) of tensors, "
                            f"got {type(o).__name__}")
    return leaves, spec


def _split_aux(out, has_aux, who):
    if not has_aux:
        return out, None
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"{who}: with has_aux=True the function must return a pair (output, aux)")
    return out


def _plain(t, nested):
    """The value to hand back: without our internal graph unless an outer transform is watching."""
    if nested or not isinstance(t, Tensor) or not t.requires_grad:
        return t
    with no_grad():
        return alias(t)


def _plain_tree(tree, nested):
    return tree if nested else tree_map(lambda t: _plain(t, nested), tree)


# --- reverse mode -------------------------------------------------------------------------------------------------
def _value_and_gradient(f, argnums, has_aux, who):
    def compute(args, kwargs):
        out, aux, watched, primals, nested = _watched_call(f, args, kwargs, argnums, has_aux, who)
        if not isinstance(out, Tensor) or out.numel() != 1 or out.dtype.kind != "f":
            raise RuntimeError(f"{who}: the function must return a floating-point tensor with one element, got "
                               f"{getattr(out, 'shape', type(out).__name__)}; use jacrev or vjp for other outputs")
        if out.requires_grad:
            grads = _autograd_grad(out, watched, create_graph=nested, allow_unused=True)
        else:
            grads = (None,) * len(watched)
        grads = [g if g is not None else zeros_like(w) for g, w in zip(grads, watched)]
        return _plain(out, nested), _plain_tree(aux, nested), primals.rebuild(grads)
    return compute


def value_and_grad(f, argnums=0, has_aux=False):
    """``f``'s value and its gradient with respect to the arguments in ``argnums`` (JAX's order:
    ``(value, grad)``, or ``((value, aux), grad)`` with ``has_aux``); ``f`` must return a scalar."""
    compute = _value_and_gradient(f, argnums, has_aux, "grad")

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        value, aux, g = compute(args, kwargs)
        return ((value, aux) if has_aux else value), g
    return wrapper


def grad_and_value(func, argnums=0, has_aux=False):
    """torch.func's order: ``(grad, value)``, or ``(grad, (value, aux))`` with ``has_aux``."""
    compute = _value_and_gradient(func, argnums, has_aux, "grad_and_value")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        value, aux, g = compute(args, kwargs)
        return g, ((value, aux) if has_aux else value)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of a scalar function with respect to the arguments in ``argnums`` (JAX's / torch.func's grad);
    with ``has_aux`` returns ``(grad, aux)``."""
    compute = _value_and_gradient(func, argnums, has_aux, "grad")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _, aux, g = compute(args, kwargs)
        return (g, aux) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)`` (and ``aux`` with ``has_aux``); ``vjp_fn(cotangents)``, with cotangents shaped
    like the output, returns a tuple with one gradient per primal (each shaped like its primal)."""
    if not primals:
        raise ValueError("vjp: give at least one primal")
    picked = _Primals(primals, tuple(range(len(primals))), "vjp")
    nested = any(x.requires_grad for x in picked.leaves)
    watched = [_watch(x) for x in picked.leaves]
    with enable_grad():
        out, aux = _split_aux(func(*picked.substitute(primals, watched)), has_aux, "vjp")
    outs, out_spec = _output_leaves(out, "vjp")

    def vjp_fn(cotangents):
        cots, cot_spec = tree_flatten(cotangents)
        if cot_spec != out_spec:
            raise ValueError(f"vjp_fn: the cotangents must have the structure of the output, {out_spec!r}; "
                             f"got {cot_spec!r}")
        for i, (o, c) in enumerate(zip(outs, cots)):
            if not isinstance(c, Tensor) or c.shape != o.shape:
                raise ValueError(f"vjp_fn: cotangent {i} has shape {getattr(c, 'shape', None)}, "
                                 f"the output has shape {o.shape}")
        live = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        grads = (None,) * len(watched) if not live else _autograd_grad(
            [o for o, _ in live], watched, [c for _, c in live], retain_graph=True, create_graph=nested,
            allow_unused=True)
        grads = [g if g is not None else zeros_like(w) for g, w in zip(grads, watched)]
        return picked.rebuild(grads)

    value = _plain_tree(out, nested)
    return (value, vjp_fn, _plain_tree(aux, nested)) if has_aux else (value, vjp_fn)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian by reverse mode: for each output, all of its rows in one batched backward pass.

    The result for an output of shape O and an input of shape I has shape O + I; outputs and inputs may be pytrees:
    each output leaf is replaced by the inputs' structure of Jacobian blocks. ``chunk_size`` is accepted for
    torch.func compatibility; all rows are always computed in one pass."""
    _check_chunk_size(chunk_size, "jacrev")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        out, aux, watched, primals, nested = _watched_call(func, args, kwargs, argnums, has_aux, "jacrev")
        outs, out_spec = _output_leaves(out, "jacrev")
        jacobians = []
        for o in outs:
            m = o.numel()
            if o.requires_grad and m:
                basis = eye(m, dtype=o.dtype, device=o.device).reshape((m,) + o.shape)
                grads = _autograd_grad(o, watched, basis, retain_graph=True, create_graph=nested, allow_unused=True,
                                       is_grads_batched=True)
            else:
                grads = (None,) * len(watched)
            per_input = [zeros(o.shape + w.shape, dtype=w.dtype, device=w.device) if g is None
                         else g.reshape(o.shape + w.shape) for g, w in zip(grads, watched)]
            jacobians.append(primals.rebuild(per_input))
        result = tree_unflatten(jacobians, out_spec)
        return (result, _plain_tree(aux, nested)) if has_aux else result
    return wrapper


def _check_chunk_size(chunk_size, who):
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"{who}: chunk_size must be None or a positive int, got {chunk_size!r}")


# --- forward mode -------------------------------------------------------------------------------------------------
def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)`` in one forward pass with dual numbers; ``primals`` and ``tangents`` are
    tuples of (pytrees of) tensors with matching structure."""
    primals = tuple(primals) if isinstance(primals, (tuple, list)) else (primals,)
    tangents = tuple(tangents) if isinstance(tangents, (tuple, list)) else (tangents,)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    picked = _Primals(primals, tuple(range(len(primals))), "jvp")
    flat_tangents, tangent_spec = tree_flatten(tangents)
    if tangent_spec != tree_flatten(primals)[1]:
        raise ValueError("jvp: the tangents must have the same structure as the primals")
    for i, (p, t) in enumerate(zip(picked.leaves, flat_tangents)):
        if not isinstance(t, Tensor) or t.shape != p.shape:
            raise ValueError(f"jvp: tangent {i} has shape {getattr(t, 'shape', None)}, its primal {p.shape}")
    with fwAD.dual_level():
        duals = [fwAD.make_dual(p, t) for p, t in zip(picked.leaves, flat_tangents)]
        out, aux = _split_aux(func(*picked.substitute(primals, duals)), has_aux, "jvp")
        outs, out_spec = _output_leaves(out, "jvp")
        unpacked = [fwAD.unpack_dual(o) for o in outs]
    values = tree_unflatten([u.primal for u in unpacked], out_spec)
    pushed = tree_unflatten([u.tangent if u.tangent is not None else zeros_like(u.primal) for u in unpacked],
                            out_spec)
    return (values, pushed, aux) if has_aux else (values, pushed)


def linearize(func, *primals):
    """``(func(*primals), jvp_fn)`` where ``jvp_fn(*tangents)`` is the JVP at ``primals``. Unlike JAX's, each call of
    ``jvp_fn`` reruns the forward pass with dual numbers (nothing is cached), so it costs one forward pass."""
    with no_grad():
        value = func(*primals)

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]
    return value, jvp_fn


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian by forward mode: all columns in one forward pass, pushing a batch of basis tangents.

    Same result layout as ``jacrev``. ``randomness`` is accepted for torch.func compatibility (the function runs
    once, so random ops draw once)."""
    _check_randomness(randomness, "jacfwd")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        primals = _Primals(args, argnums, "jacfwd")
        inputs = primals.leaves
        sizes = [x.numel() for x in inputs]
        n = sum(sizes)
        basis = eye(n, dtype=inputs[0].dtype, device=inputs[0].device)
        with fwAD.dual_level():
            offset, duals = 0, []
            for x, size in zip(inputs, sizes):
                tangent = basis[:, offset:offset + size].reshape((n,) + x.shape).to(x.dtype)
                duals.append(fwAD.make_dual(x, tangent, batched=True))
                offset += size
            out, aux = _split_aux(func(*primals.substitute(args, duals), **kwargs), has_aux, "jacfwd")
            outs, out_spec = _output_leaves(out, "jacfwd")
            tangents = [fwAD.tangent_of(o) for o in outs]
        jacobians = []
        for o, t in zip(outs, tangents):
            if t is None:
                per_input = [zeros(o.shape + x.shape, dtype=o.dtype, device=o.device) for x in inputs]
            else:
                columns = t.permute(tuple(range(1, t.ndim)) + (0,)) if t.ndim > 1 else t  # O + (n,)
                per_input, offset = [], 0
                for x, size in zip(inputs, sizes):
                    block = columns[(Ellipsis, slice(offset, offset + size))]
                    per_input.append(block.reshape(o.shape + x.shape))
                    offset += size
            jacobians.append(primals.rebuild(per_input))
        result = tree_unflatten(jacobians, out_spec)
        return (result, aux) if has_aux else result
    return wrapper


def hessian(func, argnums=0):
    """The Hessian of a scalar function: forward over reverse, ``jacfwd(jacrev(f))`` (one backward pass pushed
    through one batched forward pass)."""
    return jacfwd(jacrev(func, argnums), argnums)


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


# --- vmap ---------------------------------------------------------------------------------------------------------
_RANDOMNESS = ("error", "different", "same")


def _check_randomness(randomness, who):
    if randomness not in _RANDOMNESS:
        raise ValueError(f"{who}: randomness must be one of {_RANDOMNESS}, got {randomness!r}")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` mapped over dimension ``in_dims`` of its inputs, the results stacked along ``out_dims``.

    ``in_dims`` is an int (or None: not mapped) for every input, or a tuple with one entry per positional argument,
    each an int/None or a pytree prefix of that argument; keyword arguments are not mapped. ``out_dims`` likewise
    for the outputs. ``func`` runs once per example on that example's slices (see the module docstring), so
    per-example semantics hold for every op. ``randomness``: "error" (the default, as in PyTorch) raises if ``func``
    draws random numbers; "different" lets each example draw its own; "same" gives every example the same draws.
    ``chunk_size`` is accepted for torch.func compatibility (examples always run one at a time)."""
    _check_randomness(randomness, "vmap")
    _check_chunk_size(chunk_size, "vmap")
    if not callable(func):
        raise TypeError(f"vmap: func must be callable, got {type(func).__name__}")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        leaves, spec = tree_flatten(args)
        if not isinstance(in_dims, (int, tuple)) and in_dims is not None:
            raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got {type(in_dims).__name__}")
        if isinstance(in_dims, tuple) and len(in_dims) != len(args):
            raise ValueError(f"vmap: in_dims is a tuple of {len(in_dims)} but the function was called with "
                             f"{len(args)} positional argument(s); give one in_dim per argument")
        dims = broadcast_prefix(in_dims, args, "vmap", "in_dims")
        size, leaves_dims = None, []
        for i, (x, d) in enumerate(zip(leaves, dims)):
            if d is None:
                leaves_dims.append(None)
                continue
            if not isinstance(d, int) or isinstance(d, bool):
                raise ValueError(f"vmap: in_dims entries must be ints or None, got {d!r}")
            if not isinstance(x, Tensor):
                raise ValueError(f"vmap: got in_dim={d} for an input of type {type(x).__name__}; only tensors can "
                                 f"be mapped over, use None as its in_dim")
            if not -x.ndim <= d < x.ndim:
                raise ValueError(f"vmap: in_dim={d} is out of range for an input of shape {tuple(x.shape)} "
                                 f"({x.ndim} dimensions)")
            d %= x.ndim
            if size is None:
                size = x.shape[d]
            elif x.shape[d] != size:
                raise ValueError(f"vmap: expected every mapped input to have the same size in its mapped dimension, "
                                 f"got sizes {size} and {x.shape[d]} (input shape {tuple(x.shape)}, in_dim {d})")
            leaves_dims.append(d)
        if size is None:
            raise ValueError("vmap: at least one input must be a tensor mapped over (in_dims not all None)")
        if size == 0:
            raise ValueError("vmap: the mapped dimension has size 0; gpuad's vmap runs func per example and cannot "
                             "infer the output shape of an empty batch")
        results = []
        with _random_policy(randomness) as before_each:
            for b in range(size):
                before_each()
                example = [x if d is None else _slice(x, d, b) for x, d in zip(leaves, leaves_dims)]
                results.append(func(*tree_unflatten(example, spec), **kwargs))
        return _stack_outputs(results, out_dims)
    return wrapper


def _slice(x, dim, b):
    return x[b] if dim == 0 else x[(slice(None),) * dim + (b,)]


def _stack_outputs(results, out_dims):
    flat0, spec = tree_flatten(results[0])
    flat = [flat0]
    for r in results[1:]:
        leaves, s = tree_flatten(r)
        if s != spec:
            raise ValueError(f"vmap: func returned differently structured outputs for different examples "
                             f"({spec!r} and {s!r})")
        flat.append(leaves)
    dims = broadcast_prefix(out_dims, results[0], "vmap", "out_dims")
    stacked = []
    for j, d in enumerate(dims):
        column = [leaves[j] for leaves in flat]
        if not all(isinstance(t, Tensor) for t in column):
            bad = next(t for t in column if not isinstance(t, Tensor))
            raise ValueError(f"vmap: func must return only tensors, got {type(bad).__name__} in output {j}")
        if d is None:
            first = column[0]
            if any(t.shape != first.shape or not _same_values(t, first) for t in column[1:]):
                raise ValueError(f"vmap: out_dims is None for output {j}, but that output differs between examples "
                                 f"(it is batched); give it an int out_dim")
            stacked.append(first)
            continue
        if not isinstance(d, int) or isinstance(d, bool):
            raise ValueError(f"vmap: out_dims entries must be ints or None, got {d!r}")
        ndim = column[0].ndim
        if not -(ndim + 1) <= d <= ndim:
            raise ValueError(f"vmap: out_dim={d} is out of range for an output with {ndim} dimensions per example")
        try:
            stacked.append(stack(column, d % (ndim + 1)))
        except ValueError as exc:
            raise ValueError(f"vmap: output {j} has different shapes for different examples, so the examples "
                             f"cannot be stacked: {exc}") from None
    return tree_unflatten(stacked, spec)


def _same_values(a, b):
    """Equal element for element, NaN matching NaN."""
    with no_grad():
        return bool(((a == b) | ((a != a) & (b != b))).all())


@contextlib.contextmanager
def _random_policy(randomness):
    """Yields a function to call before each example: it enforces ``randomness`` on the random generators."""
    draws = _random.draw_count()
    cpu_state = CPU_BACKEND.get_rng_state()
    same_states = _random.all_rng_states() if randomness == "same" else None
    state = {"first": True}

    def before_each():
        if randomness == "same":
            _random.set_all_rng_states(same_states)
        elif randomness == "error" and not state["first"]:
            _check_no_draws()
        state["first"] = False

    def _check_no_draws():
        if _random.draw_count() != draws or CPU_BACKEND.get_rng_state() != cpu_state:
            raise RuntimeError("vmap: func called a random operation (rand, randn, dropout, ...) but vmap's "
                               "randomness='error'; pass randomness='different' (independent draws per example) or "
                               "'same' (identical draws for every example)")
    yield before_each
    if randomness == "error":
        _check_no_draws()


# --- functional_call ----------------------------------------------------------------------------------------------
def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with the parameters and buffers named in the dict(s) (``"layer.weight"`` style
    names, as in ``state_dict``) replaced by the given tensors for the duration of the call; the module is restored
    afterwards, even if the call raises. ``strict=True`` requires every parameter and buffer to be given and no other
    names; otherwise unknown names raise too, except that a name on an existing submodule sets a new attribute."""
    dicts = parameter_and_buffer_dicts
    if isinstance(dicts, dict):
        dicts = (dicts,)
    if not isinstance(dicts, (tuple, list)) or not all(isinstance(d, dict) for d in dicts):
        raise TypeError("functional_call: parameter_and_buffer_dicts must be a dict or a tuple of dicts mapping "
                        "names to tensors")
    replacements = {}
    for d in dicts:
        for name, value in d.items():
            if name in replacements:
                raise ValueError(f"functional_call: {name!r} appears in more than one of the given dicts")
            replacements[name] = value
    known = _named_tensors(module)
    if strict:
        missing = sorted(set(known) - set(replacements))
        unexpected = sorted(set(replacements) - set(known))
        if missing or unexpected:
            raise RuntimeError(f"functional_call(strict=True): missing key(s) {missing}, unexpected key(s) "
                               f"{unexpected}")
    if tie_weights:  # a tensor shared under several names follows the replacement given for any of them
        by_identity = {}
        for name, t in known.items():
            by_identity.setdefault(id(t), []).append(name)
        for names in by_identity.values():
            given = [n for n in names if n in replacements]
            if given:
                for n in names:
                    replacements.setdefault(n, replacements[given[0]])
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _swapped(module, replacements):
        return module(*args, **(kwargs or {}))


def stack_module_state(models):
    """``(params, buffers)``: each parameter and buffer of the same-structured ``models`` stacked along a new leading
    dimension, for ``vmap(functional_call(...))`` over an ensemble. Stacked parameters are new leaves that require
    grad where all the originals do."""
    models = list(models)
    if not models:
        raise ValueError("stack_module_state: expected at least one model")
    if any(type(m) is not type(models[0]) for m in models):
        raise ValueError("stack_module_state: all models must be of the same class")
    params = [dict(m.named_parameters()) for m in models]
    buffers = [dict(m.named_buffers()) if hasattr(m, "named_buffers") else {} for m in models]
    for kind, tables in (("parameters", params), ("buffers", buffers)):
        if any(list(t) != list(tables[0]) for t in tables):
            raise ValueError(f"stack_module_state: the models have different {kind}")

    def stacked(tensors, leaf):
        with no_grad():
            out = stack([t.detach() for t in tensors])
        if leaf and all(t.requires_grad for t in tensors):
            out.requires_grad_(True)
        return out
    return ({k: stacked([p[k] for p in params], True) for k in params[0]},
            {k: stacked([b[k] for b in buffers], False) for k in buffers[0]})


def _named_tensors(module):
    out = {}
    for prefix, m in module.named_modules():
        for store in ("_parameters", "_buffers"):
            for name, t in getattr(m, store, {}).items():
                if t is not None:
                    out[f"{prefix}.{name}" if prefix else name] = t
    return out


_MISSING = object()


@contextlib.contextmanager
def _swapped(module, replacements):
    """Set each named tensor on its submodule (in its parameter/buffer table, keeping their order, and as the
    attribute), and put everything back on exit."""
    undo = []
    try:
        for name, value in replacements.items():
            *path, leaf = name.split(".")
            owner = module
            for part in path:
                child = getattr(owner, "_modules", {}).get(part)
                if child is None:
                    raise AttributeError(f"functional_call: {name!r} names a submodule {part!r} that "
                                         f"{type(owner).__name__} does not have")
                owner = child
            for store in ("_parameters", "_buffers"):
                table = owner.__dict__.get(store)
                if table is not None and leaf in table:
                    undo.append((table.__setitem__, (leaf, table[leaf])))
                    table[leaf] = value
            old = owner.__dict__.get(leaf, _MISSING)
            undo.append((_restore_attr, (owner, leaf, old)))
            owner.__dict__[leaf] = value
        yield
    finally:
        for fn, fn_args in reversed(undo):
            fn(*fn_args)


def _restore_attr(owner, leaf, old):
    if old is _MISSING:
        owner.__dict__.pop(leaf, None)
    else:
        owner.__dict__[leaf] = old
