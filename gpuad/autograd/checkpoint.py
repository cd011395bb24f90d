"""Checkpointing: trade recomputation for activation memory.

``checkpoint(fn, *args)`` runs ``fn`` and records its graph as usual (so gradients reach every tensor ``fn`` uses,
its arguments and any parameters it closes over, through ``backward()`` and ``autograd.grad`` alike), but keeps none
of the values its ops saved for backward. The first time backward needs one of them, ``fn`` runs again on the same
arguments, with the random state it had the first time, and the values recorded by that second run are handed to the
original nodes, in recording order. Between the forward and the backward pass only ``fn``'s arguments and outputs
stay in memory.

``checkpoint_sequential(functions, segments, x)`` checkpoints a chain of callables in segments: ``segments="sqrt"``
picks about sqrt(n), and ``memory_budget=bytes`` places the boundaries itself from activation sizes measured in one
forward pass, so as to recompute as little as possible within the budget.
"""
import math

from .grad_mode import enable_grad, mode
from ..tensor import Tensor
from .. import random
from ..memory import saved_tensors_bytes

__all__ = ["checkpoint", "checkpoint_sequential", "plan_segments"]


class _Frame:
    """One checkpointed call: the nodes whose saved values were dropped, and how to recompute them."""

    def __init__(self, fn, args, kwargs, rng, outer_hook):
        self.fn, self.args, self.kwargs, self.rng = fn, args, kwargs, rng
        # an enclosing viz.trace sees the first run's ops too (an enclosing checkpoint must not: they are ours)
        self.outer_hook = outer_hook if getattr(outer_hook, "sees_checkpointed_ops", False) else None
        self.nodes = []
        self.versions = [a._version_value if isinstance(a, Tensor) else None for a in args]

    def capture(self, node, result, inputs):
        """Called as each node of the first run is recorded: drop what it saved, remember where it came from."""
        if self.outer_hook is not None:
            self.outer_hook(node, result, inputs)
        if node.saved is not None or node.saved_out is not None:
            node.saved = node.saved_out = None
            node.recompute = self
            self.nodes.append(node)

    def recompute(self):
        """Run ``fn`` again and hand each original node the values its twin saved in this run."""
        for i, (a, v) in enumerate(zip(self.args, self.versions)):
            if v is not None and a._version_value != v:
                raise RuntimeError(f"checkpoint: argument {i} of the checkpointed function was modified in place "
                                   f"after the call; its recomputation would differ from the first run")
        twins = []

        def collect(node, result, inputs):
            if node.saved is not None or node.saved_out is not None:
                twins.append(node)
        previous_hook = mode.on_record
        mode.on_record = collect
        state = _rng_state(self.args) if self.rng is not None else None
        try:
            if self.rng is not None:
                _set_rng_state(self.rng)
            with enable_grad():
                self.fn(*self.args, **self.kwargs)
        finally:
            mode.on_record = previous_hook
            if state is not None:
                _set_rng_state(state)
        if len(twins) != len(self.nodes) or any(a.op is not b.op for a, b in zip(self.nodes, twins)):
            raise RuntimeError(f"checkpoint: recomputing the function recorded {len(twins)} ops that save values, "
                               f"the first run {len(self.nodes)}; a checkpointed function must run the same ops "
                               f"each time (the same control flow, no ops that depend on state it changes)")
        for node, twin in zip(self.nodes, twins):
            node.saved, node.saved_versions, node.saved_out = twin.saved, twin.saved_versions, twin.saved_out
            node.recompute = None
        self.nodes = []


def _rng_state(args):
    """The random state of every device an argument lives on (CPU always)."""
    devices = {"cpu"} | {str(a.device) for a in args if isinstance(a, Tensor)}
    return {d: random.get_rng_state(d) for d in devices}


def _set_rng_state(states):
    for device, state in states.items():
        random.set_rng_state(state, device)


def checkpoint(fn, *args, preserve_rng_state=True, **kwargs):
    """``fn(*args, **kwargs)``, keeping only its arguments for backward and recomputing the rest when needed.

    Under ``no_grad()`` (or when nothing can need a gradient) it is a plain call."""
    if not callable(fn):
        raise TypeError(f"checkpoint: expected a callable, got {type(fn).__name__}")
    if not mode.enabled:
        return fn(*args, **kwargs)
    previous_hook = mode.on_record
    frame = _Frame(fn, args, kwargs, _rng_state(args) if preserve_rng_state else None, previous_hook)
    mode.on_record = frame.capture
    try:
        return fn(*args, **kwargs)
    finally:
        mode.on_record = previous_hook


def _as_functions(functions):
    fns = list(functions.children() if hasattr(functions, "children") else functions)
    for i, f in enumerate(fns):
        if not callable(f):
            raise TypeError(f"checkpoint_sequential: item {i} is a {type(f).__name__}, not a callable")
    if not fns:
        raise ValueError("checkpoint_sequential: no functions to run")
    return fns


def _run_segment(fns):
    def run(x):
        for f in fns:
            x = f(x)
        return x
    return run


def checkpoint_sequential(functions, segments, input, *, memory_budget=None, preserve_rng_state=True):  # noqa: A002
    """Run ``input`` through ``functions`` (callables applied in order), checkpointing them in segments.

    ``segments``: how many (1 to the number of functions), or ``"sqrt"`` for about sqrt(n). Every segment but the
    last is checkpointed, as in PyTorch: backward starts with the last segment, so recomputing it would need the same
    memory at the same moment as keeping it, for nothing.
    With ``memory_budget`` (bytes of activations), ``segments`` is ignored and the boundaries are chosen by
    ``plan_segments`` from sizes measured in one forward pass; no placement within the budget raises ValueError."""
    fns = _as_functions(functions)
    n = len(fns)
    if memory_budget is not None:
        boundaries = plan_segments(fns, input, memory_budget)
    else:
        if segments == "sqrt":
            segments = max(1, round(math.sqrt(n)))
        if not isinstance(segments, int) or not 1 <= segments <= n:
            raise ValueError(f"checkpoint_sequential: segments must be between 1 and the number of functions "
                             f"({n}) or 'sqrt', got {segments!r}")
        # sizes as even as possible, the larger ones last: the last segment is never recomputed
        base, extra = divmod(n, segments)
        sizes = [base] * (segments - extra) + [base + 1] * extra
        starts = [sum(sizes[:i]) for i in range(segments)]
        boundaries = [(s, s + size) for s, size in zip(starts, sizes)]
    x = input
    for start, end in boundaries[:-1]:
        x = checkpoint(_run_segment(fns[start:end]), x, preserve_rng_state=preserve_rng_state)
    start, end = boundaries[-1]
    return _run_segment(fns[start:end])(x)


def measure_layers(fns, input):
    """Per function: (bytes its ops save for backward, bytes of its output), from one forward pass."""
    sizes = []
    x = input.detach().requires_grad_() if input.dtype.kind == "f" else input
    for f in fns:
        with enable_grad():
            y = f(x)
        saved = saved_tensors_bytes(y, include_leaves=False)
        sizes.append((saved, y.nbytes))
        x = y.detach().requires_grad_() if y.dtype.kind == "f" else y.detach()
    return sizes


_SLACK = 64 * 1024  # small temporaries and the Python objects a step allocates, which a measured peak includes


def plan_segments(fns, input, budget):
    """Segment boundaries [(start, end), ...] whose estimated activation memory fits ``budget`` with the least
    recomputation.

    Estimate for segments S_1..S_k (all but the last checkpointed): the inputs the checkpointed ones keep (their
    boundary outputs), plus the largest segment's saved activations (the last one's are kept from the forward pass,
    the others' exist while each is recomputed and back-propagated), plus four layer outputs in flight (a layer's
    temporaries and the gradients passing through) and a little for the Python objects a step allocates.
    The plan is the one with the fewest segments that fits (ties: the smallest estimate); among plans with as many
    segments, the one whose estimate is smallest; every segment but the last is recomputed once."""
    sizes = measure_layers(fns, input)
    n = len(sizes)
    saved = [s for s, _ in sizes]
    outputs = [o for _, o in sizes]
    input_bytes = input.nbytes
    in_flight = 4 * max(outputs + [input_bytes]) + _SLACK
    best = None
    for cap in sorted({sum(saved[i:j]) for i in range(n) for j in range(i + 1, n + 1)}):
        segments, start, total = [], 0, 0
        for i in range(n):  # greedy: fill each segment up to the cap
            if i > start and total + saved[i] > cap:
                segments.append((start, i))
                start, total = i, 0
            total += saved[i]
        segments.append((start, n))
        if any(sum(saved[a:b]) > cap for a, b in segments):
            continue
        kept = sum(input_bytes if a == 0 else outputs[a - 1] for a, _ in segments[:-1])
        estimate = kept + max(sum(saved[a:b]) for a, b in segments) + in_flight
        if estimate <= budget and (best is None or (len(segments), estimate) < (len(best[0]), best[1])):
            best = (segments, estimate)
    if best is None:
        smallest = sum(input_bytes if i == 0 else outputs[i - 1] for i in range(n)) + max(saved) + in_flight
        raise ValueError(f"checkpoint_sequential: no segment placement fits memory_budget={budget} bytes; the "
                         f"least activation memory any placement needs is about {smallest} bytes")
    return best[0]

