"""What a step can read besides its arguments: the modules, optimizers and tensors its function refers to.

Found once per compiled function (in its closure, the globals its code names, bound ``self``, and its arguments);
their parameters' identities, ``requires_grad`` flags and the modules' ``training`` flags are part of every call's
key, so a replaced parameter, a frozen one or ``model.eval()`` records the step again instead of replaying a stale
program.
"""
import types

from ..tensor import Tensor
from ..nn.modules import Module
from ..optim import Optimizer


def _is_module(obj):
    return isinstance(obj, Module)


def _is_optimizer(obj):
    return isinstance(obj, Optimizer)


def referenced_objects(fn, args=(), depth=2):
    """The objects ``fn`` can reach by name: closure cells, globals its code names, ``__self__``, ``args``, and,
    for functions among them, theirs (``depth`` levels)."""
    found = list(args)
    seen = set()
    todo = [(fn, depth)]
    while todo:
        f, d = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if isinstance(f, types.MethodType):
            found.append(f.__self__)
            f = f.__func__
        if hasattr(f, "func") and hasattr(f, "args"):  # functools.partial
            found.extend(f.args)
            found.extend(f.keywords.values())
            todo.append((f.func, d))
            continue
        code = getattr(f, "__code__", None)
        if code is None:
            found.append(f)  # a callable object (a Module): it is its own scope
            continue
        values = [c.cell_contents for c in (f.__closure__ or ()) if _filled(c)]
        glob = getattr(f, "__globals__", {})
        values += [glob[name] for name in code.co_names if name in glob]
        for v in values:
            if isinstance(v, (types.FunctionType, types.MethodType)) and d > 0:
                todo.append((v, d - 1))
            elif isinstance(v, (list, tuple)) and len(v) <= 64:
                found.extend(v)
            else:
                found.append(v)
    for obj in list(found):  # one level into plain objects (a trainer holding the model and the optimizer)
        attrs = getattr(obj, "__dict__", None)
        if attrs and not isinstance(obj, (types.ModuleType, type)) and not _is_module(obj) and not _is_optimizer(obj):
            found.extend(v for v in attrs.values() if _is_module(v) or _is_optimizer(v) or isinstance(v, Tensor))
    return found


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


class Scope:
    """The modules, optimizers and loose tensors a step refers to, and the state of their tensors now."""

    def __init__(self, objects):
        self.modules, self.optimizers, self.loose = [], [], []
        seen = set()
        for obj in objects:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if _is_module(obj):
                self.modules.append(obj)
            elif _is_optimizer(obj):
                self.optimizers.append(obj)
            elif isinstance(obj, Tensor):
                self.loose.append(obj)

    def fingerprint(self):
        """Everything about the scope's structure that a recording depends on (part of the cache key)."""
        key = []
        for m in self.modules:
            key.append(tuple(sub.training for sub in m.modules()))
            key.append(tuple((id(p), p._rg) for p in m.parameters()))
        for opt in self.optimizers:
            key.append(tuple((id(p), p._rg) for g in opt.param_groups for p in g["params"]))
        for t in self.loose:
            key.append((id(t), t._rg))
        return tuple(key)

    def snapshot(self):
        """Index the tensors that exist now (before the step): parameters, their grads, optimizer state, loose
        tensors; ``leaves`` are the parameters whose ``.grad`` the step may set."""
        tensors, leaves = {}, {}
        for m in self.modules:
            for p in m.parameters():
                leaves[id(p)] = p
        for opt in self.optimizers:
            for g in opt.param_groups:
                for p in g["params"]:
                    leaves[id(p)] = p
            for state in opt.state.values():
                for v in state.values():
                    if isinstance(v, Tensor):
                        tensors[id(v)] = v
        for t in self.loose:
            tensors[id(t)] = t
            if t._rg and t._node is None:
                leaves[id(t)] = t
        self.leaves = list(leaves.values())
        self.grad_at_start = {}
        for p in self.leaves:
            tensors[id(p)] = p
            if p._grad is not None:
                tensors[id(p._grad)] = p._grad
                self.grad_at_start[id(p)] = p._grad
        self.tensors = tensors
        self.arrays = {id(t._data): t for t in tensors.values()}
        return self
