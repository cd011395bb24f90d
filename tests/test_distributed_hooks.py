"""The two engine hooks DistributedDataParallel is built on, against PyTorch: post-accumulate-grad hooks (called
with the leaf once its .grad holds the new sum, in the order backward reaches the leaves) and queue_callback (runs
once, after the whole backward pass)."""
import numpy as np
import pytest

import gpuad
from gpuad.autograd.engine import queue_callback


def _chain(lib, x, w1, w2):
    return ((lib.tanh(x @ w1) @ w2) ** 2).sum()


def test_post_accumulate_grad_hooks_see_the_summed_grad_like_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3))
    w1, w2 = rng.standard_normal((3, 5)), rng.standard_normal((5, 2))
    seen = {}
    for lib, make in ((gpuad, lambda a: gpuad.tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        params = [make(w1), make(w2)]
        log = seen[lib.__name__] = []
        for name, p in zip(("w1", "w2"), params):
            p.register_post_accumulate_grad_hook(
                lambda t, name=name: log.append((name, t.grad.detach().numpy().copy())))
        for _ in range(2):  # the second backward's hooks see the accumulated sum
            _chain(lib, make(x).detach(), *params).backward()
    assert [n for n, _ in seen["gpuad"]] == [n for n, _ in seen["torch"]] == ["w2", "w1", "w2", "w1"]
    for (_, ours), (_, theirs) in zip(seen["gpuad"], seen["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_post_accumulate_hooks_run_for_a_leaf_used_twice_once_with_the_total(rng):
    w = gpuad.tensor(rng.standard_normal(3), requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.numpy().copy()))
    (w * w + 3 * w).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 2 * w.detach().numpy() + 3)


def test_a_removed_post_accumulate_hook_is_not_called():
    w = gpuad.ones(2, requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    handle.remove()
    (w * 2).sum().backward()
    assert calls == [] and w.grad.tolist() == [2.0, 2.0]


def test_post_accumulate_hook_errors_match_pytorch():
    w = gpuad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered on non-leaf tensors"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    w.register_post_accumulate_grad_hook(lambda t: t.grad)
    with pytest.raises(RuntimeError, match="must return None"):
        (w * 2).sum().backward()


def test_queued_callbacks_run_once_after_every_gradient_is_in():
    a, b = gpuad.ones(2, requires_grad=True), gpuad.ones(3, requires_grad=True)
    events, queued = [], []

    def done():
        events.append(("done", a.grad is not None and b.grad is not None))
        queued.clear()

    def hook(t):
        events.append(("grad", t.shape))
        if not queued:  # the first hook of each backward queues the callback, as DDP does
            queued.append(queue_callback(done))
    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    (a.sum() * b.sum()).backward()
    assert sorted(events[:2]) == [("grad", (2,)), ("grad", (3,))]
    assert events[2:] == [("done", True)]
    (a.sum() * b.sum()).backward()  # a new backward starts with no callbacks queued
    assert events[5:] == [("done", True)]


def test_queue_callback_outside_backward_is_an_error():
    with pytest.raises(RuntimeError, match="only be called while a backward pass is running"):
        queue_callback(lambda: None)
