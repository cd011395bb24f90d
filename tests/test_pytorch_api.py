"""The small PyTorch API people type, against PyTorch: Size, finfo/iinfo, type() names, repr and set_printoptions,
new_* factories, strides and offsets, inference_mode, threads, gpuad.cuda on a machine without a GPU, the
torch.backends switches, and Tensor.to's argument forms."""
import pickle

import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda

torch = pytest.importorskip("torch")

DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]
FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "uint8", "int16", "int32", "int64"]


# --- Size -----------------------------------------------------------------------------------------------------------
def test_size_prints_compares_and_counts_like_torch_size():
    ours, theirs = G.zeros(2, 3).shape, torch.zeros(2, 3).shape
    assert repr(ours) == repr(theirs).replace("torch", "gpuad") == "gpuad.Size([2, 3])"
    assert str(ours) == "gpuad.Size([2, 3])" and str(G.zeros(()).shape) == "gpuad.Size([])"
    assert ours == (2, 3) and ours == theirs and ours != [2, 3] and hash(ours) == hash((2, 3))
    assert ours.numel() == theirs.numel() == 6 and G.zeros(()).shape.numel() == 1
    assert isinstance(ours, tuple) and isinstance(ours, G.Size) and G.zeros(2, 3).size() == ours
    assert type(ours[1:]) is G.Size and ours[1:] == (3,) and type(ours[0]) is int
    assert type(ours + (4,)) is G.Size and ours + (4,) == (2, 3, 4)
    assert G.zeros(2, 3).size(1) == 3 and G.zeros(2, 3).size(-1) == 3
    assert pickle.loads(pickle.dumps(ours)) == ours and type(pickle.loads(pickle.dumps(ours))) is G.Size
    assert f"{ours}" == "(2, 3)"  # how gpuad's error messages show shapes
    a, b = ours
    assert (a, b) == (2, 3)


# --- finfo / iinfo / dtype questions ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FLOATS)
def test_finfo_matches_torch(name):
    ours, theirs = G.finfo(getattr(G, name)), torch.finfo(getattr(torch, name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert repr(ours) == repr(theirs)


def test_finfo_defaults_to_the_default_dtype_and_refuses_integers():
    assert G.finfo().dtype == "float32" and G.finfo().eps == torch.finfo().eps
    with pytest.raises(TypeError, match="not a floating dtype.*iinfo"):
        G.finfo(G.int64)
    with pytest.raises(TypeError, match="not an integer dtype"):
        G.iinfo(G.float32)
    with pytest.raises(TypeError, match="bool is not supported"):
        G.iinfo(G.bool)


@pytest.mark.parametrize("name", INTS)
def test_iinfo_matches_torch(name):
    ours, theirs = G.iinfo(getattr(G, name)), torch.iinfo(getattr(torch, name))
    for field in ("bits", "max", "min", "dtype"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", DTYPES)
def test_floating_point_questions_and_sizes_match_torch(name):
    ours = G.zeros(2, 3, dtype=getattr(G, name))
    theirs = torch.zeros(2, 3, dtype=getattr(torch, name))
    assert ours.is_floating_point() == theirs.is_floating_point() == G.is_floating_point(ours)
    assert ours.element_size() == theirs.element_size() == ours.itemsize == theirs.itemsize
    assert ours.nbytes == theirs.nbytes
    assert ours.dim() == ours.ndimension() == theirs.ndimension() and ours.nelement() == theirs.nelement()
    assert G.numel(ours) == torch.numel(theirs) and G.is_tensor(ours) and not G.is_tensor(np.zeros(2))


@pytest.mark.parametrize("name", DTYPES)
def test_dtype_objects_answer_pytorchs_questions(name):
    ours, theirs = getattr(G, name), getattr(torch, name)
    for attr in ("is_floating_point", "is_complex", "is_signed", "itemsize"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(ours) == repr(theirs).replace("torch.", "gpuad.") and isinstance(ours, G.dtype)
    t = G.zeros(2, dtype=ours)
    assert t.dtype is ours and t.dtype == ours and t.dtype.is_floating_point == theirs.is_floating_point
    assert ours == np.dtype(name) and np.dtype(name) == ours and hash(ours) == hash(np.dtype(name))
    assert {np.dtype(name): 1}[ours] == 1 and np.zeros(2, dtype=ours).dtype == np.dtype(name)
    assert pickle.loads(pickle.dumps(ours)) is ours and str(ours) == name


def test_dtype_questions_people_ask_in_scripts():
    x = G.tensor([1, 2])
    if not x.dtype.is_floating_point:
        x = x.float()
    assert x.dtype == G.float32 and G.get_default_dtype().is_floating_point
    assert G.tensor([1.0]).dtype in (G.float32, G.float64) and G.float32 != G.float64 and G.int64 != "float32"


# --- type() -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DTYPES)
def test_type_names_are_pytorchs(name):
    assert G.zeros(2, dtype=getattr(G, name)).type() == torch.zeros(2, dtype=getattr(torch, name)).type()


@pytest.mark.parametrize("target", ["torch.DoubleTensor", "torch.LongTensor", "gpuad.HalfTensor", "torch.BoolTensor"])
def test_type_with_a_name_converts(target):
    x = G.tensor([1.5, 0.0, -2.0])
    ours = x.type(target)
    theirs = torch.tensor([1.5, 0.0, -2.0]).type(target.replace("gpuad", "torch"))
    assert ours.type() == theirs.type() and ours.tolist() == theirs.tolist()


def test_type_with_a_dtype_and_the_casts():
    x = G.tensor([1.7, -2.2])
    assert x.type(G.float64).dtype == G.float64
    for cast in ("float", "double", "half", "long", "int", "short", "byte", "char", "bool"):
        ours, theirs = getattr(x, cast)(), getattr(torch.tensor([1.7, -2.2]), cast)()
        assert ours.type() == theirs.type() and ours.tolist() == pytest.approx(theirs.tolist(), rel=1e-3), cast
    with pytest.raises(ValueError, match="unknown tensor type 'torch.FancyTensor'"):
        x.type("torch.FancyTensor")


# --- repr and set_printoptions ------------------------------------------------------------------------------------
REPR_CASES = [
    [1.0, 2.0], [1.5, -2.25, 3.0], [[1.0, 2.0], [3.0, 4.0]], [1e-5, 1.0], [1e9, 1.0], [123456.789, 1.0], 3.5,
    [0.1, 0.2], [1, 2, 3], [True, False], [[0.1234567, -10.5], [100.0, 0.0]], [float("nan"), 1.0, float("inf")],
    [], [-0.0, 1.0], [1e-10, 2.0], [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], [0.001, 1000.0],
    [0.0001, 1.0], [-1, 100000], [[1e-3, 2.5e4], [3.0, -7.25]], list(np.arange(2000.0).astype(np.float32)),
    np.arange(30.0).reshape(5, 6).tolist(), np.linspace(-3, 3, 1200).reshape(40, 30).tolist(),
    [[True, False], [False, True]], [float("-inf"), 2.0], np.arange(50).tolist(), np.linspace(0, 1, 25).tolist(),
]


@pytest.mark.parametrize("data", REPR_CASES, ids=range(len(REPR_CASES)))
def test_repr_matches_torch(data):
    assert repr(G.tensor(data)) == repr(torch.tensor(data))


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", "uint8"])
def test_repr_names_non_default_dtypes(dtype):
    ours = repr(G.tensor([[1, 2], [3, 4]], dtype=getattr(G, dtype)))
    assert ours == repr(torch.tensor([[1, 2], [3, 4]], dtype=getattr(torch, dtype))).replace("torch.", "gpuad.")


def test_repr_of_autograd_results_and_empty_tensors():
    x, xt = G.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    for f in (lambda t: t * 2, lambda t: (t * 2).sum(), lambda t: t.mean(), lambda t: t.exp(), lambda t: t + 1):
        assert repr(f(x)) == repr(f(xt))
    assert repr(x) == repr(xt)
    for shape in [(0,), (2, 0), (0, 3, 1)]:
        assert repr(G.zeros(shape)) == repr(torch.zeros(shape))
    assert repr(G.zeros((2, 0), dtype=G.int64)) == "tensor([], size=(2, 0), dtype=gpuad.int64)"
    assert repr(torch.zeros((2, 0), dtype=torch.int64)) == "tensor([], size=(2, 0), dtype=torch.int64)"


@pytest.mark.parametrize("options", [{"precision": 2}, {"threshold": 5}, {"sci_mode": True}, {"sci_mode": False},
                                     {"edgeitems": 1, "threshold": 3}, {"linewidth": 30}, {"profile": "short"},
                                     {"profile": "full"}])
def test_set_printoptions_matches_torch(options):
    data = np.linspace(-2.5, 1e3, 60).reshape(6, 10).tolist()
    try:
        G.set_printoptions(**options)
        torch.set_printoptions(**options)
        assert repr(G.tensor(data)) == repr(torch.tensor(data))
        assert repr(G.tensor([1.123456, 2.0])) == repr(torch.tensor([1.123456, 2.0]))
    finally:
        G.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    with pytest.raises(ValueError, match="profile must be one of"):
        G.set_printoptions(profile="tiny")


# --- new_* ------------------------------------------------------------------------------------------------------
NEW_CALLS = {
    "new_zeros_varargs": lambda t: t.new_zeros(2, 3),
    "new_zeros_tuple": lambda t: t.new_zeros((2, 3)),
    "new_ones": lambda t: t.new_ones([4]),
    "new_full": lambda t: t.new_full((2, 2), 7),
    "new_empty_shape": lambda t: t.new_empty(3, 1).zero_(),
    "new_tensor": lambda t: t.new_tensor([[1, 2], [3, 4]]),
    "new_zeros_other_dtype": lambda t: t.new_zeros(2, dtype=t.new_zeros(1).long().dtype),
}


@pytest.mark.parametrize("dtype", ["float64", "int32"])
@pytest.mark.parametrize("call", sorted(NEW_CALLS))
def test_new_factories_follow_the_tensor(call, dtype):
    ours = NEW_CALLS[call](G.ones(1, dtype=getattr(G, dtype)))
    theirs = NEW_CALLS[call](torch.ones(1, dtype=getattr(torch, dtype)))
    assert ours.type() == theirs.type() and ours.shape == theirs.shape and ours.tolist() == theirs.tolist()
    assert not ours.requires_grad


def test_new_tensor_copies_without_history_and_can_require_grad():
    x = G.tensor([1.0, 2.0], requires_grad=True)
    y = x.new_tensor(x * 3, requires_grad=True)
    assert y.is_leaf and y.requires_grad and y.tolist() == [3.0, 6.0]


# --- memory layout --------------------------------------------------------------------------------------------
VIEWS = {
    "whole": lambda t: t,
    "transpose": lambda t: t.T,
    "rows_from_1": lambda t: t[1:],
    "column": lambda t: t[:, 1],
    "every_other_row": lambda t: t[::2],
    "reshape": lambda t: t.reshape(6, 4),
    "permute": lambda t: t.reshape(2, 3, 4).permute(2, 0, 1),
}


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_stride_offset_and_contiguity_match_torch(view):
    base = np.arange(24.0).reshape(4, 6)
    ours, theirs = VIEWS[view](G.tensor(base)), VIEWS[view](torch.tensor(base))
    assert ours.stride() == theirs.stride()
    assert ours.storage_offset() == theirs.storage_offset()
    assert ours.is_contiguous() == theirs.is_contiguous()
    if ours.ndim:
        assert ours.stride(0) == theirs.stride(0)


def test_data_ptr_moves_with_the_offset():
    x = G.arange(10.0, dtype=G.float64)
    assert x[3:].data_ptr() - x.data_ptr() == 3 * 8
    assert x.data_ptr() == x.view(2, 5).data_ptr()


# --- inference_mode ---------------------------------------------------------------------------------------------
def test_inference_mode_as_a_context_and_as_decorators():
    w = G.ones(2, requires_grad=True)
    with G.inference_mode():
        y = w * 2
        assert not G.is_grad_enabled() and G.is_inference_mode_enabled()
    assert G.is_grad_enabled() and not G.is_inference_mode_enabled()
    assert y.is_inference() and not y.requires_grad and not w.is_inference()

    @G.inference_mode
    def bare(x):
        return x * 2

    @G.inference_mode()
    def called(x):
        return x * 2

    @G.inference_mode(False)
    def disabled(x):
        return x * 2
    assert bare(w).is_inference() and called(w).is_inference()
    assert not disabled(w).is_inference() and disabled(w).requires_grad
    assert (w * 2).requires_grad and not (w * 2).is_inference()
    t = torch.ones(2, requires_grad=True)
    with torch.inference_mode():
        assert (t * 2).is_inference() and not (t * 2).requires_grad


def test_no_grad_and_inference_mode_restore_on_error():
    with pytest.raises(ZeroDivisionError):
        with G.inference_mode():
            1 / 0
    assert G.is_grad_enabled() and not G.is_inference_mode_enabled()


# --- threads ------------------------------------------------------------------------------------------------------
def test_get_num_threads_is_a_positive_int_and_set_checks_its_argument():
    n = G.get_num_threads()
    assert isinstance(n, int) and n >= 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive int"):
            G.set_num_threads(bad)
    assert G.get_num_interop_threads() == 1


def test_set_num_threads_limits_numpys_blas_with_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = G.get_num_threads()
    try:
        G.set_num_threads(1)
        assert G.get_num_threads() == 1
        blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)  # NumPy's own BLAS, limited now
    finally:
        G.set_num_threads(before)


# --- gpuad.cuda and gpuad.backends ----------------------------------------------------------------------------------
@pytest.mark.skipif(G.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_cuda_questions_are_safe_without_a_gpu():
    assert G.cuda.is_available() is False and G.cuda.device_count() == 0 and not G.cuda.is_initialized()
    G.cuda.manual_seed(0)
    G.cuda.manual_seed_all(1)  # ignored without a GPU, as in PyTorch
    device = G.device("cuda" if G.cuda.is_available() else "cpu")
    assert device.type == "cpu" and G.ones(2).to(device).device.type == "cpu"
    assert G.cuda.memory_allocated() == G.cuda.max_memory_allocated() == 0  # as PyTorch before any GPU use
    G.cuda.empty_cache()
    G.cuda.reset_peak_memory_stats()
    for call in (G.cuda.get_device_name, G.cuda.current_device, lambda: G.cuda.set_device(0)):
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            call()


@requires_cuda
def test_cuda_device_queries_and_seeding_on_a_gpu():
    assert isinstance(G.cuda.get_device_name(), str) and G.cuda.get_device_name(0) == G.cuda.get_device_name()
    assert G.cuda.current_device() == 0 and len(G.cuda.get_device_capability()) == 2
    G.cuda.manual_seed_all(123)
    a = G.rand(4, device="cuda").tolist()
    G.cuda.manual_seed(123)
    assert G.rand(4, device="cuda").tolist() == a
    G.cuda.set_device(0)
    assert G.ones(1, device="cuda").device == G.device("cuda:0")
    G.cuda.reset_peak_memory_stats()
    big = G.zeros(1 << 20, device="cuda")
    assert G.cuda.memory_allocated() >= big.nbytes and G.cuda.max_memory_allocated() >= big.nbytes
    del big
    G.cuda.empty_cache()


def test_backends_switches_scripts_set_do_not_crash():
    G.backends.cudnn.benchmark = True
    G.backends.cudnn.deterministic = True
    G.backends.cuda.matmul.allow_tf32 = True
    assert G.backends.cudnn.benchmark is True and G.backends.cuda.matmul.allow_tf32 is True
    assert G.backends.mps.is_available() is False and G.backends.cudnn.is_available() is False
    G.backends.cudnn.benchmark = False
    G.backends.cuda.matmul.allow_tf32 = False


# --- Tensor.to ------------------------------------------------------------------------------------------------
TO_CALLS = {
    "device_string_non_blocking": lambda lib, t: t.to("cpu", non_blocking=True),
    "device_object": lambda lib, t: t.to(lib.device("cpu")),
    "device_and_dtype": lambda lib, t: t.to("cpu", lib.float64),
    "dtype_keyword": lambda lib, t: t.to(dtype=lib.int32),
    "positional_non_blocking_and_copy": lambda lib, t: t.to("cpu", lib.float64, True, True),
    "other_tensor": lambda lib, t: t.to(lib.zeros(1, dtype=lib.int64)),
    "dtype_only": lambda lib, t: t.to(lib.float16),
}


@pytest.mark.parametrize("call", sorted(TO_CALLS))
def test_to_accepts_pytorchs_argument_forms(call):
    ours = TO_CALLS[call](G, G.tensor([1.5, -2.0]))
    theirs = TO_CALLS[call](torch, torch.tensor([1.5, -2.0]))
    assert ours.type() == theirs.type() and ours.device.type == theirs.device.type == "cpu"
    assert ours.tolist() == theirs.tolist()


def test_item_and_tolist_edge_cases_match_torch():
    for data in (3.5, [2], [[1.0, 2.0]], [True], 7):
        ours, theirs = G.tensor(data), torch.tensor(data)
        assert ours.tolist() == theirs.tolist() and type(ours.tolist()) is type(theirs.tolist())
        if ours.numel() == 1:
            assert ours.item() == theirs.item() and type(ours.item()) is type(theirs.item())
    assert type(G.tensor([1.0], dtype=G.float16).item()) is float


def test_parameters_made_in_inference_mode_are_inference_tensors():
    with G.inference_mode():
        p = G.nn.Parameter(G.ones(2))
    assert p.is_inference() and not G.nn.Parameter(G.ones(2)).is_inference()


@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
                                  "ByteTensor", "HalfTensor"])
def test_legacy_tensor_types_construct_check_and_convert_as_in_torch(name):
    ours_type, theirs_type = getattr(G, name), getattr(torch, name)
    ours, theirs = ours_type([1, 0, 3]), theirs_type([1, 0, 3])
    assert ours.type() == theirs.type() and ours.tolist() == theirs.tolist()
    assert ours_type(2, 3).shape == theirs_type(2, 3).shape and ours_type(2, 3).type() == theirs_type(2, 3).type()
    assert isinstance(ours, ours_type) and isinstance(theirs, theirs_type)
    assert isinstance(ours, G.FloatTensor) == isinstance(theirs, torch.FloatTensor)
    converted = G.tensor([1.5, 2.0]).type(ours_type)
    assert converted.type() == torch.tensor([1.5, 2.0]).type(theirs_type).type()
