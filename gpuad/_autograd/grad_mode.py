"""Grad mode: whether ops record the graph. Thread-local, as in PyTorch; each switch works as a context manager and a decorator."""
import functools
import threading


class _Mode(threading.local):
    enabled = True   # reverse mode: ops record the graph
    fw_level = 0     # forward mode: the id of the active dual level, 0 when none is active
    vjp_batch = 0    # leading batch dimensions the gradients of the running backward carry (is_grads_batched)
    on_record = None  # called as on_record(node, result, inputs) after each node is recorded (viz.trace, checkpoint);
    #                   per thread, so that checkpointing in one thread does not see another thread's ops
    anomaly = False  # detect_anomaly: record each node's forward stack, check each VJP for NaN/inf


mode = _Mode()


def is_grad_enabled():
    return mode.enabled


def grad_batch():
    """How many leading batch dimensions the gradients a VJP receives carry (0 unless is_grads_batched)."""
    return mode.vjp_batch


def first_order():
    """True in a plain first-order backward (nothing records, no batched cotangents, no forward-mode tangents): a VJP
    may then compute on raw arrays, which is how the fused paths skip building tensors."""
    return not mode.enabled and not mode.vjp_batch and not mode.fw_level


class set_grad_enabled:
    """Turn recording on or off: a call, a ``with`` block, or a decorator."""

    def __init__(self, enabled=True):
        self._prev = mode.enabled
        self._enabled = bool(enabled)
        mode.enabled = self._enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        mode.enabled = self._prev

    def __call__(self, fn):
        enabled = self._enabled
        mode.enabled = self._prev  # decorating must not change the mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(enabled):
                return fn(*args, **kwargs)
        return wrapper


class _FixedMode:
    _value = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self  # bare `@no_grad` as well as `@no_grad()`

    def __init__(self, fn=None):
        pass

    def __enter__(self):
        self._prev = mode.enabled
        mode.enabled = self._value
        return self

    def __exit__(self, *exc):
        mode.enabled = self._prev

    def __call__(self, fn):
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(value):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_FixedMode):
    """Ops inside record no graph (use for inference and parameter updates)."""
    _value = False


class enable_grad(_FixedMode):
    """Ops inside record the graph even within ``no_grad``."""
    _value = True
