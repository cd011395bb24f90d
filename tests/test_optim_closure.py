"""``optimizer.step(closure)`` as PyTorch code writes it, for every built-in optimizer: the closure runs once per
step with gradients enabled (even inside ``no_grad``), its loss is returned, and the trajectory equals torch.optim's
with the same closure. A user's optimizer saved and loaded keeps its own (Python number) state as in PyTorch."""
import numpy as np
import pytest

import gpuad as G
from gpuad import optim
from optim_cases import CONFIGS, IDS, batches, initial_values

torch = pytest.importorskip("torch")

STEPS = 12


def closure_run(lib, name, options):
    """STEPS closure steps of a small float64 MLP; returns (losses the steps returned, parameters, closure calls)."""
    tensor = G.tensor if lib is G else lambda v: torch.tensor(v, dtype=torch.float64)
    params = [tensor(v).requires_grad_() for v in initial_values()[:4]]
    opt = getattr(optim if lib is G else torch.optim, name)(params, **options)
    F = G.nn.functional if lib is G else torch.nn.functional
    calls = []
    returned = []
    for x, y in batches()[:STEPS]:
        x, y = (G.tensor(x), G.tensor(y)) if lib is G else (torch.tensor(x), torch.tensor(y))

        def closure():
            calls.append(lib.is_grad_enabled())
            opt.zero_grad()
            w1, b1, w2, b2 = params
            loss = F.cross_entropy((x @ w1.T + b1).tanh() @ w2.T + b2, y)
            loss = -loss if options.get("maximize") else loss
            loss.backward()
            return loss

        with lib.no_grad():  # a training loop may step under no_grad; the closure still records its graph
            loss = opt.step(closure)
        returned.append(loss.item())
    return returned, [p.detach().numpy().copy() for p in params], calls


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_step_with_a_closure_matches_pytorch(name, options):
    ours, theirs = closure_run(G, name, options), closure_run(torch, name, options)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-12)  # the losses step() returned
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert ours[2] == theirs[2] == [True] * STEPS  # once per step, with grad enabled
    assert abs(ours[0][-1] - ours[0][0]) > 1e-4  # the closure's loss changed: the steps moved the parameters


class CountingSGD(optim.Optimizer):
    """A user's optimizer as PyTorch's documentation writes one: a Python int step in its state."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, {"lr": lr})

    def step(self, closure=None):
        with G.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    state["step"] = state.get("step", 0) + 1
                    p.add_(p.grad, alpha=-group["lr"] / state["step"])


def test_a_users_optimizer_keeps_its_python_step_through_save_and_load(tmp_path):
    p = G.tensor([1.0, -2.0], requires_grad=True)
    opt = CountingSGD([p])
    for _ in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    G.save(opt.state_dict(), tmp_path / "opt.gpuad")
    resumed = CountingSGD([p])
    resumed.load_state_dict(G.load(tmp_path / "opt.gpuad"))
    assert type(resumed.state[p]["step"]) is int and resumed.state[p]["step"] == 3
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)])  # PyTorch keeps a non-tensor step as it is
    theirs.load_state_dict({"state": {0: {"step": 3}}, "param_groups": theirs.state_dict()["param_groups"]})
    assert type(next(iter(theirs.state.values()))["step"]) is int


def test_a_builtin_optimizer_given_a_number_step_makes_it_a_tensor():
    p = G.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.Adam([p])
    sd = opt.state_dict()
    sd["state"] = {0: {"step": 2, "exp_avg": G.zeros(2), "exp_avg_sq": G.zeros(2)}}
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["step"], G.Tensor) and opt.state[p]["step"].item() == 2
    p.grad = G.ones(2)
    opt.step()
    assert opt.state[p]["step"].item() == 3


def test_a_users_optimizer_may_have_hyper_parameters_the_built_ins_would_refuse():
    """PyTorch's base class checks nothing: Adafactor-style defaults (lr=None, eps a pair) construct in both."""
    for lib, base in ((G, optim.Optimizer), (torch, torch.optim.Optimizer)):
        class Adafactorish(base):
            def __init__(self, params):
                super().__init__(params, {"lr": None, "eps": (1e-30, 1e-3), "weight_decay": 0.0})
        opt = Adafactorish([lib.zeros(2, requires_grad=True)])
        assert opt.param_groups[0]["lr"] is None and opt.param_groups[0]["eps"] == (1e-30, 1e-3)
