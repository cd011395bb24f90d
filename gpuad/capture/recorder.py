"""Recording one eager run of a step as a flat array program, and replaying that program.

While a step runs eagerly, every array the library computes is reported here (see gpuad/_capture.py) as a call:
a function of arrays and constants, its inputs and its outputs. Each input is resolved to where its array comes from:

- a *slot*: the output of an earlier call in this step, or an argument's array (bound afresh on every replay);
- an *external* tensor that existed before the step (a parameter, its ``.grad``, a tensor the step closes over): its
  array is read from the tensor on every replay, and its shape, dtype and ``requires_grad`` are guarded;
- a *constant*: a Python value, or an array that can't change (read-only, like the engine's cached seed of 1).

Anything else (an array made outside the recorded calls, a host read of a value) makes the step unreplayable: the
recording is abandoned with the reason and the line, and that signature runs eagerly from then on.
"""
import functools
import os
import sys

from . import calls
from ..tensor import Tensor, wrap
from .. import _capture
from ..optim import Optimizer

SLOT, EXTERNAL, CONSTANT = 0, 1, 2
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Unreplayable(Exception):
    """Why a step cannot be replayed (the message names the operation and the user's line)."""


def user_line():
    """'file:line' of the innermost frame outside gpuad: where the user's step made the call."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    return "<unknown>" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Recorder:
    """Collects the calls of one eager run of the step; ``finish`` turns them into a ``Program``."""

    def __init__(self, args, scope):
        self.calls = []          # (fn, arg specs, out slots)
        self.slots = {}          # id(object) -> slot index, for every array (or other value) a call produced
        self.keep = []           # the produced objects, alive until the end so their ids stay unique
        self.failed = None       # the reason, once the step turned out unreplayable
        self.externals = {}      # id(tensor) -> (tensor, shape, dtype, requires_grad)
        self.scope = scope       # Scope: the tensors that existed before the step
        self.arg_slots = []      # (position in the flat arguments, slot) for tensor arguments
        for i, t in enumerate(args):
            if isinstance(t, Tensor):
                self.arg_slots.append((i, self._new_slot(t._data)))

    # --- reports from the hooks -------------------------------------------------------------------------------
    def call(self, fn, args, outs):
        """The library just ran ``fn(*arrays of args)`` and got ``outs`` (an array, a tuple with Nones, or None). A
        replay runs it on the device of its first tensor argument, through that backend's ``on_device``: array
        methods (``a.copy()``, ``a += b``, ``a[i] = v``) run on the current GPU, not on the array's."""
        for a in args:
            if isinstance(a, Tensor):
                fn = functools.partial(a._device.backend.on_device, fn)
                break
        self._append(fn, args, outs)

    def _append(self, fn, args, outs):
        if self.failed is not None:
            return
        try:
            spec = tuple(self._resolve(a) for a in args)
        except Unreplayable as exc:
            self.fail(str(exc))
            return
        self.calls.append((fn, spec, self._outputs(outs)))

    def op(self, op, backend, params, inputs, out):
        """``ops.core.apply`` ran ``op`` on ``inputs`` and got the array ``out``."""
        if self.failed is not None:
            return
        if params:
            for value in params.values():
                for v in (value if isinstance(value, tuple) else (value,)):
                    if hasattr(v, "__array_interface__") and not _read_only(v) or isinstance(v, Tensor):
                        self.fail(f"{op.name} takes an array among its parameters (an index computed in the step?), "
                                  f"which a replay can't rebind, at {user_line()}")
                        return
        self._append(functools.partial(calls.forward, op, backend, params, calls.needs_promote(op, inputs)), inputs,
                     out)

    def write(self, index, target, data):
        """``target[index] = data`` (an in-place write of ops.inplace); an index array made in the step can't be
        rebound, so it ends the recording."""
        for part in index if isinstance(index, tuple) else (index,):
            on_host = hasattr(part, "__array_interface__") and not _read_only(part)
            if on_host or hasattr(part, "__cuda_array_interface__"):
                self.fail(f"an in-place write through an index array at {user_line()} (the index would be baked in)")
                return
        self.call(functools.partial(calls.write, index), (target, data), None)

    def run(self, fn, args):
        """Run ``fn(*args)`` with recording paused (its inner ops are not recorded on their own) and record it."""
        if self.failed is None:
            try:
                spec = tuple(self._resolve(a) for a in args)
            except Unreplayable as exc:
                self.fail(str(exc))
                spec = None
        _capture.state.active = None
        try:
            out = fn(*[a._data if isinstance(a, Tensor) else a for a in args])
        finally:
            _capture.state.active = self
        if self.failed is None:
            self.calls.append((fn, spec, self._outputs(out)))
        return out

    def host_read(self, what):
        self.fail(f"{what} reads a tensor's value on the host inside the step, at {user_line()}")

    def fail(self, reason):
        if self.failed is None:
            self.failed = reason
        _capture.state.active = None  # the rest of the step runs plainly eagerly

    # --- resolution -------------------------------------------------------------------------------------------
    def _new_slot(self, obj):
        index = self.slots[id(obj)] = len(self.keep)
        self.keep.append(obj)
        return index

    def _outputs(self, outs):
        if outs is None:
            return None
        if outs.__class__ is tuple:
            return tuple(None if o is None else self._new_slot(_array(o)) for o in outs)
        return self._new_slot(_array(outs))

    def _resolve(self, a):
        if a is None or a.__class__ in (int, float, bool, str):
            return (CONSTANT, a)
        if isinstance(a, Tensor):
            data = a._data
            slot = self.slots.get(id(data))
            if slot is not None:
                return (SLOT, slot)
            owner = self.scope.tensors.get(id(a))
            if owner is None:
                owner = self.scope.arrays.get(id(data))
            if owner is not None:
                return self._external(owner)
            if _read_only(data):
                return (CONSTANT, data)
            raise Unreplayable(f"a tensor of shape {tuple(data.shape)} made outside gpuad's recorded ops "
                               f"(e.g. by from_numpy or as_tensor inside the step) is used at {user_line()}")
        slot = self.slots.get(id(a))
        if slot is not None:
            return (SLOT, slot)
        if hasattr(a, "__array_interface__") or hasattr(a, "__cuda_array_interface__"):
            owner = self.scope.arrays.get(id(a))
            if owner is not None:
                return self._external(owner)
            if _read_only(a):
                return (CONSTANT, a)
            base = getattr(a, "base", None)
            while base is not None:
                if id(base) in self.slots or id(base) in self.scope.arrays:
                    raise Unreplayable(f"an unrecorded view of shape {tuple(a.shape)} of an array the step uses "
                                       f"reaches a recorded call at {user_line()}")
                base = getattr(base, "base", None)
            raise Unreplayable(f"an array of shape {tuple(a.shape)} made outside gpuad's recorded ops is used at "
                               f"{user_line()}")
        return (CONSTANT, a)

    def _external(self, t):
        if id(t) not in self.externals:
            self.externals[id(t)] = (t, t._data.shape, t._data.dtype, t._rg)
        return (EXTERNAL, t)

    # --- the result -------------------------------------------------------------------------------------------
    def finish(self, result):
        """The Program, or raise Unreplayable."""
        if self.failed is not None:
            raise Unreplayable(self.failed)
        for opt in self.scope.optimizers:  # updates made outside Optimizer.step's per-parameter hook aren't recorded
            if type(opt).step is not Optimizer.step:
                raise Unreplayable(f"{type(opt).__name__} overrides Optimizer.step(), whose per-parameter updates "
                                   f"(_update) are what gpuad.compile records")
        out_spec = self._result_spec(result)
        grads = []
        for p in self.scope.leaves:
            g = p._grad
            if g is None:
                grads.append((p, None))
            else:
                slot = self.slots.get(id(g._data))
                if slot is not None:
                    grads.append((p, (slot, g._device)))
                elif g is not self.scope.grad_at_start.get(id(p)):
                    raise Unreplayable(f"the step assigned a .grad of shape {tuple(g.shape)} that no recorded op "
                                       f"made")
        guards = [(p, start is None) for p, start in
                  ((p, self.scope.grad_at_start.get(id(p))) for p in self.scope.leaves)]
        grad_owners = {id(g): p for p, g in ((p, self.scope.grad_at_start.get(id(p))) for p in self.scope.leaves)
                       if g is not None}
        owned = [(grad_owners[key], t) for key, (t, *_) in self.externals.items() if key in grad_owners]
        return Program(self.calls, len(self.keep), self.arg_slots, list(self.externals.values()), guards, owned,
                       grads, out_spec)

    def _result_spec(self, value):
        if isinstance(value, Tensor):
            slot = self.slots.get(id(value._data))
            if slot is not None:
                return ("tensor", slot, value._device)
            return ("value", value)  # an external tensor (a parameter, an argument) is returned as itself
        if isinstance(value, (tuple, list)):
            return ("seq", type(value), [self._result_spec(v) for v in value])
        if isinstance(value, dict):
            return ("dict", [(k, self._result_spec(v)) for k, v in value.items()])
        return ("value", value)


def _array(o):
    return o._data if isinstance(o, Tensor) else o


def _read_only(a):
    flags = getattr(a, "flags", None)
    return flags is not None and not flags.writeable


class Program:
    """The recorded calls of one step, with their buffers bound once; ``replay`` runs them on new arguments."""

    def __init__(self, calls, n_slots, arg_slots, externals, grad_guards, owned_grads, grads, out_spec):
        self.calls = calls
        self.n_slots = n_slots
        self.arg_slots = arg_slots
        self.externals = externals
        self.grad_guards = grad_guards
        self.owned_grads = owned_grads
        self.grads = grads
        self.out_spec = out_spec
        self.graphs = None  # cuda_graph.GraphCache where CUDA graphs are on
        self._run = None  # the generated function (_compile), made at the first replay

    def __len__(self):
        return len(self.calls)

    def stale(self):
        """Why this program no longer matches the tensors it reads (None while it does)."""
        for t, shape, dtype, rg in self.externals:
            d = t._data
            if d.shape != shape or d.dtype != dtype or t._rg != rg:
                return (f"a tensor the step reads changed from {shape} {dtype} requires_grad={rg} to {d.shape} "
                        f"{d.dtype} requires_grad={t._rg}")
        for p, was_none in self.grad_guards:
            if (p._grad is None) != was_none:
                return "a parameter's .grad was " + ("None" if was_none else "set") + " when the step was recorded"
        for p, g in self.owned_grads:
            if p._grad is not g:
                return "a parameter's .grad tensor, which the step reads, was replaced"
        return None

    def replay(self, flat_args):
        """Run the calls on these arguments' arrays; set the parameters' grads; return what the step returned."""
        run = self._run
        if run is None:
            run = self._run = self._compile()
        env = [None] * self.n_slots
        for i, slot in self.arg_slots:
            env[slot] = flat_args[i]._data
        run(env)
        return self.finish_replay(env)

    def run_calls(self, bound):
        """The recorded calls with the argument slots bound to ``bound`` (slot -> array); returns the slots (a list,
        filled where the step's grads and return value live)."""
        if self._run is None:
            self._run = self._compile()
        env = [None] * self.n_slots
        for slot, array in bound.items():
            env[slot] = array
        self._run(env)
        return env

    def _compile(self):
        """The calls as one generated Python function: each slot a local variable, each external's array read
        from its tensor, each constant bound once; an op's forward is called directly where ``apply`` would."""
        names = {}
        lines = ["def run(env):"]
        lines += [f"    s{slot} = env[{slot}]" for _, slot in self.arg_slots]
        for i, (fn, spec, outs) in enumerate(self.calls):
            args = []
            for j, (kind, value) in enumerate(spec):
                if kind == SLOT:
                    args.append(f"s{value}")
                elif kind == EXTERNAL:
                    names[f"e{i}_{j}"] = value
                    args.append(f"e{i}_{j}._data")
                else:
                    names[f"c{i}_{j}"] = value
                    args.append(f"c{i}_{j}")
            direct = _direct_forward(fn)
            if direct is not None:
                names[f"f{i}"], names[f"nd{i}"], names[f"as{i}"] = direct
            else:
                names[f"f{i}"] = fn
            call = f"f{i}({', '.join(args)})"
            if outs is None:
                lines.append(f"    {call}")
            elif outs.__class__ is tuple:
                lines.append(f"    o = {call}")
                lines += [f"    s{slot} = o[{k}]" for k, slot in enumerate(outs) if slot is not None]
            else:
                lines.append(f"    s{outs} = {call}")
                if direct is not None:
                    lines.append(f"    if s{outs}.__class__ is not nd{i}: s{outs} = as{i}(s{outs})")
        kept = sorted({where[0] for _, where in self.grads if where is not None} | set(_slots_of(self.out_spec)))
        lines += [f"    env[{slot}] = s{slot}" for slot in kept]
        lines.append("    return env")
        namespace = dict(names)
        exec(compile("\n".join(lines), "<gpuad.compile program>", "exec"), namespace)  # noqa: S102
        return namespace["run"]

    def finish_replay(self, env, copy=False):
        """Give the parameters their new grads and build the step's return value (copies of the arrays when the
        slots are static buffers that the next call overwrites)."""
        for p, where in self.grads:
            p._grad = None if where is None else wrap(env[where[0]], where[1])
        return _build(self.out_spec, env, copy)


def _direct_forward(fn):
    """(a function of the arrays running the op's forward as ``backend.run`` does, the backend's array type, its
    asarray) for an op's forward that ``apply`` runs without promotion; None for any other call."""
    if not isinstance(fn, functools.partial) or fn.func is not calls.forward:
        return None
    op, backend, params, promote = fn.args
    if promote or op.aux:
        return None
    return backend.forward_function(op, params), backend.ndarray, backend.asarray


def _slots_of(spec):
    if spec[0] == "tensor":
        yield spec[1]
    elif spec[0] == "seq":
        for s in spec[2]:
            yield from _slots_of(s)
    elif spec[0] == "dict":
        for _, s in spec[1]:
            yield from _slots_of(s)


def _build(spec, env, copy=False):
    kind = spec[0]
    if kind == "tensor":
        return wrap(spec[2].backend.copy(env[spec[1]]) if copy else env[spec[1]], spec[2])
    if kind == "seq":
        return spec[1](_build(s, env, copy) for s in spec[2])
    if kind == "dict":
        return {k: _build(s, env, copy) for k, s in spec[1]}
    return spec[1]
