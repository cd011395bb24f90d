"""The CPU backend: NumPy arrays, NumPy's PCG64 generator."""
import numpy as np

from .special import erf as _erf_numpy

_scipy_erf = None  # SciPy's erf, imported on first use: importing scipy.special takes ~0.2 s


def _erf(x):
    """erf through SciPy where it is installed (faster), else our own (exact to machine precision too); float16
    stays float16 (SciPy computes and returns it in a wider type)."""
    global _scipy_erf
    if _scipy_erf is None:
        try:
            from scipy.special import erf as _scipy_erf  # lazy: SciPy is optional (the special extra)
        except ImportError:  # pragma: no cover - depends on the machine
            _scipy_erf = _erf_numpy
    if x.dtype == np.float16:
        return _scipy_erf(x.astype(np.float32)).astype(np.float16)
    return _scipy_erf(x)


def broadcast_to(x, shape):
    """np.broadcast_to as a strided view built directly (NumPy's own costs ~4 us on tiny arrays). Like PyTorch's
    expand, the view is writable where ``x`` is; the engine never writes into a gradient it does not own."""
    if x.__class__ is not np.ndarray:
        return np.broadcast_to(x, shape)
    if not x.ndim:  # the gradient of a full reduction: every stride 0
        return np.ndarray(shape, x.dtype, x, 0, (0,) * len(shape))
    if not x.flags.c_contiguous:
        return np.broadcast_to(x, shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    strides = [0] * lead
    for size, target, stride in zip(x.shape, shape[lead:], x.strides):
        if size == target:
            strides.append(stride)
        elif size == 1:
            strides.append(0)
        else:
            raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    return np.ndarray(shape, x.dtype, x, 0, strides)


def extended_namespace(module, **extras):
    """``module``'s names plus the few functions it lacks (erf, add_at), looked up as fast as a module attribute."""
    ns = type(module.__name__ + "_xp", (), {})()
    ns.__dict__.update(vars(module))
    ns.__dict__.update(extras)
    return ns


class CPUBackend:
    name = "cpu"
    xp = extended_namespace(np, erf=_erf, add_at=np.add.at, broadcast_to=broadcast_to)
    ndarray = np.ndarray

    def __init__(self):
        self.generator = np.random.default_rng()

    @staticmethod
    def asarray(data, dtype=None):
        return np.asarray(data, dtype=dtype)

    @staticmethod
    def to_host(array):
        return array

    @staticmethod
    def from_host(array):
        return array

    def seed(self, seed):
        self.generator = np.random.default_rng(seed)

    def get_rng_state(self):
        return self.generator.bit_generator.state

    def set_rng_state(self, state):
        self.generator.bit_generator.state = state

    def rand(self, shape, dtype):
        if dtype.itemsize >= 4:
            return self.generator.random(shape, dtype=dtype)
        return self.generator.random(shape, dtype=np.float32).astype(dtype)

    def randn(self, shape, dtype):
        if dtype.itemsize >= 4:
            return self.generator.standard_normal(shape, dtype=dtype)
        return self.generator.standard_normal(shape, dtype=np.float32).astype(dtype)

    def randint(self, low, high, shape, dtype):
        return self.generator.integers(low, high, shape, dtype=dtype)


CPU_BACKEND = CPUBackend()
