"""The CUDA backend: CuPy arrays, one backend per GPU, kernels from ``kernels/`` compiled once per device and dtype.

Imported only when a CUDA device is first used, so ``import gpuad`` works without CuPy or a GPU.
"""
import functools

import numpy as np

from .kernel_source import read_kernel

_BLOCK = 256


def _import_cupy():
    try:
        import cupy
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
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


class CUDABackend:
    name = "cuda"

    def __init__(self, index):
        cupy = _import_cupy()
        if not is_available():
            raise RuntimeError("a CUDA device was requested but no GPU is available (cupy.is_available() is False)")
        if index >= cupy.cuda.runtime.getDeviceCount():
            raise RuntimeError(f"cuda:{index} does not exist: this machine has "
                               f"{cupy.cuda.runtime.getDeviceCount()} GPU(s)")
        import cupyx
        import cupyx.scipy.special
        from .cpu import extended_namespace
        self.xp = extended_namespace(cupy, erf=cupyx.scipy.special.erf, add_at=cupyx.scatter_add)
        self.ndarray = cupy.ndarray
        self.index = index
        self.device = cupy.cuda.Device(index)
        self._cupy = cupy
        with self.device:
            self.generator = cupy.random.RandomState()
        self._modules = {}

    def asarray(self, data, dtype=None):
        with self.device:
            return self.xp.asarray(data, dtype=dtype)

    @staticmethod
    def to_host(array):
        return array.get()

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
    def kernel(self, source, name_expression):
        """A compiled kernel from ``kernels/<source>``, memoised per device (CuPy also caches the binary on disk)."""
        module = self._modules.get(source)
        if module is None:
            module = self._modules[source] = _KernelModule(self._cupy, source)
        return module.get(name_expression)

    def launch_unary(self, source, template, x):
        """y = kernel(x) for a unary elementwise kernel ``template<T>(const T*, T*, long long n)``."""
        x = self._cupy.ascontiguousarray(x)
        y = self.xp.empty_like(x)
        n = x.size
        if n:
            fn = self.kernel(source, template.format(T=_CUDA_TYPES[x.dtype]))
            grid = min((n + _BLOCK - 1) // _BLOCK, 65535 * 4)
            with self.device:
                fn((grid,), (_BLOCK,), (x, y, np.int64(n)))
        return y


_CUDA_TYPES = {np.dtype("float32"): "float", np.dtype("float64"): "double", np.dtype("float16"): "__half"}


class _KernelModule:
    """A RawModule built from one source file with all of its instantiations named up front."""

    def __init__(self, cupy, source):
        self._cupy = cupy
        self._source = source
        self._code = read_kernel(source)
        self._module = None
        self._names = set()

    def get(self, name_expression):
        if self._module is None or name_expression not in self._names:
            self._names.add(name_expression)
            self._module = self._cupy.RawModule(code=self._code, options=("-std=c++14",),
                                                name_expressions=sorted(self._names))
        try:
            return self._module.get_function(name_expression)
        except Exception as exc:
            raise RuntimeError(f"CUDA kernel {name_expression} from kernels/{self._source} failed to load: {exc}") \
                from exc


@functools.lru_cache(maxsize=None)
def cuda_backend(index):
    return CUDABackend(index)
