"""Random state: one generator per device, seeded together by ``manual_seed``."""
import functools

from .device import _DEVICES

_seed = [None]


def manual_seed(seed):
    """Make rand/randn/dropout reproducible on every device (those in use now and those used later)."""
    seed = int(seed)
    _seed[0] = seed
    from .backends.cpu import CPU_BACKEND
    CPU_BACKEND.seed(seed)
    for dev in set(_DEVICES.values()):
        if dev.type == "cuda" and dev._backend is not None:
            dev._backend.seed(seed + dev.index)
    return seed


seed = manual_seed


def initial_seed():
    return _seed[0]


def generator(device):
    """The backend whose generator draws numbers for ``device``, seeded on first use if manual_seed was called."""
    backend = device.backend
    if device.type == "cuda" and _seed[0] is not None and not getattr(backend, "_seeded", False):
        backend.seed(_seed[0] + device.index)
        backend._seeded = True
    return backend


def get_rng_state(device="cpu"):
    from . import _capture
    from .device import as_device
    state = as_device(device).backend.get_rng_state()
    if _capture.ACTIVE is not None:  # gpuad.compile: read again on every replay (checkpoint saves and restores it)
        from .capture.calls import get_rng_state as again
        _capture.ACTIVE.call(functools.partial(again, device), (), state)
    return state


def set_rng_state(state, device="cpu"):
    from . import _capture
    from .device import as_device
    if _capture.ACTIVE is not None:
        from .capture.calls import set_rng_state as again
        _capture.ACTIVE.call(functools.partial(again, device), (state,), None)
    as_device(device).backend.set_rng_state(state)
