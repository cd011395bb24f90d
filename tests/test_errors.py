"""Bad input raises an exception of the right type whose message names the problem."""
import re

import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")


def _raises(exc_type, fn, *fragments):
    """Call ``fn``, expect ``exc_type``, and check the message contains each fragment (case-insensitive)."""
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment.lower() in message.lower(), f"{fragment!r} not in message: {message}"
    return message


# --- shapes ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [((2, 3), (2, 3)), ((3,), (4,)), ((5, 2, 3), (4, 2))])
def test_matmul_of_mismatched_shapes_names_both(a_shape, b_shape):
    a, b = gpuad.ones(*a_shape), gpuad.ones(*b_shape)
    _raises(ValueError, lambda: a @ b, str(a_shape), str(b_shape))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_non_broadcastable_shapes_name_both(op):
    a, b = gpuad.ones(2, 3), gpuad.ones(4)
    _raises(ValueError, lambda: getattr(a, op)(b), "(2, 3)", "(4,)", "broadcast")


def test_non_broadcastable_operator():
    _raises(ValueError, lambda: gpuad.ones(2, 3) + gpuad.ones(2, 4), "(2, 3)", "(2, 4)")


# --- devices --------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(gpuad.cuda.is_available(), reason="checks the error on a machine without a usable GPU")
@pytest.mark.parametrize("make", [
    lambda: gpuad.tensor([1.0], device="cuda"),
    lambda: gpuad.zeros(2, device="cuda:0"),
    lambda: gpuad.ones(2).to("cuda"),
], ids=["tensor", "zeros", "to"])
def test_cuda_without_a_gpu_raises_a_clear_error(make):
    message = _raises(RuntimeError, make)
    assert re.search(r"cupy|gpu", message, re.IGNORECASE), message


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "gpu", "cpu:1"])
def test_invalid_device_string(spec):
    _raises(ValueError, lambda: gpuad.tensor([1.0], device=spec), repr(spec))
    _raises(ValueError, lambda: gpuad.device(spec), repr(spec))


def test_device_of_the_wrong_type():
    _raises(TypeError, lambda: gpuad.device(3.5), "float")


@requires_cuda
def test_mixed_devices_name_both():
    a, b = gpuad.ones(2), gpuad.ones(2, device="cuda")
    _raises(RuntimeError, lambda: a + b, "cpu", "cuda:0")
    _raises(RuntimeError, lambda: b @ a, "cpu", "cuda:0")


# --- dtypes ---------------------------------------------------------------------------------------------------------
def test_in_place_add_of_float_into_int_names_the_cast():
    ints = gpuad.tensor([1, 2])
    _raises(TypeError, lambda: ints.add_(gpuad.tensor([0.5, 0.5])), "int64", "cast")
    assert ints.tolist() == [1, 2]  # unchanged


@pytest.mark.parametrize("condition", [gpuad.ones(2), gpuad.tensor([1, 0])], ids=["float", "int"])
def test_where_with_a_non_bool_condition(condition):
    _raises(TypeError, lambda: gpuad.where(condition, gpuad.ones(2), gpuad.zeros(2)), "bool",
            str(condition.dtype))


@pytest.mark.parametrize("make", [
    lambda: gpuad.tensor([1, 2], requires_grad=True),
    lambda: gpuad.tensor([True], requires_grad=True),
    lambda: gpuad.zeros(2, dtype=gpuad.int32, requires_grad=True),
    lambda: gpuad.arange(3, requires_grad=True),
    lambda: gpuad.tensor([1, 2]).requires_grad_(),
    lambda: setattr(gpuad.tensor([1, 2], dtype=gpuad.int16), "requires_grad", True),
], ids=["tensor-int64", "tensor-bool", "zeros-int32", "arange-int64", "requires_grad_", "setattr-int16"])
def test_requires_grad_on_integer_or_bool_tensor(make):
    message = _raises(RuntimeError, make, "floating")
    assert re.search(r"int64|int32|int16|bool", message), message


@pytest.mark.parametrize("factory", [gpuad.rand, gpuad.randn])
def test_random_factories_need_a_floating_dtype(factory):
    _raises(TypeError, lambda: factory(2, dtype=gpuad.int64), "floating", "int64")


def test_tensor_from_unsupported_data():
    _raises(TypeError, lambda: gpuad.tensor("abc"), "str")


# --- backward -------------------------------------------------------------------------------------------------------
def test_backward_on_a_non_scalar_needs_a_gradient():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    _raises(RuntimeError, lambda: (x * 2).backward(), "scalar")


def test_backward_with_a_gradient_of_the_wrong_shape():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    _raises(RuntimeError, lambda: (x * 2).backward(gpuad.ones(3)), "(3,)", "(2,)")


def test_second_backward_through_a_freed_graph_suggests_retain_graph():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    z = (x * x).sum()
    z.backward()
    _raises(RuntimeError, z.backward, "second time", "retain_graph=True")


def test_retain_graph_allows_a_second_backward():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_backward_on_a_tensor_without_history():
    _raises(RuntimeError, gpuad.tensor(1.0).backward, "does not require grad")


def test_in_place_change_of_a_saved_tensor():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp saves its output for backward
    y.add_(1)
    _raises(RuntimeError, lambda: y.sum().backward(), "in-place", "version")


@pytest.mark.parametrize("change", [
    lambda x: x.add_(1),
    lambda x: x.mul_(2),
    lambda x: x.zero_(),
    lambda x: x.__setitem__(0, 5.0),
], ids=["add_", "mul_", "zero_", "setitem"])
def test_in_place_on_a_leaf_that_requires_grad(change):
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    _raises(RuntimeError, lambda: change(x), "leaf", "in-place")
    assert x.tolist() == [1.0, 2.0]
    with gpuad.no_grad():  # the advertised way out works
        change(x)
    assert x.tolist() != [1.0, 2.0]


# --- conversions ----------------------------------------------------------------------------------------------------
def test_numpy_on_a_tensor_that_requires_grad():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    _raises(RuntimeError, x.numpy, "requires grad", "detach()")


def test_item_on_a_multi_element_tensor():
    _raises(ValueError, gpuad.ones(2, 3).item, "one element", "(2, 3)")


@pytest.mark.parametrize("shape", [(2,), (0,), (2, 2)])
def test_bool_on_a_tensor_without_exactly_one_element(shape):
    _raises(RuntimeError, lambda: bool(gpuad.ones(*shape)), "ambiguous", "any()", "all()")


def test_len_of_a_0d_tensor():
    _raises(TypeError, lambda: len(gpuad.tensor(1.0)), "0-d")
