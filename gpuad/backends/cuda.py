"""The CUDA backend: CuPy arrays, one backend per GPU, kernels from ``kernels/`` compiled once per device and dtype.

Imported only when a CUDA device is first used, so ``import gpuad`` works without CuPy or a GPU.
"""
import functools

import numpy as np

from .cpu import extended_namespace
from .cuda_kernels import RawKernels

FUSED = True  # gpuad.cuda.fused_kernels() switches our own kernels off, for comparisons


def _import_cupy():
    try:
        import cupy  # lazy: import gpuad never imports CuPy
    except ImportError:
        raise RuntimeError("a CUDA device was requested but CuPy is not installed; install gpuad with the "
                           "'cuda12' or 'cuda13' extra (pip install 'gpuad[cuda12]')") from None
    return cupy


def is_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        cupy = _import_cupy()
        return bool(cupy.is_available())
    except Exception:
        return False


def device_count():
    if not is_available():
        return 0
    import cupy  # lazy: import gpuad never imports CuPy
    return cupy.cuda.runtime.getDeviceCount()


def _half_safe(fn):
    """``fn`` computed in float32 for float16 input and cast back: CuPy's erf has an ``e->d`` loop, so float16 in
    would give float64 out."""
    def wrapped(x):
        if x.dtype == np.float16:
            return fn(x.astype(np.float32)).astype(np.float16)
        return fn(x)
    return wrapped


class CUDABackend:
    name = "cuda"

    def __init__(self, index):
        cupy = _import_cupy()
        if not is_available():
            raise RuntimeError("a CUDA device was requested but no GPU is available (cupy.is_available() is False)")
        if index >= cupy.cuda.runtime.getDeviceCount():
            raise RuntimeError(f"cuda:{index} does not exist: this machine has "
                               f"{cupy.cuda.runtime.getDeviceCount()} GPU(s)")
        import cupyx  # lazy: import gpuad never imports CuPy
        import cupyx.scipy.special  # lazy: import gpuad never imports CuPy
        self.xp = extended_namespace(cupy, erf=_half_safe(cupyx.scipy.special.erf), add_at=cupyx.scatter_add)
        self.ndarray = cupy.ndarray
        self.index = index
        self.device = cupy.cuda.Device(index)
        self._cupy = cupy
        with self.device:
            self.generator = cupy.random.RandomState()
        self._modules = {}
        self._errors, self._error_message, self._errors_armed = None, "", False

    def asarray(self, data, dtype=None):
        with self.device:
            return self.xp.asarray(data, dtype=dtype)

    def to_host(self, array):
        """A host (NumPy) copy; first raises any bad input a kernel has counted since the last copy."""
        self.check_errors()
        return array.get()

    # --- errors found on the GPU, reported without stalling it ---------------------------------------------------
    def error_counter(self, message):
        """This device's int32 error counter, for a kernel to count bad inputs into (atomicAdd) without the host
        waiting for it; the next read back to the host raises ValueError(message) if the count is not zero."""
        if self._errors is None:
            with self.device:
                self._errors = self.xp.zeros(1, np.int32)
        self._error_message, self._errors_armed = message, True
        return self._errors

    def check_errors(self):
        """Raise what kernels have counted since the last check (one 4-byte read, only after a kernel was armed)."""
        if self._errors_armed:
            self._errors_armed = False
            with self.device:
                count = int(self._errors.get()[0])
                if count:
                    self._errors.fill(0)
                    raise ValueError(f"{self._error_message} ({count} found on the GPU; the check runs there "
                                     f"without stalling the stream, so it is reported when a result is next read "
                                     f"back to the host)")

    def from_host(self, array):
        with self.device:
            return self.xp.asarray(array)

    def seed(self, seed):
        with self.device:
            self.generator = self.xp.random.RandomState(seed)

    def get_rng_state(self):
        """A seed that reproduces what follows: drawn from the generator, which is then reseeded with it (cuRAND's
        state itself cannot be read back through CuPy)."""
        with self.device:
            seed = int(self.generator.randint(0, 2 ** 31 - 1, size=()).get())
            self.generator = self.xp.random.RandomState(seed)
        return seed

    def set_rng_state(self, state):
        with self.device:
            self.generator = self.xp.random.RandomState(int(state))

    def rand(self, shape, dtype):
        with self.device:
            if dtype.itemsize >= 4:
                return self.generator.random_sample(shape, dtype=dtype)
            return self.generator.random_sample(shape, dtype=np.float32).astype(dtype)

    def randn(self, shape, dtype):
        with self.device:
            if dtype.itemsize >= 4:
                return self.generator.standard_normal(shape, dtype=dtype)
            return self.generator.standard_normal(shape, dtype=np.float32).astype(dtype)

    def randint(self, low, high, shape, dtype):
        with self.device:
            return self.generator.randint(low, high, shape).astype(dtype)

    # --- our own kernels ---------------------------------------------------------------------------------------
    def raw(self, source):
        """The RawModule kernels of ``kernels/<source>`` on this device (see cuda_kernels.RawKernels)."""
        module = self._modules.get(source)
        if module is None:
            module = self._modules[source] = RawKernels(source, self.device)
        return module


@functools.lru_cache(maxsize=None)
def cuda_backend(index):
    return CUDABackend(index)


from .flags import cuda_matmul as matmul  # noqa: E402,F401 - gpuad.backends.cuda.matmul.allow_tf32 and friends
