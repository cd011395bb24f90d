"""gpuad.compile: a recorded and replayed training step gives bitwise the parameters, optimizer state and losses of
eager execution, step after step; new signatures record again; what can't be replayed runs eagerly, loudly."""
import warnings

import numpy as np
import pytest

import gpuad
from gpuad import nn, optim
from gpuad.capture import CompileWarning
from gpuad.nn import functional as F

from conftest import requires_cuda

STEPS = 50
SIZES = [12, 16, 16, 4]


def _batches(n=STEPS, batch=8, last=None, seed=0, device="cpu"):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = last if (last is not None and i == n - 1) else batch
        out.append((gpuad.tensor(rng.standard_normal((b, SIZES[0])).astype(np.float32), device=device),
                    gpuad.tensor(rng.integers(0, SIZES[-1], b), device=device)))
    return out


def _mlp(**kw):
    return nn.MLP(SIZES, **kw)


def _sequential(activation):
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), activation(), nn.Linear(SIZES[1], SIZES[2]), activation(),
                         nn.Linear(SIZES[2], SIZES[3]))


def _run(make_model, make_opt, compiled, batches, between=None, set_to_none=True, device="cpu", seed=1):
    """Train a fresh model (the same initial weights every time) and return the losses, the compiled step and the
    final (model, optimizer)."""
    gpuad.manual_seed(0)
    model = make_model()
    if device != "cpu":
        model.to(device)
    opt = make_opt(model.parameters())

    def step(x, y):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    run = gpuad.compile(step) if compiled else step
    gpuad.manual_seed(seed)
    losses = []
    for i, (x, y) in enumerate(batches):
        if between is not None:
            between(i, opt)
        losses.append(run(x, y).detach().cpu().numpy().copy())
    return losses, run, model, opt


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint8)


def _assert_same(eager, compiled):
    (l1, _, m1, o1), (l2, _, m2, o2) = eager, compiled
    for i, (a, b) in enumerate(zip(l1, l2)):
        assert np.array_equal(_bits(a), _bits(b)), f"loss of step {i}: {a} eager, {b} compiled"
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert np.array_equal(_bits(p.detach().cpu().numpy()), _bits(q.detach().cpu().numpy())), name
        assert (p.grad is None) == (q.grad is None), name + ".grad"
        if p.grad is not None:
            assert np.array_equal(_bits(p.grad.cpu().numpy()), _bits(q.grad.cpu().numpy())), name + ".grad"
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for key in s1["state"]:
        for k, v in s1["state"][key].items():
            w = s2["state"][key][k]
            if isinstance(v, gpuad.Tensor):
                assert np.array_equal(_bits(v.cpu().numpy()), _bits(w.cpu().numpy())), (key, k)
            else:
                assert v == w, (key, k)


def _check(make_model, make_opt, batches=None, replays=None, **kw):
    batches = batches if batches is not None else _batches()
    eager = _run(make_model, make_opt, False, batches, **kw)
    compiled = _run(make_model, make_opt, True, batches, **kw)
    _assert_same(eager, compiled)
    run = compiled[1]
    assert run.stats["eager"] == 0
    assert run.stats["replayed"] >= (replays if replays is not None else len(batches) - 2)
    return run


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1),
    "sgd-nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "sgd-weight-decay": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.5, weight_decay=1e-2),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2),
    "adam-weight-decay": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_trains_bitwise_as_eager(name):
    run = _check(_mlp, OPTIMIZERS[name])
    assert len(run.cache) == 1


@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh", "sigmoid"])
def test_every_fused_activation(activation):
    _check(lambda: _mlp(activation=activation), OPTIMIZERS["sgd-momentum"])


@pytest.mark.parametrize("module", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU])
def test_every_activation_module_in_a_sequential(module):
    _check(lambda: _sequential(module), OPTIMIZERS["adam"])


def test_dropout_draws_fresh_numbers_on_every_replay_as_eager_would():
    run = _check(lambda: _mlp(dropout=0.3), OPTIMIZERS["sgd"])
    losses, *_ = _run(lambda: _mlp(dropout=0.3), OPTIMIZERS["sgd"], True, _batches(n=3) * 2)
    assert not np.array_equal(losses[1], losses[4])  # the same batch, other dropout masks
    assert run.stats["replayed"] >= STEPS - 2


@pytest.mark.parametrize("segments", [1, 2])
def test_checkpointed_layers_with_dropout(segments):
    _check(lambda: _mlp(dropout=0.2, checkpoint_segments=segments), OPTIMIZERS["adamw"])


def test_zero_grad_keeping_the_buffers_accumulates_in_place_as_eager():
    _check(_mlp, OPTIMIZERS["sgd-momentum"], set_to_none=False)


def test_a_smaller_last_batch_records_again():
    batches = _batches(last=3)
    run = _check(_mlp, OPTIMIZERS["adam"], batches=batches, replays=STEPS - 3)
    assert run.stats["recorded"] == 3  # the first two calls (grads None, then set), and the last batch
    assert len(run.cache) == 2


def test_learning_rate_changes_between_calls_are_read_on_every_replay():
    def set_lr(i, opt):
        for group in opt.param_groups:
            group["lr"] = 0.1 / (1 + i)
    _check(_mlp, OPTIMIZERS["sgd-momentum"], between=set_lr)


def test_a_scheduler_stepping_between_calls():
    class StepDecay:  # what a scheduler does to the optimizer: rewrite param_groups' lr
        def __init__(self, opt, gamma):
            self.opt, self.gamma = opt, gamma

        def step(self):
            for group in self.opt.param_groups:
                group["lr"] *= self.gamma
    schedulers = {}

    def scheduler_step(i, opt):
        sched = schedulers.setdefault(id(opt), StepDecay(opt, 0.9))
        if i and i % 5 == 0:
            sched.step()
    _check(_mlp, OPTIMIZERS["adam"], between=scheduler_step)


def test_replay_does_not_build_a_graph_and_returns_detached_values():
    batches = _batches(n=4)
    losses, run, model, opt = _run(_mlp, OPTIMIZERS["sgd"], True, batches)
    x, y = batches[0]
    out = run(x, y)
    assert out.grad_fn is None and not out.requires_grad
    assert run.stats["replayed"] == 3
    program = run.program(x, y)
    assert program is not None and len(program) > 0


def test_a_host_read_inside_the_step_runs_eagerly_with_one_warning_naming_it():
    gpuad.manual_seed(0)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        seen.append(loss.item())  # a host read: can't be replayed
        loss.backward()
        opt.step()
        return loss

    run = gpuad.compile(step)
    batches = _batches(n=5)
    with pytest.warns(CompileWarning, match=r"Tensor\.item\(\).*test_compile\.py:\d+"):
        run(*batches[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        for x, y in batches[1:]:
            run(x, y)
    assert len(seen) == 5 and run.stats["eager"] == 4 and run.stats["replayed"] == 0


@pytest.mark.parametrize("read, name", [(lambda t: bool(t > 0), "bool"), (lambda t: float(t), "float"),
                                        (lambda t: repr(t), "printing"), (lambda t: t.tolist(), "tolist"),
                                        (lambda t: t.detach().numpy(), "numpy")])
def test_every_kind_of_host_read_is_caught(read, name):
    w = gpuad.ones(3, requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        read(loss)
        loss.backward()
        return loss

    run = gpuad.compile(step)
    with pytest.warns(CompileWarning, match=name):
        run(gpuad.ones(3))
    run(gpuad.ones(3))
    assert run.stats["eager"] == 1 and w.grad.tolist() == [2.0, 2.0, 2.0]


def test_a_replaced_parameter_records_again_and_matches_eager():
    batches = _batches(n=8)

    def swap(i, opt, model):
        if i == 4:  # a new Parameter object in the model and the optimizer
            layer = model.layers[0]
            layer.weight = nn.Parameter(layer.weight.detach() * 0.5)
            opt.param_groups[0]["params"][0] = layer.weight
    results = []
    for compiled in (False, True):
        gpuad.manual_seed(0)
        model = _mlp()
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        run = gpuad.compile(step) if compiled else step
        losses = []
        for i, (x, y) in enumerate(batches):
            swap(i, opt, model)
            losses.append(run(x, y).detach().numpy().copy())
        results.append((losses, model, run))
    (l1, m1, _), (l2, m2, run) = results
    assert all(np.array_equal(a, b) for a, b in zip(l1, l2))
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    assert run.stats["recorded"] == 4  # twice before the swap, twice after


def test_freezing_a_parameter_between_calls_records_again():
    batches = _batches(n=10)

    def freeze(i, opt):
        if i == 5:
            opt.param_groups[0]["params"][0].requires_grad_(False)
    run = _check(_mlp, OPTIMIZERS["sgd"], batches=batches, between=freeze, replays=5)
    assert run.stats["recorded"] >= 3


def test_eval_mode_is_part_of_the_key():
    gpuad.manual_seed(0)
    model = _mlp(dropout=0.5)
    run = gpuad.compile(lambda x: model(x))
    x = gpuad.ones(2, SIZES[0])
    run(x)
    model.eval()
    a, b = run(x), model(x)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert run.stats["recorded"] == 2


def test_a_tensor_made_from_numpy_inside_the_step_is_not_baked_in():
    w = gpuad.ones(3, requires_grad=True)
    data = [np.full(3, float(i), np.float32) for i in range(3)]
    box = {}

    def step():
        loss = (w * gpuad.from_numpy(box["x"])).sum()
        loss.backward()
        return loss

    run = gpuad.compile(step)
    box["x"] = data[0]
    with pytest.warns(CompileWarning, match="from_numpy"):
        run()
    for d in data[1:]:
        box["x"] = d
        assert float(run().detach()) == 3 * d[0]


def test_arguments_must_be_tensors_or_hashable():
    run = gpuad.compile(lambda x, opts: x * 2)
    with pytest.raises(TypeError, match="hashable"):
        run(gpuad.ones(2), {"a": 1})


def test_the_cache_is_bounded():
    run = gpuad.compile(lambda x: x * 2, cache_size=2)
    for n in range(1, 6):
        run(gpuad.ones(n))
    assert len(run.cache) == 2
    with pytest.raises(ValueError, match="cache_size"):
        gpuad.compile(lambda x: x, cache_size=0)


def test_usable_as_a_decorator():
    @gpuad.compile
    def double(x):
        return x * 2

    for _ in range(3):
        out = double(gpuad.tensor([1.0, 2.0]))
    assert out.tolist() == [2.0, 4.0] and double.stats["replayed"] == 2


@requires_cuda
@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_cuda_replay_matches_eager(name):
    batches = _batches(device="cuda")
    eager = _run(_mlp, OPTIMIZERS[name], False, batches, device="cuda")
    compiled = _run(_mlp, OPTIMIZERS[name], True, batches, device="cuda")
    _assert_same(eager, compiled)


@requires_cuda
def test_cuda_graph_replay_matches_eager(monkeypatch):
    monkeypatch.setenv("GPUAD_CUDA_GRAPHS", "1")
    batches = _batches(device="cuda")
    eager = _run(_mlp, OPTIMIZERS["sgd-momentum"], False, batches, device="cuda")
    compiled = _run(_mlp, OPTIMIZERS["sgd-momentum"], True, batches, device="cuda")
    _assert_same(eager, compiled)
    program = next(iter(compiled[1].cache.values()))
    assert program.graphs is not None and program.graphs.graph is not None and not program.graphs.abandoned


def test_a_step_written_as_a_method_of_a_trainer():
    class Trainer:
        def __init__(self):
            gpuad.manual_seed(0)
            self.model = _mlp()
            self.opt = optim.Adam(self.model.parameters(), lr=1e-2)

        def step(self, x, y):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.opt.step()
            return loss
    eager, compiled = Trainer(), Trainer()
    run = gpuad.compile(compiled.step)
    for x, y in _batches(n=10):
        assert np.array_equal(eager.step(x, y).detach().numpy(), run(x, y).detach().numpy())
    assert run.stats["replayed"] == 8


def test_an_index_computed_inside_the_step_is_not_baked_in():
    w = gpuad.zeros(4, requires_grad=True)

    def step(x):
        buf = gpuad.zeros(4)
        buf[x.argmax()] = 1.0  # a write through an index the step computed
        loss = (w * buf).sum()
        loss.backward()
        return loss

    run = gpuad.compile(step)
    with pytest.warns(CompileWarning):
        run(gpuad.tensor([0.0, 5.0, 1.0, 2.0]))
    run(gpuad.tensor([9.0, 5.0, 1.0, 2.0]))
    assert w.grad.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_an_optimizer_with_its_own_step_is_not_replayed():
    class Custom(optim.SGD):
        def step(self, closure=None):  # updates the arrays itself, bypassing Optimizer.step's recorded updates
            for group in self.param_groups:
                for p in group["params"]:
                    p._data -= group["lr"] * p.grad._data
    gpuad.manual_seed(0)
    model = _mlp()
    opt = Custom(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    run = gpuad.compile(step)
    batches = _batches(n=4)
    with pytest.warns(CompileWarning, match="overrides Optimizer.step"):
        run(*batches[0])
    before = model.layers[0].weight.detach().numpy().copy()
    run(*batches[1])
    assert run.stats["eager"] == 1 and not np.array_equal(before, model.layers[0].weight.detach().numpy())


def test_recording_is_per_thread():
    """While one thread records a step, another thread's eager work is neither recorded nor disturbed."""
    import threading
    seen = []

    def other_thread():
        seen.append(gpuad._capture.state.active)
        seen.append((gpuad.ones(3) * 2).sum().item())  # a host read: would abandon a recording it belonged to

    def step(x):
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        return (x * 3).sum()

    compiled = gpuad.compile(step)
    x = gpuad.ones(4)
    for _ in range(3):
        assert compiled(x).item() == 12.0
    assert seen[0] is None and seen[1] == 6.0
    assert compiled.stats["eager"] == 0
