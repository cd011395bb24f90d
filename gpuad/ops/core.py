"""The op record and ``apply``: every op call goes through here.

An ``Op`` declares, in one place, its forward (written once for ``xp`` = numpy or cupy), its VJP (written in Tensor
ops, so it is differentiable again), and which inputs or output its VJP needs, per input: only what the inputs that
require grad will use is saved. ``apply`` checks devices, promotes dtypes as PyTorch does, runs the forward, and under
grad mode records a Node.
"""
import numpy as np

from .. import _capture
from .._autograd.graph import Node, edge_of
from .._autograd.grad_mode import mode
from .._autograd.views import sync_view, track_view
from ..dtypes import get_default_dtype, promote, wrap_int
from ..tensor import Tensor, _Version, wrap

REGISTRY = {}
OUT = -1  # in a save spec, the op's output
# mode.on_record (thread-local) is called as on_record(node, result, inputs) after each node is recorded


class Op:
    """One differentiable primitive.

    forward(xp, *arrays, **params) -> array
    vjp(node, grad) -> one gradient per input (None where ``node.needs[i]`` is False), written in Tensor ops
    jvp(ctx, *tangents) -> the output's tangent (tangents are None for inputs without one), written in Tensor ops
        and on trailing dimensions, so that tangents with a leading batch dimension work too
    save: for each input, the indices of the inputs (or OUT) its gradient needs; "all" saves every input for each
    promote: "binary" (PyTorch's type promotion between operands), "float" (integers become the default float), None
    view: the output shares memory, and so the in-place version counter, with input 0, and is tracked as a view of
        its base (autograd.views), so that in-place changes through it or its base rebase the other's history
    broadcasting: inputs broadcast against each other (batched tangents are aligned before the JVP)
    aux: the forward returns ``(output, kept)``: ``kept`` is an array the VJP reads besides the saved inputs and
        output (the fused linear layer's relu mask, cross-entropy's row statistics), held in ``node.saved_out``
        (where ``kept`` is the output itself, it is saved as the output, with its version); such an op is applied
        through ``apply``, not the one- and two-tensor fast paths
    cuda: the name of our own CUDA forward for this op (a key of backends.cuda_kernels.FORWARDS), which the CUDA
        backend runs instead of ``forward`` while fused kernels are on and the kernel applies
    cuda_grad: the fused backward rule in kernels/elementwise.cu (a name, or a function of the params giving one)
        that a first-order backward on CUDA runs in one launch (the backends' unary_grad and binary_grad)
    """
    __slots__ = ("name", "forward", "vjp", "jvp", "save", "promote", "view", "broadcasting", "node_name", "_plans",
                 "cuda", "cuda_grad", "aux")

    def __init__(self, name, forward, vjp=None, *, save=(), promote=None, view=False, jvp=None, cuda=None,
                 cuda_grad=None, broadcasting=False, aux=False, node_name=None):
        self.name = name
        self.broadcasting = broadcasting
        self.forward = forward
        self.vjp = vjp
        self.jvp = jvp
        self.save = save
        self.promote = promote
        self.view = view
        self.cuda = cuda
        self.cuda_grad = cuda_grad
        self.aux = aux
        # PyTorch's node names: MulBackward0
        self.node_name = node_name or "".join(part.capitalize() for part in name.split("_")) + "Backward0"
        self._plans = {}
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        REGISTRY[name] = self

    def __repr__(self):
        return f"<Op {self.name}>"

    def grad_rule(self, params):
        """The name of this op's fused backward rule for these params (``cuda_grad``), or None."""
        return self.cuda_grad(params) if callable(self.cuda_grad) else self.cuda_grad

    def plan(self, needs):
        """(which inputs to save, whether to save the output) for this pattern of inputs that need grad."""
        plan = self._plans.get(needs)
        if plan is None:
            wanted = set()
            for i, need in enumerate(needs):
                if need:
                    wanted.update(range(len(needs)) if self.save == "all" else self.save[i] if self.save else ())
            keep = tuple(i in wanted for i in range(len(needs)))
            plan = self._plans[needs] = (keep if any(keep) else None, OUT in wanted)
        return plan


def apply(op, inputs, params=None):
    """Run ``op`` on ``inputs`` (tensors and Python constants) and record it when any input requires grad."""
    dev = None
    rg = False
    mixed = False
    datas = []
    for x in inputs:
        if isinstance(x, Tensor):
            if x._base is not None:
                sync_view(x)
            data = x._data
            if dev is None:
                dev = x._device
                dtype = data.dtype
            else:
                if x._device is not dev:
                    raise RuntimeError(f"{op.name}: expected all tensors on the same device, but got tensors on "
                                       f"{dev} and {x._device}; move them with .to(device) first")
                if data.dtype is not dtype and data.dtype != dtype:
                    mixed = True
            datas.append(data)
            if x._rg:
                rg = True
        else:
            datas.append(x)
    if dev is None:
        raise TypeError(f"{op.name}: expected at least one tensor argument, got "
                        f"{', '.join(type(x).__name__ for x in inputs) or 'none'}")
    if op.promote is not None and (mixed or dtype.kind in "biu"):
        (dev._backend or dev.backend).on_device(_promote, op, datas)  # casts are array methods: on the inputs' device
    return apply_checked(op, inputs, datas, params, dev, rg)


def apply_checked(op, inputs, datas, params, dev, rg):
    """The rest of ``apply`` once the inputs are checked: one device, promoted ``datas``, views synced; ``rg``:
    whether any input requires grad. (nn.functional.linear calls it directly after its own faster checks.)"""
    backend = dev._backend or dev.backend
    try:
        out = backend.run(op, datas, params)
    except (ValueError, TypeError, IndexError) as exc:
        raise _explain(op, inputs, exc) from None
    kept = None
    if op.aux:
        out, kept = out
    if out.__class__ is not backend.ndarray:
        out = backend.asarray(out)
    if _capture.state.active is not None:
        _capture.state.active.op(op, backend, params, inputs, (out, kept) if op.aux else out)
    result = wrap(out, dev)
    if op.view:
        track_view(result, inputs[0], op, params)
    if rg and mode.enabled and op.vjp is not None and out.dtype.kind == "f":
        record(op, inputs, params, result, dev, tuple(isinstance(x, Tensor) and x._rg for x in inputs), kept)
    if mode.fw_level:
        forward_tangent(op, inputs, params, result)
    return result


def apply_unary(op, x, params=None):
    """``apply`` for one float tensor argument (most ops), with less bookkeeping."""
    if x._base is not None:
        sync_view(x)
    data = x._data
    if data.dtype.kind != "f":  # (an Op with aux=True is applied through apply)
        return apply(op, (x,), params)
    dev = x._device
    backend = dev._backend or dev.backend
    try:
        if backend.context_free:  # the dispatch's CPU fast path: run(op, ...) is op.forward on NumPy there
            out = op.forward(backend.xp, data, **params) if params else op.forward(backend.xp, data)
        else:
            out = backend.run(op, (data,), params)
    except (ValueError, TypeError, IndexError) as exc:
        raise _explain(op, (x,), exc) from None
    if out.__class__ is not backend.ndarray:
        out = backend.asarray(out)
    if _capture.state.active is not None:
        _capture.state.active.op(op, backend, params, (x,), out)
    result = wrap(out, dev)
    if op.view:
        track_view(result, x, op, params)
    if x._rg and mode.enabled and op.vjp is not None and out.dtype.kind == "f":
        record(op, (x,), params, result, dev, _NEEDS_ONE)
    if mode.fw_level and x._fw is not None:
        forward_tangent(op, (x,), params, result)
    return result


_NEEDS_ONE = (True,)


def apply_binary(op, a, b):
    """``apply`` for two tensors on one device with one dtype, the common case, with less bookkeeping."""
    if a._base is not None:
        sync_view(a)
    if b._base is not None:
        sync_view(b)
    ad = a._data
    bd = b._data
    dev = a._device
    if b._device is not dev or (ad.dtype is not bd.dtype and ad.dtype != bd.dtype) or ad.dtype.kind != "f":
        return apply(op, (a, b))
    backend = dev._backend or dev.backend
    try:
        out = op.forward(backend.xp, ad, bd) if backend.context_free else backend.run(op, (ad, bd), None)
    except (ValueError, TypeError, IndexError) as exc:
        raise _explain(op, (a, b), exc) from None
    if out.__class__ is not backend.ndarray:
        out = backend.asarray(out)
    if _capture.state.active is not None:
        _capture.state.active.op(op, backend, None, (a, b), out)
    result = wrap(out, dev)
    if (a._rg or b._rg) and mode.enabled and op.vjp is not None and out.dtype.kind == "f":
        record(op, (a, b), None, result, dev, (a._rg, b._rg))
    if mode.fw_level and (a._fw is not None or b._fw is not None):
        forward_tangent(op, (a, b), None, result)
    return result


# --- the one recorder ----------------------------------------------------------------------------------------------
def record(op, inputs, params, result, dev, needs, kept=None):
    """A new Node for this call of ``op``, with ``result`` (when given) as its output: edges to the inputs that need
    grad; what the op's save plan says its VJP reads, each tensor with the in-place version it has now; the output
    where the plan says, and ``kept`` (see ``Op.aux``); then mode.on_record is told. Every op call and device
    transfer records through here, and a custom Function (several outputs: result None, then ``attach``)."""
    n = len(inputs)
    if n == 2:  # two and one inputs unrolled: the hot path of every forward pass
        a, b = inputs
        edges = (edge_of(a) if needs[0] else None, edge_of(b) if needs[1] else None)
    elif n == 1:
        x = inputs[0]
        edges = (edge_of(x),) if needs[0] else (None,)
    else:
        edges = tuple([edge_of(x) if need else None for x, need in zip(inputs, needs)])
    node = Node(op, edges, needs, dev, params)
    keep, keep_out = op._plans.get(needs) or op.plan(needs)
    if keep is not None:
        if n == 1:  # keep is (True,)
            v = x._version
            node.saved = (x,)
            node.saved_versions = (0 if v is None else v.value,)
        elif n == 2:
            ka, kb = keep
            va = vb = None
            try:  # a constant (no _version) keeps None
                if ka:
                    va = a._version
                    va = 0 if va is None else va.value
                if kb:
                    vb = b._version
                    vb = 0 if vb is None else vb.value
            except AttributeError:
                va, vb = _version_now(a) if ka else None, _version_now(b) if kb else None
            node.saved = (a if ka else None, b if kb else None)
            node.saved_versions = (va, vb)
        else:
            node.saved = tuple([x if k else None for x, k in zip(inputs, keep)])
            node.saved_versions = tuple([_version_now(x) if k else None for x, k in zip(inputs, keep)])
    if result is None:
        return node
    if keep_out or kept is not None:
        data = result._data
        if keep_out or kept is data:
            v = result._version
            if v is None:
                v = result._version = _Version()
            node.saved_out = (data, v, v.value)
        else:
            node.saved_out = (kept, _Version(), 0)  # not the output: an array of the VJP's own, never changed
    result._rg = True
    result._node = node
    if mode.on_record is not None:
        mode.on_record(node, result, inputs)
    return node


def _version_now(x):
    """A saved input's in-place version (0 for a tensor never changed in place), None for a constant."""
    if isinstance(x, Tensor):
        v = x._version
        return 0 if v is None else v.value
    return None


def attach(node, outputs, inputs):
    """Make the tensors ``outputs`` the outputs of ``node`` (a custom Function's, each at its index) and tell
    mode.on_record, as ``record`` does for one."""
    for index, out in enumerate(outputs):
        out._rg, out._node, out._idx = True, node, index
    if not outputs:
        return
    result = outputs[0]
    if mode.on_record is not None:
        mode.on_record(node, result, inputs)


class JvpContext:
    """What a JVP rule sees: the same ``inputs``/``out``/``params``/``needs`` names a VJP sees on its node, plus
    ``batch``, the number of leading batch dimensions the tangents carry."""
    __slots__ = ("inputs", "out", "params", "needs", "batch")

    def __init__(self, inputs, out, params, needs, batch):
        self.inputs, self.out, self.params, self.needs, self.batch = inputs, out, params or {}, needs, batch


def forward_tangent(op, inputs, params, result):
    """Forward mode: give ``result`` the tangent that ``op``'s JVP rule computes from its inputs' tangents."""
    level = mode.fw_level
    tangents = [x._fw[1] if isinstance(x, Tensor) and x._fw is not None and x._fw[0] == level else None
                for x in inputs]
    first = next((i for i, t in enumerate(tangents) if t is not None), None)
    if first is None or result._data.dtype.kind != "f":
        return
    if op.jvp is None:
        if op.vjp is None:
            return  # not differentiable (comparisons, argmax ...): no tangent
        raise RuntimeError(f"{op.name} has no forward-mode (JVP) rule")
    batch = tangents[first].ndim - inputs[first].ndim
    if batch and op.broadcasting:
        tangents = [align_batched(t, x.ndim, result.ndim) if t is not None else None for t, x in zip(tangents, inputs)]
    ctx = JvpContext(inputs, result, params, tuple(t is not None for t in tangents), batch)
    mode.fw_level = 0  # the rule computes on primals: their own tangents must not propagate again
    hook, mode.on_record = mode.on_record, None  # and its ops are not ops of the function (traces, checkpoints)
    try:
        tangent = op.jvp(ctx, *tangents)
    finally:
        mode.fw_level = level
        mode.on_record = hook
    if tangent is not None:
        if op.broadcasting and tangent.shape[batch:] != result.shape:
            # only a smaller operand had a tangent: it still moves every element it was broadcast to
            from .shape import expand_batched  # lazy: ops.shape imports this module
            tangent = expand_batched(tangent, result.shape, batch)
        if tangent.dtype != result.dtype:
            tangent = tangent.to(result.dtype)
        result._fw = (level, tangent)
        node = result._node
        if node is not None and node.saved_out is not None and node.saved_out[0] is result._data:
            node.saved_out = node.saved_out[:3] + (result._fw,)  # forward over reverse needs the output's tangent


def align_batched(t, ndim, out_ndim):
    """A batched tangent of an ``ndim``-dimensional primal, with ones inserted after the batch dimension so that it
    broadcasts against an ``out_ndim``-dimensional result (right-aligned broadcasting would misplace the batch)."""
    lead = out_ndim - ndim
    if lead <= 0:
        return t
    batch = t.ndim - ndim
    return t.reshape(t.shape[:batch] + (1,) * lead + t.shape[batch:])


def _promote(op, datas):
    """Cast the array operands in ``datas`` (in place) to PyTorch's result dtype, where NumPy's rules differ:
    0-d tensors count like scalars unless their category (bool < integer < float) is higher, a Python float makes
    integers the default float, and "float" ops turn integers into the default float."""
    arrays = [(i, d) for i, d in enumerate(datas) if hasattr(d, "dtype") and not isinstance(d, np.generic)]
    if not arrays:
        return
    dims = [d.dtype for _, d in arrays if d.ndim]
    zeros = [d.dtype for _, d in arrays if not d.ndim]
    if dims and zeros:
        with_dims, zero_dim = _combine(dims), _combine(zeros)
        target = zero_dim if _CATEGORY[zero_dim.kind] > _CATEGORY[with_dims.kind] else with_dims
    else:
        target = _combine(dims or zeros)
    if target.kind in "biu" and (op.promote == "float" or any(type(d) is float for d in datas)):
        target = get_default_dtype()
    for i, d in arrays:
        if d.dtype != target:
            datas[i] = d.astype(target)
    if target.kind in "iu":  # a Python int operand wraps to the integer result dtype, as in PyTorch
        for i, d in enumerate(datas):
            if d.__class__ is int:
                datas[i] = wrap_int(d, target, op.name)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def _combine(dtypes):
    target = dtypes[0]
    for d in dtypes[1:]:
        target = promote(target, d)
    return target


def _explain(op, inputs, exc):
    shapes = [tuple(x.shape) for x in inputs if isinstance(x, Tensor)]
    if op.promote == "binary" and len(shapes) >= 2:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            return ValueError(f"{op.name}: shapes {' and '.join(map(str, shapes))} cannot be broadcast together "
                              f"(each trailing dimension must match or be 1)")
    described = ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in inputs if isinstance(x, Tensor))
    return type(exc)(f"{op.name}: {exc} (inputs: {described})")


