"""The CUDA backend: CuPy arrays, one backend per GPU, kernels from ``kernels/`` compiled once per device and dtype.

Imported only when a CUDA device is first used, so ``import gpuad`` works without CuPy or a GPU.
"""
import functools
import math

import numpy as np

from . import cuda_kernels, generic
from .bound import bound_namespace
from .optim_updates import adam_step, sgd_step

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
        self._attach(cupy, index, erf=_half_safe(cupyx.scipy.special.erf), add_at=cupyx.scatter_add)

    def _attach(self, cupy, index, **extras):
        """Set the backend up for GPU ``index`` of the array module ``cupy``, with ``extras`` (the functions CuPy
        lacks) in its namespace: what __init__ does once it found the GPU (tests attach a NumPy emulation of CuPy,
        tests/cuda_emulation.py)."""
        self.index = index
        self.device = cupy.cuda.Device(index)
        self.xp = bound_namespace(cupy, self.device, **extras)  # every function runs with this GPU current
        self.ndarray = cupy.ndarray
        self._cupy = cupy
        with self.device:
            self.generator = cupy.random.RandomState()
        self._modules = {}
        self._errors, self._error_message, self._errors_armed = None, "", False

    # --- device-bound arrays (every allocation on this GPU) -------------------------------------------------------
    # ``self.xp`` enters this GPU around each call; array methods (copy, astype, +=, get) run on whatever GPU is
    # current, so the methods below enter it themselves.
    graph_replays = True  # gpuad.compile may replay a step as one CUDA graph (capture/cuda_graph.py)
    context_free = False  # everything runs with this GPU current: through run and on_device

    @property
    def fused_grads(self):
        """Whether unary_grad, binary_grad and softmax_grad may launch (fused kernels on)."""
        return FUSED

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def receive(self, array, source=None):
        """An array on this GPU with the values of ``array``, which may live on the host or on any GPU (itself,
        not a copy, where it already lives here)."""
        if isinstance(array, self.ndarray):
            return array if array.device.id == self.index else self.from_device(array)
        return self.from_host(array)

    def from_host(self, array):
        return self.xp.asarray(array)

    def to_host(self, array):
        """A host (NumPy) copy; first raises any bad input a kernel has counted since the last copy."""
        self.check_errors()
        with self.device:
            return array.get()

    def copy(self, array, dtype=None):
        """A new array on this GPU with the values of ``array`` (on this GPU), in ``dtype`` when given."""
        with self.device:
            return array.copy() if dtype is None else array.astype(dtype)

    def iadd(self, dst, src):
        """dst += src in place (both on this GPU); returns dst."""
        with self.device:
            dst += src
        return dst

    def write(self, dst, values, index=Ellipsis):
        """dst[index] = values in place (a number or an array on this GPU)."""
        with self.device:
            dst[index] = values

    @staticmethod
    def constant(array):
        """``array`` as it is: CuPy arrays have no writeable flag (the engine never writes into a seed)."""
        return array

    def on_device(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` with this GPU current, so that what it allocates and launches lands here: for code
        above the backends that computes on this device's raw arrays, such as an optimizer's update."""
        with self.device:
            return fn(*args, **kwargs)

    def from_device(self, array):
        """A copy on this GPU of an array on any GPU. Across GPUs: made contiguous there, copied once (peer to peer
        where the GPUs allow, else through the host, as CUDA decides), ordered after the work that produced it on its
        GPU's stream and before any later work there (which may reuse its memory once it is freed)."""
        source = array.device
        if source.id == self.index:
            return self.copy(array)
        cuda = self._cupy.cuda
        with source:
            array = self._cupy.ascontiguousarray(array)
            ready = cuda.get_current_stream().record()
        with self.device:
            stream = cuda.get_current_stream()
            stream.wait_event(ready)
            out = array.copy()  # CuPy copies from another GPU into the current one
            done = stream.record()
        with source:
            cuda.get_current_stream().wait_event(done)
        return out

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

    # --- ops and their fused rules (the same methods as CPUBackend's) -------------------------------------------
    def run(self, op, arrays, params):
        """An op's forward on this GPU (ops.core's single dispatch): our kernel ``op.cuda`` while fused kernels are
        on and it applies, else ``op.forward`` on CuPy."""
        with self.device:
            if op.cuda is not None and FUSED:
                out = cuda_kernels.FORWARDS[op.cuda](self, *arrays, **params) if params else \
                    cuda_kernels.FORWARDS[op.cuda](self, *arrays)
                if out is not None:
                    return out
            return op.forward(self.xp, *arrays, **params) if params else op.forward(self.xp, *arrays)

    def forward_function(self, op, params):
        """``run(op, arrays, params)`` as a function of the arrays alone (gpuad.compile's replays call it)."""
        return lambda *arrays: self.run(op, arrays, params)

    def unary_grad(self, rule, g, saved):
        """g * f'(saved) by the fused backward rule ``rule`` of kernels/elementwise.cu, one launch; None while fused
        kernels are off or where the rule does not apply (the op's VJP computes then)."""
        if not FUSED:
            return None
        with self.device:
            return cuda_kernels.unary_grad_launch(rule, g, saved)

    def binary_grad(self, rule, g, a, b, needs):
        """Both (or one) input gradients of a binary op by ``rule``, one launch; None as for unary_grad."""
        if not FUSED:
            return None
        with self.device:
            return cuda_kernels.binary_grad_launch(rule, g, a, b, needs)

    def softmax_grad(self, g, y, log, dim):
        """softmax's (or log_softmax's) input gradient over the last axis, one launch; None elsewhere."""
        if not FUSED:
            return None
        with self.device:
            return cuda_kernels.softmax_grad_launch(self, g, y, log, dim)

    def linear_grad(self, g, kept, x, w, activation, needs):
        """The fused linear layer's first-order VJP (gx, gw, gb): one epilogue kernel, then cuBLAS's GEMMs."""
        with self.device:
            if FUSED and cuda_kernels.compute_type(g.dtype) is not None:
                return cuda_kernels.linear_grad(self, g, kept, x, w, activation, needs)
            return generic.linear_grad(self.xp, g, kept, x, w, activation, needs)

    def ignore_rows(self, target, ignore_index):
        """(targets with the ignored entries set to class 0, which rows count): masked whether or not any row is
        ignored, since finding out would make the host wait for the GPU."""
        with self.device:
            ignored = target == ignore_index
            return self.xp.where(ignored, 0, target), ~ignored

    def cross_entropy_rows(self, x2, target):
        """(per-row loss, m, log s) for class-index targets, one kernel; bad indices are counted on the GPU and
        raised at the next read back to the host (error_counter)."""
        with self.device:
            if FUSED and cuda_kernels.compute_type(x2.dtype) is not None:
                return cuda_kernels.cross_entropy_rows(self, x2, target)
            classes = x2.shape[1]
            if target.size:
                bad = self.error_counter(f"cross_entropy: class indices must be in [0, {classes})")
                bad += ((target < 0) | (target >= classes)).sum(dtype=np.int32)
                target = self.xp.clip(target, 0, classes - 1)  # the count raises; no out-of-bounds read meanwhile
            return generic.cross_entropy_rows(self.xp, x2, target)

    def cross_entropy_rows_grad(self, x2, target, m, log_s, scale):
        """(softmax(x) - onehot(target)) * scale per row, one kernel."""
        with self.device:
            if FUSED and cuda_kernels.compute_type(x2.dtype) is not None:
                return cuda_kernels.cross_entropy_rows_grad(self, x2, target, m, log_s, scale)
            return generic.cross_entropy_rows_grad(self.xp, x2, target, m, log_s, scale)

    # --- our own kernels ---------------------------------------------------------------------------------------
    def raw(self, source):
        """The RawModule kernels of ``kernels/<source>`` on this device (see cuda_kernels.RawKernels)."""
        module = self._modules.get(source)
        if module is None:
            module = self._modules[source] = cuda_kernels.RawKernels(source, self.device)
        return module

    # --- optimizer updates, memory, RNG (backend-owned) ---
    def sgd_step(self, p, g, buf, scratch, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False, first=False, fused=True):
        """The CPU backend's ``sgd_step``: one launch of kernels/optim.cu's sgd_step (reading p, g and buf once,
        writing them once) while fused kernels are on, ``fused`` and the dtypes allow; else the same CuPy arithmetic."""
        with self.device:
            if fused and not maximize and _fused_update_applies(p, g):
                k = cuda_kernels
                compute = k.compute_type(p.dtype)
                if momentum:
                    k.launch("gpuad_sgd_momentum", k.sgd_kernel(compute, True), g, lr, momentum, 1 - dampening,
                             weight_decay, nesterov, first, p, buf)
                else:
                    k.launch("gpuad_sgd", k.sgd_kernel(compute, False), g, lr, weight_decay, p)
                return
            sgd_step(self.xp, p, g, buf, scratch, lr, momentum, dampening, weight_decay, nesterov, maximize, first)

    def adam_step(self, p, g, m, v, scratch, *, step, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False,
                  maximize=False, max_exp_avg_sq=None, fused=True):
        """The CPU backend's ``adam_step``: one launch of kernels/optim.cu's adam_step (p, g, m and v read once and
        written once) where it applies (not amsgrad, not maximize); else the same CuPy arithmetic."""
        with self.device:
            if fused and not maximize and max_exp_avg_sq is None and _fused_update_applies(p, g):
                k = cuda_kernels
                k.launch("gpuad_adam", k.adam_kernel(k.compute_type(p.dtype)), g, beta1, 1 - beta1, beta2, 1 - beta2,
                         eps, 0.0 if decoupled else weight_decay, 1 - lr * weight_decay if decoupled else 1.0,
                         lr / (1 - beta1 ** step), math.sqrt(1 - beta2 ** step), p, m, v)
                return
            adam_step(self.xp, p, g, m, v, scratch, step, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
                      max_exp_avg_sq)

    # Memory: the bytes of blocks CuPy's memory pool has handed out on this GPU (blocks cached but free are not
    # counted). The peak comes from a CuPy memory hook, one per GPU, installed on first use by the thread that asks:
    # CuPy's hooks are per thread, so the peak counts that thread's allocations (measure in the thread that trains),
    # while memory_allocated reads the pool and sees every thread.
    _peak = None  # this GPU's peak hook, made on first use

    def _pool_bytes(self):
        with self.device:
            return int(self._cupy.get_default_memory_pool().used_bytes())

    def _peak_hook(self):
        if self._peak is None:
            hook = _peak_hook_class(self.index)(self._pool_bytes())
            hook.__enter__()
            self._peak = hook
        return self._peak

    def start_memory_count(self):
        self._peak_hook()

    def stop_memory_count(self):
        hook, self._peak = self._peak, None
        if hook is not None:
            hook.__exit__(None, None, None)

    def memory_allocated(self):
        return self._pool_bytes()

    def max_memory_allocated(self):
        return self._peak_hook().peak

    def reset_peak_memory(self):
        self._peak_hook().reset(self._pool_bytes())

    def empty_cache(self):
        """Give the blocks this GPU's memory pool caches but does not use back to the driver."""
        with self.device:
            self._cupy.get_default_memory_pool().free_all_blocks()

    def synchronize(self):
        """Wait for all work queued on this GPU; then raise any bad input a kernel has counted (check_errors)."""
        with self.device:
            self._cupy.cuda.runtime.deviceSynchronize()
        self.check_errors()

    def seed_from(self, seed):
        """Seed the global generator from the process-wide seed (gpuad.manual_seed): GPU i takes seed + i, so that
        every GPU draws a stream of its own."""
        self.seed(seed + self.index)

    RNG_STATE_BYTES = 8  # cuRAND's state cannot be read back: a seed that reproduces what follows (get_rng_state)

    def rng_state_bytes(self):
        return int(self.get_rng_state()).to_bytes(8, "little")

    def set_rng_state_bytes(self, raw):
        self.set_rng_state(int.from_bytes(raw[:8], "little"))


def _fused_update_applies(p, g):
    """Whether an optimizer update of ``p`` can run as one of our kernels: fused kernels on, one float dtype."""
    return FUSED and g.dtype == p.dtype and cuda_kernels.compute_type(p.dtype) is not None


@functools.lru_cache(maxsize=None)
def _peak_hook_class(index):
    """The CuPy memory hook keeping GPU ``index``'s peak: named per GPU, since CuPy refuses two hooks of one name in
    a thread; a failed (out-of-memory) allocation, which has no pointer, is not counted."""
    from cupy.cuda import memory_hook  # lazy: import gpuad never imports CuPy

    class PeakHook(memory_hook.MemoryHook):
        """Follows the pool's used bytes through every malloc and free to keep the peak."""
        name = f"GpuadPeakHook{index}"

        def __init__(self, current):
            self.current = self.peak = current

        def reset(self, current):
            self.current = self.peak = current

        def malloc_postprocess(self, device_id, size, mem_size, mem_ptr, pmem_id):
            if device_id == index and mem_ptr:
                self.current += mem_size
                self.peak = max(self.peak, self.current)

        def free_postprocess(self, device_id, mem_size, mem_ptr, pmem_id):
            if device_id == index:
                self.current -= mem_size

    return PeakHook


@functools.lru_cache(maxsize=None)
def cuda_backend(index):
    return CUDABackend(index)


from .flags import cuda_matmul as matmul  # noqa: E402,F401 - gpuad.backends.cuda.matmul.allow_tf32 and friends
