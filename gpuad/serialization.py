"""``gpuad.save`` / ``gpuad.load``: state dicts (nested dicts and lists of tensors, arrays and plain values) in an
open format, a NumPy ``.npz`` archive with a JSON manifest, never pickle.

Saving writes a temporary file next to the target and renames it over the target, so a crash never leaves a
half-written file and never destroys the previous one. Loading checks the format and raises a clear error on a
truncated or foreign file.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .device import as_device
from .tensor import Tensor, wrap

FORMAT = "gpuad-state/1"
_MANIFEST = "__gpuad_manifest__"


def _encode(obj, arrays, where):
    """A JSON description of ``obj``; tensors and arrays go into ``arrays`` under generated names."""
    if isinstance(obj, Tensor):
        name = f"a{len(arrays)}"
        arrays[name] = obj._host()
        return {"tensor": name, "device": str(obj.device), "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"save: {where} is an array of dtype {obj.dtype}; only numeric arrays can be saved")
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"array": name}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: {where} has a key of type {type(k).__name__}; keys must be str or int")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"save: {where} is a {type(obj).__name__}; gpuad.save stores tensors, arrays, numbers, "
                    f"strings, None and dicts/lists/tuples of them (no pickled objects)")


def save(obj, path):
    """Write ``obj`` (for example ``model.state_dict()``) to ``path`` atomically."""
    arrays = {}
    manifest = {"format": FORMAT, "root": _encode(obj, arrays, "the object")}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gpuad-save-", suffix=".npz")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions open() would give, not mkstemp's private 0600
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{_MANIFEST: np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _decode(node, arrays, device):
    if "tensor" in node:
        target = as_device(device) if device is not None else as_device(node["device"])
        if target.type == "cuda":
            from .cuda import is_available
            if not is_available():
                raise RuntimeError(f"load: the file holds tensors saved on {node['device']} and no GPU is available; "
                                   f"pass map_location='cpu'")
        data = arrays[node["tensor"]]
        t = wrap(data if target.type == "cpu" else target.backend.from_host(data), target)
        if node.get("requires_grad"):
            t.requires_grad_()
        return t
    if "array" in node:
        return arrays[node["array"]]
    if "dict" in node:
        return {k: _decode(v, arrays, device) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, device) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in node["tuple"])
    return node["value"]


def load(path, map_location=None):
    """Read what ``save`` wrote; tensors come back on their saved device, or on ``map_location``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"load: {path!r} holds a single NumPy array, not a file written by gpuad.save")
        with archive:
            if _MANIFEST not in archive.files:
                raise ValueError(f"load: {path!r} is a NumPy archive but not one written by gpuad.save "
                                 f"(no manifest)")
            manifest = json.loads(bytes(archive[_MANIFEST]).decode())
            if manifest.get("format") != FORMAT:
                raise ValueError(f"load: {path!r} has format {manifest.get('format')!r}, expected {FORMAT!r}")
            arrays = {name: archive[name] for name in archive.files if name != _MANIFEST}
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"load: {path!r} is not a gpuad file or is truncated or corrupted ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith("load:"):
            raise
        raise ValueError(f"load: {path!r} is not a gpuad file or is truncated or corrupted ({exc})") from None
    return _decode(manifest["root"], arrays, map_location)
