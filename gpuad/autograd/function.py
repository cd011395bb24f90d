"""User-defined ops: subclass ``Function`` with static ``forward(ctx, ...)`` and ``backward(ctx, *grads)``.

``backward`` runs with grad mode on when the caller asked for ``create_graph``, so a backward written in tensor ops can
be differentiated again; decorate it with ``once_differentiable`` when it cannot, and a second differentiation raises.
"""
import functools

from .graph import Node
from .grad_mode import grad_batch, mode, no_grad
from .._autograd.views import sync_view
from ..tensor import Tensor, wrap
from ..ops.core import attach, record
from ..ops.shape import stack
from .forward_ad import tangent_of


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors (version-checked) and any attributes you set."""

    def __init__(self):
        self._saved = None
        self._versions = None
        self._freed = False
        self.needs_input_grad = ()
        self._non_differentiable = set()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(t._version_counter.value if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self):
        if self._freed:
            raise RuntimeError("Trying to backward through the graph a second time (the saved tensors of this "
                               "Function were freed); specify retain_graph=True on the first backward() call")
        if self._saved is None:
            return ()
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if v is not None and t._version_value != v:
                raise RuntimeError(f"one of the tensors needed for gradient computation has been modified by an "
                                   f"in-place operation: saved tensor {i} (shape {t.shape}) is at version "
                                   f"{t._version_value}, expected version {v}")
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def release(self):
        if self._saved is not None:
            self._saved = None
            self._freed = True

    def saved_bytes(self):
        return sum(t._data.nbytes for t in (self._saved or ()) if isinstance(t, Tensor))


class _FunctionOp:
    """Stands where a registry Op would, so the engine treats a Function's node like any other."""

    save = ()  # the ctx holds what backward needs (ctx.save_for_backward)
    _plans = {}

    def __init__(self, cls):
        self.cls = cls
        self.name = cls.__name__
        self.node_name = cls.__name__ + "Backward"

    @staticmethod
    def plan(needs):
        """Nothing saved on the node itself (see Op.plan)."""
        return None, False

    def vjp(self, node, *grads):
        ctx = node.ctx
        batch = grad_batch()
        grads = tuple(g if g is not None else _zeros(meta, grads, batch) for g, meta in zip(grads, node.out_meta))
        if batch and not getattr(self.cls, "batched_backward", False):
            result = _row_by_row(lambda *gs: self.cls.backward(ctx, *gs), grads)
        else:
            result = self.cls.backward(ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        positions = node.params
        if len(result) != len(positions[0]):
            raise RuntimeError(f"{self.cls.__name__}.backward returned {len(result)} gradient(s), expected "
                               f"{len(positions[0])} (one per argument of forward, None for non-tensors)")
        out = []
        for arg_index in positions[1]:
            g = result[arg_index]
            if g is not None and not isinstance(g, Tensor):
                raise TypeError(f"{self.cls.__name__}.backward returned {type(g).__name__} for argument "
                                f"{arg_index}; return a tensor or None")
            out.append(g)
        return tuple(out)


def _zeros(meta, grads, batch):
    shape, dtype, device = meta
    lead = next((g.shape[:batch] for g in grads if g is not None), ()) if batch else ()
    return wrap(device.backend.xp.zeros(lead + tuple(shape), dtype), device)


def _row_by_row(fn, batched):
    """Apply ``fn`` to each row of the batched tensors and stack the results: how a user's backward or jvp, written
    for one direction, serves a batch of them (jacrev, jacfwd) unless its class says it handles batches itself."""
    rows = [fn(*(None if t is None else t[k] for t in batched))
            for k in range(next(t for t in batched if t is not None).shape[0])]
    single = not isinstance(rows[0], tuple)
    columns = zip(*[(r,) if single else r for r in rows])
    stacked = tuple(None if col[0] is None else stack(list(col)) for col in columns)
    return stacked[0] if single else stacked


class Function:
    """Base class for custom ops; call them with ``MyFunction.apply(*args)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads) to be differentiated")

    # Optionally: ``jvp(ctx, *tangents)`` (one tangent per forward argument, None where it has none) returning the
    # outputs' tangents, for forward mode. Without it, forward mode through the Function raises.
    # jacrev and jacfwd push a batch of directions at once; backward and jvp are then called once per direction,
    # unless the class sets ``batched_backward = True`` / ``batched_jvp = True`` to receive the whole batch (a leading
    # dimension on every gradient or tangent).
    batched_backward = False
    batched_jvp = False

    @classmethod
    def apply(cls, *args):
        op = cls.__dict__.get("_op_record")
        if op is None:
            op = _FunctionOp(cls)
            cls._op_record = op
        tensor_args = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        for i in tensor_args:
            if args[i]._base is not None:
                sync_view(args[i])
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        with no_grad():
            outputs = cls.forward(ctx, *args)
        single = not isinstance(outputs, tuple)
        outputs = (outputs,) if single else outputs
        recording = mode.enabled and any(ctx.needs_input_grad)
        devices = {args[i]._device for i in tensor_args}
        if len(devices) > 1:
            raise RuntimeError(f"{cls.__name__}: arguments are on different devices {sorted(map(str, devices))}")
        wrapped = []
        for o in outputs:
            if isinstance(o, Tensor):
                w = wrap(o._data, o._device)
                w._version = o._version_counter
                wrapped.append(w)
            else:
                wrapped.append(o)
        if recording:
            tensors = [w for w in wrapped if isinstance(w, Tensor)]
            inputs = tuple(args[i] for i in tensor_args)
            node = record(op, inputs, (tuple(range(len(args))), tuple(tensor_args)),
                          None, tensors[0]._device if tensors else None, tuple(x._rg for x in inputs))
            node.ctx = ctx
            ctx._edges = node.next
            node.n_out = len(tensors)
            node.out_meta = tuple((t.shape, t.dtype, t._device) for t in tensors)
            differentiable = [w for o, w in zip(outputs, wrapped) if isinstance(w, Tensor)]
            attach(node, differentiable, inputs)  # each at its index among the tensor outputs
            for o, w in zip(outputs, wrapped):
                if isinstance(w, Tensor) and (w._data.dtype.kind != "f" or id(o) in ctx._non_differentiable):
                    w._rg, w._node, w._idx = False, None, 0  # no gradient flows from it
        if mode.fw_level:
            _forward_mode(cls, ctx, args, wrapped)
        return wrapped[0] if single else tuple(wrapped)


def _forward_mode(cls, ctx, args, outputs):
    """Give the outputs their tangents through the Function's ``jvp``, when any argument carries a tangent."""
    tangents = tuple(tangent_of(a) for a in args)
    if all(t is None for t in tangents):
        return
    jvp = getattr(cls, "jvp", None)
    if jvp is None:
        raise RuntimeError(f"{cls.__name__} has no jvp(ctx, *tangents): define it to use this Function in forward "
                           f"mode (gpuad.func.jvp, jacfwd, hessian, dual tensors)")
    level = mode.fw_level
    mode.fw_level = 0
    batched = any(t is not None and t.ndim > a.ndim for t, a in zip(tangents, args))
    try:
        if batched and not getattr(cls, "batched_jvp", False):
            result = _row_by_row(lambda *ts: jvp(ctx, *ts), tangents)
        else:
            result = jvp(ctx, *tangents)
    finally:
        mode.fw_level = level
    result = result if isinstance(result, tuple) else (result,)
    tensors = [o for o in outputs if isinstance(o, Tensor)]
    if len(result) != len(tensors):
        raise RuntimeError(f"{cls.__name__}.jvp returned {len(result)} tangent(s) for {len(tensors)} output(s)")
    for o, t in zip(tensors, result):
        if t is not None:
            o._fw = (level, t)


def once_differentiable(backward):
    """Mark a ``backward`` that cannot itself be differentiated: differentiating its result raises instead of
    silently giving zero."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            result = backward(ctx, *grads)
        if not mode.enabled:
            return result
        single = not isinstance(result, tuple)
        result = (result,) if single else result
        edges = getattr(ctx, "_edges", ())
        marked = tuple(_NotTwiceDifferentiable.apply(g, edges) if isinstance(g, Tensor) and g.dtype.kind == "f"
                       else g for g in result)
        return marked[0] if single else marked
    return wrapper


class _NotTwiceDifferentiable(Function):
    @staticmethod
    def forward(ctx, g):
        return g

    @staticmethod
    def backward(ctx, gg):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable; "
                           "its backward is not itself differentiable")

    @classmethod
    def apply(cls, g, edges):
        # a node connected to the Function's inputs, so differentiating the gradient reaches it and raises
        out = wrap(g._data, g._device)
        op = cls.__dict__.get("_op_record") or _FunctionOp(cls)
        cls._op_record = op
        node = Node(op, edges, tuple(e is not None for e in edges), g._device, ((0,), ()))
        node.ctx = FunctionCtx()
        node.out_meta = ((g.shape, g.dtype, g._device),)
        out._rg, out._node = True, node
        return out
