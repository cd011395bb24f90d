"""``gpuad.save`` / ``gpuad.load``: state dicts (nested dicts, lists and tuples of tensors, arrays and plain values)
in an open, versioned format that is never pickle.

File format ``gpuad-state/3`` (``gpuad-state/1`` and ``/2`` files still load):

* a ZIP archive with uncompressed (stored) members, as ``numpy.savez`` writes it;
* member ``__gpuad_manifest__.npy``: a 1-D uint8 NumPy array holding UTF-8 JSON
  ``{"format": "gpuad-state/3", "root": NODE}``;
* members ``a0.npy``, ``a1.npy``, ...: one C-ordered ``.npy`` array per tensor or array, of dtype bool, int8-64,
  uint8-64 or float16-64;
* ``NODE`` is one of ``{"tensor": "a0", "device": "cpu" | "cuda:N", "requires_grad": bool, "dtype": "float32",
  "shape": [2, 3]}``, ``{"array": "a1"}``, ``{"dict": [[key, NODE], ...]}``, ``{"odict": [[key, NODE], ...]}``
  (an ``OrderedDict``), ``{"list": [NODE, ...]}``, ``{"tuple": [NODE, ...]}``, ``{"value": null | true | 1 |
  1.5 | NaN | "text"}``, ``{"complex": [real, imag]}``, ``{"dtype": "float32"}`` (a gpuad dtype) or
  ``{"device": "cuda:1"}`` (a ``gpuad.device``). Keys are JSON strings or integers and come back as ``str`` or
  ``int`` (an optimizer's state is keyed by int).

Version 2 added ``odict`` nodes and the ``dtype``/``shape`` of each tensor node, which loading checks against the
array. Version 3 added ``complex``, ``dtype`` and ``device`` nodes (PyTorch's weights-only loader reads those too).
Saving to a path writes a temporary file next to the real target (through symlinks) and renames it over the
target, so a crash never leaves a half-written file and never destroys the previous one. Loading reads no byte it
has not checked: every malformed, truncated or hostile file raises one ``ValueError`` naming the file and the
problem, with memory bounded by the file's size (an array header's element count is checked against the bytes the
file really holds before anything is allocated) and nesting bounded by ``MAX_DEPTH``.
"""
import collections
import io
import json
import os
import re
import struct
import tempfile
import zipfile

import numpy as np

from . import dtypes

from .device import Device, as_device
from .tensor import Tensor, wrap
from .cuda import is_available

FORMAT = "gpuad-state/3"
READABLE = ("gpuad-state/1", "gpuad-state/2", FORMAT)
MAX_DEPTH = 100  # nesting of dicts/lists/tuples that save writes and load reads (state dicts use about 4)
_MANIFEST = "__gpuad_manifest__"
_NUMERIC = "biuf"
_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
           "float64")
_DEVICE = re.compile(r"cpu|cuda(:[0-9]{1,4})?")


class _Malformed(Exception):
    """A problem with the file's contents; ``load`` turns it into a ValueError naming the file."""


# --- saving -------------------------------------------------------------------------------------------------------
def _encode(obj, arrays, where, depth):
    """A JSON description of ``obj``; tensors and arrays go into ``arrays`` under generated names."""
    if depth > MAX_DEPTH:
        raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} levels deep (or contains itself)")
    if isinstance(obj, Tensor):
        name = f"a{len(arrays)}"
        arrays[name] = _c_order(obj._host())
        return {"tensor": name, "device": str(obj.device), "requires_grad": obj.requires_grad,
                "dtype": str(arrays[name].dtype), "shape": list(arrays[name].shape)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _NUMERIC:
            raise TypeError(f"save: {where} is an array of dtype {obj.dtype}; only numeric arrays can be saved")
        name = f"a{len(arrays)}"
        arrays[name] = _c_order(obj)
        return {"array": name}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: {where} has a key of type {type(k).__name__}; keys must be str or int")
            items.append([k if isinstance(k, str) else int(k), _encode(v, arrays, f"{where}[{k!r}]", depth + 1)])
        return {"odict" if isinstance(obj, collections.OrderedDict) else "dict": items}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        raise TypeError(f"save: {where} is a named tuple ({type(obj).__name__}); gpuad.save stores plain tuples "
                        f"(convert it with tuple(...) or ._asdict())")
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic) and obj.dtype.kind in _NUMERIC:
        return {"value": obj.item()}
    if isinstance(obj, (complex, np.complexfloating)):
        return {"complex": [float(obj.real), float(obj.imag)]}
    if isinstance(obj, dtypes.dtype):
        obj = obj.dtype
    if isinstance(obj, np.dtype) and obj.kind in _NUMERIC:
        return {"dtype": str(obj)}
    if isinstance(obj, Device):
        return {"device": str(obj)}
    raise TypeError(f"save: {where} is a {type(obj).__name__}; gpuad.save stores tensors, arrays, numbers, "
                    f"strings, dtypes, devices, None and dicts/lists/tuples of them (no pickled objects)")


def _c_order(array):
    """``array`` in C order (np.ascontiguousarray would turn a 0-d array into a 1-d one)."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def _write(fh, manifest, arrays):
    np.savez(fh, **{_MANIFEST: np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}, **arrays)


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` (for example ``model.state_dict()``) to ``f``: a path (written atomically, through a
    symlink to its target) or a binary file object such as ``io.BytesIO``."""
    if pickle_module is not None:
        raise ValueError("save: gpuad files are never pickled, so pickle_module is not supported")
    arrays = {}
    manifest = {"format": FORMAT, "root": _encode(obj, arrays, "the object", 0)}
    if hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError(f"save: {type(f).__name__} must be opened in binary mode ('wb')")
        _write(f, manifest, arrays)
        return
    target = os.path.realpath(os.fspath(f))  # through symlinks: the link stays, its target gets the new bytes
    if os.path.isdir(target):
        raise IsADirectoryError(f"save: {os.fspath(f)!r} is a directory; give the path of a file to write")
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(f"save: the directory {os.path.dirname(target)!r} (of {os.fspath(f)!r}) does not "
                                f"exist")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".gpuad-save-", suffix=".npz")
    try:
        try:
            mode = os.stat(target).st_mode & 0o7777  # overwriting keeps the file's permissions, as open() would
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask  # the permissions open() would give, not mkstemp's private 0600
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            _write(fh, manifest, arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --- reading the archive ------------------------------------------------------------------------------------------
def _read_member(archive, info, file_size):
    """The array stored in one member, after checking its header against the bytes the member really holds."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Malformed(f"member {info.filename!r} is compressed (method {info.compress_type}); gpuad files "
                         f"store arrays uncompressed")
    if info.file_size > file_size or info.compress_size != info.file_size:
        raise _Malformed(f"member {info.filename!r} claims {info.file_size} bytes, more than the file holds")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise _Malformed(f"member {info.filename!r} has .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(member)
        if dtype.kind not in _NUMERIC or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise _Malformed(f"member {info.filename!r} has dtype {dtype}; gpuad files hold only numeric arrays "
                             f"(never objects, so never pickle)")
        if not all(type(s) is int and s >= 0 for s in shape):
            raise _Malformed(f"member {info.filename!r} has an invalid shape {shape!r}")
        count = 1
        for s in shape:
            count *= s
        nbytes = count * dtype.itemsize
        available = info.file_size - member.tell()
        if nbytes != available:  # checked before allocating: a header cannot make us allocate what is not there
            raise _Malformed(f"member {info.filename!r} declares shape {tuple(shape)} of {dtype} ({nbytes} bytes) "
                             f"but holds {available} bytes of data")
        buffer = bytearray(nbytes)
        if member.readinto(buffer) != nbytes or member.read(1):
            raise _Malformed(f"member {info.filename!r} is truncated")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return _c_order(array)


def _json_depth(text):
    """The deepest nesting of JSON arrays/objects in ``text`` (outside strings), found without recursion."""
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = np.frombuffer(skeleton.encode(), dtype=np.uint8)
    depth = np.cumsum(np.isin(steps, (91, 123)).astype(np.int64) - np.isin(steps, (93, 125)))  # [{ minus ]}
    return int(depth.max()) if len(depth) else 0


_PICKLED = ("it is a pickle (a PyTorch torch.save file?), which gpuad never unpickles; in PyTorch, save "
            "{k: v.numpy() for k, v in state_dict.items()} with numpy.savez and load that into gpuad tensors")


def _read_archive(fh, file_size):
    """(manifest, {name: array}) of an open gpuad file, raising _Malformed on anything unexpected."""
    if not zipfile.is_zipfile(fh):
        fh.seek(0)
        head = fh.read(6)
        if head == b"\x93NUMPY":
            raise _Malformed("it holds a single NumPy array, not a file written by gpuad.save")
        if head[:1] == b"\x80":
            raise _Malformed(_PICKLED)
        raise _Malformed("it is not a gpuad file (not a ZIP archive), or it is truncated")
    fh.seek(0)
    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Malformed("it has two members with the same name")
        if _MANIFEST + ".npy" not in names:
            if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
                raise _Malformed(_PICKLED)
            raise _Malformed("it is a ZIP or NumPy archive but not one written by gpuad.save (no manifest)")
        arrays = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _Malformed(f"it has a member {info.filename!r} that is not a .npy array")
            arrays[info.filename[:-4]] = _read_member(archive, info, file_size)
    raw = arrays.pop(_MANIFEST)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Malformed(f"its manifest is a {raw.dtype} array of shape {raw.shape}, not 1-D uint8 text")
    text = raw.tobytes().decode("utf-8")
    if _json_depth(text) > 3 * MAX_DEPTH + 4:  # a dict level is 3 JSON levels: {"dict": [[key, node]]}
        raise _Malformed(f"its manifest is nested more than {MAX_DEPTH} levels deep")
    manifest = json.loads(text)
    if not isinstance(manifest, dict) or "root" not in manifest:
        raise _Malformed("its manifest is not a JSON object with a 'root'")
    if manifest.get("format") not in READABLE:
        raise _Malformed(f"it has format {manifest.get('format')!r}; this gpuad reads {' and '.join(READABLE)}")
    return manifest, arrays


# --- decoding the manifest ----------------------------------------------------------------------------------------
def _restorer(map_location):
    """fn(cpu_tensor, saved_location) -> the tensor where map_location puts it (PyTorch's four forms)."""
    if map_location is None:
        return lambda t, loc: _place(t, loc, loc)
    if isinstance(map_location, (str, Device)):
        target = str(as_device(map_location))
        return lambda t, loc: _place(t, target, loc)
    if isinstance(map_location, dict):
        table = {str(k): str(as_device(v)) for k, v in map_location.items()}
        return lambda t, loc: _place(t, table.get(loc, loc), loc)
    if callable(map_location):
        def call(t, loc):
            result = map_location(t, loc)
            return _place(t, loc, loc) if result is None else result
        return call
    raise TypeError(f"load: map_location must be None, a device string, a gpuad.device, a dict or a callable, "
                    f"got {type(map_location).__name__}")


def _place(t, location, saved):
    device = as_device(location)
    if device.type == "cuda":
        if not is_available():
            where = (f"the file holds tensors saved on {saved}" if location == saved else
                     f"map_location puts tensors saved on {saved} on {location}")
            raise RuntimeError(f"load: {where} and no GPU is available; pass map_location='cpu'")
        return wrap(device.backend.from_host(t._data), device)
    return t


def _items(node, kind, where):
    items = node[kind]
    if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
        raise _Malformed(f"{where}: a {kind} node must hold [key, node] pairs")
    for key, _ in items:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise _Malformed(f"{where}: a key of type {type(key).__name__} (keys are str or int)")
    return items


def _decode(node, arrays, restore, where="root", depth=0):
    if depth > MAX_DEPTH:
        raise _Malformed(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict) or len(node) == 0:
        raise _Malformed(f"{where}: a node must be a non-empty JSON object, got {type(node).__name__}")
    if "tensor" in node:
        return _decode_tensor(node, arrays, restore, where)
    if len(node) != 1:
        raise _Malformed(f"{where}: a node with unexpected fields {sorted(node)}")
    (kind, body), = node.items()
    if kind == "array":
        return _array(arrays, body, where)
    if kind in ("dict", "odict"):
        make = dict if kind == "dict" else collections.OrderedDict
        return make((k, _decode(v, arrays, restore, f"{where}[{k!r}]", depth + 1))
                    for k, v in _items(node, kind, where))
    if kind in ("list", "tuple"):
        if not isinstance(body, list):
            raise _Malformed(f"{where}: a {kind} node must hold a JSON array")
        items = [_decode(v, arrays, restore, f"{where}[{i}]", depth + 1) for i, v in enumerate(body)]
        return items if kind == "list" else tuple(items)
    if kind == "value":
        if body is not None and not isinstance(body, (bool, int, float, str)):
            raise _Malformed(f"{where}: a value node must hold null, a boolean, a number or a string")
        return body
    if kind == "complex":
        if (not isinstance(body, list) or len(body) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in body)):
            raise _Malformed(f"{where}: a complex node must hold [real, imag]")
        return complex(*body)
    if kind == "dtype":
        if not isinstance(body, str) or body not in _DTYPES:
            raise _Malformed(f"{where}: unknown dtype {body!r}")
        return dtypes.of(np.dtype(body))
    if kind == "device":
        if not isinstance(body, str) or not _DEVICE.fullmatch(body):
            raise _Malformed(f"{where}: unknown device {body!r}")
        return as_device(body)
    raise _Malformed(f"{where}: unknown node kind {kind!r}")


def _array(arrays, name, where):
    if not isinstance(name, str) or name not in arrays:
        raise _Malformed(f"{where}: refers to an array {name!r} the file does not hold")
    return arrays[name]


def _decode_tensor(node, arrays, restore, where):
    unknown = set(node) - {"tensor", "device", "requires_grad", "dtype", "shape"}
    if unknown:
        raise _Malformed(f"{where}: a tensor node with unexpected fields {sorted(unknown)}")
    data = _array(arrays, node["tensor"], where)
    location, requires_grad = node.get("device", "cpu"), node.get("requires_grad", False)
    if not isinstance(location, str) or not _DEVICE.fullmatch(location):
        raise _Malformed(f"{where}: a tensor on an unknown device {location!r}")
    if not isinstance(requires_grad, bool) or (requires_grad and data.dtype.kind != "f"):
        raise _Malformed(f"{where}: requires_grad={requires_grad!r} for a {data.dtype} tensor")
    if "dtype" in node and node["dtype"] != str(data.dtype):
        raise _Malformed(f"{where}: the manifest says dtype {node['dtype']!r}, the array is {data.dtype}")
    if "shape" in node and node["shape"] != list(data.shape):
        raise _Malformed(f"{where}: the manifest says shape {node['shape']!r}, the array is {list(data.shape)}")
    t = restore(wrap(data, as_device("cpu")), location)
    if not isinstance(t, Tensor):
        raise TypeError(f"load: map_location returned a {type(t).__name__} for {where}, not a tensor")
    if requires_grad:
        t.requires_grad_()
    return t


# --- loading ------------------------------------------------------------------------------------------------------
def _source(f):
    """(name for messages, binary file object, its size, whether we opened it)."""
    if hasattr(f, "read"):
        name = getattr(f, "name", None)
        data = f.read()
        if not isinstance(data, bytes):
            raise TypeError(f"load: {type(f).__name__} must be opened in binary mode ('rb')")
        return (repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"), io.BytesIO(data), len(data), False
    if not isinstance(f, (str, bytes, os.PathLike)):
        raise TypeError(f"load: f must be a path or a binary file object, got {type(f).__name__}")
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file {path!r}")
    fh = open(path, "rb")
    return repr(path), fh, os.fstat(fh.fileno()).st_size, True


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Read what ``save`` wrote, from a path or a binary file object. Tensors come back on their saved device or
    where ``map_location`` (a device, a device string, a {saved: new} dict or fn(tensor, saved_location)) puts
    them. ``weights_only`` may be True or False: a gpuad file never holds code, so both read the same data."""
    if pickle_module is not None or pickle_load_args:
        raise ValueError("load: gpuad files are never pickled, so pickle_module and pickle arguments are not "
                         "supported")
    if mmap:
        raise ValueError("load: mmap=True is not supported; gpuad reads the arrays into memory")
    restore = _restorer(map_location)
    name, fh, size, opened = _source(f)
    try:
        manifest, arrays = _read_archive(fh, size)
    except _Malformed as exc:
        raise ValueError(f"load: {name} is not a valid gpuad file: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, IndexError,
            UnicodeDecodeError, SyntaxError, NotImplementedError, OverflowError, RuntimeError, struct.error) as exc:
        # what zipfile, NumPy's .npy header parser and json raise on bytes that are not what they claim to be
        raise ValueError(f"load: {name} is not a gpuad file or is truncated or corrupted "
                         f"({type(exc).__name__}: {exc})") from None
    finally:
        if opened:
            fh.close()
    try:
        return _decode(manifest["root"], arrays, restore)
    except _Malformed as exc:
        raise ValueError(f"load: {name} is not a valid gpuad file: {exc}") from None
