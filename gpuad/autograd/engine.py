"""The reverse-mode engine: walk the recorded graph from the outputs in dependency order (Kahn), iteratively.

Each node runs once, after every gradient flowing into it has been summed. Gradients are reduced back to each input's
shape and dtype, saved values are released right after a node's VJP (unless ``retain_graph``), and each node's summed
gradient is dropped as soon as the node has run, so memory falls as backward proceeds.
"""
import threading

from .. import _capture
from .graph import AccumulateGrad, edge_of
from .grad_mode import mode
from .._autograd.views import sync_view
from ..tensor import Tensor, wrap
from .anomaly_mode import check_gradients
from ..ops.shape import sum_to_batched
from ..factories import tensor as _tensor


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Sum d(tensors)/d(leaf) into the ``.grad`` of every leaf (or of ``inputs`` only) that requires grad."""
    if grad_tensors is None and tensors.__class__ is Tensor and tensors._data.size == 1 and tensors._base is None \
            and tensors._rg:
        roots = ((edge_of(tensors)[0], tensors._idx, _ones_seed(tensors)),)  # the common case: loss.backward()
    else:
        roots = _roots(_as_tuple(tensors), grad_tensors, "backward")
    only = None
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("backward: 'inputs' was given but is empty")
        only = {_target_of(t, "backward")[0:2]: t for t in inputs}
    run(roots, retain_graph=create_graph if retain_graph is None else retain_graph, create_graph=create_graph,
        accumulate=True, only=only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False,
         is_grads_batched=False):
    """Return d(outputs)/d(inputs) as a tuple, without touching any ``.grad``.

    With ``is_grads_batched=True`` each of ``grad_outputs`` has one extra leading dimension, and one backward pass
    computes that many vector-Jacobian products at once (each gradient then has that leading dimension too)."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("autograd.grad: 'inputs' is empty")
    if is_grads_batched and grad_outputs is None:
        raise RuntimeError("autograd.grad: is_grads_batched=True needs grad_outputs with a leading batch dimension")
    roots = _roots(outputs, grad_outputs, "autograd.grad", batch=1 if is_grads_batched else 0)
    targets = {}
    for i, t in enumerate(inputs):
        targets.setdefault(_target_of(t, "autograd.grad")[0:2], []).append(i)
    captured = run(roots, retain_graph=create_graph if retain_graph is None else retain_graph,
                   create_graph=create_graph, accumulate=False, only=targets, batch=1 if is_grads_batched else 0)
    result = [None] * len(inputs)
    given = {id(_owner(g._data)) for _, _, g in roots}
    for key, positions in targets.items():
        g = captured.get(key)
        if g is not None and id(_owner(g._data)) in given:  # never hand back (a view of) a tensor the user passed
            g = g.clone() if create_graph else wrap(g._device.backend.copy(g._data), g._device)
        for i in positions:
            result[i] = g
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"autograd.grad: input {i} (shape {inputs[i].shape}) was not used to compute the "
                               f"outputs; pass allow_unused=True to get None for it")
    return tuple(result)


def _owner(array):
    """The array that owns ``array``'s memory (NumPy and CuPy views keep it as ``.base``)."""
    while array.base is not None:
        array = array.base
    return array


def run(roots, retain_graph, create_graph, accumulate, only=None, batch=0):
    """Propagate the root gradients. With ``only`` set, run just the part of the graph that reaches those edges.
    ``batch``: how many leading batch dimensions every gradient carries beyond its tensor's shape."""
    deps, seen = _count_dependencies([fn for fn, _, _ in roots])
    needed = _needed(seen, only) if only is not None else None
    buffers = {}
    for fn, idx, g in roots:
        _add(buffers, fn, idx, g)
    shared = {id(g._data) for _, _, g in roots}  # arrays that must not become a .grad without a copy
    captured = {}
    ready = [fn for fn in buffers if deps.get(fn, 0) == 0]
    previous_mode, previous_batch = mode.enabled, mode.vjp_batch
    check = mode.anomaly == "check"
    mode.enabled = create_graph
    mode.vjp_batch = batch
    pending = _queue.stack
    pending.append(None)  # becomes a list when a hook queues a callback
    try:
        while ready:
            fn = ready.pop()
            grads = buffers.pop(fn, None)
            if fn.__class__ is AccumulateGrad:
                if grads is not None:
                    if only is None and fn.hooks is None:  # _leaf's common case, inline: this is the hot path
                        t = fn.tensor_ref()
                        if t is not None and accumulate:
                            _accumulate_into(t, grads[0], create_graph, shared)
                    else:
                        _leaf(fn, grads[0], only, captured, accumulate, create_graph, shared)
                continue
            if grads is None or (needed is not None and fn not in needed):
                in_grads = ()  # nothing flows through here: its saved values stay for a later backward
            elif only is None and fn.hooks is None and fn.retained is None and not fn.freed and fn.n_out == 1:
                dev = fn.device  # the common case, inline; on the node's device, as in _run_node
                backend = None if dev is None else dev._backend or dev.backend
                if backend is None or backend.context_free:
                    in_grads = fn.op.vjp(fn, grads[0])
                else:
                    in_grads = backend.on_device(fn.op.vjp, fn, grads[0])
                if in_grads.__class__ is not tuple:
                    in_grads = (in_grads,)
                if len(in_grads) != len(fn.next):
                    raise RuntimeError(f"{fn.name()} returned {len(in_grads)} gradients for {len(fn.next)} inputs")
            else:
                in_grads = _run_node(fn, grads, only, captured, shared, needed, accumulate)
            if check and in_grads:
                check_gradients(fn, in_grads)
            if in_grads and not retain_graph and (fn.saved is not None or fn.saved_out is not None or
                                                  fn.ctx is not None):
                fn.release()
            n_in = len(in_grads)
            i = -1
            for edge in fn.next:
                i += 1
                if edge is None:
                    continue
                child = edge[0]
                if i < n_in:
                    g = in_grads[i]
                    if g is not None:
                        data = g._data
                        if (data.shape[batch:] if batch else data.shape) != edge[2]:
                            g = _sum_to(g, edge[2], fn, batch)
                        if data.dtype is not edge[3] and data.dtype != edge[3]:
                            g = g.to(edge[3])
                        buf = buffers.get(child)
                        if buf is None:
                            if deps[child] == 1 and child.__class__ is AccumulateGrad and only is None \
                                    and child.hooks is None:  # a leaf's only gradient: accumulate it at once
                                deps[child] = 0
                                t = child.tensor_ref()
                                if t is not None and accumulate:
                                    _accumulate_into(t, g, create_graph, shared)
                                continue
                            buf = buffers[child] = [None] * child.n_out
                        old = buf[edge[1]]
                        buf[edge[1]] = g if old is None else old + g
                left = deps[child] - 1
                deps[child] = left
                if left == 0:
                    ready.append(child)
    finally:
        mode.enabled = previous_mode
        mode.vjp_batch = previous_batch
        callbacks = pending.pop()
    if callbacks is not None:  # only after a backward that finished
        for callback in callbacks:
            callback()
    return captured


class _Queue(threading.local):
    """Per thread, the callback lists of the backward passes running now, innermost last."""

    def __init__(self):
        self.stack = []


_queue = _Queue()


def queue_callback(callback):
    """Run ``callback()`` once the backward pass now running has finished (PyTorch's
    ``Variable._execution_engine.queue_callback``); only callable from inside backward, e.g. from a hook."""
    stack = _queue.stack
    if not stack:
        raise RuntimeError("queue_callback can only be called while a backward pass is running (from a hook)")
    if stack[-1] is None:
        stack[-1] = []
    stack[-1].append(callback)


_SEEDS = {}


def _ones_seed(t):
    """The implicit gradient 1 of a one-element output, cached read-only (the engine never writes into a seed)."""
    data = t._data
    key = (t._device, data.dtype, data.shape)
    seed = _SEEDS.get(key)
    if seed is None:
        seed = t._device.backend.constant(t._device.backend.xp.ones(data.shape, data.dtype))
        seed = _SEEDS[key] = wrap(seed, t._device)
    return seed


def _run_node(fn, grads, only, captured, shared, needed, accumulate):
    """Hooks, retained and captured gradients for a node's outputs, then its VJP."""
    if fn.hooks is not None or fn.retained is not None or only is not None:
        grads = list(grads)
        for idx, g in enumerate(grads):
            if g is None:
                continue
            if fn.hooks is not None and idx in fn.hooks:
                g = grads[idx] = _run_hooks(fn.hooks[idx], g, shared)
            if fn.retained is not None and idx in fn.retained:
                t = fn.retained[idx]()
                if t is not None:
                    _accumulate_into(t, g, mode.enabled, shared)
            if only is not None and (fn, idx) in only:
                if accumulate:
                    _accumulate_into(only[(fn, idx)], g, mode.enabled, shared)
                else:
                    captured[(fn, idx)] = g
    if fn.freed:
        fn._raise_freed()
    static_needs = fn.needs
    if needed is not None:  # tell the VJP which inputs this call really needs, so pruned branches cost nothing
        fn.needs = tuple(e is not None and e[0] in needed for e in fn.next)
    dev = fn.device
    try:  # on the node's device: what the VJP computes on raw arrays lands on that GPU too
        backend = None if dev is None else dev._backend or dev.backend
        if backend is None or backend.context_free:
            in_grads = fn.op.vjp(fn, *grads)
        else:
            in_grads = backend.on_device(fn.op.vjp, fn, *grads)
    finally:
        fn.needs = static_needs
    if in_grads.__class__ is not tuple:
        in_grads = (in_grads,)
    if len(in_grads) != len(fn.next):
        raise RuntimeError(f"{fn.name()} returned {len(in_grads)} gradients for {len(fn.next)} inputs")
    if needed is not None:
        in_grads = tuple(g if e is not None and e[0] in needed else None for g, e in zip(in_grads, fn.next))
    return in_grads


def _leaf(fn, g, only, captured, accumulate, create_graph, shared):
    if fn.hooks:
        g = _run_hooks(fn.hooks, g, shared)
    if only is not None:
        if (fn, 0) in only:
            if accumulate:
                _accumulate_into(only[(fn, 0)], g, create_graph, shared)
                _run_post_hooks(fn, only[(fn, 0)])
            else:
                captured[(fn, 0)] = g
        return
    t = fn.tensor_ref()
    if t is not None and accumulate:
        _accumulate_into(t, g, create_graph, shared)
        _run_post_hooks(fn, t)


def _run_post_hooks(fn, t):
    """The leaf's post-accumulate-grad hooks, called with the tensor once its .grad holds the new sum."""
    if fn.post_hooks:
        for hook in list(fn.post_hooks):
            if hook(t) is not None:
                raise RuntimeError("a post accumulate grad hook must return None")


def _accumulate_into(t, g, create_graph, shared):
    """t.grad += g, PyTorch style: the first gradient is stored (stolen if nobody else holds it), later ones added."""
    if create_graph:
        t._grad = g if t._grad is None else t._grad + g
        return
    data = g._data
    old = t._grad
    if old is None:
        if data.base is not None or id(data) in shared:
            data = t._device.backend.copy(data)
            if _capture.state.active is not None:
                _capture.state.active.call(_capture_calls().copy, (g,), data)
        shared.add(id(data))
        t._grad = wrap(data, t._device)
    elif old._node is not None or old._rg:
        t._grad = (old + g).detach()
    else:
        t._device.backend.iadd(old._data, data)
        old._version_counter.value += 1
        if _capture.state.active is not None:
            _capture.state.active.call(_capture_calls().iadd, (old, g), None)


def _capture_calls():
    from ..capture import calls  # lazy: gpuad.capture is a layer above
    return calls


def _run_hooks(hooks, g, shared):
    shared.add(id(g._data))  # the hook may keep g: no leaf may later accumulate into its array in place
    for hook in list(hooks):
        out = hook(g)
        if out is not None:
            if not isinstance(out, Tensor) or out.shape != g.shape:
                raise RuntimeError(f"a hook returned {type(out).__name__} "
                                   f"{getattr(out, 'shape', '')}; it must return None or a tensor of shape {g.shape}")
            g = out
            shared.add(id(g._data))
    return g


def _add(buffers, fn, idx, g):
    buf = buffers.get(fn)
    if buf is None:
        buf = buffers[fn] = [None] * fn.n_out
    buf[idx] = g if buf[idx] is None else buf[idx] + g


def _sum_to(g, shape, fn, batch=0):
    try:
        return sum_to_batched(g, shape, batch)
    except ValueError:
        raise RuntimeError(f"{fn.name()} returned a gradient of shape {g.shape} for an input of shape {shape}") \
            from None


def _count_dependencies(root_fns):
    """For every node reachable from the roots: how many edges point into it; and the set of reachable nodes."""
    deps = {}
    seen = set(root_fns)
    stack = list(seen)
    while stack:
        fn = stack.pop()
        for edge in fn.next:
            if edge is None:
                continue
            child = edge[0]
            deps[child] = deps.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                if child.next:  # a leaf's accumulator has no edges to follow
                    stack.append(child)
    return deps, seen


def _needed(seen, only):
    """The nodes from which some edge in ``only`` can be reached (the rest need not run)."""
    parents = {}
    stack = [key[0] for key in only]
    for fn in seen:
        for edge in fn.next:
            if edge is not None:
                parents.setdefault(edge[0], []).append(fn)
    needed = set(stack)
    while stack:
        fn = stack.pop()
        for parent in parents.get(fn, ()):
            if parent not in needed:
                needed.add(parent)
                stack.append(parent)
    return needed


def _roots(tensors, grads, who, batch=0):
    if grads is None:
        grads = (None,) * len(tensors)
    else:
        grads = _as_tuple(grads)
        if len(grads) != len(tensors):
            raise RuntimeError(f"{who}: got {len(grads)} gradients for {len(tensors)} outputs")
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        fn, idx = _target_of(t, who, i)[0:2]
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(f"{who}: grad can be implicitly created only for scalar outputs, but output {i} "
                                   f"has shape {t.shape}; pass gradient= (for backward) or grad_outputs= (for grad) "
                                   f"with that shape")
            g = _ones_seed(t)
        else:
            if not isinstance(g, Tensor):
                g = _tensor(g, dtype=t.dtype, device=t._device)
            if g.shape[batch:] != t.shape or g.ndim < batch:
                raise RuntimeError(f"{who}: the gradient for output {i} has shape {g.shape}, but the output has "
                                   f"shape {t.shape}" + (" (plus one leading batch dimension)" if batch else ""))
            if g._device is not t._device:
                raise RuntimeError(f"{who}: the gradient for output {i} is on {g.device}, the output on {t.device}")
        roots.append((fn, idx, g))
    return roots


def _target_of(t, who, i=0):
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: expected tensors, got {type(t).__name__}")
    if t._base is not None:
        sync_view(t)
    if not t._rg:
        raise RuntimeError(f"{who}: element {i} of tensors does not require grad and does not have a grad_fn "
                           f"(did you forget requires_grad=True, or run it under no_grad()?)")
    return edge_of(t)


def _as_tuple(x):
    if isinstance(x, Tensor):
        return (x,)
    if x is None:
        return ()
    return tuple(x)
