"""A NumPy emulation of the CuPy that gpuad's CUDA backend uses, and of gpuad's own kernels, so that the backend's
Python code (gpuad/backends/cuda.py, cuda_kernels.py, bound.py) runs on a machine without a GPU.

``installed(devices)`` puts a fake ``cupy`` (and ``cupyx``) into ``sys.modules`` and gives ``Device("cuda", i)``
a real ``CUDABackend`` attached to it (``CUDABackend._attach``), so ordinary gpuad code runs through the backend.
What it holds the code to, as a GPU would:

- GPU arrays are ``FakeArray`` (an ndarray subclass with CuPy's ``get()`` and ``device``), allocated on the device
  current at the time (a stack entered by ``FakeDevice``, device 0 when none is); an operation on an array that
  lives on another device than the current one raises, as does a host (NumPy) array mixed into a GPU operation.
- ``cupy.ElementwiseKernel`` / ``ReductionKernel`` run their C operation through a small interpreter whose calls
  go to NumPy twins of the device functions of ``kernels/*.cu`` (by name; argument counts checked against the
  sources' signatures); typed parameters, ``T`` agreement and output shapes are checked as CuPy checks them.
- ``cupy.RawModule`` parses the ``__global__`` templates of the code it is given; a launch checks the grid and
  block, the argument count, and every pointer argument the instantiation reads or writes against the C type
  (dtype, contiguity, device, the number of elements it touches), then runs a NumPy twin of the kernel.
- The memory pool counts bytes (rounded to 512 as CuPy's pool does) and calls memory hooks by keyword.

What it cannot tell: NVRTC compilation (tests/kernel_compile_check.py does that), CuPy's exact type rules, streams
and asynchrony (events are recorded, nothing runs out of order), array methods called outside the device context
(``x.copy()`` is not checked), and NumPy functions called directly on GPU arrays (they work here, fail on CuPy).
"""
import contextlib
import re
import sys
import threading
import types
import weakref

import numpy as np

from gpuad.backends import cuda, cuda_kernels
from gpuad.device import Device
from gpuad.backends.kernel_source import device_templates

try:
    from scipy.special import erf as _erf
except ImportError:  # pragma: no cover - depends on the machine
    from gpuad.backends.special import erf as _erf


# --- devices, streams, memory -------------------------------------------------------------------------------------
_STACK = []  # the devices entered, innermost last
DEVICES = {}


class FakeDevice:
    """cupy.cuda.Device(i): a re-entrant context making device ``i`` current; counts how often it was entered."""

    def __init__(self, index):
        self.id, self.entered = index, 0
        self.pool = FakePool(index)
        self.stream = FakeStream(self)

    def __enter__(self):
        _STACK.append(self)
        self.entered += 1
        return self

    def __exit__(self, *exc):
        assert _STACK and _STACK[-1] is self, "device contexts left out of order"
        _STACK.pop()

    def use(self):
        _STACK[:] = [self]

    def synchronize(self):
        pass

    def __repr__(self):
        return f"<FakeDevice {self.id}>"


def current_device():
    return _STACK[-1] if _STACK else DEVICES[0]


def _device(index=None):
    if index is None:
        return current_device()
    if index not in DEVICES:
        raise RuntimeError(f"cudaErrorInvalidDevice: device {index} does not exist")
    return DEVICES[index]


class FakeEvent:
    def __init__(self, stream):
        self.stream = stream


class FakeStream:
    """A stream records events and waits for them (the work itself has already run: nothing is asynchronous)."""

    def __init__(self, device):
        self.device, self.waited = device, []

    def record(self, event=None):
        assert current_device() is self.device, "an event recorded on a stream of another device than the current"
        return FakeEvent(self)

    def wait_event(self, event):
        assert isinstance(event, FakeEvent)
        self.waited.append(event)

    def synchronize(self):
        pass


_HOOKS = threading.local()


def _active_hooks():
    if not hasattr(_HOOKS, "list"):
        _HOOKS.list = []
    return _HOOKS.list


class MemoryHook:
    """cupy.cuda.memory_hook.MemoryHook: registered per thread by ``with``; called by keyword as CuPy calls it."""
    name = "MemoryHook"

    def __enter__(self):
        hooks = _active_hooks()
        if any(h.name == self.name for h in hooks):
            raise KeyError(f"hook {self.name} already exists")
        hooks.append(self)
        return self

    def __exit__(self, *exc):
        _active_hooks().remove(self)

    def malloc_postprocess(self, **kwargs):
        pass

    def free_postprocess(self, **kwargs):
        pass


class FakePool:
    """One device's memory pool: the bytes handed out, rounded up to 512 per allocation as CuPy's pool rounds."""

    def __init__(self, index):
        self.index, self.used, self.freed_blocks = index, 0, 0

    def malloc(self, array):
        size = array.nbytes
        if not size:
            return
        mem_size = -(-size // 512) * 512
        self.used += mem_size
        ptr = array.__array_interface__["data"][0]
        for hook in list(_active_hooks()):
            hook.malloc_postprocess(device_id=self.index, size=size, mem_size=mem_size, mem_ptr=ptr, pmem_id=ptr)
        weakref.finalize(array, self._free, mem_size, ptr)

    def _free(self, mem_size, ptr):
        self.used -= mem_size
        for hook in list(_active_hooks()):
            hook.free_postprocess(device_id=self.index, mem_size=mem_size, mem_ptr=ptr, pmem_id=ptr)

    def used_bytes(self):
        return self.used

    def free_all_blocks(self):
        self.freed_blocks += 1


# --- arrays -------------------------------------------------------------------------------------------------------
class FakeArray(np.ndarray):
    """A GPU array: NumPy memory that knows its device; ``get()`` copies it to the host as a plain ndarray."""

    def __array_finalize__(self, obj):
        if isinstance(obj, FakeArray) and self.base is not None:
            self._dev = obj._dev  # a view lives where its base does
        else:
            self._dev = current_device()
            if self.base is None:  # a new allocation (copy, astype)
                self._dev.pool.malloc(self)

    @property
    def device(self):
        return self._dev

    def get(self):
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return call(getattr(ufunc, method), inputs, kwargs, ufunc.__name__)

    def __getitem__(self, key):
        out = super().__getitem__(_unwrap(key, "indexing", host_ok=True))
        return _wrap(out) if isinstance(out, np.generic) else out

    def __setitem__(self, key, value):
        super().__setitem__(_unwrap(key, "indexing", host_ok=True), _unwrap(value, "an assignment", host_ok=True))

    def __repr__(self):
        return f"FakeArray({self.view(np.ndarray)!r}, device={self._dev.id})"


def _wrap(out):
    """A NumPy result as GPU arrays on the current device (scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(out, FakeArray):
        return out
    if isinstance(out, np.ndarray):
        if out.base is None:
            current_device().pool.malloc(out)
        return out.view(FakeArray)
    if isinstance(out, np.generic):
        return _wrap(np.array(out))
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    if isinstance(out, list) and out and all(isinstance(o, np.ndarray) for o in out):
        return [_wrap(o) for o in out]
    return out


def _check(value, what):
    """Raise as CuPy does for a host array, or an array of another device than the current one."""
    if isinstance(value, FakeArray):
        if value._dev is not current_device():
            raise ValueError(f"{what}: an array on device {value._dev.id} used while device {current_device().id} is "
                             f"current (CuPy computes on the current device)")
    elif isinstance(value, np.ndarray):
        raise TypeError(f"{what}: unsupported type numpy.ndarray (a host array given to a GPU operation)")
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check(v, what)


def _unwrap(value, what, host_ok=False):
    if isinstance(value, FakeArray):
        _check(value, what)
        return value.view(np.ndarray)
    if isinstance(value, np.ndarray) and not host_ok:
        _check(value, what)
    if isinstance(value, tuple):
        return tuple(_unwrap(v, what, host_ok) for v in value)
    if isinstance(value, list):
        return [_unwrap(v, what, host_ok) for v in value]
    return value


def call(fn, args, kwargs, name, host_ok=False):
    """``fn`` on GPU arrays: every array operand checked (device, no host arrays), results made GPU arrays;
    ``out=`` arrays are returned as the caller's own objects."""
    out = kwargs.get("out")
    args = _unwrap(tuple(args), name, host_ok)
    kwargs = {k: _unwrap(v, name, host_ok) for k, v in kwargs.items()}
    result = fn(*args, **kwargs)
    if out is not None:
        if isinstance(out, tuple):
            return out if len(out) > 1 else out[0]
        return out
    return _wrap(result)


# --- the fake module --------------------------------------------------------------------------------------------
_HOST_IN = {"asarray", "array", "asanyarray"}  # the functions that copy host data up


class FakeUfunc:
    """A NumPy ufunc on GPU arrays, with its methods (at, reduce, ...) and attributes."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return call(self._ufunc, args, kwargs, self.__name__)

    def __getattr__(self, name):
        value = getattr(self._ufunc, name)
        if not callable(value):
            return value
        return lambda *args, **kwargs: call(value, args, kwargs, f"{self.__name__}.{name}")


class FakeModule(types.ModuleType):
    """``numpy`` (or one of its submodules) as CuPy: functions take GPU arrays and return them."""

    def __init__(self, name, numpy_module, **own):
        super().__init__(name)
        self._numpy = numpy_module
        self.__dict__.update(own)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(self._numpy, name)
        if isinstance(value, np.ufunc):
            value = FakeUfunc(value)
        elif isinstance(value, types.ModuleType):
            value = FakeModule(f"{self.__name__}.{name}", value)
        elif callable(value) and not isinstance(value, type):
            value = _gpu_function(value, name)
        self.__dict__[name] = value
        return value


def _gpu_function(fn, name):
    host_ok = name in _HOST_IN

    def gpu(*args, **kwargs):
        return call(fn, args, kwargs, name, host_ok)
    gpu.__name__ = name
    return gpu


class FakeRandomState:
    """cupy.random.RandomState: draws on the device current when it is called (values are NumPy's, not cuRAND's)."""

    def __init__(self, seed=None):
        self._rs = np.random.RandomState(None if seed is None else int(seed) % 2 ** 32)
        self.device = current_device()

    def _on_device(self):
        if current_device() is not self.device:
            raise ValueError(f"a generator of device {self.device.id} drawn from with device {current_device().id} "
                             f"current")

    def random_sample(self, size=None, dtype=float):
        self._on_device()
        return _wrap(self._rs.random_sample(size).astype(_float_dtype(dtype)))

    def standard_normal(self, size=None, dtype=float):
        self._on_device()
        return _wrap(np.asarray(self._rs.standard_normal(size)).astype(_float_dtype(dtype)))

    def randint(self, low, high=None, size=None, dtype="l"):
        self._on_device()
        return _wrap(np.asarray(self._rs.randint(low, high, size)).astype(dtype))

    def permutation(self, n):
        self._on_device()
        return _wrap(self._rs.permutation(n))


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cupy.random: dtype {dtype} is not supported (float32 or float64)")
    return dtype


def fake_erf(x):
    """cupyx.scipy.special.erf, including its float16 -> float64 loop (the reason for cuda._half_safe)."""
    if isinstance(x, FakeArray) and x.dtype == np.float16:
        x = x.astype(np.float64)
    return call(_erf, (x,), {}, "erf")


def make_cupy(count):
    """The fake ``cupy`` module with ``count`` GPUs, and ``cupyx``."""
    class CUDADriverError(RuntimeError):
        pass

    class CUDARuntimeError(RuntimeError):
        pass

    class CompileException(Exception):
        pass

    # the same device objects for every installation: arrays gpuad caches (the engine's seeds) stay valid
    for i in range(count):
        if i not in DEVICES:
            DEVICES[i] = FakeDevice(i)
    for i in [i for i in DEVICES if i >= count]:
        del DEVICES[i]
    memory_hook = types.ModuleType("cupy.cuda.memory_hook")
    memory_hook.MemoryHook = MemoryHook
    cuda_names = dict(
        Device=_device, get_current_stream=lambda: current_device().stream, memory_hook=memory_hook,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: count, deviceSynchronize=lambda: None,
                                      CUDARuntimeError=CUDARuntimeError),
        driver=types.SimpleNamespace(CUDADriverError=CUDADriverError),
        compiler=types.SimpleNamespace(CompileException=CompileException), MemoryHook=MemoryHook)
    cuda_module = types.ModuleType("cupy.cuda")
    cuda_module.__dict__.update(cuda_names)
    random = FakeModule("cupy.random", np.random, RandomState=FakeRandomState)
    cupy = FakeModule("cupy", np, ndarray=FakeArray, cuda=cuda_module, random=random,
                      is_available=lambda: True, get_default_memory_pool=lambda: current_device().pool,
                      ElementwiseKernel=ElementwiseKernel, ReductionKernel=ReductionKernel, RawModule=RawModule)
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = lambda a, index, value: call(np.add.at, (a, index, value), {}, "scatter_add", host_ok=False)
    cupyx.scipy = types.SimpleNamespace(special=types.SimpleNamespace(erf=fake_erf))
    return {"cupy": cupy, "cupy.cuda": cuda_module, "cupy.cuda.memory_hook": memory_hook, "cupyx": cupyx}


# --- the device functions of kernels/*.cu, by name -----------------------------------------------------------------
def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _c(x, v):
    """The constant ``v`` in x's compute type (A(v) in the sources)."""
    return x.dtype.type(v)


def _gelu_slope(x):
    cdf = _c(x, 0.5) * (1 + _erf(x * _c(x, 0.70710678118654752440)))
    pdf = np.exp(_c(x, -0.5) * x * x) * _c(x, 0.39894228040143267794)
    return cdf + x * pdf


def _gelu_tanh_inner(x):
    return _c(x, 0.79788456080286535588) * (x + _c(x, 0.044715) * x * x * x)


def _gelu_tanh_slope(x):
    t = np.tanh(_gelu_tanh_inner(x))
    return (_c(x, 0.5) * (1 + t) + _c(x, 0.5) * x * (1 - t * t) * _c(x, 0.79788456080286535588)
            * (1 + _c(x, 3) * _c(x, 0.044715) * x * x))


def _share(a, b, wins):
    return np.where(wins, _c(a, 1), np.where(a == b, _c(a, 0.5), _c(a, 0)))


def _sgd_step(p, g, buf, lr, momentum, one_minus_dampening, weight_decay, nesterov, first):
    d = np.where(weight_decay != 0, g + weight_decay * p, g)
    if np.any(momentum != 0):
        buf = np.where(first, d, momentum * buf + one_minus_dampening * d)
        d = np.where(nesterov, d + momentum * buf, buf)
    return p - lr * d, buf


def _adam_step(p, g, m, v, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, l2, decay, step_size, sqrt_bc2):
    g = np.where(l2 != 0, g + l2 * p, g)
    p = np.where(decay != 1, p * decay, p)
    m = beta1 * m + one_minus_beta1 * g
    v = beta2 * v + one_minus_beta2 * g * g
    denom = np.sqrt(v) / sqrt_bc2 + eps
    return p - step_size * (m / denom), m, v


# name -> (function of every parameter in the source's order; returns the value, or the by-reference parameters'
# new values in order)
DEVICE_FUNCTIONS = {
    "sigmoid_fwd": _sigmoid,
    "gelu_fwd": lambda x: _c(x, 0.5) * x * (1 + _erf(x * _c(x, 0.70710678118654752440))),
    "gelu_tanh_fwd": lambda x: _c(x, 0.5) * x * (1 + np.tanh(_gelu_tanh_inner(x))),
    "exp_bwd": lambda g, y: g * y,
    "log_bwd": lambda g, x: g / x,
    "log1p_bwd": lambda g, x: g / (x + 1),
    "sqrt_bwd": lambda g, y: g * (_c(y, 0.5) / y),
    "sin_bwd": lambda g, x: g * np.cos(x),
    "cos_bwd": lambda g, x: -g * np.sin(x),
    "tan_bwd": lambda g, y: g * (1 + y * y),
    "tanh_bwd": lambda g, y: g * (1 - y * y),
    "sigmoid_bwd": lambda g, y: g * (y * (1 - y)),
    "relu_bwd": lambda g, y: np.where(y > 0, g, _c(g, 0)),
    "abs_bwd": lambda g, x: np.where(x > 0, g, np.where(x < 0, -g, _c(g, 0))),
    "erf_bwd": lambda g, x: g * _c(x, 1.12837916709551257390) * np.exp(-x * x),
    "gelu_bwd": lambda g, x: g * _gelu_slope(x),
    "gelu_tanh_bwd": lambda g, x: g * _gelu_tanh_slope(x),
    "mul_bwd": lambda g, a, b, ga, gb: (g * b, g * a),
    "div_bwd": lambda g, a, b, ga, gb: (g / b, -(g / b) * (a / b)),
    "maximum_bwd": lambda g, a, b, ga, gb: (g * _share(a, b, a > b), g * (1 - _share(a, b, a > b))),
    "minimum_bwd": lambda g, a, b, ga, gb: (g * _share(a, b, a < b), g * (1 - _share(a, b, a < b))),
    "sgd_step": _sgd_step,
    "adam_step": _adam_step,
}


# --- ElementwiseKernel / ReductionKernel: the C operation, interpreted --------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.\d*|\d+)|(?P<name>[A-Za-z_][\w]*(?:::[A-Za-z_]\w*)*)|(?P<op>[(),;=<>-]))")
_NUMPY_OF = {"float64": np.float64, "float32": np.float32, "float16": np.float16, "bool": np.bool_,
             "int32": np.int32, "int64": np.int64}
_C_OF = {"float": np.float32, "double": np.float64}


def _tokens(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SyntaxError(f"cannot read {text[pos:]!r} in the kernel operation {text!r}")
        out.append(m.group(m.lastgroup))
        pos = m.end()
    return out


class _Interpreter:
    """Runs the statements CuPy kernel operations in cuda_kernels.py are made of: declarations in the compute type,
    assignments, casts, literals and calls of ``gpuad::fn<A>(...)`` device functions (by-reference arguments get
    the function's results)."""

    def __init__(self, env, storage, preamble):
        self.env, self.T = env, storage
        self.defined = device_templates(preamble)

    def run(self, text):
        for statement in _split(_tokens(text), ";"):
            if statement:
                self.statement(statement)

    def statement(self, toks):
        if toks[0] in _C_OF:  # a declaration: A a = e, b, c = e
            for part in _split(toks[1:], ","):
                name = part[0]
                self.env[name] = (self.cast(_C_OF[toks[0]], self.expr(part[2:])) if len(part) > 1
                                  else np.zeros((), _C_OF[toks[0]]))
        elif len(toks) > 1 and toks[1] == "=":
            self.env[toks[0]] = self.expr(toks[2:])
        else:
            self.expr(toks)

    def expr(self, toks):
        if toks[0] == "(" and len(toks) > 3 and toks[2] == ")" and toks[1] in ("T", "float", "double"):
            dtype = self.T if toks[1] == "T" else _C_OF[toks[1]]
            return self.cast(dtype, self.expr(toks[3:]))
        if len(toks) == 1:
            t = toks[0]
            if t in ("true", "false"):
                return np.bool_(t == "true")
            if t[0].isdigit():
                return float(t) if "." in t else int(t)
            return self.env[t]
        if toks[0].startswith("gpuad::"):
            return self.call(toks)
        raise SyntaxError(f"kernel operation: cannot evaluate {' '.join(toks)!r}")

    def call(self, toks):
        name = toks[0][len("gpuad::"):]
        close = toks.index(">")
        compute = _C_OF[" ".join(toks[2:close])]
        assert toks[close + 1] == "(" and toks[-1] == ")", toks
        args = _split(toks[close + 2:-1], ",")
        template = self.defined.get(name)
        if template is None:
            raise NameError(f"gpuad::{name} is not defined in the kernel's preamble")
        if len(args) != len(template.params):
            raise TypeError(f"gpuad::{name} takes {len(template.params)} arguments ({', '.join(template.params)}), "
                            f"the operation passes {len(args)}")
        values = [self.expr(a) for a in args]
        values = [v if isinstance(v, (np.bool_, bool)) else self.cast(compute, v) for v in values]
        result = DEVICE_FUNCTIONS[name](*values)
        refs = [a for a, p in zip(args, template.params) if "&" in p]
        if template.returns == "void":
            results = result if isinstance(result, tuple) else (result,)
            assert len(results) == len(refs), f"gpuad::{name}: the emulation returns {len(results)} values"
            for ref, value in zip(refs, results):
                if len(ref) != 1:
                    raise TypeError(f"gpuad::{name}: a by-reference argument must be a variable, got {ref}")
                self.env[ref[0]] = self.cast(compute, value)
            return None
        return self.cast(compute, result)

    @staticmethod
    def cast(dtype, value):
        return np.asarray(value).astype(dtype) if not isinstance(value, (int, float)) else dtype(value)


def _split(toks, sep):
    """Split tokens on ``sep`` outside parentheses and template brackets."""
    parts, depth, current = [], 0, []
    for t in toks:
        if t in "(<":
            depth += 1
        elif t in ")>":
            depth -= 1
        if t == sep and depth == 0:
            parts.append(current)
            current = []
        else:
            current.append(t)
    parts.append(current)
    return [p for p in parts if p] if sep == ";" else parts


def _params(text):
    """CuPy's parameter list ("T x, float64 lr") as [(type, name)]."""
    return [tuple(p.split()) for p in text.split(",") if p.strip()]


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run by the interpreter on NumPy, elementwise over the broadcast operands."""

    def __init__(self, in_params, out_params, operation, name, preamble="", **kwargs):
        self.ins, self.outs, self.operation, self.name, self.preamble = (
            _params(in_params), _params(out_params), operation, name, preamble)
        self.launches = 0

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword arguments {sorted(kwargs)}")
        if len(args) not in (len(self.ins), len(self.ins) + len(self.outs)):
            raise TypeError(f"{self.name}: wrong number of arguments: {len(args)} given, {len(self.ins)} inputs and "
                            f"{len(self.outs)} outputs declared")
        params = self.ins + self.outs[:len(args) - len(self.ins)]
        storage = None
        for (ctype, name), value in zip(params, args):
            if ctype == "T":
                if not isinstance(value, FakeArray):
                    raise TypeError(f"{self.name}: argument {name} must be a GPU array, got {type(value).__name__}")
                _check(value, self.name)
                if storage is None:
                    storage = value.dtype
                elif value.dtype != storage:
                    raise TypeError(f"{self.name}: type is mismatched: {name} is {value.dtype}, T is {storage}")
            elif ctype == "bool":
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{self.name}: argument {name} (bool) got {value!r}")
            elif not isinstance(value, (int, float, np.number)) or isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{self.name}: argument {name} ({ctype}) got {value!r}")
        arrays = [a for a in args if isinstance(a, FakeArray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        given = args[len(self.ins):]
        for (ctype, name), out in zip(self.outs, given):
            if out.shape != shape:
                raise ValueError(f"{self.name}: output {name} has shape {out.shape}, the operands broadcast to {shape}")
        self.launches += 1
        env = {}
        for (ctype, name), value in zip(params, args):
            if isinstance(value, FakeArray):
                env[name] = np.broadcast_to(value.view(np.ndarray), shape)
            else:
                env[name] = _NUMPY_OF[ctype](value)
        _Interpreter(env, storage.type, self.preamble).run(self.operation)
        results = []
        for i, (ctype, name) in enumerate(self.outs):
            value = np.broadcast_to(np.asarray(env[name]), shape).astype(storage)
            if i < len(given):
                given[i].view(np.ndarray)[...] = value
                results.append(given[i])
            else:
                results.append(_wrap(np.array(value)))
        return results[0] if len(results) == 1 else tuple(results)


class ReductionKernel:
    """cupy.ReductionKernel for the sum it is used for: map, the SumOp of the preamble, post-map."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name,
                 reduce_type=None, preamble="", **kwargs):
        assert reduce_expr.replace(" ", "") == "gpuad::SumOp()(a,b)", reduce_expr
        assert re.search(r"struct\s+SumOp\b", preamble), "SumOp is not defined in the preamble"
        assert identity == "0"
        self.ins, self.outs, self.map_expr, self.post = _params(in_params), _params(out_params), map_expr, \
            post_map_expr
        self.name, self.reduce_type, self.preamble = name, _C_OF[reduce_type], preamble

    def __call__(self, x, axis=None, keepdims=False):
        if not isinstance(x, FakeArray):
            raise TypeError(f"{self.name}: expects a GPU array, got {type(x).__name__}")
        _check(x, self.name)
        env = {"x": x.view(np.ndarray)}
        interp = _Interpreter(env, x.dtype.type, self.preamble)
        env["mapped"] = interp.expr(_tokens(self.map_expr))
        assert env["mapped"].dtype == self.reduce_type
        env["a"] = np.add.reduce(env["mapped"], axis=axis, keepdims=keepdims, dtype=self.reduce_type)
        interp.run(self.post)
        return _wrap(np.array(np.asarray(env["y"]).astype(x.dtype)))


# --- RawModule: the __global__ templates of a source and NumPy twins of them --------------------------------------
_GLOBAL = re.compile(r"template\s*<(?P<template>[^<>]*)>\s*__global__\s+void\s+(?P<name>\w+)\s*\((?P<params>[^)]*)\)")
_STORAGE_DTYPE = {"float": np.float32, "double": np.float64, "__half": np.float16}
_ACC = {"float": np.float32, "double": np.float64, "__half": np.float32}
_INDEX_DTYPE = {"int": np.int32, "long long": np.int64}


def global_kernels(code):
    """{name: (template parameter names, [(C type, parameter name)])} of the __global__ templates in ``code``."""
    code = re.sub(r"//[^\n]*", "", code)
    kernels = {}
    for m in _GLOBAL.finditer(code):
        template = [p.split()[-1] for p in m["template"].split(",")]
        params = []
        for p in m["params"].split(","):
            p = " ".join(p.replace("__restrict__", "").replace("const", "").split())
            ctype, _, name = p.rpartition(" ")
            params.append((ctype.replace(" *", "*"), name))
        kernels[m["name"]] = (template, params)
    return kernels


def activation_keeps(code):
    """{functor name: KEEP kind} of linear.cu's gpuad::act functors."""
    code = re.sub(r"//[^\n]*", "", code)
    functor = r"struct\s+(\w+)\s*:\s*Base\s*\{\s*enum\s*\{\s*KEEP\s*=\s*KEEP_(\w+)"
    return {m[1]: m[2] for m in re.finditer(functor, code)}


class RawModule:
    """cupy.RawModule(code, options, name_expressions): the kernels of ``code``, each name expression checked."""
    launches = []  # (name expression, grid, block) of every launch, for tests that count them

    def __init__(self, code, options=(), name_expressions=()):
        self.code, self.names = code, list(name_expressions)
        self.kernels = global_kernels(code)
        self.keeps = activation_keeps(code)

    def get_function(self, name_expression):
        if name_expression not in self.names:
            raise KeyError(f"{name_expression} was not in name_expressions")
        m = re.fullmatch(r"gpuad::(\w+)<(.*)>", name_expression)
        if not m or m[1] not in self.kernels:
            raise ValueError(f"no __global__ kernel for {name_expression}")
        template, params = self.kernels[m[1]]
        args = [a.strip() for a in m[2].split(",")]
        if len(args) != len(template):
            raise TypeError(f"{name_expression}: {len(template)} template arguments expected")
        return RawFunction(self, m[1], dict(zip(template, args)), params, name_expression)


class RawFunction:
    def __init__(self, module, name, targs, params, expression):
        self.module, self.name, self.targs, self.params, self.expression = module, name, targs, params, expression
        for key, value in targs.items():
            if key in ("LOG", "BIAS") and value not in ("true", "false"):
                raise TypeError(f"{expression}: {key} must be true or false")
        if "T" in targs and targs["T"] not in _STORAGE_DTYPE:
            raise TypeError(f"{expression}: storage type {targs['T']} has no kernel")
        if "I" in targs and targs["I"] not in _INDEX_DTYPE:
            raise TypeError(f"{expression}: index type {targs['I']} has no kernel")
        if "ACT" in targs:
            functor = targs["ACT"].rpartition("::")[2]
            if not targs["ACT"].startswith("gpuad::act::") or functor not in module.keeps:
                raise TypeError(f"{expression}: {targs['ACT']} is not an activation functor of the source")
            self.keep = module.keeps[functor]

    def dtype_of(self, ctype):
        """The NumPy dtype a pointer parameter's C type stands for in this instantiation."""
        base = ctype.rstrip("*").strip()
        if base == "T":
            return np.dtype(_STORAGE_DTYPE[self.targs["T"]])
        if base == "I":
            return np.dtype(_INDEX_DTYPE[self.targs["I"]])
        if base == "typename Acc<T>::type":
            return np.dtype(_ACC[self.targs["T"]])
        return np.dtype({"int": np.int32, "unsigned char": np.uint8}[base])

    def __call__(self, grid, block, args, shared_mem=0):
        for what, dims in (("grid", grid), ("block", block)):
            if not (isinstance(dims, tuple) and 1 <= len(dims) <= 3
                    and all(isinstance(d, (int, np.integer)) and d >= 1 for d in dims)):
                raise TypeError(f"{self.expression}: {what} must be a tuple of 1 to 3 positive ints, got {dims!r}")
        if int(np.prod(block)) > 1024:
            raise ValueError(f"{self.expression}: block {block} has more than 1024 threads")
        if not isinstance(args, tuple) or len(args) != len(self.params):
            raise TypeError(f"{self.expression}: {len(self.params)} arguments "
                            f"({', '.join(n for _, n in self.params)}), got {len(args)}")
        named = {}
        for (ctype, name), value in zip(self.params, args):
            if ctype.endswith("*"):
                if not isinstance(value, FakeArray):
                    raise TypeError(f"{self.expression}: pointer argument {name} must be a GPU array, got "
                                    f"{type(value).__name__}")
                _check(value, self.expression)
                named[name] = (value, self.dtype_of(ctype))
            else:
                assert ctype == "index_t", ctype
                if type(value) is not np.int64:
                    raise TypeError(f"{self.expression}: argument {name} (index_t, 64-bit) got "
                                    f"{type(value).__name__} {value!r}")
                named[name] = int(value)
        RawModule.launches.append((self.expression, grid, block))
        KERNELS[self.name](_Launch(self, named, grid, block))


class _Launch:
    """What a kernel twin sees: its arguments by the names of the C signature, flat and checked as it uses them."""

    def __init__(self, fn, named, grid, block):
        self.fn, self.named, self.grid, self.block = fn, named, grid, block
        self.T = fn.targs.get("T")
        self.A = _ACC[self.T] if self.T else None

    def flag(self, key):
        return self.fn.targs[key] == "true"

    def ptr(self, name, n):
        """Parameter ``name`` as a flat array of which the kernel touches ``n`` elements (checked: dtype, size)."""
        array, dtype = self.named[name]
        if array.dtype != dtype and not (dtype == np.uint8 and array.dtype == np.bool_):
            raise TypeError(f"{self.fn.expression}: argument {name} is {array.dtype}, the kernel reads it as "
                            f"{dtype}")
        if not array.flags.c_contiguous:
            raise ValueError(f"{self.fn.expression}: argument {name} is not contiguous")
        if array.size < n:
            raise IndexError(f"{self.fn.expression}: argument {name} has {array.size} elements, the kernel touches "
                             f"{n}")
        return array.view(np.ndarray).reshape(-1)[:n]

    def rows(self, name, rows, cols):
        return self.ptr(name, rows * cols).reshape(rows, cols)

    def load(self, name, rows, cols):
        return self.rows(name, rows, cols).astype(self.A)

    def __getitem__(self, name):
        return self.named[name]


def _row_block(launch):
    if launch.block[0] % 32 or len(launch.block) > 1 and np.prod(launch.block[1:]) != 1:
        raise ValueError(f"{launch.fn.expression}: block_reduce needs a 1-D block of a multiple of 32 threads")


def _softmax_fwd(k):
    _row_block(k)
    rows, cols = k["rows"], k["cols"]
    x = k.load("x", rows, cols)
    m = x.max(axis=1, keepdims=True)
    s = np.exp(x - m).sum(axis=1, keepdims=True, dtype=k.A)
    y = x - (m + np.log(s)) if k.flag("LOG") else np.exp(x - m) * (k.A(1) / s)
    k.rows("y", rows, cols)[...] = y


def _softmax_bwd(k):
    _row_block(k)
    rows, cols = k["rows"], k["cols"]
    g, y = k.load("g", rows, cols), k.load("y", rows, cols)
    if k.flag("LOG"):
        k.rows("gx", rows, cols)[...] = g - np.exp(y) * g.sum(axis=1, keepdims=True, dtype=k.A)
    else:
        k.rows("gx", rows, cols)[...] = y * (g - (g * y).sum(axis=1, keepdims=True, dtype=k.A))


def _row_stats(x):
    m = x.max(axis=1)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    return m, np.log(np.exp(x - m[:, None]).sum(axis=1, dtype=x.dtype))


def _cross_entropy_fwd(k):
    _row_block(k)
    rows, cols = k["rows"], k["cols"]
    x = k.load("x", rows, cols)
    t = k.ptr("target", rows).astype(np.int64)
    m, log_s = _row_stats(x)
    k.ptr("m_out", rows)[...] = m
    k.ptr("log_s_out", rows)[...] = log_s
    bad = (t < 0) | (t >= cols)
    k.ptr("bad", 1)[0] += np.int32(bad.sum())
    picked = x[np.arange(rows), np.where(bad, 0, t)]
    k.ptr("loss", rows)[...] = np.where(bad, k.A(np.nan), log_s - (picked - m))


def _cross_entropy_bwd(k):
    rows, cols = k["rows"], k["cols"]
    x = k.load("x", rows, cols)
    t = k.ptr("target", rows).astype(np.int64)
    m, log_s = k.ptr("m", rows), k.ptr("log_s", rows)
    stride = k["g_stride"]
    g = k.ptr("g", (rows - 1) * stride + 1).astype(k.A)[np.arange(rows) * stride]
    p = np.exp((x - m[:, None]) - log_s[:, None])
    hot = (t[:, None] == np.arange(cols)).astype(k.A)
    k.rows("gx", rows, cols)[...] = (p - hot) * g[:, None]


_ACT_FWD = {"Identity": lambda v: v, "Relu": lambda v: np.where((v > 0) | (v != v), v, v.dtype.type(0)),
            "Gelu": DEVICE_FUNCTIONS["gelu_fwd"], "Tanh": np.tanh, "Sigmoid": _sigmoid}
_ACT_SLOPE = {"Gelu": _gelu_slope, "Tanh": lambda y: 1 - y * y, "Sigmoid": lambda y: y * (1 - y)}


def _functor(k):
    return k.fn.targs["ACT"].rpartition("::")[2]


def _bias_act_fwd(k):
    rows, cols = k["rows"], k["cols"]
    keep = k.fn.keep
    v = k.load("z", rows, cols)
    if k.flag("BIAS"):
        v = v + k.ptr("b", cols).astype(k.A)
    if keep == "MASK":
        k.rows("mask", rows, cols)[...] = v > 0
    fwd = _ACT_FWD[_functor(k)](v)
    if keep == "INPUT":
        k.rows("z", rows, cols)[...] = v
        k.rows("out", rows, cols)[...] = fwd
    else:
        k.rows("z", rows, cols)[...] = fwd


def _bias_act_bwd(k):
    if k.block != (32, 8):
        raise ValueError(f"{k.fn.expression}: the kernel is written for blocks of (32, 8), got {k.block}")
    rows, cols = k["rows"], k["cols"]
    if len(k.grid) < 2 or k.grid[0] * 32 < cols:
        raise ValueError(f"{k.fn.expression}: grid {k.grid} does not cover {cols} columns in blocks of 32")
    chunks = k.grid[1]
    keep = k.fn.keep
    d = k.load("g", rows, cols)
    if keep == "MASK":
        d = np.where(k.rows("mask", rows, cols).astype(bool), d, k.A(0))
    elif keep != "NOTHING":
        d = d * _ACT_SLOPE[_functor(k)](k.load("saved", rows, cols))
    if keep != "NOTHING":
        k.rows("dz", rows, cols)[...] = d
    if k.flag("BIAS"):
        partial = k.rows("partial", chunks, cols)
        chunk = -(-rows // chunks)
        for c in range(chunks):
            partial[c] = d[c * chunk:(c + 1) * chunk].sum(axis=0, dtype=k.A)


KERNELS = {"softmax_fwd": _softmax_fwd, "softmax_bwd": _softmax_bwd, "cross_entropy_fwd": _cross_entropy_fwd,
           "cross_entropy_bwd": _cross_entropy_bwd, "bias_act_fwd": _bias_act_fwd, "bias_act_bwd": _bias_act_bwd}


# --- installing it ---------------------------------------------------------------------------------------------------
_CACHED = ("unary", "unary_grad", "binary_grad", "sum_reduction", "sgd_kernel", "adam_kernel")


def _clear_caches():
    for name in _CACHED:
        getattr(cuda_kernels, name).cache_clear()
    cuda._peak_hook_class.cache_clear()


@contextlib.contextmanager
def installed(count=2):
    """The fake CuPy in sys.modules and a CUDABackend on each of ``count`` fake GPUs, set as the backends of
    ``Device("cuda", i)``; yields {index: backend}. Everything is put back on exit."""
    saved = {name: sys.modules.get(name) for name in ("cupy", "cupy.cuda", "cupy.cuda.memory_hook", "cupyx")}
    _STACK.clear()
    fakes = make_cupy(count)
    sys.modules.update(fakes)
    _clear_caches()
    blocking, fused = cuda_kernels.BLOCKING, cuda.FUSED
    cuda_kernels.BLOCKING = True  # exercises launch's synchronize path
    backends, devices = {}, []
    try:
        for i in range(count):
            backend = object.__new__(cuda.CUDABackend)
            backend._attach(fakes["cupy"], i, erf=cuda._half_safe(fake_erf),
                            add_at=fakes["cupyx"].scatter_add)
            dev = Device("cuda", i)
            assert dev._backend is None, f"{dev} already has a backend"
            dev._backend = backends[i] = backend
            devices.append(dev)
        yield backends
    finally:
        for dev in devices:
            backend = dev._backend
            if backend is not None and backend._peak is not None:
                backend.stop_memory_count()
            dev._backend = None
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        cuda_kernels.BLOCKING, cuda.FUSED = blocking, fused
        _clear_caches()
        _STACK.clear()
