"""``inference_mode``: no_grad for inference, and tensors made inside report ``is_inference()``, as in PyTorch.

A context manager and a decorator (``@inference_mode``, ``@inference_mode()``, ``@inference_mode(False)``). Unlike
PyTorch, gpuad does not forbid using inference tensors in recorded computations later: they are ordinary tensors
without history, so gradients through them are still right (PyTorch raises there instead). The flag is
process-wide, not per thread.
"""
import functools

from .grad_mode import mode
from .. import tensor as _tensor


class inference_mode:
    """Within the block ops record no graph and every tensor made is marked as an inference tensor."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # bare @inference_mode
            self.mode = True
            return self(mode)
        return self

    def __init__(self, mode=True):
        if not callable(mode):
            self.mode = bool(mode)

    def __enter__(self):
        self._prev = (mode.enabled, _tensor.INFERENCE[0])
        if self.mode:
            mode.enabled = False
        _tensor.INFERENCE[0] = self.mode
        return self

    def __exit__(self, *exc):
        mode.enabled, _tensor.INFERENCE[0] = self._prev

    def __call__(self, fn):
        enabled = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(enabled):
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        return inference_mode(self.mode)


def is_inference_mode_enabled():
    return _tensor.INFERENCE[0]
