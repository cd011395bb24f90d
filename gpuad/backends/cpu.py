"""The CPU backend: NumPy arrays, NumPy's PCG64 generator."""
import functools
import operator
import tracemalloc

import numpy as np

from . import generic, optim_updates
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

    graph_replays = False  # gpuad.compile replays steps as CUDA graphs only on a GPU
    # run(op, arrays, params) is op.forward on NumPy and nothing else, and code on NumPy arrays needs no device
    # context: ops.core's dispatch and the engine call forwards and VJPs directly, the CPU's hot path
    context_free = True
    fused_grads = False  # no fused backward rules (unary_grad, binary_grad, softmax_grad return None)

    @staticmethod
    def receive(array, source=None):
        """A host array with the values of ``array``, which may live on any device (``source``: its backend, which
        hands it over: a GPU's to_host also raises what its kernels counted)."""
        if source is not None and source.name != "cpu":
            return source.to_host(array)
        return array if isinstance(array, np.ndarray) else np.asarray(array.get())

    @staticmethod
    def to_host(array):
        return array

    @staticmethod
    def from_host(array):
        return array

    @staticmethod
    def copy(array, dtype=None):
        """A new array with ``array``'s values (in ``dtype`` when given), on this device."""
        return array.copy() if dtype is None else array.astype(dtype)

    iadd = staticmethod(operator.iadd)  # iadd(dst, src): dst += src in place, returns dst

    @staticmethod
    def write(dst, values, index=Ellipsis):
        """dst[index] = values in place (a number or an array on this device)."""
        dst[index] = values

    @staticmethod
    def constant(array):
        """``array`` marked read-only (NumPy's writeable flag), for values shared between graphs such as the
        backward seed of ones: a write into one raises instead of changing every graph's."""
        array.flags.writeable = False
        return array

    @staticmethod
    def on_device(fn, *args, **kwargs):
        """``fn(*args, **kwargs)`` with this device current (the CPU has no device context): for code above the
        backends that computes on this device's raw arrays, such as an optimizer's update."""
        return fn(*args, **kwargs)

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

    # --- ops and their fused rules (the same methods as CUDABackend's) ----------------------------------------
    def run(self, op, arrays, params):
        """An op's forward (ops.core's single dispatch): ``op.forward`` on NumPy."""
        return op.forward(self.xp, *arrays, **params) if params else op.forward(self.xp, *arrays)

    def forward_function(self, op, params):
        """``run(op, arrays, params)`` as a function of the arrays alone (gpuad.compile's replays call it)."""
        return functools.partial(op.forward, self.xp, **params) if params else functools.partial(op.forward, self.xp)

    @staticmethod
    def unary_grad(rule, g, saved):
        """The input gradient by a fused backward rule of kernels/elementwise.cu: none on the CPU (None), where the
        op's own VJP is as fast."""
        return None

    @staticmethod
    def binary_grad(rule, g, a, b, needs):
        return None

    @staticmethod
    def softmax_grad(g, y, log, dim):
        """softmax's (or log_softmax's) fused input gradient: none on the CPU (None: the op's VJP runs)."""
        return None

    def linear_grad(self, g, kept, x, w, activation, needs):
        """The fused linear layer's first-order VJP: (gx, gw, gb), see generic.linear_grad."""
        return generic.linear_grad(self.xp, g, kept, x, w, activation, needs)

    @staticmethod
    def ignore_rows(target, ignore_index):
        """(targets with the ignored entries set to class 0, which rows count, or None where all do)."""
        ignored = target == ignore_index
        if not ignored.any():
            return target, None
        return np.where(ignored, 0, target), ~ignored

    def cross_entropy_rows(self, x2, target):
        """(per-row loss, m, log s) for class-index targets (see generic.cross_entropy_rows); an index outside
        [0, C) raises IndexError naming it."""
        classes = x2.shape[1]
        if target.size and (target.min() < 0 or target.max() >= classes):
            bad = target[(target < 0) | (target >= classes)]
            raise IndexError(f"cross_entropy: target {int(bad[0])} is out of bounds: class indices must be in "
                             f"[0, {classes}) or equal ignore_index")
        return generic.cross_entropy_rows(self.xp, x2, target)

    def cross_entropy_rows_grad(self, x2, target, m, log_s, scale):
        return generic.cross_entropy_rows_grad(self.xp, x2, target, m, log_s, scale)

    # --- optimizer updates, memory, RNG (backend-owned) ---
    def sgd_step(self, p, g, buf, scratch, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 maximize=False, first=False, fused=True):
        """torch.optim.SGD's update of parameter array ``p`` from gradient ``g``, in place (``buf``: the momentum
        buffer, written whole on the ``first`` step; None without momentum). ``scratch``: the caller's dict of
        temporaries for this parameter. ``fused`` (whether a fused kernel may run) changes nothing on the CPU."""
        optim_updates.sgd_step(self.xp, p, g, buf, scratch, lr, momentum, dampening, weight_decay, nesterov,
                               maximize, first)

    def adam_step(self, p, g, m, v, scratch, *, step, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False,
                  maximize=False, max_exp_avg_sq=None, fused=True):
        """torch.optim.Adam's (``decoupled``: AdamW's) update number ``step`` of ``p``, ``m`` and ``v`` in place;
        ``max_exp_avg_sq`` is amsgrad's running maximum (None without amsgrad)."""
        optim_updates.adam_step(self.xp, p, g, m, v, scratch, step, lr, beta1, beta2, eps, weight_decay, decoupled,
                                maximize, max_exp_avg_sq)

    # Memory: the bytes NumPy allocates for array data, which it registers with tracemalloc in its own domain; the
    # peak also counts the Python objects allocated while tracing. Counting starts on first use (tracing slows Python
    # down: stop it after measuring); allocations made before it are not seen.
    @staticmethod
    def start_memory_count():
        if not tracemalloc.is_tracing():
            tracemalloc.start()

    @staticmethod
    def stop_memory_count():
        """Stop tracemalloc, which also forgets what it counted."""
        tracemalloc.stop()

    def memory_allocated(self):
        self.start_memory_count()
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, _NUMPY_DOMAIN)])
        return sum(stat.size for stat in snapshot.statistics("filename"))

    def max_memory_allocated(self):
        self.start_memory_count()
        return tracemalloc.get_traced_memory()[1]

    def reset_peak_memory(self):
        self.start_memory_count()
        tracemalloc.reset_peak()

    @staticmethod
    def empty_cache():
        """Nothing to give back: NumPy returns freed array memory to malloc itself."""

    @staticmethod
    def synchronize():
        """Nothing to wait for: NumPy's work is done when its call returns."""

    def seed_from(self, seed):
        """Seed the global generator from the process-wide seed (gpuad.manual_seed): the CPU takes it as it is."""
        self.seed(seed)

    RNG_STATE_BYTES = 16 + 16 + 1 + 4  # PCG64's state and increment, has_uint32, uinteger

    def rng_state_bytes(self):
        """The generator's PCG64 state as ``RNG_STATE_BYTES`` bytes (for gpuad.Generator.get_state)."""
        st = self.get_rng_state()
        if st.get("bit_generator") != "PCG64":
            raise RuntimeError(f"Generator.get_state: unexpected bit generator {st.get('bit_generator')!r}")
        return (st["state"]["state"].to_bytes(16, "little") + st["state"]["inc"].to_bytes(16, "little")
                + bytes([st["has_uint32"]]) + int(st["uinteger"]).to_bytes(4, "little"))

    def set_rng_state_bytes(self, raw):
        """Restore what ``rng_state_bytes`` returned."""
        self.set_rng_state({
            "bit_generator": "PCG64",
            "state": {"state": int.from_bytes(raw[0:16], "little"), "inc": int.from_bytes(raw[16:32], "little")},
            "has_uint32": raw[32], "uinteger": int.from_bytes(raw[33:37], "little")})


_NUMPY_DOMAIN = np.lib.tracemalloc_domain
CPU_BACKEND = CPUBackend()
