"""gpuad's own CUDA kernels, built with CuPy from the sources in ``kernels/`` and launched with their names on errors.

Elementwise forward/backward rules and optimizer updates are ``cupy.ElementwiseKernel`` s whose operation calls a
device function of ``kernels/elementwise.cu`` or ``kernels/optim.cu`` (stride-aware indexing: broadcast and
non-contiguous operands need no copy; empty arrays launch nothing). The broadcast-gradient reduction is a
``cupy.ReductionKernel``. Row kernels (softmax, cross-entropy, the fused linear epilogue) are templates in a
``cupy.RawModule`` instantiated through ``name_expressions``; they take contiguous arrays, so their callers copy
non-contiguous inputs first. float16 is computed in float32 everywhere and stored as float16.

Kernels are built on first use, once per kernel, dtype and device. ElementwiseKernels and ReductionKernels hit
CuPy's on-disk cache in later processes. A RawModule built with ``name_expressions`` bypasses that cache in CuPy 13
(CuPy 14 caches it), so under CuPy 13 every process compiles ``linear.cu`` and ``softmax.cu`` once on first use (NVRTC;
the first-call latency has not been measured on a GPU yet).

Denormals: NVRTC is given ``-ftz=true`` by CuPy for every kernel (CuPy appends it after our options, and the last one
wins), so float32 results below ~1.2e-38 are flushed to zero on CUDA, as in CuPy's own kernels: sigmoid(-100) is 0 in
float32 on CUDA and 3.7e-44 on the CPU. float64 is not affected. Tests compare CUDA with the CPU to an absolute
tolerance of float32's smallest normal there.
Set ``GPUAD_CUDA_LAUNCH_BLOCKING=1`` to synchronize after every launch, so that an asynchronous fault is reported
against the kernel that caused it.
"""
import functools
import os

import numpy as np

from .. import activations
from . import generic
from .kernel_source import kernel_text

_COMPUTE = {np.dtype("float16"): "float", np.dtype("float32"): "float", np.dtype("float64"): "double"}
_STORAGE = {np.dtype("float16"): "__half", np.dtype("float32"): "float", np.dtype("float64"): "double"}
_INDEX = {np.dtype("int64"): "long long", np.dtype("int32"): "int"}
BLOCKING = os.environ.get("GPUAD_CUDA_LAUNCH_BLOCKING", "") not in ("", "0")

# Each RawModule file's kernel templates and the values of their template parameters after the first, which is the
# storage type (every value of _STORAGE). The one table of instantiations: _siblings builds a module's name
# expressions from it, and CI's compile check (tests/kernel_compile_check.py) instantiates every entry with nvcc.
STORAGE_TYPES = tuple(dict.fromkeys(_STORAGE.values()))
_BOOLS = ("true", "false")
# (activation functor, has bias) for every record of gpuad/activations.py: all but the identity without a bias, where
# bias_activation(_grad) launch nothing
_EPILOGUES = tuple((a.cuda, bias) for a in activations.ACTIVATIONS.values() for bias in _BOOLS
                   if a.keeps is not activations.NOTHING or bias == "true")
RAW_TEMPLATES = {
    "linear.cu": {"gpuad::bias_act_fwd": _EPILOGUES, "gpuad::bias_act_bwd": _EPILOGUES},
    "softmax.cu": {"gpuad::softmax_fwd": tuple((log,) for log in _BOOLS),
                   "gpuad::softmax_bwd": tuple((log,) for log in _BOOLS),
                   "gpuad::cross_entropy_fwd": tuple((index,) for index in _INDEX.values()),
                   "gpuad::cross_entropy_bwd": tuple((index,) for index in _INDEX.values())},
}


def compute_type(dtype):
    """The C type a kernel computes in for arrays of ``dtype``; None where we have no kernel for it."""
    return _COMPUTE.get(np.dtype(dtype))


def compute_dtype(dtype):
    """The NumPy dtype of that C type: what per-row results (cross-entropy's loss and log-sum-exp, linear's partial
    bias sums) are kept in."""
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


def launch(name, kernel, *args, **kwargs):
    """Call a CuPy kernel; any failure (compilation, launch configuration, a fault seen at the next synchronization
    under GPUAD_CUDA_LAUNCH_BLOCKING) is raised as a RuntimeError that names the kernel."""
    import cupy  # lazy: import gpuad never imports CuPy
    try:
        out = kernel(*args, **kwargs)
        if BLOCKING:
            cupy.cuda.Device().synchronize()
    except (cupy.cuda.driver.CUDADriverError, cupy.cuda.runtime.CUDARuntimeError,
            cupy.cuda.compiler.CompileException) as exc:
        raise RuntimeError(f"CUDA kernel {name} failed: {exc}") from exc
    return out


# --- elementwise (kernels/elementwise.cu) -----------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def unary(fn, compute):
    """y = fn(x), e.g. fn = "sigmoid_fwd"."""
    import cupy  # lazy: import gpuad never imports CuPy
    return cupy.ElementwiseKernel("T x", "T y", f"y = (T)gpuad::{fn}<{compute}>(({compute})x)",
                                  f"gpuad_{fn}_{compute}", preamble=kernel_text("elementwise.cu"))


@functools.lru_cache(maxsize=None)
def unary_grad(fn, compute):
    """gx = fn(g, saved), e.g. fn = "tanh_bwd" with the saved output."""
    import cupy  # lazy: import gpuad never imports CuPy
    return cupy.ElementwiseKernel("T g, T s", "T gx", f"gx = (T)gpuad::{fn}<{compute}>(({compute})g, ({compute})s)",
                                  f"gpuad_{fn}_{compute}", preamble=kernel_text("elementwise.cu"))


@functools.lru_cache(maxsize=None)
def binary_grad(fn, compute, which):
    """Both input gradients of a binary op from one read of g, a and b (``which`` = "ab"), or only one ("a", "b")."""
    import cupy  # lazy: import gpuad never imports CuPy
    outs = ", ".join(f"T g{w}" for w in which)
    body = (f"{compute} ga_, gb_; gpuad::{fn}<{compute}>(({compute})g, ({compute})a, ({compute})b, ga_, gb_); "
            + " ".join(f"g{w} = (T)g{w}_;" for w in which))
    return cupy.ElementwiseKernel("T g, T a, T b", outs, body, f"gpuad_{fn}_{which}_{compute}",
                                  preamble=kernel_text("elementwise.cu"))


# --- reductions (kernels/reductions.cu) -------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def sum_reduction(compute):
    """Sum over the given axes, accumulated in ``compute`` (float for float16): the broadcast-gradient reduction."""
    import cupy  # lazy: import gpuad never imports CuPy
    return cupy.ReductionKernel("T x", "T y", f"({compute})x", "gpuad::SumOp()(a, b)", "y = (T)a",
                                "0", f"gpuad_sum_to_{compute}", reduce_type=compute,
                                preamble=kernel_text("reductions.cu"))


def sum_to(x, axes, shape):
    """x summed over ``axes`` (keeping them) and reshaped to ``shape``, in one launch."""
    out = launch("gpuad_sum_to", sum_reduction(_COMPUTE[x.dtype]), x, axis=axes, keepdims=True)
    return out.reshape(shape)


# --- optimizers (kernels/optim.cu) ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def sgd_kernel(compute, momentum):
    import cupy  # lazy: import gpuad never imports CuPy
    if momentum:
        return cupy.ElementwiseKernel(
            "T g, float64 lr, float64 momentum, float64 one_minus_dampening, float64 wd, bool nesterov, bool first",
            "T p, T buf",
            f"{compute} p_ = ({compute})p, buf_ = ({compute})buf; "
            f"gpuad::sgd_step<{compute}>(p_, ({compute})g, buf_, ({compute})lr, ({compute})momentum, "
            f"({compute})one_minus_dampening, ({compute})wd, nesterov, first); p = (T)p_; buf = (T)buf_;",
            f"gpuad_sgd_momentum_{compute}", preamble=kernel_text("optim.cu"))
    return cupy.ElementwiseKernel(
        "T g, float64 lr, float64 wd", "T p",
        f"{compute} p_ = ({compute})p, unused = 0; "
        f"gpuad::sgd_step<{compute}>(p_, ({compute})g, unused, ({compute})lr, ({compute})0, ({compute})1, "
        f"({compute})wd, false, false); p = (T)p_;",
        f"gpuad_sgd_{compute}", preamble=kernel_text("optim.cu"))


@functools.lru_cache(maxsize=None)
def adam_kernel(compute):
    import cupy  # lazy: import gpuad never imports CuPy
    c = compute
    return cupy.ElementwiseKernel(
        "T g, float64 beta1, float64 one_minus_beta1, float64 beta2, float64 one_minus_beta2, float64 eps, "
        "float64 l2, float64 decay, float64 step_size, float64 sqrt_bc2",
        "T p, T m, T v",
        f"{c} p_ = ({c})p, m_ = ({c})m, v_ = ({c})v; "
        f"gpuad::adam_step<{c}>(p_, ({c})g, m_, v_, ({c})beta1, ({c})one_minus_beta1, ({c})beta2, "
        f"({c})one_minus_beta2, ({c})eps, ({c})l2, ({c})decay, ({c})step_size, ({c})sqrt_bc2); "
        f"p = (T)p_; m = (T)m_; v = (T)v_;",
        f"gpuad_adam_{c}", preamble=kernel_text("optim.cu"))


# --- row kernels (kernels/softmax.cu, kernels/linear.cu) ----------------------------------------------------------
_ROW_BLOCK = 256
_FLAT_BLOCK = 256
_MAX_GRID = 65535 * 8


class RawKernels:
    """The RawModule of one source file on one device, built once with every instantiation of that file for the dtype
    asked for (see the module docstring for what CuPy caches)."""

    def __init__(self, source, device):
        self.source, self.device = source, device
        self._module, self._names, self._functions = None, [], {}

    def function(self, name_expression):
        fn = self._functions.get(name_expression)
        if fn is None:
            import cupy  # lazy: import gpuad never imports CuPy
            names = self._names + [n for n in _siblings(self.source, name_expression) if n not in self._names]
            try:
                with self.device:
                    module = cupy.RawModule(code=kernel_text(self.source), options=("-std=c++14",),
                                            name_expressions=names)
                    functions = {n: module.get_function(n) for n in names}
            except (cupy.cuda.compiler.CompileException, cupy.cuda.driver.CUDADriverError) as exc:
                raise RuntimeError(f"CUDA kernel {name_expression} from kernels/{self.source} failed to "
                                   f"build: {exc}") from exc
            # only a module that built replaces the old one, so one bad request cannot break the kernels after it
            self._module, self._names, self._functions = module, names, functions
            fn = functions[name_expression]
        return fn

    def __call__(self, name_expression, grid, block, args, shared_mem=0):
        fn = self.function(name_expression)
        with self.device:
            launch(name_expression, fn, (grid,) if isinstance(grid, int) else grid,
                   (block,) if isinstance(block, int) else block, args, shared_mem=shared_mem)


def raw_instantiations(source, storage):
    """The name expressions of every kernel of the RawModule file ``source`` for one storage type, as the launch
    sites spell them (``gpuad::softmax_fwd<float, false>``), in RAW_TEMPLATES' order."""
    return [f"{template}<{', '.join((storage,) + tuple(str(v) for v in values))}>"
            for template, instances in RAW_TEMPLATES[source].items() for values in instances]


def _siblings(source, name_expression):
    """Every instantiation of ``source`` for the storage type of ``name_expression`` (itself first): one build
    compiles them all, instead of rebuilding the module each time another one is first asked for."""
    storage = name_expression.split("<", 1)[1].split(",", 1)[0].strip(" >")
    return [name_expression] + [k for k in raw_instantiations(source, storage) if k != name_expression]


def _rows_grid(rows):
    return max(1, min(rows, _MAX_GRID))


def _flat_grid(n):
    return max(1, min((n + _FLAT_BLOCK - 1) // _FLAT_BLOCK, _MAX_GRID))


def softmax(backend, x, log):
    """softmax (or log_softmax) over the last axis of x, any leading shape."""
    xp = backend.xp
    x = xp.ascontiguousarray(x)
    y = xp.empty_like(x)
    cols = x.shape[-1] if x.ndim else 1
    rows = x.size // cols if cols else 0
    if rows:
        backend.raw("softmax.cu")(f"gpuad::softmax_fwd<{_STORAGE[x.dtype]}, {_bool(log)}>",
                                  _rows_grid(rows), _ROW_BLOCK, (x, y, np.int64(rows), np.int64(cols)))
    return y


def softmax_grad(backend, g, y, log):
    xp = backend.xp
    g, y = xp.ascontiguousarray(g), xp.ascontiguousarray(y)
    gx = xp.empty_like(y)
    cols = y.shape[-1] if y.ndim else 1
    rows = y.size // cols if cols else 0
    if rows:
        backend.raw("softmax.cu")(f"gpuad::softmax_bwd<{_STORAGE[y.dtype]}, {_bool(log)}>",
                                  _rows_grid(rows), _ROW_BLOCK, (g, y, gx, np.int64(rows), np.int64(cols)))
    return gx


def cross_entropy_rows(backend, x, target):
    """(per-row loss, m, log s) in the compute type, as generic.cross_entropy_rows computes them. Class indices out
    of range give NaN rows and are counted on the GPU into the backend's error counter: the next read back to the host
    raises, and nothing here waits for the GPU."""
    xp = backend.xp
    x, target = xp.ascontiguousarray(x), xp.ascontiguousarray(target)
    rows, cols = x.shape
    loss, m, log_s = (xp.empty(rows, compute_dtype(x.dtype)) for _ in range(3))
    if rows:
        target = target if target.dtype in _INDEX else target.astype(np.int64)
        bad = backend.error_counter(f"cross_entropy: class indices must be in [0, {cols})")
        backend.raw("softmax.cu")(f"gpuad::cross_entropy_fwd<{_STORAGE[x.dtype]}, {_INDEX[target.dtype]}>",
                                  _rows_grid(rows), _ROW_BLOCK,
                                  (x, target, loss, m, log_s, bad, np.int64(rows), np.int64(cols)))
    return loss, m, log_s


def cross_entropy_rows_grad(backend, x, target, m, log_s, g):
    """(softmax(x) - onehot(target)) * g per row (g: one value per row), softmax as exp((x - m) - log s)."""
    xp = backend.xp
    x, target, g = xp.ascontiguousarray(x), xp.ascontiguousarray(target), xp.ascontiguousarray(g)
    gx = xp.empty_like(x)
    if x.size:
        target = target if target.dtype in _INDEX else target.astype(np.int64)
        stats = compute_dtype(x.dtype)
        m, log_s = xp.ascontiguousarray(m, stats), xp.ascontiguousarray(log_s, stats)
        g = g.astype(x.dtype, copy=False)
        backend.raw("softmax.cu")(f"gpuad::cross_entropy_bwd<{_STORAGE[x.dtype]}, {_INDEX[target.dtype]}>",
                                  _flat_grid(x.size), _FLAT_BLOCK,
                                  (x, target, m, log_s, g, np.int64(1 if g.size > 1 else 0), gx,
                                   np.int64(x.shape[0]), np.int64(x.shape[1])))
    return gx


def bias_activation(backend, z, bias, activation):
    """The linear layer's epilogue on the GEMM output z (contiguous, changed in place): returns (output, what
    backward keeps), as the activation's record says (gpuad/activations.py)."""
    xp = backend.xp
    act = activations.ACTIVATIONS[activation]
    cols = z.shape[-1]
    rows = z.size // cols if cols else 0
    mask = xp.empty(z.shape, np.bool_) if act.keeps == activations.MASK else None
    out = xp.empty_like(z) if act.keeps == activations.INPUT else z
    if z.size and (bias is not None or act.keeps is not activations.NOTHING):
        has_bias = bias is not None
        # unused pointer arguments get z: a kernel argument is only an address
        backend.raw("linear.cu")(
            f"gpuad::bias_act_fwd<{_STORAGE[z.dtype]}, {act.cuda}, {_bool(has_bias)}>",
            _flat_grid(z.size), _FLAT_BLOCK,
            (z, xp.ascontiguousarray(bias) if has_bias else z, out, z if mask is None else mask,
             np.int64(rows), np.int64(cols)))
    kept = {activations.NOTHING: None, activations.MASK: mask, activations.INPUT: z, activations.OUTPUT: out}
    return out, kept[act.keeps]


def bias_activation_grad(backend, g, saved, activation, needs_bias):
    """(dz, bias gradient or None): dz = g * activation'(saved) and its column sums from one launch (plus one to add
    the row chunks' partial sums where there are several). ``saved`` is what bias_activation kept."""
    xp = backend.xp
    act = activations.ACTIVATIONS[activation]
    g = xp.ascontiguousarray(g)
    cols = g.shape[-1]
    rows = g.size // cols if cols else 0
    if act.keeps is activations.NOTHING and not needs_bias:
        return g, None
    dz = g if act.keeps is activations.NOTHING else xp.empty_like(g)
    if rows == 0:
        return dz, xp.zeros(cols, g.dtype) if needs_bias else None
    column_blocks = (cols + 31) // 32
    chunks = max(1, min(-(-_TARGET_BLOCKS // column_blocks), -(-rows // _MIN_CHUNK_ROWS)))
    partial = xp.empty((chunks, cols), compute_dtype(g.dtype)) if needs_bias else g
    saved = g if saved is None else xp.ascontiguousarray(saved)
    masked = act.keeps == activations.MASK
    backend.raw("linear.cu")(
        f"gpuad::bias_act_bwd<{_STORAGE[g.dtype]}, {act.cuda}, {_bool(needs_bias)}>",
        (column_blocks, chunks), (32, 8),
        (g, g if masked else saved, saved if masked else g, dz, partial, np.int64(rows), np.int64(cols)))
    if not needs_bias:
        return dz, None
    gb = partial[0] if chunks == 1 else sum_to(partial, (0,), (cols,))
    return dz, gb.astype(g.dtype, copy=False)


def linear(backend, x, w, b, activation):
    """The fused linear layer's forward: cuBLAS's GEMM, then bias_activation."""
    if compute_type(x.dtype) is None:
        return None
    return bias_activation(backend, backend.xp.matmul(x, w.T), b, activation)


def linear_grad(backend, g, kept, x, w, activation, needs):
    """(gx, gw, gb): bias_activation_grad in one launch, then the two GEMMs."""
    dz, gb = bias_activation_grad(backend, g, kept, activation, needs[2])
    return generic.linear_gemms(backend.xp, dz, x, w, needs, gb)


# --- elementwise forwards and fused backward rules ---------------------------------------------------------------
def elementwise_forward(name):
    """An ``Op.cuda`` entry for a composite elementwise forward of kernels/elementwise.cu (``name``: the device
    function, or a function of the op's params giving it)."""
    def run(backend, x, **params):
        compute = compute_type(x.dtype)
        if compute is None:
            return None
        fn = name(params) if callable(name) else name
        return launch(f"gpuad_{fn}", unary(fn, compute), x)
    return run


def unary_grad_launch(rule, g, saved):
    """g * f'(saved) by the rule ``rule`` of kernels/elementwise.cu in one launch, or None where it does not apply."""
    compute = compute_type(g.dtype)
    if compute is None or saved.dtype != g.dtype or saved.shape != g.shape:
        return None
    return launch(f"gpuad_{rule}", unary_grad(rule, compute), g, saved)


def binary_grad_launch(rule, g, a, b, needs):
    """Both (or one) input gradients of a binary op from one launch of ``rule``, None where ``needs`` is False; or
    None where the rule does not apply."""
    compute = compute_type(g.dtype)
    if compute is None or a.dtype != g.dtype or b.dtype != g.dtype:
        return None
    which = ("a" if needs[0] else "") + ("b" if needs[1] else "")
    out = launch(f"gpuad_{rule}", binary_grad(rule, compute, which), g, a, b)
    grads = iter(out if isinstance(out, tuple) else (out,))
    return tuple(next(grads) if need else None for need in needs)


def _softmax_forward(log):
    def run(backend, x, dim):
        return softmax(backend, x, log) if _last_axis(x, dim) and x.dtype.kind == "f" else None
    return run


def softmax_grad_launch(backend, g, y, log, dim):
    if not (_last_axis(y, dim) and compute_type(y.dtype) and g.dtype == y.dtype):
        return None
    return softmax_grad(backend, g, y, log)


def _last_axis(x, dim):
    """Whether ``dim`` (normalised) is the last axis: the row kernels work on rows of the last axis."""
    return x.ndim and dim == x.ndim - 1


def _sum_to_forward(backend, g, shape):
    axes = _sum_to_axes(g, shape)
    return sum_to(g, axes, shape) if axes and compute_type(g.dtype) else None


def _sum_to_axes(g, shape):
    """The axes of ``g`` summed to reach ``shape`` (leading extra axes, and axes where ``shape`` has 1)."""
    lead = g.ndim - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)


_GELU_FORWARD = {"none": "gelu_fwd", "tanh": "gelu_tanh_fwd"}

# Op.cuda names -> (backend, *arrays, **params) -> array, or None where the kernel does not apply (the op's own
# forward runs then)
FORWARDS = {
    "sigmoid": elementwise_forward("sigmoid_fwd"),
    "gelu": elementwise_forward(lambda params: _GELU_FORWARD[params["approximate"]]),
    "softmax": _softmax_forward(False),
    "log_softmax": _softmax_forward(True),
    "sum_to": _sum_to_forward,
    "linear": linear,
}


_TARGET_BLOCKS = 264   # about two blocks per SM on the largest GPUs: enough to keep the memory system busy
_MIN_CHUNK_ROWS = 64   # below this a chunk's 8 row groups have too little to do


def _bool(flag):
    return "true" if flag else "false"
