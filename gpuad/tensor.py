"""Tensor: an array (NumPy on CPU, CuPy on CUDA) plus what autograd needs: requires_grad, grad and the node that made it.

Ops and operator overloads are installed onto the class by ``gpuad.ops`` from the op registry, so this file holds only
the tensor's own state and the conversions that are not ops. Methods that need a layer above (``to``,
``register_hook``, ``backward``, the legacy constructor's data path) are installed by that layer, so this file imports
nothing above it.
"""

from . import _capture, dtypes
from ._autograd.views import sync_view as _sync_view
from .device import CPU, Device
from .printing import tensor_repr

_DTYPES = dtypes._BY_NUMPY  # NumPy dtype -> gpuad dtype


class _Version:
    """In-place change counter, shared by a tensor and its views; saved tensors remember the value they were saved at."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Size(tuple):
    """A tensor's shape (PyTorch's ``torch.Size``): a tuple of ints, equal to the plain tuple, that prints as
    ``gpuad.Size([2, 3])``; slicing and ``+`` keep it a Size. In f-strings (``f"{x.shape}"``) it formats as the
    plain tuple ``(2, 3)``, which is how gpuad's error messages show shapes."""
    __slots__ = ()

    def __repr__(self):
        return f"gpuad.Size({list(self)})"

    __str__ = __repr__

    def __format__(self, spec):
        return format(tuple.__repr__(self), spec)

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def numel(self):
        """The number of elements a tensor of this shape has."""
        n = 1
        for d in self:
            n *= d
        return n

    def __reduce__(self):
        return (Size, (tuple(self),))


class Tensor:
    # hot attributes live in slots; rarely set ones are class-level defaults until first assigned
    __slots__ = ("_data", "_device", "_rg", "_node", "__dict__", "__weakref__")
    _idx = 0          # which output of _node this tensor is
    _grad = None
    _version = None   # _Version, created on first in-place change, save-as-output or view
    _accum = None     # the AccumulateGrad sink of a leaf
    _base = None      # the tensor this one is a view of (the one that owns the memory)
    _view_chain = ()  # the view ops (op, params) that took this view from _base
    _view_node = None  # _base's node (and tangent) when this view's own node was derived (see autograd.views)
    _view_fw = None
    _fw = None        # (dual level id, tangent) in forward mode
    _inference = False  # made inside inference_mode()
    __array_ufunc__ = None  # NumPy defers `ndarray * tensor` to Tensor.__rmul__
    __hash__ = object.__hash__

    def __init__(self, *args, device=None, requires_grad=False):
        if len(args) == 2 and type(args[1]) is Device:  # internal: an array already on that device
            data, device = args
        else:  # PyTorch's legacy constructor: Tensor(2, 3) (uninitialised), Tensor([1, 2]), Tensor(array)
            data, device = self._legacy_data(args, device)  # from tensor_api
        self._data = data
        self._device = CPU if device is None else device
        self._rg = False
        self._node = None
        if INFERENCE[0]:
            self._inference = True
        if requires_grad:
            self.requires_grad = True

    # --- autograd state -------------------------------------------------------------------------------------------
    @property
    def requires_grad(self):
        if self._base is not None:
            _sync_view(self)
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self._node is not None and not flag:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; use .detach() for a non-leaf")
        if flag and self._data.dtype.kind != "f":
            raise RuntimeError(f"only floating-point tensors can require gradients, got dtype {self._data.dtype}; "
                               f"convert first, e.g. t.float().requires_grad_()")
        self._rg = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        if self._base is not None:
            _sync_view(self)
        return self._node is None

    @property
    def grad_fn(self):
        if self._base is not None:
            _sync_view(self)
        return self._node

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape or value._device is not self._device:
                raise RuntimeError(f"assigned grad has shape {value.shape} on {value.device}, "
                                   f"but the tensor has shape {self.shape} on {self.device}")
        self._grad = value

    @property
    def _version_counter(self):
        if self._version is None:
            self._version = _Version()
        return self._version

    @property
    def _version_value(self):
        return 0 if self._version is None else self._version.value

    def retain_grad(self):
        """Keep .grad on this non-leaf tensor after backward (leaves always keep it)."""
        if self._base is not None:
            _sync_view(self)
        if self._node is not None:
            self._node.retain(self._idx, self)
        elif not self._rg:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        return None

    def detach(self):
        """The same data with no history: shares memory and the in-place version counter."""
        out = wrap(self._data, self._device)
        out._version = self._version_counter  # in-place changes through it are still seen by saved values
        return out

    def detach_(self):
        if self._base is not None and self._base._rg:
            raise RuntimeError("detach_() on a view of a tensor that requires grad is not supported; use detach()")
        self._node = None
        self._rg = False
        return self

    @property
    def data(self):
        """The tensor's data as a detached tensor that escapes in-place tracking (PyTorch's `.data`: changes made
        through it are not seen by saved values, so use it only for updates that must not be tracked)."""
        return wrap(self._data, self._device)

    @data.setter
    def data(self, value):
        self._data = value._data if isinstance(value, Tensor) else value

    # --- metadata ---------------------------------------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        return Size(self._data.shape) if dim is None else self._data.shape[dim]

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    def nelement(self):
        return int(self._data.size)

    @property
    def dtype(self):
        """The element type, a ``gpuad.dtype`` (equal to the NumPy dtype of the data)."""
        return _DTYPES.get(self._data.dtype) or dtypes.of(self._data.dtype)

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    def element_size(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return int(self._data.nbytes)

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self):
        return bool(self._data.flags.c_contiguous)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    # --- conversion to Python and host arrays -------------------------------------------------------------------
    def item(self):
        if _capture.state.active is not None:
            _capture.host_read("Tensor.item()")
        if self._data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape} "
                             f"({self._data.size} elements)")
        return self._host().reshape(()).item()

    def tolist(self):
        if _capture.state.active is not None:
            _capture.host_read("Tensor.tolist()")
        return self._host().tolist()

    def numpy(self, force=False):
        """The NumPy array behind a CPU tensor (shared memory). CUDA tensors must be copied with ``.cpu()`` first."""
        if _capture.state.active is not None:
            _capture.host_read("Tensor.numpy()")
        if self._device.type != "cpu":
            if force:
                return self._host()
            raise TypeError(f"can't convert a tensor on {self._device} to a NumPy array; "
                            f"copy it to the host first with .cpu().numpy() (or pass force=True)")
        if self._rg and not force:
            raise RuntimeError("can't call numpy() on a tensor that requires grad; use .detach().numpy()")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if _capture.state.active is not None:
            _capture.host_read("converting a tensor to a NumPy array")
        if self._device.type != "cpu":
            raise TypeError(f"can't convert a tensor on {self._device} to a NumPy array implicitly; use .cpu() first")
        arr = self._data
        if dtype is not None and dtype != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def _host(self):
        """The values as a NumPy array (the data itself on the CPU, a copy from a GPU)."""
        return self._device.backend.to_host(self._data)

    def __dlpack__(self, *args, **kwargs):
        """The DLPack capsule, made with this tensor's device current (CuPy orders it on the current GPU's stream)."""
        return self._device.backend.on_device(self._data.__dlpack__, *args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __bool__(self):
        if _capture.state.active is not None:
            _capture.host_read("bool(tensor) (Python control flow on a tensor's value)")
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self._data.size} elements is ambiguous; "
                               f"use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        if _capture.state.active is not None:
            _capture.host_read("float(tensor)")
        return float(self.item())

    def __int__(self):
        if _capture.state.active is not None:
            _capture.host_read("int(tensor)")
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __repr__(self):
        if _capture.state.active is not None:
            _capture.host_read("printing a tensor")
        return tensor_repr(self)

    def __format__(self, spec):
        if _capture.state.active is not None:
            _capture.host_read("formatting a tensor")
        if self._data.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    # --- devices and copies -------------------------------------------------------------------------------------------
    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))


def wrap(data, device):
    """A new tensor around an array already on ``device`` (internal fast path)."""
    t = _new(Tensor)
    t._data = data
    t._device = device
    t._rg = False
    t._node = None
    if INFERENCE[0]:
        t._inference = True
    return t


_new = object.__new__
INFERENCE = [False]  # whether inference_mode() is active: tensors made now report is_inference()


def is_tensor(obj):
    return isinstance(obj, Tensor)


TENSOR_TYPES = {Tensor}  # Tensor and its registered subclasses (nn.Parameter) take the ops' fast paths
