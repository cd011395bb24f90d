"""Anomaly detection, PyTorch's ``detect_anomaly``: while it is on, every recorded node keeps the Python stack of its
forward call, and backward checks each VJP's gradients; the first op that produces a NaN or inf raises an error that
names the op and shows where its forward ran."""
import functools
import traceback

from .grad_mode import mode


class detect_anomaly:
    """Context manager (or decorator) turning anomaly detection on; ``check_nan=False`` records stacks only."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = mode.anomaly
        mode.anomaly = "check" if self.check_nan else "stacks"
        return self

    def __exit__(self, *exc):
        mode.anomaly = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """Turn anomaly detection on or off: a call, or a ``with`` block that restores the previous setting."""

    def __init__(self, mode_on, check_nan=True):
        self._prev = mode.anomaly
        mode.anomaly = ("check" if check_nan else "stacks") if mode_on else False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        mode.anomaly = self._prev


def is_anomaly_enabled():
    return bool(mode.anomaly)


def is_anomaly_check_nan_enabled():
    return mode.anomaly == "check"


def forward_stack():
    """The caller's stack, without the autograd frames that record it (kept on a node at record time)."""
    frames = traceback.extract_stack()[:-2]
    while frames and _internal(frames[-1]):
        frames.pop()
    return frames


def _internal(frame):
    path = frame.filename.replace("\\", "/")
    return "/gpuad/ops/" in path or "/gpuad/autograd/" in path


def _non_finite(xp, data):
    """'nan' or 'inf' if ``data`` holds such a value (read back to the host), else None."""
    if bool(xp.all(xp.isfinite(data))):
        return None
    return "nan" if bool(xp.any(xp.isnan(data))) else "inf"


def check_gradients(node, grads):
    """Raise if any gradient ``node``'s VJP returned holds a NaN or inf, naming the op and its forward call."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        data = g._data
        if data.dtype.kind != "f" or bool(data.size == 0):
            continue
        backend = g._device.backend
        kind = backend.on_device(_non_finite, backend.xp, data)
        if kind is not None:
            stack = getattr(node, "forward_stack", None)
            where = ("\nIts forward call (the stack recorded in anomaly mode, most recent call last):\n" +
                     "".join(traceback.format_list(stack))) if stack else \
                "\n(no forward stack: the forward ran outside detect_anomaly())"
            raise RuntimeError(f"Function '{node.name()}' returned {kind} values in its {i}th output "
                               f"(the gradient for input {i}, shape {tuple(data.shape)}).{where}")
