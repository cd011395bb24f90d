"""Device-bound namespaces (gpuad/backends/bound.py), on the CPU: built over NumPy with a context manager that
records when it is entered, they must run every function inside it and leave types and constants untouched."""
import types

import numpy as np
import pytest

from gpuad.backends.bound import BoundCallable, bound_namespace
from gpuad.backends.cpu import CPU_BACKEND


class Recorder:
    """A stand-in for cupy.cuda.Device: logs enter/exit and knows how deep it is entered."""

    def __init__(self):
        self.log, self.depth = [], 0

    def __enter__(self):
        self.depth += 1
        self.log.append("enter")

    def __exit__(self, *exc):
        self.depth -= 1
        self.log.append("exit")


@pytest.fixture
def ctx():
    return Recorder()


@pytest.fixture
def xp(ctx):
    return bound_namespace(np, ctx, probe=lambda: ctx.depth)


def test_a_call_enters_the_context_once_and_returns_the_result(xp, ctx):
    out = xp.zeros((2, 3), np.float32)
    assert ctx.log == ["enter", "exit"] and ctx.depth == 0
    assert out.dtype == np.float32 and out.shape == (2, 3) and not out.any()
    assert xp.probe() == 1  # the function itself runs inside it


def test_building_a_namespace_touches_nothing_and_wrappers_are_cached(ctx):
    module = types.ModuleType("fake")
    looked_up = []

    def zeros(n):
        looked_up.append(n)
        return [0] * n
    module.zeros = zeros
    ns = bound_namespace(module, ctx)
    assert ctx.log == [] and "zeros" not in vars(ns)
    assert ns.zeros is ns.zeros and "zeros" in vars(ns)
    assert ns.zeros(2) == [0, 0] and looked_up == [2] and ctx.log == ["enter", "exit"]


def test_nested_calls_enter_again_and_unwind_in_order(ctx):
    ns = None

    def outer():
        return ns.inner() + 10 * ctx.depth

    ns = bound_namespace(np, ctx, outer=outer, inner=lambda: ctx.depth)
    assert ns.outer() == 2 + 10
    assert ctx.log == ["enter", "enter", "exit", "exit"] and ctx.depth == 0


def test_the_context_is_left_when_the_function_raises(xp, ctx):
    with pytest.raises(ValueError):
        xp.reshape(np.arange(6), (4, 4))
    assert ctx.log == ["enter", "exit"] and ctx.depth == 0


def test_types_constants_and_dtypes_are_the_modules_own_objects(xp, ctx):
    assert xp.ndarray is np.ndarray and xp.float32 is np.float32 and xp.int64 is np.int64
    assert xp.bool_ is np.bool_ and xp.dtype is np.dtype and xp.iinfo is np.iinfo and xp.finfo is np.finfo
    assert xp.pi is np.pi and xp.inf is np.inf and xp.newaxis is None and xp.e is np.e
    assert isinstance(xp.ones(2), xp.ndarray) and isinstance(xp.float32(1), xp.floating)
    assert xp.random.Generator is np.random.Generator
    assert ctx.log == ["enter", "exit"]  # only the ones() call entered


def test_ufuncs_are_bound_and_keep_their_attributes_and_methods(xp, ctx):
    assert isinstance(xp.add, BoundCallable) and xp.add is xp.add
    assert xp.add.nin == 2 and xp.add.__name__ == "add" and hasattr(xp.add, "at") and hasattr(xp.maximum, "reduce")
    assert not ctx.log
    a = np.zeros(3)
    xp.add.at(a, [0, 0, 2], 1.0)
    np.testing.assert_array_equal(a, [2.0, 0.0, 1.0])
    assert xp.maximum.reduce(np.array([1, 3, 2])) == 3
    np.testing.assert_array_equal(xp.add.accumulate(np.array([1, 2, 3])), [1, 3, 6])
    np.testing.assert_array_equal(xp.multiply(np.array([1, 2]), 3), [3, 6])
    assert ctx.log == ["enter", "exit"] * 4
    out = np.empty(2)
    assert xp.subtract(np.array([3.0, 4.0]), 1.0, out=out) is out  # keyword arguments pass through


def test_submodule_functions_are_bound_and_the_submodule_is_cached(xp, ctx):
    assert xp.linalg is xp.linalg and xp.random is xp.random
    np.testing.assert_allclose(xp.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]])), [[0.5, 0.0], [0.0, 0.25]])
    assert ctx.log == ["enter", "exit"]
    rng = xp.random.default_rng(0)
    assert isinstance(rng, np.random.Generator)
    np.testing.assert_allclose(xp.fft.fft(np.ones(4)), [4, 0, 0, 0])
    assert ctx.log == ["enter", "exit"] * 3


def test_extras_are_bound_and_wrapped_functions_keep_their_identity_for_introspection(xp, ctx):
    assert xp.probe() == 1 and ctx.log == ["enter", "exit"]
    assert xp.asarray.__name__ == "asarray" and xp.asarray.__wrapped__ is np.asarray
    assert xp.asarray.__doc__ == np.asarray.__doc__


def test_a_missing_name_is_an_attribute_error_naming_it(xp):
    with pytest.raises(AttributeError, match="no_such_function"):
        xp.no_such_function
    assert not hasattr(xp, "no_such_function")
    assert "zeros" in dir(xp)


def test_over_cupy_types_and_ufunc_methods_stay_cupys(ctx):
    """Over the real CuPy module (it imports without a GPU; nothing here is called)."""
    cupy = pytest.importorskip("cupy")
    xp = bound_namespace(cupy, ctx)
    assert xp.ndarray is cupy.ndarray and xp.float32 is np.float32 and xp.random.RandomState is \
        cupy.random.RandomState
    assert hasattr(xp.add, "at") and hasattr(xp.maximum, "reduce") and xp.add.nin == 2
    assert xp.cuda.Device is cupy.cuda.Device and callable(xp.cuda.runtime.getDeviceCount)
    assert callable(xp.matmul) and callable(xp.linalg.qr) and not ctx.log


# --- the CPU backend's side of the boundary -------------------------------------------------------------------
def test_cpu_copy_iadd_and_write():
    a = np.arange(4, dtype=np.float32)
    c = CPU_BACKEND.copy(a)
    assert c is not a and c.dtype == np.float32 and not np.shares_memory(a, c)
    d = CPU_BACKEND.copy(a, np.dtype(np.float64))
    assert d.dtype == np.float64 and not np.shares_memory(a, d)
    np.testing.assert_array_equal(d, a)
    assert CPU_BACKEND.iadd(c, a) is c
    np.testing.assert_array_equal(c, 2 * a)
    CPU_BACKEND.write(c, 7.0, (slice(1, 3),))
    np.testing.assert_array_equal(c, [0, 7, 7, 6])
    CPU_BACKEND.write(c, a)
    np.testing.assert_array_equal(c, a)
