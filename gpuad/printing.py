"""``repr`` in PyTorch's style: ``tensor([0., 4.], grad_fn=<MulBackward>)``."""
import numpy as np

from . import dtypes


def _body(arr, indent):
    if arr.dtype.kind == "f" and arr.size:
        finite = arr[np.isfinite(arr)].astype(np.float64)
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or (0 < np.abs(finite[finite != 0]).min(initial=1) < 1e-4))
        if big:
            formatter = {"float_kind": lambda v: f"{v:.4e}"}
        elif integral:
            formatter = {"float_kind": lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)}
        else:
            formatter = {"float_kind": lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)}
        return np.array2string(arr, separator=", ", formatter=formatter, prefix=" " * indent, threshold=1000)
    return np.array2string(arr, separator=", ", prefix=" " * indent, threshold=1000)


def tensor_repr(t):
    arr = t._host()
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if arr.dtype != dtypes.get_default_dtype() and arr.dtype not in (np.int64, np.bool_) or arr.size == 0:
        if not (arr.size == 0 and arr.dtype == dtypes.get_default_dtype()):
            extras.append(f"dtype={dtypes.name(arr.dtype)}")
    if t._node is not None:
        extras.append(f"grad_fn=<{t._node.name()}>")
    elif t._rg:
        extras.append("requires_grad=True")
    body = _body(arr, len("tensor(")) if arr.size else "[]"
    if arr.size == 0 and arr.ndim != 1:
        extras.insert(0, f"size={tuple(arr.shape)}")
    return "tensor(" + ", ".join([body] + extras) + ")"
