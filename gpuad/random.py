"""Random state: one global generator per device, seeded together by ``manual_seed``, and ``gpuad.Generator`` for
streams of one's own (``generator=`` of rand/randn/randint/randperm, the samplers, random_split).

gpuad draws with NumPy's PCG64 on the CPU and CuPy's cuRAND on CUDA, so the numbers differ from PyTorch's for the
same seed (a documented difference); seeding makes gpuad runs reproducible, run after run.
"""
import contextlib
import copy
import functools
import os

import numpy as np

from . import _capture, dtypes
from .backends.cpu import CPU_BACKEND
from .backends.cuda import device_count, is_available
from .device import as_device, started_devices
from .tensor import Tensor, wrap

_seed = [None]
_DEFAULT_SEED = 67280421310721  # what a fresh torch.Generator() starts from: two new generators draw the same numbers
_cuda_seeds = {}  # GPU index -> seed from gpuad.cuda.manual_seed(_all), applied when that GPU's generator starts
_seeded = {CPU_BACKEND}  # backends whose global generator took its pending seed (the CPU's is seeded at once)
_draws = [0]  # how many times a generator was handed out: vmap(randomness="error") watches it


def manual_seed(seed):
    """Make rand/randn/dropout/shuffling reproducible on every device (those in use now and those used later);
    returns the default (CPU) generator, as PyTorch does."""
    seed = _as_seed(seed, "manual_seed")
    _seed[0] = seed
    _cuda_seeds.clear()
    for dev in started_devices():  # the others take it when they start (generator)
        dev.backend.seed_from(seed)
    default_generator._initial_seed = seed
    return default_generator


def seed():
    """Seed every device from the operating system's entropy; returns the seed (PyTorch's ``torch.seed()``)."""
    value = int.from_bytes(os.urandom(8), "little") >> 1
    manual_seed(value)
    return value


def initial_seed():
    """The seed of the default (CPU) generator: the last manual_seed, or the one drawn from entropy for it."""
    return default_generator.initial_seed()


def generator(device):
    """The backend whose generator draws numbers for ``device``; a GPU's takes its pending seed (gpuad.cuda's, else
    manual_seed's) on first use."""
    _draws[0] += 1
    backend = device.backend
    if backend not in _seeded:
        seed = _cuda_seeds.get(device.index, _cuda_seeds.get("all"))
        if seed is not None:
            backend.seed(seed)
        elif _seed[0] is not None:
            backend.seed_from(_seed[0])
        _seeded.add(backend)
    return backend


def stream(gen, device, who):
    """What draws for ``device``: the global generator, or ``gen`` (a ``gpuad.Generator`` on that device type)."""
    if gen is None:
        return generator(device)
    if not isinstance(gen, Generator):
        raise TypeError(f"{who}: generator must be a gpuad.Generator, got {type(gen).__name__}")
    if gen.device.type != device.type:
        raise RuntimeError(f"{who}: expected a '{device.type}' device type for generator but found "
                           f"'{gen.device.type}'")
    return gen._backend


def get_rng_state(device="cpu"):
    state = as_device(device).backend.get_rng_state()
    if _capture.state.active is not None:  # gpuad.compile: read again on every replay (checkpoint saves and restores it)
        from .capture.calls import get_rng_state as again  # lazy: gpuad.capture is a layer above
        _capture.state.active.call(functools.partial(again, device), (), state)
    return state


def set_rng_state(state, device="cpu"):
    if _capture.state.active is not None:
        from .capture.calls import set_rng_state as again  # lazy: gpuad.capture is a layer above
        _capture.state.active.call(functools.partial(again, device), (state,), None)
    as_device(device).backend.set_rng_state(state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """Run a block whose random draws leave the global generators as they were (torch.random.fork_rng): the CPU's
    state and that of ``devices`` (CUDA indices; None: every visible GPU) are restored on exit."""
    if not enabled:
        yield
        return
    if device_type != "cuda":
        raise ValueError(f"fork_rng: device_type must be 'cuda' (gpuad's only accelerator), got {device_type!r}")
    if devices is None:
        devices = range(device_count()) if is_available() else ()
    places = ["cpu"] + [as_device(d if isinstance(d, str) else f"cuda:{int(d)}") for d in devices]
    saved = [(place, get_rng_state(place)) for place in places]
    try:
        yield
    finally:
        for place, state in saved:
            set_rng_state(state, place)


def _as_seed(value, who):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{who}: the seed must be an integer, got {type(value).__name__}")
    if not -2 ** 63 <= value < 2 ** 64:
        raise RuntimeError(f"{who}: seed must be within [-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff], got {value}")
    return value % 2 ** 64


class Generator:
    """A random stream of its own on one device (PyTorch's ``torch.Generator``): ``manual_seed``, ``seed``,
    ``initial_seed``, ``get_state``/``set_state`` (a uint8 tensor, so it can go into a checkpoint)."""

    def __init__(self, device="cpu"):
        self.device = as_device(device)
        # the device's backend with a generator of its own: the same draw methods, a separate state
        self._backend = copy.copy(self.device.backend)
        self.manual_seed(_DEFAULT_SEED)

    @classmethod
    def _of_backend(cls, backend, device):
        """The generator object standing for a device's global stream (``gpuad.default_generator``)."""
        gen = cls.__new__(cls)
        gen.device, gen._backend, gen._initial_seed = device, backend, None
        return gen

    def manual_seed(self, seed):
        seed = _as_seed(seed, "Generator.manual_seed")
        self._backend.seed(seed)
        self._initial_seed = seed
        return self

    def seed(self):
        value = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(value)
        return value

    def initial_seed(self):
        if self._initial_seed is None:  # the global CPU stream before any manual_seed: seeded from entropy
            self._initial_seed = self.seed()
        return self._initial_seed

    def get_state(self):
        """The state as a uint8 tensor; ``set_state`` of it makes the generator draw the same numbers again."""
        seed = (self._initial_seed or 0).to_bytes(8, "little")  # then the backend's own layout of its state
        return wrap(np.frombuffer(seed + self._backend.rng_state_bytes(), dtype=np.uint8).copy(), as_device("cpu"))

    def set_state(self, new_state):
        if not isinstance(new_state, Tensor) or new_state.dtype != np.uint8 or new_state.ndim != 1:
            raise TypeError("Generator.set_state: expected a 1-D uint8 tensor from Generator.get_state()")
        raw = bytes(new_state.detach().cpu().numpy())
        want = 8 + self._backend.RNG_STATE_BYTES  # the initial seed, then the backend's state
        if len(raw) != want:
            raise RuntimeError(f"Generator.set_state: a {self.device.type} generator state has {want} bytes, "
                               f"got {len(raw)}")
        self._backend.set_rng_state_bytes(raw[8:])
        self._initial_seed = int.from_bytes(raw[:8], "little")
        return self

    def __repr__(self):
        return f"<gpuad.Generator device={self.device}>"


def _default_generator():
    return Generator._of_backend(CPU_BACKEND, as_device("cpu"))


default_generator = _default_generator()


def _permutation(generator, n, dtype):
    """A permutation of 0..n-1 in ``dtype`` drawn by ``generator`` (NumPy's or CuPy's: run on its device)."""
    return generator.permutation(n).astype(dtype)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A random permutation of 0..n-1 (int64 unless ``dtype``), from ``generator`` or the global stream."""
    if hasattr(n, "item"):
        n = n.item()
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise RuntimeError(f"randperm: n must be a non-negative integer, got {n!r}")
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"randperm: generator must be a gpuad.Generator, got {type(generator).__name__}")
    device = as_device(device if device is not None else (generator.device if generator is not None else "cpu"))
    dtype = dtypes.as_dtype(dtype) or np.dtype(np.int64)
    if dtype.kind == "b":
        raise RuntimeError("randperm: bool is not a supported dtype")
    if dtype.kind in "iu" and n > np.iinfo(dtype).max + 1:
        raise RuntimeError(f"randperm: n={n} does not fit in {dtype}")
    source = stream(generator, device, "randperm")
    perm = source.on_device(_permutation, source.generator, n, dtype)  # drawn and cast on that device
    t = wrap(perm, device)
    if requires_grad:
        t.requires_grad = True  # raises for integer dtypes, as PyTorch does
    return t


def seed_cuda(seed, indices):
    """Seed the generators of the GPUs at ``indices`` (None: every GPU) with ``seed``: now for GPUs already in
    use, on first use for the others."""
    if indices is None:
        _cuda_seeds.clear()
        _cuda_seeds["all"] = seed
    else:
        _cuda_seeds.update({i: seed for i in indices})
    for dev in started_devices("cuda"):
        if indices is None or dev.index in indices:
            dev.backend.seed(seed)
            _seeded.add(dev.backend)


def draw_count():
    """How many random draws have been started so far (any device)."""
    return _draws[0]


def all_rng_states():
    """The state of every generator in use: the CPU's and each started GPU's (for replaying the same draws)."""
    return [(dev, dev.backend.get_rng_state()) for dev in started_devices()]


def set_all_rng_states(states):
    for dev, state in states:
        dev.backend.set_rng_state(state)
