"""The Tensor API a PyTorch user relies on: devices, dtypes and promotion, metadata, autograd attributes, conversions
(Python, NumPy, DLPack), repr, detach and grad mode."""
import importlib.util
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gpuad

requires_cuda = pytest.mark.skipif(not gpuad.cuda.is_available(), reason="no CUDA GPU available")


# --- devices --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, type_, index, text", [
    ("cpu", "cpu", None, "cpu"),
    ("cuda", "cuda", 0, "cuda:0"),
    ("cuda:1", "cuda", 1, "cuda:1"),
])
def test_device_parsing(spec, type_, index, text):
    dev = gpuad.device(spec)
    assert (dev.type, dev.index, str(dev)) == (type_, index, text)
    assert dev == spec and dev == text
    assert gpuad.device(dev) == dev


def test_device_compares_with_strings_and_devices():
    assert gpuad.device("cuda", 1) == "cuda:1"
    assert gpuad.device("cuda") == gpuad.device("cuda:0")
    assert gpuad.device("cpu") != "cuda"
    assert gpuad.device("cuda:0") != "cuda:1"
    assert gpuad.device("cpu") != "tpu"  # an unknown name is simply unequal


def test_tensors_live_on_the_cpu_by_default():
    t = gpuad.ones(2)
    assert t.device == "cpu"
    assert t.device == gpuad.device("cpu")
    assert t.device != "cuda"
    assert not t.is_cuda


def test_import_gpuad_does_not_import_cupy():
    code = "import sys, gpuad; (gpuad.ones(2) * 2).sum(); assert 'cupy' not in sys.modules, 'cupy was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cuda_is_not_available_without_cupy():
    assert gpuad.cuda.is_available() is False
    assert gpuad.cuda.device_count() == 0


def test_to_cpu_and_cpu_on_a_cpu_tensor_return_it_unchanged():
    t = gpuad.tensor([1.0, 2.0])
    assert t.to("cpu") is t
    assert t.to(gpuad.device("cpu")) is t
    assert t.cpu() is t


@pytest.mark.parametrize("args, kwargs", [
    ((gpuad.float64,), {}),
    (("cpu", gpuad.float64), {}),
    ((), {"dtype": gpuad.float64, "device": "cpu"}),
    ((gpuad.zeros(1, dtype=gpuad.float64),), {}),
])
def test_to_changes_dtype(args, kwargs):
    t = gpuad.tensor([1.0, 2.0]).to(*args, **kwargs)
    assert t.dtype == gpuad.float64 and t.device == "cpu"
    assert t.tolist() == [1.0, 2.0]


@requires_cuda
class TestCuda:
    def test_round_trip_through_the_gpu(self):
        x = gpuad.tensor([1.0, 2.0], requires_grad=True)
        y = x.to("cuda")
        assert y.device == "cuda:0" and y.is_cuda and y.grad_fn is not None
        assert "device='cuda:0'" in repr(y)
        back = (y * 3).cpu()
        assert back.device == "cpu" and back.tolist() == [3.0, 6.0]
        back.sum().backward()
        assert x.grad.device == "cpu" and x.grad.tolist() == [3.0, 3.0]

    def test_cuda_method(self):
        assert gpuad.ones(2).cuda().device == "cuda:0"
        assert gpuad.ones(2).cuda(0).device == "cuda:0"

    def test_numpy_of_a_cuda_tensor_asks_for_cpu_first(self):
        with pytest.raises(TypeError, match=r"\.cpu\(\)"):
            gpuad.ones(2, device="cuda").numpy()
        assert gpuad.ones(2, device="cuda").cpu().numpy().tolist() == [1.0, 1.0]


# --- dtypes and type promotion --------------------------------------------------------------------------------------
def test_default_float_dtype_is_float32():
    assert gpuad.get_default_dtype() == gpuad.float32
    assert gpuad.tensor([1.0]).dtype == gpuad.float32
    assert gpuad.randn(2).dtype == gpuad.float32


@pytest.mark.parametrize("dtype", [gpuad.float16, gpuad.float32, gpuad.float64, gpuad.int8, gpuad.uint8, gpuad.int16,
                                   gpuad.int32, gpuad.int64, gpuad.bool])
def test_each_dtype_can_hold_a_tensor(dtype):
    t = gpuad.tensor([0, 1], dtype=dtype)
    assert t.dtype == dtype
    assert t.tolist() == [0, 1]
    assert t.is_floating_point() == (dtype in (gpuad.float16, gpuad.float32, gpuad.float64))


def test_dtype_aliases():
    assert gpuad.float is gpuad.float32 and gpuad.double is gpuad.float64 and gpuad.half is gpuad.float16
    assert gpuad.long is gpuad.int64


def _promotion_cases():
    ints = gpuad.tensor([1, 2])
    f32 = gpuad.tensor([1.0, 2.0])
    f64 = gpuad.tensor([1.0, 2.0], dtype=gpuad.float64)
    f16 = gpuad.tensor([1.0, 2.0], dtype=gpuad.float16)
    return [
        pytest.param(lambda: ints * 1.5, gpuad.float32, id="int_tensor*python_float->float32"),
        pytest.param(lambda: f32 * 2, gpuad.float32, id="float32*python_int->float32"),
        pytest.param(lambda: f32 * 2.5, gpuad.float32, id="float32*python_float->float32"),
        pytest.param(lambda: f16 * 2.5, gpuad.float16, id="float16*python_float->float16"),
        pytest.param(lambda: f32 + f64, gpuad.float64, id="float32+float64->float64"),
        pytest.param(lambda: f16 + f32, gpuad.float32, id="float16+float32->float32"),
        pytest.param(lambda: ints + ints, gpuad.int64, id="int64+int64->int64"),
        pytest.param(lambda: ints * 2, gpuad.int64, id="int64*python_int->int64"),
        pytest.param(lambda: ints + f32, gpuad.float32, id="int64+float32->float32"),
        pytest.param(lambda: gpuad.tensor([1, 2], dtype=gpuad.int32) + ints, gpuad.int64, id="int32+int64->int64"),
        pytest.param(lambda: ints / ints, gpuad.float32, id="int/int->float32"),
        pytest.param(lambda: f32 > 1, gpuad.bool, id="comparison->bool"),
    ]


@pytest.mark.parametrize("make, dtype", _promotion_cases())
def test_type_promotion_follows_pytorch(make, dtype):
    assert make().dtype == dtype


# --- Python protocols ----------------------------------------------------------------------------------------------
def test_len_is_the_size_of_the_first_dimension():
    assert len(gpuad.zeros(4, 2)) == 4
    assert len(gpuad.tensor([1, 2, 3])) == 3


@pytest.mark.parametrize("value, truth", [([0.5], True), ([0.0], False), (3, True), ([[0]], False), ([True], True)])
def test_bool_of_a_one_element_tensor(value, truth):
    assert bool(gpuad.tensor(value)) is truth


def test_one_element_tensors_drive_python_control_flow():
    b = gpuad.tensor([1.0, 2.0])
    doublings = 0
    while b.norm() < 1000:
        b = b * 2
        doublings += 1
    assert doublings == 9
    assert b.tolist() == [512.0, 1024.0]
    if gpuad.tensor(2.0) > 1:
        pass
    else:
        pytest.fail("tensor(2.) > 1 was falsy")


def test_float_int_and_index_of_one_element_tensors():
    assert float(gpuad.tensor([2.5])) == 2.5
    assert int(gpuad.tensor(7)) == 7
    assert [10, 20, 30][gpuad.tensor(1)] == 20


def test_iteration_yields_rows():
    rows = list(gpuad.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


def test_all_and_any():
    t = gpuad.tensor([[True, False], [True, True]])
    assert t.all().item() is False and t.any().item() is True
    assert t.all(dim=1).tolist() == [False, True]
    assert t.any(axis=0).tolist() == [True, True]
    assert gpuad.tensor([1.0, 2.0]).all()
    assert not gpuad.tensor([0.0, 0.0]).any()


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "all", "any"])
def test_reductions_accept_dim_keepdim_and_axis_keepdims(name):
    t = gpuad.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    expected = getattr(np, name)(t.numpy(), axis=1, keepdims=True)
    for kwargs in ({"dim": 1, "keepdim": True}, {"axis": 1, "keepdims": True}):
        out = getattr(t, name)(**kwargs)
        assert out.shape == (2, 1)
        np.testing.assert_allclose(out.numpy(), expected)
    assert getattr(t, name)(1).shape == (2,)
    assert getattr(gpuad, name)(t, axis=0).shape == (3,)


# --- metadata and autograd attributes --------------------------------------------------------------------------------
def test_metadata():
    t = gpuad.zeros(2, 3, 4, dtype=gpuad.float64)
    assert t.shape == (2, 3, 4)
    assert t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3
    assert t.dtype == gpuad.float64
    assert t.device == "cpu"
    assert t.requires_grad is False and t.grad is None and t.grad_fn is None and t.is_leaf


def test_results_of_ops_record_their_grad_fn():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.requires_grad
    assert y.grad_fn.name() == "MulBackward0"
    assert "MulBackward0" in repr(y.grad_fn)
    assert (y + 1).grad_fn.name() == "AddBackward0"
    assert y.sum().grad_fn.name() == "SumBackward0"


def test_ops_on_tensors_without_requires_grad_record_nothing():
    y = gpuad.tensor([1.0, 2.0]) * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


def test_backward_fills_grad_of_leaves_only():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert y.grad is None


def test_retain_grad_keeps_the_grad_of_a_non_leaf():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_register_hook_sees_the_gradient():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 2).sum().backward()
    assert seen == [[2.0, 2.0]]
    assert x.grad.tolist() == [2.0, 2.0]


def test_a_hook_returning_a_tensor_replaces_the_gradient():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [30.0, 30.0]

    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: gpuad.ones_like(g))  # on a non-leaf: what flows on to x is replaced
    (y * 5).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_hook_handle_remove():
    x = gpuad.tensor([1.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 100)
    handle.remove()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_requires_grad_():
    t = gpuad.tensor([1.0, 2.0])
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad and t.is_leaf


# --- conversions: Python, NumPy, DLPack ----------------------------------------------------------------------------
def test_item_and_tolist():
    assert gpuad.tensor([2.5]).item() == 2.5
    assert isinstance(gpuad.tensor(3).item(), int)
    assert gpuad.tensor([[True]]).item() is True
    assert gpuad.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert gpuad.tensor(1.5).tolist() == 1.5


def test_numpy_shares_memory_on_cpu():
    t = gpuad.zeros(3)
    arr = t.numpy()
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    arr[0] = 5.0
    assert t.tolist() == [5.0, 0.0, 0.0]
    t.add_(1)
    assert arr.tolist() == [6.0, 1.0, 1.0]


def test_detach_numpy_of_a_tensor_requiring_grad():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    assert x.detach().numpy().tolist() == [1.0, 2.0]


def test_np_asarray_uses_the_array_protocol():
    t = gpuad.tensor([1.0, 2.0])
    arr = np.asarray(t)
    assert arr.dtype == np.float32 and arr.tolist() == [1.0, 2.0]
    arr[1] = 9.0
    assert t.tolist() == [1.0, 9.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t).tolist() == [1.0, 9.0]


def test_numpy_from_dlpack_is_zero_copy():
    t = gpuad.tensor([1.0, 2.0], dtype=gpuad.float64)
    arr = np.from_dlpack(t)
    assert arr.dtype == np.float64
    arr[0] = -1.0
    assert t.tolist() == [-1.0, 2.0]


def test_gpuad_from_dlpack_of_numpy_is_zero_copy():
    arr = np.arange(3.0)
    t = gpuad.from_dlpack(arr)
    assert t.dtype == gpuad.float64 and t.device == "cpu"
    arr[1] = 50.0
    assert t.tolist() == [0.0, 50.0, 2.0]
    t.add_(1)
    assert arr.tolist() == [1.0, 51.0, 3.0]


def test_gpuad_from_dlpack_of_torch_is_zero_copy():
    torch = pytest.importorskip("torch")
    src = torch.arange(4.0)
    t = gpuad.from_dlpack(src)
    assert t.dtype == gpuad.float32 and t.shape == (4,)
    src[0] = 100.0
    assert t.tolist() == [100.0, 1.0, 2.0, 3.0]
    t.mul_(2)
    assert src.tolist() == [200.0, 2.0, 4.0, 6.0]


def test_torch_from_dlpack_of_gpuad_is_zero_copy():
    torch = pytest.importorskip("torch")
    t = gpuad.tensor([1.0, 2.0, 3.0], dtype=gpuad.float64)
    out = torch.from_dlpack(t)
    assert out.dtype == torch.float64 and out.tolist() == [1.0, 2.0, 3.0]
    out[0] = -1.0
    assert t.tolist() == [-1.0, 2.0, 3.0]
    t.add_(1)
    assert out.tolist() == [0.0, 3.0, 4.0]


# --- repr -----------------------------------------------------------------------------------------------------------
def _mul_result():
    x = gpuad.tensor([0.0, 2.0], requires_grad=True)
    return x * 2


@pytest.mark.parametrize("make, text", [
    (_mul_result, "tensor([0., 4.], grad_fn=<MulBackward0>)"),
    (lambda: gpuad.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: gpuad.tensor([1.0, 2.0], dtype=gpuad.float64), "tensor([1., 2.], dtype=gpuad.float64)"),
    (lambda: gpuad.tensor([1.5], dtype=gpuad.float16), "tensor([1.5000], dtype=gpuad.float16)"),
    (lambda: gpuad.tensor([1, 2], dtype=gpuad.int32), "tensor([1, 2], dtype=gpuad.int32)"),
    (lambda: gpuad.tensor([1.0, 2.5]), "tensor([1.0000, 2.5000])"),
    (lambda: gpuad.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: gpuad.tensor([True, False]), "tensor([ True, False])"),
    (lambda: gpuad.tensor(3.5), "tensor(3.5000)"),
    (lambda: gpuad.ones(2, 2), "tensor([[1., 1.],\n        [1., 1.]])"),
])
def test_repr_matches_pytorch(make, text):
    assert repr(make()) == text


def test_repr_of_float16_emits_no_warning():
    t = gpuad.tensor([1.5], dtype=gpuad.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repr(t)


# --- detach and grad mode -------------------------------------------------------------------------------------------
def test_detach_shares_data_and_has_no_history():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.tolist() == [2.0, 4.0]
    with gpuad.no_grad():
        y.add_(1)  # a change through the original is visible in the detached tensor
    assert d.tolist() == [3.0, 5.0]


def test_in_place_change_of_a_detached_leaf_is_allowed_and_shared():
    x = gpuad.tensor([1.0, 2.0], requires_grad=True)
    x.detach().add_(1)
    assert x.tolist() == [2.0, 3.0]
    x.data.mul_(2)
    assert x.tolist() == [4.0, 6.0]
    assert x.requires_grad and x.is_leaf


def test_no_grad_and_enable_grad_as_context_managers():
    x = gpuad.tensor([1.0], requires_grad=True)
    with gpuad.no_grad():
        assert not gpuad.is_grad_enabled()
        y = x * 2
        with gpuad.enable_grad():
            assert gpuad.is_grad_enabled()
            z = x * 2
        assert not gpuad.is_grad_enabled()
    assert gpuad.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


@pytest.mark.parametrize("flag", [False, True])
def test_set_grad_enabled_as_context_manager(flag):
    x = gpuad.tensor([1.0], requires_grad=True)
    with gpuad.set_grad_enabled(flag):
        assert gpuad.is_grad_enabled() is flag
        y = x * 2
    assert gpuad.is_grad_enabled()
    assert y.requires_grad is flag


def test_set_grad_enabled_as_a_plain_call():
    try:
        gpuad.set_grad_enabled(False)
        assert not (gpuad.tensor([1.0], requires_grad=True) * 2).requires_grad
    finally:
        gpuad.set_grad_enabled(True)
    assert gpuad.is_grad_enabled()


@pytest.mark.parametrize("make_decorator, outer_no_grad, records", [
    (lambda: gpuad.no_grad(), False, False),
    (lambda: gpuad.enable_grad(), True, True),
    (lambda: gpuad.set_grad_enabled(False), False, False),
    (lambda: gpuad.set_grad_enabled(True), True, True),
], ids=["no_grad", "enable_grad", "set_grad_enabled(False)", "set_grad_enabled(True)"])
def test_grad_mode_decorators(make_decorator, outer_no_grad, records):
    @make_decorator()
    def double(t):
        return t * 2

    assert gpuad.is_grad_enabled()  # decorating did not change the mode
    x = gpuad.tensor([1.0], requires_grad=True)
    with gpuad.set_grad_enabled(not outer_no_grad):
        y = double(x)
        assert gpuad.is_grad_enabled() is not outer_no_grad  # restored after the call
    assert y.requires_grad is records


def test_bare_no_grad_and_enable_grad_decorators():
    @gpuad.no_grad
    def without(t):
        return t * 2

    @gpuad.enable_grad
    def with_(t):
        return t * 2

    x = gpuad.tensor([1.0], requires_grad=True)
    assert not without(x).requires_grad
    with gpuad.no_grad():
        assert with_(x).requires_grad
