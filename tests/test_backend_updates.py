"""The optimizer updates, memory counts and random state the backends own (issue 12, "Backends own devices").

On the CPU: CPUBackend.sgd_step / adam_step step for step against torch.optim on the same numbers, and the optimizers
running every update through the parameter's backend. On CUDA (skipped without a GPU): the CUDA backend's methods
against the CPU backend's, with fused kernels on and off, and state made on the parameter's own GPU."""
import numpy as np
import pytest

import gpuad as G
from conftest import requires_cuda
from gpuad import optim
from gpuad.backends.cpu import CPU_BACKEND
from gpuad.device import started_devices
from optim_cases import CONFIGS

STEPS = 12
SHAPE = (4, 5)
SGD_CASES = [options for name, options in CONFIGS if name == "SGD"]
ADAM_CASES = [(name, options) for name, options in CONFIGS if name in ("Adam", "AdamW")]
two_gpus = pytest.mark.skipif(G.cuda.device_count() < 2, reason="needs two CUDA GPUs")


def _numbers(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(SHAPE).astype(dtype), [rng.standard_normal(SHAPE).astype(dtype) for _ in range(STEPS)]


def _sgd_kwargs(options):
    return dict(lr=options["lr"], momentum=options.get("momentum", 0.0), dampening=options.get("dampening", 0.0),
                weight_decay=options.get("weight_decay", 0.0), nesterov=options.get("nesterov", False),
                maximize=options.get("maximize", False))


def _adam_kwargs(name, options):
    b1, b2 = options.get("betas", (0.9, 0.999))
    return dict(lr=options["lr"], beta1=b1, beta2=b2, eps=options.get("eps", 1e-8),
                weight_decay=options.get("weight_decay", 1e-2 if name == "AdamW" else 0.0),
                decoupled=name == "AdamW" or options.get("decoupled_weight_decay", False),
                maximize=options.get("maximize", False))


def _run_sgd(backend, options, p, grads, fused=True):
    """``backend.sgd_step`` over ``grads``; returns the parameter and momentum buffer (host arrays) after each step."""
    kwargs = _sgd_kwargs(options)
    p = backend.from_host(p.copy())
    buf = backend.from_host(np.zeros_like(p)) if kwargs["momentum"] else None
    scratch, history = {}, []
    for step, g in enumerate(grads):
        backend.sgd_step(p, backend.from_host(g), buf, scratch, first=step == 0, fused=fused, **kwargs)
        history.append((backend.to_host(p).copy(), None if buf is None else backend.to_host(buf).copy()))
    return history


def _run_adam(backend, name, options, p, grads, fused=True):
    """``backend.adam_step`` over ``grads``; returns (p, m, v) as host arrays after each step."""
    p = backend.from_host(p.copy())
    m, v = backend.from_host(np.zeros_like(p)), backend.from_host(np.zeros_like(p))
    vmax = backend.from_host(np.zeros_like(p)) if options.get("amsgrad") else None
    scratch, history = {}, []
    for step, g in enumerate(grads, 1):
        backend.adam_step(p, backend.from_host(g), m, v, scratch, step=float(step), max_exp_avg_sq=vmax, fused=fused,
                          **_adam_kwargs(name, options))
        history.append(tuple(backend.to_host(a).copy() for a in (p, m, v)))
    return history


# --- the CPU backend against torch.optim ------------------------------------------------------------------------
@pytest.mark.parametrize("options", SGD_CASES, ids=[str(o) for o in SGD_CASES])
def test_cpu_sgd_step_matches_torch_optim_sgd(options):
    torch = pytest.importorskip("torch")
    p0, grads = _numbers()
    tp = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([tp], **options)
    for step, (p, buf) in enumerate(_run_sgd(CPU_BACKEND, options, p0, grads)):
        tp.grad = torch.tensor(grads[step])
        opt.step()
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-13, atol=1e-15, err_msg=f"step {step}")
        if buf is not None:
            np.testing.assert_allclose(buf, opt.state[tp]["momentum_buffer"].numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name,options", ADAM_CASES, ids=[f"{n}-{o}" for n, o in ADAM_CASES])
def test_cpu_adam_step_matches_torch_optim_adam(name, options):
    torch = pytest.importorskip("torch")
    p0, grads = _numbers()
    tp = torch.tensor(p0, requires_grad=True)
    opt = getattr(torch.optim, name)([tp], **options)
    for step, (p, m, v) in enumerate(_run_adam(CPU_BACKEND, name, options, p0, grads)):
        tp.grad = torch.tensor(grads[step])
        opt.step()
        state = opt.state[tp]
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=f"step {step}")
        np.testing.assert_allclose(m, state["exp_avg"].numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(v, state["exp_avg_sq"].numpy(), rtol=1e-13, atol=1e-15)


def test_cpu_steps_reuse_their_scratch_arrays():
    p, grads = _numbers()
    scratch, buf = {}, np.zeros_like(p)
    kwargs = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)
    CPU_BACKEND.sgd_step(p, grads[0], buf, scratch, first=True, **kwargs)
    kept = {slot: id(a) for slot, a in scratch.items()}
    assert set(kept) == {"d", "t"}
    CPU_BACKEND.sgd_step(p, grads[1], buf, scratch, **kwargs)
    assert {slot: id(a) for slot, a in scratch.items()} == kept
    CPU_BACKEND.sgd_step(p.astype(np.float32), grads[2].astype(np.float32), buf.astype(np.float32), scratch, **kwargs)
    assert scratch["t"].dtype == np.float32  # a parameter of another dtype gets temporaries of its own dtype


def test_sgd_without_weight_decay_or_maximize_never_writes_the_gradient():
    p, grads = _numbers()
    g = grads[0].copy()
    CPU_BACKEND.sgd_step(p, g, np.zeros_like(p), {}, lr=0.1, momentum=0.9, first=True)
    np.testing.assert_array_equal(g, grads[0])


OPTIMIZERS = [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {}), ("AdamW", {}), ("RMSprop", {"centered": True}),
              ("Adagrad", {}), ("Adadelta", {}), ("Adamax", {}), ("NAdam", {}), ("RAdam", {}), ("Rprop", {})]


@pytest.mark.parametrize("name,options", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_every_update_runs_through_the_parameters_backend(name, options, monkeypatch):
    """Optimizer.step hands each parameter's update to its backend's on_device (which makes a GPU current there)."""
    calls = []

    def on_device(fn, *args, **kwargs):
        calls.append(args[0] if args else None)
        return fn(*args, **kwargs)

    monkeypatch.setattr(CPU_BACKEND, "on_device", on_device)
    params = [G.ones(3, requires_grad=True), G.ones(2, 2, requires_grad=True), G.ones(1, requires_grad=True)]
    opt = getattr(optim, name)(params, **options)
    calls.clear()  # Adagrad makes its state at construction, through on_device too
    for p in params[:2]:
        p.grad = G.full_like(p, 0.5)
    before = [p.detach().clone() for p in params]
    opt.step()
    assert calls == params[:2]  # the parameter without a grad is not updated
    assert not G.equal(params[0], before[0]) and G.equal(params[2], before[2])


def test_adagrad_makes_its_initial_state_through_the_backend(monkeypatch):
    seen = []
    monkeypatch.setattr(CPU_BACKEND, "on_device", lambda fn, *a, **k: seen.append(a[0]) or fn(*a, **k))
    p = G.ones(3, requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    assert seen == [p] and opt.state[p]["sum"].tolist() == [0.25] * 3


# --- devices, memory and random state through the backends ------------------------------------------------------
def test_started_devices_list_the_cpu_first_and_filter_by_type():
    devices = started_devices()
    assert devices[0] is G.device("cpu")
    assert started_devices("cpu") == [G.device("cpu")]
    assert all(d.type == "cuda" for d in started_devices("cuda"))
    assert [d.index for d in devices[1:]] == sorted(d.index for d in devices[1:])


@pytest.mark.skipif(G.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_without_a_gpu_nothing_is_started_by_memory_or_seeding_calls():
    G.memory.stop("cuda")  # nothing to stop; does not try to start a GPU
    G.manual_seed(3)
    G.cuda.empty_cache()
    assert started_devices("cuda") == [] and not G.cuda.is_initialized()
    with pytest.raises(RuntimeError, match="gpuad.cuda.synchronize: no CUDA GPU is available"):
        G.cuda.synchronize()


def test_cpu_backend_memory_counts_follow_an_allocation():
    try:
        CPU_BACKEND.reset_peak_memory()
        before = CPU_BACKEND.memory_allocated()
        big = np.ones(500_000)  # 4 MB
        assert CPU_BACKEND.memory_allocated() - before >= big.nbytes
        assert CPU_BACKEND.max_memory_allocated() - before >= big.nbytes
        assert G.memory.current_bytes("cpu") == CPU_BACKEND.memory_allocated()
        del big
        assert CPU_BACKEND.memory_allocated() - before < 100_000
    finally:
        CPU_BACKEND.stop_memory_count()


def test_cpu_rng_state_bytes_restore_the_next_draws():
    gen = G.Generator().manual_seed(7)
    raw = gen._backend.rng_state_bytes()
    assert len(raw) == CPU_BACKEND.RNG_STATE_BYTES
    first = gen._backend.rand((4,), np.dtype(np.float64))
    gen._backend.set_rng_state_bytes(raw)
    np.testing.assert_array_equal(gen._backend.rand((4,), np.dtype(np.float64)), first)


def test_manual_seed_reseeds_the_cpu_through_its_backend():
    G.manual_seed(11)
    a = G.rand(3).tolist()
    G.manual_seed(11)
    assert G.rand(3).tolist() == a


# --- the CUDA backend against the CPU backend ---------------------------------------------------------------------
@requires_cuda
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "cupy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", SGD_CASES, ids=[str(o) for o in SGD_CASES])
def test_cuda_sgd_step_matches_the_cpu_backend(options, dtype, fused):
    p0, grads = _numbers(dtype)
    tol = dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)
    want = _run_sgd(CPU_BACKEND, options, p0, grads)
    with G.cuda.fused_kernels(fused):
        got = _run_sgd(G.device("cuda").backend, options, p0, grads, fused=fused)
    for step, ((p, buf), (wp, wbuf)) in enumerate(zip(got, want)):
        assert p.dtype == dtype
        np.testing.assert_allclose(p, wp, err_msg=f"step {step}", **tol)
        if wbuf is not None:
            np.testing.assert_allclose(buf, wbuf, **tol)


@requires_cuda
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "cupy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,options", ADAM_CASES, ids=[f"{n}-{o}" for n, o in ADAM_CASES])
def test_cuda_adam_step_matches_the_cpu_backend(name, options, dtype, fused):
    p0, grads = _numbers(dtype)
    tol = dict(rtol=1e-11, atol=1e-13) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)
    want = _run_adam(CPU_BACKEND, name, options, p0, grads)
    with G.cuda.fused_kernels(fused):
        got = _run_adam(G.device("cuda").backend, name, options, p0, grads, fused=fused)
    for step, (arrays, expected) in enumerate(zip(got, want)):
        for a, b, what in zip(arrays, expected, ("p", "m", "v")):
            np.testing.assert_allclose(a, b, err_msg=f"{what} at step {step}", **tol)


@requires_cuda
def test_cuda_fused_sgd_runs_one_kernel_and_the_switch_bypasses_it(monkeypatch):
    from gpuad.backends import cuda_kernels
    launched = []
    real = cuda_kernels.launch
    monkeypatch.setattr(cuda_kernels, "launch", lambda name, *a, **k: launched.append(name) or real(name, *a, **k))
    backend = G.device("cuda").backend
    p0, grads = _numbers(np.float32)
    p, g = backend.from_host(p0), backend.from_host(grads[0])
    backend.sgd_step(p, g, None, {}, lr=0.1)
    assert launched == ["gpuad_sgd"]
    with G.cuda.fused_kernels(False):
        backend.sgd_step(p, g, None, {}, lr=0.1)
    backend.sgd_step(p, g, None, {}, lr=0.1, fused=False)  # the group's fused=False
    assert launched == ["gpuad_sgd"]


@requires_cuda
def test_cuda_backend_memory_synchronize_and_rng_bytes():
    backend = G.device("cuda").backend
    backend.reset_peak_memory()
    before = backend.memory_allocated()
    big = G.zeros(1 << 20, device="cuda")
    assert backend.memory_allocated() - before >= big.nbytes and backend.max_memory_allocated() >= before + big.nbytes
    backend.synchronize()
    raw = backend.rng_state_bytes()
    assert len(raw) == backend.RNG_STATE_BYTES
    first = backend.rand((4,), np.dtype(np.float32)).get()
    backend.set_rng_state_bytes(raw)
    np.testing.assert_array_equal(backend.rand((4,), np.dtype(np.float32)).get(), first)
    assert G.device("cuda") in started_devices("cuda")


@requires_cuda
@two_gpus
@pytest.mark.parametrize("name,options", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_optimizer_state_and_temporaries_stay_on_the_parameters_gpu(name, options):
    p = G.ones(6, device="cuda:1", requires_grad=True)
    opt = getattr(optim, name)([p], **options)
    for _ in range(2):
        p.grad = G.full_like(p, 0.5)
        opt.step()
    for key, value in opt.state[p].items():
        if isinstance(value, G.Tensor) and value.device.type == "cuda":
            assert value._data.device.id == 1, key
    for slot, array in opt._scratch[id(p)].items():
        assert array.device.id == 1, slot
