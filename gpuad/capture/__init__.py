"""``gpuad.compile(step)``: run a training step eagerly once, record the array calls it made, replay them after.

    step = gpuad.compile(train_step)      # or @gpuad.compile
    for x, y in loader:
        loss = step(x, y)

The first call with a new signature runs ``train_step`` eagerly and records, below Tensors and nodes, the array calls
the library made (see recorder.py); later calls with the same signature replay them with the new arguments' arrays
bound: no Tensor graph, no engine, the same arrays computed by the same functions in the same order, so parameters,
optimizer state and returned values are bitwise those of eager execution.

What is read afresh on every replay: the arguments' arrays, every parameter's and state tensor's array, each
optimizer's ``param_groups`` (learning rate, momentum, ...) and per-parameter state (Adam's step count and bias
corrections), and the random generator (dropout draws new numbers on every replay, as eager would).
What is fixed by the recording: Python control flow and Python numbers computed inside the step, and Python side
effects of the step (a scheduler's ``step()`` or a print inside the step runs only while recording: call schedulers
between calls).

The key of a recording: the tensor arguments' shapes, dtypes, devices and ``requires_grad``, the other arguments'
values, grad mode, and the identities and ``requires_grad`` of the parameters and the ``training`` flags of the
modules the function refers to (found in its closure and globals). A new key records again (a smaller last batch, a
replaced parameter, ``model.eval()``); the cache keeps the ``cache_size`` most recent keys. A recorded program whose
tensors changed shape, dtype or ``requires_grad``, or whose parameters' ``.grad`` changed between None and a tensor,
is recorded again before it is replayed.

A host read inside the step (``.item()``, ``bool(t)``, ``float(t)``, ``int(t)``, printing a tensor, ``.numpy()``,
``.tolist()``), or an array made outside gpuad's recorded ops, makes the step unreplayable: that call finishes
eagerly, a warning (once per compiled function and reason) names the operation and the line, and calls with that key
keep running eagerly. Values returned by a replay are detached tensors (no ``grad_fn``).

Recording hooks the library globally (gpuad/_capture.py): record from one thread at a time. A replay computes the
same arrays as the eager step, allocating them as it does; what it saves is the Python work around them (Tensors,
nodes, the engine, dispatch).

On CUDA the replay runs as the same sequence of kernel launches; with ``GPUAD_CUDA_GRAPHS=1`` a step whose
optimizers are SGD is captured as one CUDA graph instead (cuda_graph.py: written without a GPU and never run yet).
"""
import collections
import functools
import warnings

from . import cuda_graph
from .recorder import Program, Recorder, Unreplayable
from .scope import Scope, referenced_objects
from .. import _capture
from ..autograd.grad_mode import mode
from ..tensor import Tensor

__all__ = ["compile", "CompiledFunction", "CompileWarning"]

_EAGER = "eager"
MAX_RECORDINGS = 8  # per key: a step whose guards fail every time runs eagerly after this many recordings


class CompileWarning(UserWarning):
    """A compiled step runs eagerly (it could not be replayed)."""


class CompiledFunction:
    """A step function with its recordings; call it like the function."""

    def __init__(self, fn, cache_size=8):
        if not callable(fn):
            raise TypeError(f"gpuad.compile: expected a callable, got {type(fn).__name__}")
        if cache_size < 1:
            raise ValueError(f"gpuad.compile: cache_size must be at least 1, got {cache_size}")
        self.fn = fn
        self.cache_size = cache_size
        self.cache = collections.OrderedDict()  # key -> Program or _EAGER
        self.recordings = collections.Counter()  # key -> how many times it was recorded
        self.scope = None
        self.stats = collections.Counter()  # "recorded", "replayed", "eager"
        self._warned = set()
        self._last = None  # the previous call's key
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if _capture.state.active is not None:  # a compiled function called inside another one's step: just run it
            return self.fn(*args, **kwargs)
        flat = args + tuple(kwargs[k] for k in sorted(kwargs)) if kwargs else args
        if self.scope is None:
            self.scope = Scope(referenced_objects(self.fn, flat))
        key = self._key(flat, kwargs)
        entry = self.cache.get(key)
        if entry is not None:
            if key is not self._last:
                self.cache.move_to_end(key)
            if entry is _EAGER:
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            if entry.stale() is None:
                self.stats["replayed"] += 1
                if entry.graphs is not None:
                    return entry.graphs.replay(flat, self.scope)
                return entry.replay(flat)
        return self._record(key, flat, args, kwargs)

    def _key(self, flat, kwargs):
        """The call's signature: tensor arguments' metadata, other arguments' values, grad mode and the scope's
        fingerprint; the previous call's key object itself when they are equal (a cheaper cache lookup)."""
        key = (tuple([_arg_key(a) for a in flat]), tuple(sorted(kwargs)) if kwargs else (), mode.enabled,
               mode.fw_level, self.scope.fingerprint())
        if key == self._last:
            return self._last
        self._last = key
        return key

    def _record(self, key, flat, args, kwargs):
        self.recordings[key] += 1
        if self.recordings[key] > MAX_RECORDINGS:
            self._give_up(key, f"it had to be recorded again on {MAX_RECORDINGS} calls in a row")
            return self.fn(*args, **kwargs)
        recorder = Recorder(flat, self.scope.snapshot())
        _capture.state.active = recorder
        try:
            result = self.fn(*args, **kwargs)
        finally:
            _capture.state.active = None
        self.stats["recorded"] += 1
        try:
            program = recorder.finish(result)
        except Unreplayable as exc:
            self._give_up(key, str(exc))
            return result
        program.graphs = None
        if cuda_graph.enabled():
            graph_backend = next((t._device.backend for t in list(flat) + self.scope.leaves
                                  if isinstance(t, Tensor) and t._device.backend.graph_replays), None)
            if graph_backend is not None:
                program.graphs = cuda_graph.GraphCache(program, graph_backend)
        self._store(key, program)
        return result

    def _give_up(self, key, reason):
        self._store(key, _EAGER)
        if reason not in self._warned:
            self._warned.add(reason)
            warnings.warn(f"gpuad.compile({getattr(self.fn, '__name__', 'step')}): runs eagerly: {reason}",
                          CompileWarning, stacklevel=3)

    def _store(self, key, entry):
        self.cache[key] = entry
        self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            old, _ = self.cache.popitem(last=False)
            self.recordings.pop(old, None)

    def program(self, *args, **kwargs):
        """The recorded Program for these arguments' key, or None (for inspection and tests)."""
        flat = args + tuple(kwargs[k] for k in sorted(kwargs)) if kwargs else args
        if self.scope is None:
            return None
        entry = self.cache.get(self._key(flat, kwargs))
        return entry if isinstance(entry, Program) else None


def _arg_key(a):
    if isinstance(a, Tensor):
        data = a._data
        return (data.shape, data.dtype, a._device, a._rg)
    try:
        hash(a)
    except TypeError:
        raise TypeError(f"gpuad.compile: a compiled step's arguments must be tensors or hashable values (the "
                        f"recording is keyed by them), got {type(a).__name__}") from None
    return ("V", type(a), a)


def compile(fn=None, *, cache_size=8):  # noqa: A001 - PyTorch's name
    """Compile a training step (usable as ``gpuad.compile(fn)`` or as the decorator ``@gpuad.compile``)."""
    if fn is None:
        return functools.partial(compile, cache_size=cache_size)
    return CompiledFunction(fn, cache_size=cache_size)
