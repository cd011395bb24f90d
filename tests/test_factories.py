"""Creating tensors: gpuad.tensor from Python/NumPy/tensor data, and the PyTorch-style factories."""
import numpy as np
import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")


# --- gpuad.tensor ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype, shape", [
    (1.5, gpuad.float32, ()),
    (3, gpuad.int64, ()),
    (True, gpuad.bool, ()),
    ([1.0, 2.0], gpuad.float32, (2,)),
    ([[1, 2, 3], [4, 5, 6]], gpuad.int64, (2, 3)),
    ([True, False], gpuad.bool, (2,)),
    ([1, 2.5], gpuad.float32, (2,)),  # one float makes the whole list float
])
def test_tensor_from_python_data_uses_pytorch_default_dtypes(data, dtype, shape):
    t = gpuad.tensor(data)
    assert t.dtype == dtype
    assert t.shape == shape
    assert t.tolist() == data


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32, np.float16, np.int32, np.int64, np.uint8, np.bool_])
def test_tensor_from_numpy_keeps_its_dtype(np_dtype):
    arr = np.arange(6).reshape(2, 3).astype(np_dtype)
    t = gpuad.tensor(arr)
    assert t.dtype == np.dtype(np_dtype)
    assert t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), arr)


def test_tensor_copies_numpy_data():
    arr = np.zeros(3)
    t = gpuad.tensor(arr)
    arr[0] = 7.0
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_tensor_from_tensor_is_a_copy_without_history():
    src = gpuad.tensor([1.0, 2.0], requires_grad=True)
    t = gpuad.tensor(src)
    with gpuad.no_grad():
        src.mul_(10)
    assert t.tolist() == [1.0, 2.0]
    assert t.dtype == src.dtype
    assert not t.requires_grad and t.grad_fn is None


def test_tensor_from_a_list_of_tensors():
    t = gpuad.tensor([gpuad.tensor(1.0), gpuad.tensor(2.0)])
    assert t.tolist() == [1.0, 2.0]
    assert t.dtype == gpuad.float32


@pytest.mark.parametrize("dtype", [gpuad.float64, gpuad.float16, gpuad.int32, "float64"])
def test_tensor_dtype_argument_converts(dtype):
    t = gpuad.tensor([1, 2], dtype=dtype)
    assert t.dtype == np.dtype(dtype)
    assert t.tolist() == [1, 2]


def test_tensor_device_and_requires_grad_arguments():
    t = gpuad.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    assert t.device == "cpu"
    assert t.requires_grad and t.is_leaf and t.grad is None


# --- zeros, ones, empty, full, rand, randn --------------------------------------------------------------------------
SIZED = [gpuad.zeros, gpuad.ones, gpuad.empty, gpuad.rand, gpuad.randn]


@pytest.mark.parametrize("factory", SIZED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("args", [(2, 3), ((2, 3),), ([2, 3],)], ids=["varargs", "tuple", "list"])
def test_factory_shape_as_varargs_tuple_or_list(factory, args):
    t = factory(*args)
    assert t.shape == (2, 3)
    assert t.dtype == gpuad.float32
    assert t.device == "cpu"
    assert not t.requires_grad


@pytest.mark.parametrize("factory", SIZED, ids=lambda f: f.__name__)
def test_factory_shape_as_size_keyword(factory):
    t = factory(size=(2, 3), dtype=gpuad.float64)
    assert t.shape == (2, 3) and t.dtype == gpuad.float64
    assert gpuad.full(size=(2,), fill_value=1.0).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("factory", SIZED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [gpuad.float64, gpuad.float16])
def test_factory_dtype_device_requires_grad(factory, dtype):
    t = factory(2, dtype=dtype, device="cpu", requires_grad=True)
    assert t.dtype == dtype
    assert t.device == "cpu"
    assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize("dtype", [gpuad.int64, gpuad.int32, gpuad.bool])
def test_zeros_and_ones_of_integer_and_bool_dtype(dtype):
    assert gpuad.zeros(2, dtype=dtype).tolist() == [0, 0]
    assert gpuad.ones(2, dtype=dtype).tolist() == [1, 1]
    assert gpuad.ones(2, dtype=dtype).dtype == dtype


def test_zeros_and_ones_values():
    assert gpuad.zeros(2, 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert gpuad.ones(3).tolist() == [1.0, 1.0, 1.0]
    assert gpuad.zeros(()).shape == ()


@pytest.mark.parametrize("fill, dtype", [(1.5, gpuad.float32), (3, gpuad.int64), (True, gpuad.bool)])
def test_full_infers_dtype_from_the_fill_value(fill, dtype):
    t = gpuad.full((2, 3), fill)
    assert t.dtype == dtype
    assert t.shape == (2, 3)
    assert (t == fill).all()


def test_full_with_dtype_device_requires_grad():
    t = gpuad.full([2], 7, dtype=gpuad.float64, device="cpu", requires_grad=True)
    assert t.dtype == gpuad.float64 and t.requires_grad
    assert t.tolist() == [7.0, 7.0]


# --- arange, linspace, eye ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, expected, dtype", [
    ((5,), [0, 1, 2, 3, 4], gpuad.int64),
    ((2, 8, 3), [2, 5], gpuad.int64),
    ((0, 1, 0.25), [0.0, 0.25, 0.5, 0.75], gpuad.float32),
    ((3.0,), [0.0, 1.0, 2.0], gpuad.float32),
])
def test_arange_values_and_dtype(args, expected, dtype):
    t = gpuad.arange(*args)
    assert t.dtype == dtype
    assert t.tolist() == expected


def test_arange_dtype_device_requires_grad():
    t = gpuad.arange(0, 5, 2, dtype=gpuad.float64, device="cpu", requires_grad=True)
    assert t.tolist() == [0.0, 2.0, 4.0]
    assert t.dtype == gpuad.float64 and t.requires_grad


def test_linspace_includes_both_ends():
    t = gpuad.linspace(0, 1, 5)
    assert t.dtype == gpuad.float32
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    t = gpuad.linspace(-1, 1, 3, dtype=gpuad.float64, device="cpu", requires_grad=True)
    assert t.dtype == gpuad.float64 and t.requires_grad
    assert t.tolist() == [-1.0, 0.0, 1.0]


def test_eye_square_and_rectangular():
    assert gpuad.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert gpuad.eye(2).dtype == gpuad.float32
    assert gpuad.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    t = gpuad.eye(3, dtype=gpuad.float64, device="cpu", requires_grad=True)
    assert t.dtype == gpuad.float64 and t.requires_grad and t.shape == (3, 3)


# --- *_like ---------------------------------------------------------------------------------------------------------
LIKE = [gpuad.zeros_like, gpuad.ones_like, gpuad.randn_like]


@pytest.mark.parametrize("like", LIKE, ids=lambda f: f.__name__)
def test_like_keeps_shape_dtype_and_device(like):
    src = gpuad.ones(2, 3, dtype=gpuad.float64, requires_grad=True)
    t = like(src)
    assert t.shape == (2, 3)
    assert t.dtype == gpuad.float64
    assert t.device == src.device
    assert not t.requires_grad  # requires_grad is not copied from the source


@pytest.mark.parametrize("like", LIKE, ids=lambda f: f.__name__)
def test_like_with_dtype_device_requires_grad(like):
    t = like(gpuad.zeros(4), dtype=gpuad.float16, device="cpu", requires_grad=True)
    assert t.shape == (4,) and t.dtype == gpuad.float16 and t.requires_grad


def test_like_values():
    src = gpuad.full((2, 2), 5.0)
    assert gpuad.zeros_like(src).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert gpuad.ones_like(src).tolist() == [[1.0, 1.0], [1.0, 1.0]]


# --- random numbers -------------------------------------------------------------------------------------------------
def test_rand_is_uniform_on_unit_interval():
    r = gpuad.rand(10_000).numpy()
    assert r.min() >= 0.0 and r.max() < 1.0
    assert abs(r.mean() - 0.5) < 0.02


def test_randn_is_standard_normal():
    r = gpuad.randn(10_000, dtype=gpuad.float64).numpy()
    assert abs(r.mean()) < 0.05
    assert abs(r.std() - 1.0) < 0.05


@pytest.mark.parametrize("factory", [gpuad.rand, gpuad.randn], ids=lambda f: f.__name__)
def test_manual_seed_makes_random_factories_reproducible(factory):
    gpuad.manual_seed(1234)
    first = factory(3, 4).tolist()
    gpuad.manual_seed(1234)
    assert factory(3, 4).tolist() == first
    gpuad.manual_seed(4321)
    assert factory(3, 4).tolist() != first


def test_manual_seed_also_fixes_randn_like():
    src = gpuad.zeros(5)
    gpuad.manual_seed(7)
    first = gpuad.randn_like(src).tolist()
    gpuad.manual_seed(7)
    assert gpuad.randn_like(src).tolist() == first


# --- CUDA -----------------------------------------------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("factory", [gpuad.zeros, gpuad.ones, gpuad.rand, gpuad.randn], ids=lambda f: f.__name__)
def test_factories_on_cuda(factory):
    t = factory(2, 3, device="cuda")
    assert t.device == "cuda:0" and t.is_cuda
    assert t.shape == (2, 3) and t.dtype == gpuad.float32


@requires_cuda
def test_tensor_on_cuda_and_manual_seed_on_cuda():
    t = gpuad.tensor([1.0, 2.0], device="cuda")
    assert t.device == "cuda" and t.tolist() == [1.0, 2.0]
    gpuad.manual_seed(3)
    first = gpuad.randn(4, device="cuda").tolist()
    gpuad.manual_seed(3)
    assert gpuad.randn(4, device="cuda").tolist() == first
