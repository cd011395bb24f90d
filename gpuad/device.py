"""Devices: parse "cpu", "cuda", "cuda:N" into interned Device objects so ops compare them by identity."""

from .backends import backend_for

_DEVICES = {}


class Device:
    """A place where tensor data lives: ``Device("cpu")`` or ``Device("cuda:1")``."""

    __slots__ = ("type", "index", "_backend")

    def __new__(cls, spec="cpu", index=None):
        if isinstance(spec, Device):
            return spec
        key = (spec, index)
        dev = _DEVICES.get(key)
        if dev is not None:
            return dev
        dev_type, dev_index = _parse(spec, index)
        canonical = (dev_type, dev_index)
        dev = _DEVICES.get(canonical)
        if dev is None:
            dev = object.__new__(cls)
            dev.type, dev.index, dev._backend = dev_type, dev_index, None
            _DEVICES[canonical] = dev
        _DEVICES[key] = dev
        return dev

    @property
    def backend(self):
        """The backend (NumPy or CuPy) that runs ops for this device; CUDA loads on first use."""
        if self._backend is None:
            self._backend = backend_for(self)
        return self._backend

    def __str__(self):
        return "cpu" if self.type == "cpu" else f"cuda:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.type == "cpu" else f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except ValueError:
                return False
        return self is other

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (Device, (str(self),))


def _parse(spec, index):
    if not isinstance(spec, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0' or a Device, got {type(spec).__name__}")
    name, _, num = spec.strip().lower().partition(":")
    if name == "cpu" and not num and index in (None, 0):
        return "cpu", None
    if name == "cuda":
        if num:
            if index is not None:
                raise ValueError(f"device {spec!r} already names an index; do not also pass index={index}")
            if not num.isdigit():
                raise ValueError(f"invalid CUDA device {spec!r}: expected 'cuda' or 'cuda:N'")
            return "cuda", int(num)
        return "cuda", _current_cuda[0] if index is None else int(index)
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")


CPU = Device("cpu")
_current_cuda = [0]  # the GPU a bare "cuda" means (gpuad.cuda.set_device)


def current_cuda_index():
    return _current_cuda[0]


def set_current_cuda_index(index):
    """Make a bare "cuda" mean GPU ``index``; forgets the cached meaning of the bare spellings."""
    _current_cuda[0] = int(index)
    for key in [k for k in _DEVICES if isinstance(k[0], str) and ":" not in k[0] and k[1] is None
                and k[0].strip().lower() == "cuda"]:
        del _DEVICES[key]


def as_device(spec):
    """A Device from a Device, a string or None (None means the CPU)."""
    if spec is None:
        return CPU
    return spec if type(spec) is Device else Device(spec)


_default = CPU  # where factories put a tensor when no device is given (set_default_device)


def set_default_device(device):
    """Make factories (tensor, zeros, randn, arange ...) create tensors on ``device`` when none is given, as
    ``torch.set_default_device``; ``None`` restores the CPU. Ops keep their inputs' device."""
    global _default
    _default = CPU if device is None else as_device(device)


def get_default_device():
    return _default


def factory_device(spec):
    """The device a factory uses: ``spec``, or the default device when ``spec`` is None."""
    if spec is None:
        return _default
    return spec if type(spec) is Device else Device(spec)


def started_devices(device_type=None):
    """The devices whose backend exists: the CPU first (its backend always does), then each GPU in use, by index.
    Asking starts no GPU; seeding, memory reports and ``gpuad.cuda.empty_cache`` go through it. ``device_type``
    keeps the devices of one type ("cuda": the GPUs in use)."""
    found = {d for d in _DEVICES.values() if d is CPU or d._backend is not None}
    return [d for d in sorted(found, key=lambda d: -1 if d.index is None else d.index)
            if device_type is None or d.type == device_type]
