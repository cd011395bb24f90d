"""The GPU bugs a review found by reading (issue 12): each pinned here, on the CPU where the logic allows and on
CUDA (skipped without a GPU) where only a device shows it."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from gpuad.backends.cuda import _half_safe

two_gpus = pytest.mark.skipif(G.cuda.device_count() < 2, reason="needs two CUDA GPUs")


def test_half_safe_computes_float16_in_float32_and_casts_back():
    widening = _half_safe(lambda x: x.astype(np.float64) * 2)  # CuPy's erf: an e->d loop
    out = widening(np.array([0.5, 1.0], np.float16))
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.array([1.0, 2.0], np.float16))
    assert widening(np.array([0.5], np.float32)).dtype == np.float64  # other dtypes untouched


def test_cpu_reference_keeps_float32_denormals_that_cuda_flushes():
    """The CPU is the reference; CUDA flushes float32 denormals (CuPy's -ftz=true, documented in cuda_kernels)."""
    out = G.sigmoid(G.tensor([-100.0], dtype=G.float32)).numpy()
    assert 0 < out[0] < np.finfo(np.float32).tiny


def test_cuda_extras_bring_the_cuda_toolkit_libraries():
    import pathlib
    tomllib = pytest.importorskip("tomllib")
    extras = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(dep.startswith("cupy-cuda12x[ctk]") for dep in extras["cuda12"])
    assert any(dep.startswith("cupy-cuda13x[ctk]") for dep in extras["cuda13"])


@requires_cuda
@pytest.mark.parametrize("fn", [G.erf, G.gelu])
def test_float16_erf_family_stays_float16_on_cuda(fn):
    x = G.tensor([-1.0, 0.0, 0.5], dtype=G.float16, device="cuda")
    y = fn(x)
    assert y.dtype == G.float16
    np.testing.assert_allclose(y.cpu().numpy().astype(np.float32), fn(x.cpu().float()).numpy(), atol=2e-3)


@requires_cuda
def test_sigmoid_denormal_edge_on_cuda_within_float32_tiny():
    x = G.tensor([-100.0, -87.0, -80.0], dtype=G.float32)
    np.testing.assert_allclose(G.sigmoid(x.cuda()).cpu().numpy(), G.sigmoid(x).numpy(), rtol=1e-6,
                               atol=np.finfo(np.float32).tiny)


@requires_cuda
def test_memory_peak_ignores_a_failed_allocation():
    G.memory.reset_peak("cuda")
    before = G.memory.peak_bytes("cuda")
    with pytest.raises(Exception):
        G.empty(1 << 50, device="cuda")  # far more than any GPU holds
    assert G.memory.peak_bytes("cuda") == before


@requires_cuda
@two_gpus
def test_memory_peak_on_two_devices():
    for index in (0, 1):
        G.memory.reset_peak(f"cuda:{index}")
    x = G.zeros(1 << 20, device="cuda:1")
    assert G.memory.peak_bytes("cuda:1") >= x.numel() * 4
    assert G.memory.peak_bytes("cuda:0") < x.numel() * 4


@requires_cuda
@two_gpus
def test_ops_on_the_second_gpu_stay_there():
    a = G.randn(4, 3, device="cuda:1", requires_grad=True)
    b = G.ones(3, 2, device="cuda:1")
    out = (a @ b).relu().sum()
    out.backward()
    assert out.device == G.device("cuda:1") and a.grad.device == G.device("cuda:1")
    assert a.grad._data.device.id == 1


# --- every allocation on the tensor's own GPU (issue 12, GPU bug 1) ------------------------------------------------
# Each path below runs on GPU ``index`` and checks where the memory really is (``_data.device.id``): a CuPy call made
# outside the backend's device context allocates on GPU 0 whatever the tensor says, or raises 'peer access is
# unavailable'. GPU 0 runs wherever there is a GPU, GPU 1 where there are two: that is the case the bug breaks.
ON_GPU = [pytest.param(0, marks=requires_cuda, id="cuda:0"),
          pytest.param(1, marks=[requires_cuda, two_gpus], id="cuda:1")]


def assert_on(t, index):
    """``t`` (a tensor or a CuPy array) says it is on GPU ``index`` and its memory is there."""
    arr = t._data if isinstance(t, G.Tensor) else t
    if isinstance(t, G.Tensor):
        assert t.device == G.device(f"cuda:{index}"), t.device
    assert arr.device.id == index, f"the array is on GPU {arr.device.id}, not GPU {index}"


def _factory_calls():
    """(name, call(device), deterministic) for every public factory: what the CPU and GPU tests below run."""
    src = lambda d: G.ones(2, 3, dtype=G.float32, device=d)  # noqa: E731
    return [
        ("tensor", lambda d: G.tensor([[1.0, 2.0], [3.0, 4.0]], device=d), True),
        ("as_tensor", lambda d: G.as_tensor(np.arange(4.0), device=d), True),
        ("zeros", lambda d: G.zeros(2, 3, device=d), True),
        ("ones", lambda d: G.ones(2, 3, dtype=G.float64, device=d), True),
        ("empty", lambda d: G.empty(2, 3, device=d), False),
        ("full", lambda d: G.full((2, 3), 1.5, device=d), True),
        ("eye", lambda d: G.eye(3, 4, device=d), True),
        ("arange", lambda d: G.arange(0, 10, 3, device=d), True),
        ("linspace", lambda d: G.linspace(-1, 1, 5, device=d), True),
        ("rand", lambda d: G.rand(2, 3, device=d), False),
        ("randn", lambda d: G.randn(2, 3, device=d), False),
        ("randint", lambda d: G.randint(0, 5, (2, 3), device=d), False),
        ("randperm", lambda d: G.randperm(6, device=d), False),
        ("normal", lambda d: G.normal(0.0, 1.0, (2, 3), device=d), False),
        ("zeros_like", lambda d: G.zeros_like(src(d)), True),
        ("ones_like", lambda d: G.ones_like(src(d)), True),
        ("empty_like", lambda d: G.empty_like(src(d)), False),
        ("full_like", lambda d: G.full_like(src(d), 3.0), True),
        ("rand_like", lambda d: G.rand_like(src(d)), False),
        ("randn_like", lambda d: G.randn_like(src(d)), False),
        ("randint_like", lambda d: G.randint_like(G.zeros(2, 3, dtype=G.int64, device=d), 0, 4), False),
        ("new_zeros", lambda d: src(d).new_zeros(2, 2), True),
        ("new_ones", lambda d: src(d).new_ones((3,)), True),
        ("new_empty", lambda d: src(d).new_empty(2), False),
        ("new_full", lambda d: src(d).new_full((2,), 4.0), True),
        ("new_tensor", lambda d: src(d).new_tensor([1, 2, 3]), True),
        ("Tensor(sizes)", lambda d: G.Tensor(2, 3, device=d), True),
    ]


FACTORIES = [pytest.param(call, deterministic, id=name) for name, call, deterministic in _factory_calls()]


def test_the_factory_table_covers_every_public_function_with_a_device_argument():
    import inspect
    covered = {name for name, _, _ in _factory_calls()}
    not_factories = {"get_rng_state", "set_rng_state", "set_default_device"}
    with_device = {name for name in dir(G) if not name.startswith("_") and callable(getattr(G, name)) and
                   not isinstance(getattr(G, name), type) and name not in not_factories and
                   "device" in _parameters(inspect, getattr(G, name))}
    assert with_device - covered == set()


def _parameters(inspect, fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}


@pytest.mark.parametrize("call,deterministic", FACTORIES)
def test_every_factory_accepts_device_cpu_and_returns_numpy_arrays(call, deterministic):
    t = call("cpu")
    assert t.device == G.device("cpu") and type(t._data) is np.ndarray


@pytest.mark.parametrize("index", ON_GPU)
@pytest.mark.parametrize("call,deterministic", FACTORIES)
def test_every_factory_allocates_on_its_gpu(call, deterministic, index):
    t = call(f"cuda:{index}")
    assert_on(t, index)
    if deterministic:
        expected = call("cpu")
        assert t.dtype == expected.dtype
        np.testing.assert_array_equal(t.cpu().numpy(), expected.numpy())


@pytest.mark.parametrize("index", ON_GPU)
def test_the_backends_xp_allocates_on_its_gpu_whatever_gpu_is_current(index):
    import cupy
    backend = G.device(f"cuda:{index}").backend
    xp = backend.xp
    with cupy.cuda.Device(0):  # GPU 0 current, as in any script that never chose a GPU
        assert xp.ndarray is cupy.ndarray and xp.float32 is np.float32
        a = xp.arange(6, dtype=xp.float32).reshape(2, 3)
        for arr in (a, xp.zeros(3), xp.full((2,), 1.0), xp.random.rand(3), xp.linalg.inv(xp.eye(2)), xp.erf(a),
                    xp.matmul(a, a.T), xp.maximum(a, 1.0), xp.fft.fft(xp.ones(4)), backend.copy(a),
                    backend.copy(a, np.dtype(np.float64)), backend.from_host(np.ones(2)), backend.asarray([1, 2])):
            assert_on(arr, index)
        counts = xp.zeros(3)
        xp.add_at(counts, xp.asarray([0, 0, 2]), xp.ones(3))
        assert backend.to_host(counts).tolist() == [2.0, 0.0, 1.0]
        assert backend.iadd(counts, counts) is counts and backend.to_host(counts).tolist() == [4.0, 0.0, 2.0]
        backend.write(counts, 7.0, (slice(0, 1),))
        assert backend.to_host(counts).tolist() == [7.0, 0.0, 2.0]
        assert cupy.cuda.runtime.getDevice() == 0  # the backend left the current GPU as it was


@requires_cuda
@two_gpus
def test_tensor_from_a_cupy_array_on_another_gpu_is_copied_to_the_requested_one():
    import cupy
    with cupy.cuda.Device(0):
        source = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
    t = G.tensor(source, device="cuda:1")
    assert_on(t, 1)
    np.testing.assert_array_equal(t.cpu().numpy(), np.arange(6, dtype=np.float32).reshape(2, 3))
    cast = G.tensor(source.T, dtype=G.float64, device="cuda:1")  # non-contiguous, and cast
    assert_on(cast, 1)
    assert cast.dtype == G.float64
    np.testing.assert_array_equal(cast.cpu().numpy(), np.arange(6.0).reshape(2, 3).T)
    assert_on(source, 0)
    with cupy.cuda.Device(1):
        on_one = cupy.ones(3, dtype=cupy.float32)
    same = G.tensor(on_one)  # no device given: it stays on its GPU, as a copy
    assert_on(same, 1)
    assert same._data.data.ptr != on_one.data.ptr
    back = G.tensor(on_one, device="cuda:0")
    assert_on(back, 0)
    np.testing.assert_array_equal(back.cpu().numpy(), np.ones(3, np.float32))
    assert_on(G.as_tensor(on_one, device="cuda:1"), 1)


@pytest.mark.parametrize("index", ON_GPU)
def test_tensor_and_clone_copy_on_the_tensors_gpu(index):
    x = G.arange(6.0, device=f"cuda:{index}").reshape(2, 3)
    for copy in (G.tensor(x), G.tensor(x, dtype=G.float16), x.clone(), x.to(G.float64), x.detach().clone(),
                 x.to(f"cuda:{index}", copy=True), x.new_tensor(x)):
        assert_on(copy, index)
        assert copy._data.data.ptr != x._data.data.ptr
        np.testing.assert_array_equal(copy.cpu().numpy().astype(np.float32), np.arange(6.0).reshape(2, 3))


@requires_cuda
@two_gpus
def test_to_moves_between_gpus_and_the_gradient_comes_back():
    x = G.arange(12.0, device="cuda:0").reshape(3, 4).requires_grad_()
    y = x.to("cuda:1")
    assert_on(y, 1)
    assert_on(x.T.to("cuda:1"), 1)  # a non-contiguous source
    np.testing.assert_array_equal(x.T.to("cuda:1").detach().cpu().numpy(), np.arange(12.0).reshape(3, 4).T)
    assert_on(x.cuda(1), 1)
    assert_on((x * 2).to("cuda:1"), 1)  # a temporary: freed on GPU 0 while GPU 1 may still be copying it
    np.testing.assert_array_equal((x * 2).to("cuda:1").detach().cpu().numpy(), 2 * np.arange(12.0).reshape(3, 4))
    (y * y).sum().backward()
    assert_on(x.grad, 0)
    np.testing.assert_array_equal(x.grad.cpu().numpy(), 2 * np.arange(12.0).reshape(3, 4))
    back = y.to("cuda:0")
    assert_on(back, 0)
    assert_on(y.cpu().cuda(1), 1)


@pytest.mark.parametrize("index", ON_GPU)
def test_backward_seed_and_gradient_accumulation_stay_on_the_gpu(index):
    from gpuad.autograd.engine import _ones_seed
    device = f"cuda:{index}"
    a = G.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    loss = (a * a).sum()
    assert_on(_ones_seed(loss), index)
    loss.backward()
    assert_on(a.grad, index)
    a.sum().backward()  # a broadcast (view) gradient summed into the existing .grad in place
    assert_on(a.grad, index)
    np.testing.assert_array_equal(a.grad.cpu().numpy(), [3.0, -3.0, 7.0])
    b = G.ones(3, device=device, requires_grad=True)
    b.sum().backward()  # the first gradient is a view: copied into a .grad of its own
    assert_on(b.grad, index)
    given = G.full((3,), 2.0, device=device)
    (g,) = G.autograd.grad(b.view(3), b, grad_outputs=given)  # handed back as a copy, never the given tensor
    assert_on(g, index)
    assert g._data.data.ptr != given._data.data.ptr
    np.testing.assert_array_equal(g.cpu().numpy(), [2.0, 2.0, 2.0])


def _small_mlp(seed=0):
    G.manual_seed(seed)
    return G.nn.Sequential(G.nn.Linear(5, 8), G.nn.ReLU(), G.nn.Linear(8, 3))


def _train_step(model, x, y, optimizer):
    optimizer.zero_grad()
    loss = G.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


@pytest.mark.parametrize("index", ON_GPU)
@pytest.mark.parametrize("make_optimizer", [lambda p: G.optim.SGD(p, lr=0.1, momentum=0.9),
                                            lambda p: G.optim.Adam(p, lr=0.01)], ids=["sgd", "adam"])
def test_a_linear_layer_and_an_mlp_train_on_the_gpu_as_on_the_cpu(index, make_optimizer):
    device = f"cuda:{index}"
    rng = np.random.default_rng(0)
    x_host, y_host = rng.standard_normal((16, 5)).astype(np.float32), rng.integers(0, 3, 16)
    cpu_model, gpu_model = _small_mlp(), _small_mlp().to(device)
    cpu_opt, gpu_opt = make_optimizer(cpu_model.parameters()), make_optimizer(gpu_model.parameters())
    x, y = G.tensor(x_host, device=device), G.tensor(y_host, device=device)
    for _ in range(3):
        cpu_loss = _train_step(cpu_model, G.tensor(x_host), G.tensor(y_host), cpu_opt)
        gpu_loss = _train_step(gpu_model, x, y, gpu_opt)
        assert_on(gpu_loss, index)
        np.testing.assert_allclose(gpu_loss.item(), cpu_loss.item(), rtol=1e-5)
    for (name, p_cpu), p_gpu in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        assert_on(p_gpu, index)
        assert_on(p_gpu.grad, index)
        for value in gpu_opt.state[p_gpu].values():
            if isinstance(value, G.Tensor) and value.device.type == "cuda":
                assert_on(value, index)
        np.testing.assert_allclose(p_gpu.detach().cpu().numpy(), p_cpu.detach().numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    layer = G.nn.Linear(5, 2, device=device)  # initialised there
    before = layer.weight.detach().cpu().numpy().copy()
    out = layer(x)
    out.sum().backward()
    G.optim.SGD(layer.parameters(), lr=0.1).step()
    for t in (out, layer.weight, layer.bias, layer.weight.grad, layer.bias.grad):
        assert_on(t, index)
    np.testing.assert_allclose(layer.weight.detach().cpu().numpy(),
                               before - 0.1 * layer.weight.grad.cpu().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("index", ON_GPU)
def test_nn_init_computes_and_writes_on_the_gpu(index):
    init = G.nn.init
    device = f"cuda:{index}"
    for fill in (lambda t: init.uniform_(t, -1, 1), lambda t: init.normal_(t), lambda t: init.trunc_normal_(t),
                 init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
                 init.orthogonal_, lambda t: init.sparse_(t, 0.5), init.zeros_, init.ones_, init.eye_,
                 lambda t: init.constant_(t, 0.25)):
        t = G.empty(6, 4, device=device)
        version = t._version_value
        assert fill(t) is t
        assert_on(t, index)
        assert t._version_value > version and np.isfinite(t.cpu().numpy()).all()
    q = init.orthogonal_(G.empty(4, 6, dtype=G.float64, device=device)).cpu().numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-10)
    assert abs(init.trunc_normal_(G.empty(1000, device=device), 0.0, 1.0, -0.5, 0.5)).max().item() <= 0.5
    for shape, groups in (((4, 2, 3), 1), ((4, 2, 3, 3), 2)):
        got = init.dirac_(G.empty(*shape, device=device), groups)
        assert_on(got, index)
        np.testing.assert_array_equal(got.cpu().numpy(), init.dirac_(G.empty(*shape), groups).numpy())
    np.testing.assert_array_equal(init.eye_(G.empty(3, 4, device=device)).cpu().numpy(), np.eye(3, 4))


@pytest.mark.parametrize("index", ON_GPU)
def test_a_dataloader_over_gpu_tensors_batches_on_that_gpu(index):
    from gpuad.utils.data import DataLoader, TensorDataset
    data = TensorDataset(G.arange(20.0, device=f"cuda:{index}").reshape(10, 2), G.arange(10, device=f"cuda:{index}"))
    for shuffle in (False, True):
        seen = []
        for xb, yb in DataLoader(data, batch_size=4, shuffle=shuffle):
            assert_on(xb, index)
            assert_on(yb, index)
            seen += yb.tolist()
            np.testing.assert_array_equal(xb.cpu().numpy()[:, 0], 2 * yb.cpu().numpy())
        assert sorted(seen) == list(range(10))


@pytest.mark.parametrize("index", ON_GPU)
def test_load_with_map_location_puts_tensors_on_that_gpu(index, tmp_path):
    path = tmp_path / "t.pt"
    G.save({"w": G.arange(4.0), "n": G.tensor(3)}, path)
    loaded = G.load(path, map_location=f"cuda:{index}")
    for t in loaded.values():
        assert_on(t, index)
    np.testing.assert_array_equal(loaded["w"].cpu().numpy(), np.arange(4.0))
    model = _small_mlp()
    G.save(model.state_dict(), path)
    moved = _small_mlp(seed=1).to(f"cuda:{index}")
    moved.load_state_dict(G.load(path))  # CPU tensors copied into the GPU parameters
    for p in moved.parameters():
        assert_on(p, index)


# --- raw-array work in public functions runs on the tensor's GPU (issue 12, GPU bug 1 follow-up) ------------------
# CuPy's array methods and operators (a.astype, a + b, a[i] = v, a.sum()) allocate and launch on the current GPU, not
# the array's. The functions below compute on raw arrays outside an op's forward; each hands that work to its
# tensor's backend (on_device, copy, write). RAW_SITES lists one call per fixed site: (name, call(device), random).
_X = np.array([[3, 1, 2, 1, 5], [0, 4, 4, 2, -1], [7, 7, 1, 0, 2], [1, 1, 1, 3, 3]], np.float32)
_NAN = np.where(_X == 1, np.nan, _X).astype(np.float32)
_I = np.array([0, 3, 1, 3, 3, 2], np.int64)
_SQUARE = np.array([[2, 1, 0], [1, 3, 1], [0, 1, 4]], np.float64)


def _raw_sites():
    F = G.nn.functional
    x = lambda d: G.tensor(_X, device=d)  # noqa: E731
    i = lambda d: G.tensor(_I, device=d)  # noqa: E731
    rng = lambda: np.random.default_rng(0)  # noqa: E731 - a NumPy generator draws the same numbers everywhere

    def embedding(d):
        weight = G.tensor(np.arange(15.0).reshape(5, 3), device=d)
        out = F.embedding(i(d), weight, padding_idx=0, max_norm=4.0)
        return out, weight  # max_norm renormalises weight's rows in place

    def out_arg(d):
        out = G.empty(2, device=d)
        return G.add(x(d), 1.0, out=out), out

    def sampled(method, *args):
        return lambda d: getattr(G.zeros(4, 5, device=d), method)(*args, generator=rng())

    return [
        ("sort", lambda d: G.sort(x(d), 1, descending=True), False),
        ("argsort", lambda d: G.argsort(x(d), 0), False),
        ("topk", lambda d: G.topk(x(d), 2, 1), False),
        ("kthvalue", lambda d: G.kthvalue(x(d), 2, 1), False),
        ("median", lambda d: G.median(x(d), 1), False),
        ("nanmedian", lambda d: G.nanmedian(G.tensor(_NAN, device=d), 1), False),
        ("mode", lambda d: G.mode(x(d), 1), False),
        ("cummax", lambda d: G.cummax(x(d), 1), False),
        ("cummin_bool", lambda d: G.cummin(x(d) > 2, 0), False),
        ("max_dim", lambda d: G.max(x(d), 1), False),
        ("unique", lambda d: G.unique(x(d), return_inverse=True, return_counts=True), False),
        ("unique_dim", lambda d: G.unique(x(d), dim=1, return_inverse=True), False),
        ("unique_consecutive", lambda d: G.unique_consecutive(i(d), return_inverse=True, return_counts=True), False),
        ("bincount", lambda d: G.bincount(i(d), minlength=6), False),
        ("bincount_weights", lambda d: G.bincount(i(d), weights=G.arange(6.0, device=d)), False),
        ("histc", lambda d: G.histc(x(d), bins=4), False),
        ("searchsorted", lambda d: G.searchsorted(G.tensor([0.0, 1.0, 2.0, 3.0], device=d), x(d), right=True), False),
        ("quantile", lambda d: G.quantile(x(d), G.tensor([0.25, 0.5]), dim=1), False),
        ("nanquantile", lambda d: G.nanquantile(G.tensor(_NAN, device=d), 0.3, dim=1, interpolation="nearest"),
         False),
        ("nonzero", lambda d: G.nonzero(x(d)), False),
        ("nonzero_tuple", lambda d: G.nonzero(x(d), as_tuple=True), False),
        ("index_fill", lambda d: G.index_fill(x(d), 1, G.tensor([0, 2], device=d), -1.0), False),
        ("take", lambda d: G.take(x(d), G.tensor([0, 7, 19], device=d)), False),
        ("gather", lambda d: G.gather(x(d), 1, G.tensor([[0], [1], [2], [4]], device=d)), False),
        ("scatter_reduce_amax", lambda d: G.scatter_reduce(x(d), 0, G.tensor([[1, 0, 3, 3, 2]], device=d),
                                                           G.full((1, 5), 9.0, device=d), "amax",
                                                           include_self=False), False),
        ("fill_diagonal_", lambda d: G.zeros(7, 3, device=d).fill_diagonal_(2.0, wrap=True), False),
        ("index_put", lambda d: G.index_put(x(d), (G.tensor([0, 0, 2], device=d),), G.ones(5, device=d),
                                            accumulate=True), False),
        ("matrix_rank", lambda d: G.linalg.matrix_rank(x(d)), False),
        ("one_hot", lambda d: F.one_hot(i(d)), False),
        ("embedding", embedding, False),
        ("nll_loss", lambda d: F.nll_loss(G.log_softmax(G.tensor(_X[:, :4], device=d), 1),
                                          G.tensor([0, 1, 3, 1], device=d), ignore_index=1), False),
        ("binary_cross_entropy", lambda d: F.binary_cross_entropy(G.sigmoid(x(d)), G.ones(4, 5, device=d)), False),
        ("gaussian_nll_loss", lambda d: F.gaussian_nll_loss(x(d), G.zeros(4, 5, device=d),
                                                            G.ones(4, 5, device=d)), False),
        ("get_total_norm", lambda d: [G.nn.utils.get_total_norm([x(d), G.ones(3, device=d)], p)
                                      for p in (2.0, 3.0, float("inf"), 0.0)], False),
        ("out_arg", out_arg, False),
        ("multinomial", lambda d: G.multinomial(G.tensor(_X[:2] + 2, device=d), 3, generator=rng()), True),
        ("multinomial_replacement", lambda d: G.multinomial(G.tensor(_X[0] + 2, device=d), 6, True,
                                                            generator=rng()), True),
        ("bernoulli", lambda d: G.bernoulli(G.full((4, 5), 0.5, device=d), generator=rng()), True),
        ("poisson", lambda d: G.poisson(G.full((4, 5), 2.0, device=d), generator=rng()), True),
        ("normal", lambda d: G.normal(1.0, 2.0, (4, 5), generator=rng(), dtype=G.float16, device=d), True),
        ("uniform_", sampled("uniform_", -1.0, 1.0), True),
        ("normal_", sampled("normal_", 1.0, 2.0), True),
        ("random_", sampled("random_", 0, 5), True),
        ("bernoulli_", sampled("bernoulli_", 0.5), True),
        ("exponential_", sampled("exponential_"), True),
        ("geometric_", sampled("geometric_", 0.3), True),
        ("cauchy_", sampled("cauchy_"), True),
        ("log_normal_", sampled("log_normal_"), True),
        ("randperm", lambda d: G.randperm(7, device=d), True),
    ]


RAW_SITES = [pytest.param(call, random, id=name) for name, call, random in _raw_sites()]
# sites fixed by calling the backend's device-bound xp or an op (through apply) instead of an array method: nothing
# the counting backend below sees
GPU_ONLY_SITES = [pytest.param(call, False, id=name) for name, call in [
    ("argsort_0d", lambda d: G.argsort(G.tensor(2.0, device=d))),
    ("sort_0d", lambda d: G.sort(G.tensor(2, device=d))),
    ("slogdet", lambda d: G.linalg.slogdet(G.tensor(_SQUARE, device=d))),
    ("isclose_bool", lambda d: G.isclose(G.tensor([True, False], device=d), G.tensor([True, True], device=d))),
    ("equal", lambda d: G.tensor(G.equal(G.tensor(_X, device=d), G.tensor(_X, device=d)), device=d)),
    ("num_batches_tracked", lambda d: _batch_norm_counter(d)),
]]


def _batch_norm_counter(device):
    bn = G.nn.BatchNorm1d(5).to(device)
    bn(G.tensor(_X, device=device))
    return bn.num_batches_tracked


def _tensors(result):
    """The tensors in a result (a tensor, or a tuple or list of them, named tuples included)."""
    if isinstance(result, G.Tensor):
        return [result]
    return [t for part in result for t in _tensors(part)]


class CountingCPUBackend(G.backends.cpu.CPUBackend):
    """The CPU backend, counting the calls that hand raw-array work to it: on_device, and (apart) writes."""

    def __init__(self):
        super().__init__()
        self.handed = self.writes = 0

    def on_device(self, fn, *args, **kwargs):
        self.handed += 1
        return fn(*args, **kwargs)

    def write(self, dst, values, index=Ellipsis):
        self.writes += 1
        super().write(dst, values, index)


@pytest.fixture
def counting_cpu(monkeypatch):
    backend = CountingCPUBackend()
    monkeypatch.setattr(G.device("cpu"), "_backend", backend)
    return backend


@pytest.mark.parametrize("call,random", RAW_SITES)
def test_raw_array_work_goes_through_the_backend(call, random, counting_cpu, monkeypatch):
    """On the CPU the backend's on_device is a plain call; here a counting backend shows each function hands its
    raw-array work to it (on CUDA that is what makes it run on the tensor's GPU), and the results are unchanged."""
    got = _tensors(call("cpu"))
    assert (counting_cpu.writes if call.__name__ == "out_arg" else counting_cpu.handed) > 0
    monkeypatch.undo()
    expected = _tensors(call("cpu"))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert type(g._data) is np.ndarray and g.dtype == e.dtype and g.shape == e.shape
        if not random:
            np.testing.assert_array_equal(g.numpy(), e.numpy())


@pytest.mark.parametrize("index", ON_GPU)
@pytest.mark.parametrize("call,random", RAW_SITES + GPU_ONLY_SITES)
def test_raw_array_work_runs_on_the_tensors_gpu(call, random, index):
    import cupy
    with cupy.cuda.Device(0):  # GPU 0 current, as in any script that never chose a GPU
        got = _tensors(call(f"cuda:{index}"))
        assert cupy.cuda.runtime.getDevice() == 0
    expected = _tensors(call("cpu"))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_on(g, index)
        assert g.dtype == e.dtype and g.shape == e.shape
        if not random:
            np.testing.assert_allclose(g.cpu().numpy(), e.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", ON_GPU)
def test_dlpack_export_and_anomaly_checks_on_the_tensors_gpu(index):
    import cupy
    device = f"cuda:{index}"
    t = G.arange(6.0, device=device)
    with cupy.cuda.Device(0):
        shared = cupy.from_dlpack(t)  # the capsule is made with t's GPU current
        assert shared.device.id == index
        np.testing.assert_array_equal(cupy.asnumpy(shared), np.arange(6.0))
        with G.autograd.detect_anomaly():
            x = G.tensor([4.0, 9.0], device=device, requires_grad=True)
            x.sqrt().sum().backward()  # finite: the check reads the gradient on its GPU and passes
            assert_on(x.grad, index)
            y = G.tensor([0.0, 1.0], device=device, requires_grad=True)
            with pytest.raises(RuntimeError, match="returned inf"):
                y.sqrt().sum().backward()


@pytest.mark.parametrize("index", ON_GPU)
def test_views_written_in_place_embeddings_and_forward_mode_index_put_on_the_gpu(index):
    from gpuad.autograd import forward_ad as fwAD
    device = f"cuda:{index}"
    a = G.arange(4.0, device=device, requires_grad=True)
    b = a * 1
    b[1:3].mul_(2)  # an in-place write through a view: the base is rebased (CopySlices' mask)
    b.sum().backward()
    assert_on(a.grad, index)
    np.testing.assert_array_equal(a.grad.cpu().numpy(), [1.0, 2.0, 2.0, 1.0])
    emb = G.nn.Embedding(5, 3, padding_idx=2, device=device)
    assert_on(emb.weight, index)
    np.testing.assert_array_equal(emb.weight.detach().cpu().numpy()[2], 0.0)
    with fwAD.dual_level():
        x = fwAD.make_dual(G.zeros(4, 3, device=device), G.ones(4, 3, device=device))
        out = G.index_put(x, (G.tensor([0, 2], device=device),), G.full((3,), 5.0, device=device))
        primal, tangent = fwAD.unpack_dual(out)
    assert_on(primal, index)
    assert_on(tangent, index)
    np.testing.assert_array_equal(tangent.cpu().numpy()[[0, 2]], 0.0)
    np.testing.assert_array_equal(tangent.cpu().numpy()[[1, 3]], 1.0)


@requires_cuda
@two_gpus
def test_the_total_norm_of_gradients_on_two_gpus():
    grads = [G.full((3,), 2.0, device="cuda:1"), G.full((4,), 1.0, device="cuda:0")]
    for p in (2.0, float("inf"), 1.0):
        total = G.nn.utils.get_total_norm(grads, p)
        assert_on(total, 1)
        np.testing.assert_allclose(total.item(), G.nn.utils.get_total_norm([g.cpu() for g in grads], p).item(),
                                   rtol=1e-6)


@pytest.mark.parametrize("index", ON_GPU)
@pytest.mark.parametrize("graphs", [False, True], ids=["launches", "cuda-graph"])
def test_a_compiled_step_replays_on_its_gpu(index, graphs, monkeypatch):
    if graphs:
        monkeypatch.setenv("GPUAD_CUDA_GRAPHS", "1")
    device = f"cuda:{index}"
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 3, 8)) for _ in range(4)]
    results = {}
    for where, compiled in (("cpu", False), (device, True)):
        model = _small_mlp().to(where)
        opt = G.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            return _train_step(model, x, y, opt)

        run = G.compile(step) if compiled else step
        losses = []
        for x, y in batches:
            loss = run(G.tensor(x, device=where), G.tensor(y, device=where))
            if compiled:
                assert_on(loss, index)
            losses.append(loss.item())
        if compiled:
            assert run.stats["replayed"] >= 1  # the first steps record (momentum's first step differs)
            for p in model.parameters():
                assert_on(p, index)
                assert_on(p.grad, index)
        results[where] = (losses, [p.detach().cpu().numpy() for p in model.parameters()])
    np.testing.assert_allclose(results[device][0], results["cpu"][0], rtol=1e-5)
    for got, expected in zip(results[device][1], results["cpu"][1]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
