"""``repr`` in PyTorch's format, element for element: ``tensor([0., 4.], grad_fn=<MulBackward0>)``.

The rules are PyTorch's (torch/_tensor_str.py): one formatter per tensor picks integer mode (``1.``), fixed point
(``precision`` digits) or scientific notation (when the largest finite magnitude is over 1e8, or over 1000 times the
smallest nonzero one, or the smallest is under 1e-4), every element is right-aligned to the widest, lines wrap at
``linewidth``, and tensors with more than ``threshold`` elements show ``edgeitems`` at each end of each dimension.
Only the dtype prefix differs: ``dtype=gpuad.float64``. ``set_printoptions`` takes PyTorch's arguments.
"""
import contextlib
import math

import numpy as np

from . import dtypes

_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Set how tensors print (PyTorch's options; ``profile`` is 'default', 'short' or 'full'). ``sci_mode`` is
    reset to automatic (None) unless given, as in PyTorch."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        _OPTIONS.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                       ("linewidth", linewidth)):
        if value is not None:
            _OPTIONS[key] = value
    _OPTIONS["sci_mode"] = sci_mode


def get_printoptions():
    return dict(_OPTIONS)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Change the print options within a block."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """How every element of one tensor prints (chosen from all the values shown)."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        precision = _OPTIONS["precision"]
        flat = arr.reshape(-1)
        if not self.floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(str(value)))
            return
        values = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if values.size == 0:
            return
        magnitudes = np.abs(values)
        smallest, largest = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(values == np.ceil(values)))
        auto_sci = largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
        self.sci_mode = bool(auto_sci if _OPTIONS["sci_mode"] is None else _OPTIONS["sci_mode"])
        for value in values.tolist():
            if self.sci_mode:
                width = len(f"{value:.{precision}e}")
            elif self.int_mode:
                width = len(f"{value:.0f}") + 1
            else:
                width = len(f"{value:.{precision}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value):
        precision = _OPTIONS["precision"]
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.max_width}.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{precision}f}"
        else:
            text = str(value)
        return (self.max_width - len(text)) * " " + text


def _summarized(arr):
    """The elements a summarized print shows (for choosing the format)."""
    edge = _OPTIONS["edgeitems"]
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate([arr[:edge], arr[-edge:]]) if arr.shape[0] > 2 * edge else arr
    if not edge:
        return arr[(slice(0, 0),) * arr.ndim]
    rows = list(range(edge)) + list(range(arr.shape[0] - edge, arr.shape[0])) if arr.shape[0] > 2 * edge \
        else range(arr.shape[0])
    return np.stack([_summarized(arr[i]) for i in rows])


def _vector(arr, indent, summarize, fmt):
    edge = _OPTIONS["edgeitems"]
    per_line = max(1, math.floor((_OPTIONS["linewidth"] - indent) / (fmt.max_width + 2)))
    if summarize and not edge:
        data = ["..."]
    elif summarize and arr.shape[0] > 2 * edge:
        data = [fmt.format(v) for v in arr[:edge].tolist()] + [" ..."] + \
               [fmt.format(v) for v in arr[-edge:].tolist()]
    else:
        data = [fmt.format(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarize, fmt)
    edge = _OPTIONS["edgeitems"]
    if summarize and arr.shape[0] > 2 * edge:
        parts = [_nested(arr[i], indent + 1, summarize, fmt) for i in range(edge)] + ["..."] + \
                [_nested(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0] - edge, arr.shape[0])]
    else:
        parts = [_nested(arr[i], indent + 1, summarize, fmt) for i in range(arr.shape[0])]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def array_str(arr, indent):
    """The bracketed body of a tensor's repr."""
    if arr.size == 0:
        return "[]"
    summarize = arr.size > _OPTIONS["threshold"]
    fmt = _Formatter(_summarized(arr) if summarize else arr)
    return _nested(arr, indent, summarize, fmt)


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line + len(suffix) + 2 > _OPTIONS["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t):
    arr = t._host()
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    default = dtypes.get_default_dtype()
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype != default:
            suffixes.append(f"dtype={dtypes.name(arr.dtype)}")
    else:
        if not _OPTIONS["edgeitems"]:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype not in (default, np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append(f"dtype={dtypes.name(arr.dtype)}")
    if t._node is not None:
        suffixes.append(f"grad_fn=<{t._node.name()}>")
    elif t._rg:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + array_str(arr, indent), suffixes, indent)
