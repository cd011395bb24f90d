"""The recorded graph: one Node per op call, holding edges to its inputs' nodes and what its VJP needs.

Saved tensors are kept with the in-place version they had when saved; unpacking checks it, so a tensor changed in place
after being saved raises at backward instead of giving a wrong gradient. Saved values are dropped once the VJP has run
(unless ``retain_graph``), which is what frees activation memory during backward.
"""
import weakref

from .anomaly_mode import forward_stack
from .grad_mode import mode
from .views import sync_view
from ..tensor import Tensor, wrap


class HookHandle:
    """Returned by register_hook; ``remove()`` unregisters the hook."""
    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class Node:
    """One recorded op call. ``next`` holds one edge per input: ``(node, output_index, shape, dtype)`` or None."""
    __slots__ = ("op", "next", "needs", "device", "params", "saved", "saved_versions", "saved_out", "__dict__",
                 "__weakref__")
    # saved: per input, the saved tensor or constant (None where not saved); saved_versions: their versions when saved
    # saved_out: (array, version counter, version) of the output, when the VJP uses it
    # set only on some nodes; class-level defaults until then:
    n_out = 1
    out_meta = None        # (shape, dtype, device) per output, for nodes with several outputs
    hooks = None
    retained = None
    freed = False
    ctx = None             # the FunctionCtx of a custom Function
    recompute = None       # the checkpoint that dropped this node's saved values and can recompute them

    def __init__(self, op, next_edges, needs, device, params):
        self.op = op
        self.next = next_edges
        self.needs = needs
        self.device = device
        self.params = params
        self.saved = None
        self.saved_versions = None
        self.saved_out = None
        if mode.anomaly:
            self.forward_stack = forward_stack()

    def name(self):
        return self.op.node_name

    def __repr__(self):
        return f"<{self.op.node_name}>"

    @property
    def next_functions(self):
        return tuple((None, 0) if e is None else (e[0], e[1]) for e in self.next)

    # --- saved values -------------------------------------------------------------------------------------------
    @property
    def inputs(self):
        """The saved inputs (tensors or constants; None where not saved), checked against in-place changes."""
        saved = self.saved
        if saved is None:
            if self.recompute is None:
                self._raise_freed()
            self.recompute.recompute()
            saved = self.saved
        versions = self.saved_versions
        for i, t in enumerate(saved):
            v = versions[i]
            if v is not None and t is not None and v != (0 if t._version is None else t._version.value):
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified by an in-place operation: "
                    f"input {i} of {self.op.node_name} (shape {t.shape}, {t.dtype}) is at version {t._version_value}, "
                    f"expected version {v}. Avoid the in-place op, or .clone() the tensor before changing it.")
        return saved

    @property
    def out(self):
        """The saved output, re-attached to this node so that a VJP using it can itself be differentiated."""
        if self.saved_out is None:
            if self.recompute is None:
                self._raise_freed()
            self.recompute.recompute()
        data, counter, v = self.saved_out[:3]
        if counter.value != v:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an in-place operation: "
                f"the output of {self.op.node_name} (shape {data.shape}, {data.dtype}) is at version {counter.value}, "
                f"expected version {v}. Avoid the in-place op, or .clone() the output before changing it.")
        t = wrap(data, self.device)
        t._version = counter
        if mode.enabled:
            t._rg, t._node = True, self
        if len(self.saved_out) > 3:
            t._fw = self.saved_out[3]
        return t

    def _raise_freed(self):
        if self.freed:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (or to use saved values of {self.op.node_name} "
                f"after they were freed). Specify retain_graph=True on the first backward() or autograd.grad() call "
                f"if you need to backward through the graph again.")
        raise RuntimeError(f"{self.op.node_name} did not save the value its VJP asked for (a bug in the op's record)")

    def release(self):
        """Drop the saved values after backward has used them."""
        if self.saved is not None or self.saved_out is not None:
            self.saved = None
            self.saved_out = None
            self.freed = True
            if self.ctx is not None:
                self.ctx.release()

    def saved_tensors_bytes(self):
        """Bytes of array data this node keeps alive for backward."""
        total = 0
        if self.saved is not None:
            total += sum(t._data.nbytes for t in self.saved if isinstance(t, Tensor))
        if self.saved_out is not None:
            total += self.saved_out[0].nbytes
        if self.ctx is not None:
            total += self.ctx.saved_bytes()
        return total

    # --- hooks and retained grads -------------------------------------------------------------------------------
    def add_hook(self, index, fn):
        if self.hooks is None:
            self.hooks = {}
        hooks = self.hooks.setdefault(index, [])
        hooks.append(fn)
        return HookHandle(hooks, fn)

    def retain(self, index, tensor):
        if self.retained is None:
            self.retained = {}
        self.retained[index] = weakref.ref(tensor)


class AccumulateGrad:
    """The sink for a leaf tensor: sums the gradient into ``leaf.grad``. One per leaf, cached on the leaf."""
    __slots__ = ("tensor_ref", "hooks", "post_hooks", "__weakref__")
    next = ()
    needs = ()
    freed = False
    n_out = 1

    def __init__(self, tensor):
        self.tensor_ref = weakref.ref(tensor)
        self.hooks = None
        self.post_hooks = None

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"

    @property
    def variable(self):
        return self.tensor_ref()

    def add_hook(self, index, fn):
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(fn)
        return HookHandle(self.hooks, fn)

    def add_post_hook(self, fn):
        """``fn(tensor)`` after the gradient is summed into ``tensor.grad``; ``hooks`` becomes a list (maybe empty)
        so that the engine takes its hooked path for this leaf."""
        if self.hooks is None:
            self.hooks = []
        if self.post_hooks is None:
            self.post_hooks = []
        self.post_hooks.append(fn)
        return HookHandle(self.post_hooks, fn)


def leaf_accumulator(tensor):
    acc = tensor._accum
    if acc is None:
        acc = tensor._accum = AccumulateGrad(tensor)
    return acc


def edge_of(t):
    """The graph edge a gradient for tensor ``t`` flows into."""
    if t._base is not None:
        sync_view(t)
    node = t._node
    if node is None:
        node = t._accum or leaf_accumulator(t)
    data = t._data
    return (node, t._idx, data.shape, data.dtype)


# --- Tensor methods (installed by gpuad.ops, as tensor.py imports nothing above it) -------------------------------
def register_hook(self, hook):
    """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces the gradient."""
    if self._base is not None:
        sync_view(self)
    if not self._rg:
        raise RuntimeError("cannot register a hook on a tensor that does not require grad")
    target = self._node if self._node is not None else leaf_accumulator(self)
    return target.add_hook(self._idx, hook)


def register_post_accumulate_grad_hook(self, hook):
    """Call ``hook(tensor)`` after backward has summed a gradient into this leaf's ``.grad`` (DDP starts its
    all-reduce from here); the hook's return value must be None."""
    if self._node is not None:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
    if not self._rg:
        raise RuntimeError("cannot register a hook on a tensor that does not require grad")
    return leaf_accumulator(self).add_post_hook(hook)
