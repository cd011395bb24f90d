"""Random state: one generator per device, seeded together by ``manual_seed``."""
from .device import _DEVICES

_seed = [None]
_cuda_seeds = {}  # GPU index -> seed from gpuad.cuda.manual_seed(_all), applied when that GPU's generator starts
_draws = [0]  # how many times a generator was handed out: vmap(randomness="error") watches it


def manual_seed(seed):
    """Make rand/randn/dropout reproducible on every device (those in use now and those used later)."""
    seed = int(seed)
    _seed[0] = seed
    _cuda_seeds.clear()
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
    _draws[0] += 1
    backend = device.backend
    if device.type == "cuda" and not getattr(backend, "_seeded", False):
        seed = _cuda_seeds.get(device.index, _cuda_seeds.get("all"))
        if seed is None and _seed[0] is not None:
            seed = _seed[0] + device.index
        if seed is not None:
            backend.seed(seed)
        backend._seeded = True
    return backend


def get_rng_state(device="cpu"):
    from .device import as_device
    return as_device(device).backend.get_rng_state()


def set_rng_state(state, device="cpu"):
    from .device import as_device
    as_device(device).backend.set_rng_state(state)


def seed_cuda(seed, indices):
    """Seed the generators of the GPUs at ``indices`` (None: every GPU) with ``seed``: now for GPUs already in
    use, on first use for the others."""
    if indices is None:
        _cuda_seeds.clear()
        _cuda_seeds["all"] = seed
    else:
        _cuda_seeds.update({i: seed for i in indices})
    for dev in set(_DEVICES.values()):
        if dev.type == "cuda" and dev._backend is not None and (indices is None or dev.index in indices):
            dev._backend.seed(seed)
            dev._backend._seeded = True


def draw_count():
    """How many random draws have been started so far (any device)."""
    return _draws[0]


def all_rng_states():
    """The state of every generator in use: the CPU's and each started GPU's (for replaying the same draws)."""
    return [(dev, dev.backend.get_rng_state()) for dev in _devices_in_use()]


def set_all_rng_states(states):
    for dev, state in states:
        dev.backend.set_rng_state(state)


def _devices_in_use():
    from .device import CPU
    return [CPU] + sorted({d for d in _DEVICES.values() if d.type == "cuda" and d._backend is not None},
                          key=lambda d: d.index)
