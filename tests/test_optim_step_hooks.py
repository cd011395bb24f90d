"""Optimizer step hooks against torch.optim: per-optimizer and global pre/post hooks run in PyTorch's order with
PyTorch's arguments, a pre-hook can replace the step's arguments, handles remove them, and a user's optimizer
(also one whose step calls ``super().step()``) runs them once per step."""
import pytest

import importlib

import gpuad as G
from gpuad import optim

torch = pytest.importorskip("torch")


def hooked_steps(lib, make):
    """Register two local and two global hooks, step three times (removing one hook after the first); the log."""
    O = optim if lib is G else torch.optim
    module = importlib.import_module(O.__name__ + ".optimizer")  # where the global hooks live
    p = lib.tensor([1.0, -2.0], dtype=lib.float64, requires_grad=True)
    opt = make(O, p)
    log = []

    def record(tag):
        def hook(o, args, kwargs):
            assert o is opt and args[0] is opt
            log.append((tag, len(args), sorted(kwargs)))
        return hook

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    def give_closure(o, args, kwargs):  # a pre-hook may replace the arguments: here it supplies the closure
        log.append(("supply", len(args), sorted(kwargs)))
        return (o,), {"closure": closure}

    handles = [opt.register_step_pre_hook(record("pre")), opt.register_step_post_hook(record("post")),
               module.register_optimizer_step_pre_hook(record("global pre")),
               module.register_optimizer_step_post_hook(record("global post")),
               opt.register_step_pre_hook(give_closure)]
    losses = []
    try:
        for i in range(3):
            losses.append(float(opt.step().detach()))
            if i == 0:
                handles[0].remove()
                handles[3].remove()
    finally:
        for h in handles:
            h.remove()
    opt.step(closure)  # no hooks left
    return log, losses, p.detach().numpy().tolist()


def sgd(O, p):
    return O.SGD([p], lr=0.1, momentum=0.9)


def users_optimizer(O, p):
    class SubclassedSGD(O.SGD):
        """A user's subclass whose step calls the parent's."""

        def step(self, closure=None):
            return super().step(closure)
    return SubclassedSGD([p], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("make", [sgd, users_optimizer], ids=["SGD", "subclass"])
def test_step_hooks_run_as_in_pytorch(make):
    """A subclass runs the hooks once per step, as a plain SGD does in PyTorch (PyTorch itself runs them again for
    ``super().step()`` once SGD.step has been patched by an earlier SGD: gpuad does not repeat them)."""
    ours, theirs = hooked_steps(G, make), hooked_steps(torch, sgd)
    assert ours[0] == theirs[0]
    assert ours[0][:4] == [("global pre", 1, []), ("pre", 1, []), ("supply", 1, []), ("post", 1, ["closure"])]
    assert ours[1] == pytest.approx(theirs[1], rel=1e-12) and ours[2] == pytest.approx(theirs[2], rel=1e-12)


def test_a_pre_hook_returning_something_else_is_an_error():
    p = G.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    opt.register_step_pre_hook(lambda o, args, kwargs: 3)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args, new_kwargs\), but got 3"):
        opt.step()
