"""A training script as PyTorch users write it, run with gpuad and with PyTorch: no weight decay on biases (two
parameter groups from named_parameters), AdamW, a warm-up + cosine SequentialLR stepped every batch, a checkpoint of
model, optimizer and scheduler half way, then a resumed run that is bitwise the uninterrupted one."""
import numpy as np
import pytest

import gpuad as G

torch = pytest.importorskip("torch")

SIZES = [6, 24, 16, 4]
EPOCHS, BATCHES = 6, 5


def data(seed=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCHES * 16, SIZES[0]))
    w = rng.standard_normal((SIZES[0], SIZES[-1]))
    return x, np.argmax(x @ w + 0.3 * rng.standard_normal((len(x), SIZES[-1])), axis=1)


def weights(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1)
            for a, b in zip(SIZES[:-1], SIZES[1:])]


def build(lib):
    """Model, optimizer and scheduler, written once for ``import gpuad as torch`` and for PyTorch."""
    nn = lib.nn
    layers = []
    for i, (w, b) in enumerate(weights()):
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=lib.float64)
        with lib.no_grad():
            lin.weight.copy_(lib.tensor(w))
            lin.bias.copy_(lib.tensor(b))
        layers.append(lin)
    model = Model(lib, layers)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = lib.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=3e-2, betas=(0.9, 0.98), amsgrad=True)
    s = lib.optim.lr_scheduler
    warmup = s.LinearLR(opt, start_factor=0.1, total_iters=BATCHES)
    cosine = s.CosineAnnealingLR(opt, T_max=(EPOCHS - 1) * BATCHES, eta_min=1e-4)
    return model, opt, s.SequentialLR(opt, [warmup, cosine], milestones=[BATCHES])


class Model:
    """layers[0] -> tanh -> layers[1] -> tanh -> layers[2], with named_parameters like a Module's."""

    def __init__(self, lib, layers):
        self.lib, self.layers = lib, layers

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = x.tanh()
        return x

    def named_parameters(self):
        for i, layer in enumerate(self.layers):
            for name, p in layer.named_parameters():
                yield f"layers.{i}.{name}", p

    def state_dict(self):
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.state_dict().items()}

    def load_state_dict(self, state):
        for i, layer in enumerate(self.layers):
            layer.load_state_dict({k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"layers.{i}.")})


def train(lib, model, opt, sched, epochs):
    x, y = data()
    x, y = lib.tensor(x), lib.tensor(y)
    losses, lrs = [], []
    for _ in epochs:
        for b in range(BATCHES):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(x[b * 16:(b + 1) * 16]), y[b * 16:(b + 1) * 16])
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            lrs.append(sched.get_last_lr())
    return losses, lrs


def test_the_script_gives_pytorchs_losses_and_rates():
    ours = train(G, *build(G), range(EPOCHS))
    theirs = train(torch, *build(torch), range(EPOCHS))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    assert ours[1] == theirs[1]
    assert ours[0][-1] < 0.6 * ours[0][0]


def test_a_checkpoint_half_way_resumes_bitwise(tmp_path):
    model, opt, sched = build(G)
    first = train(G, model, opt, sched, range(EPOCHS // 2))
    path = str(tmp_path / "checkpoint.gpuad")
    G.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict()}, path)
    rest = train(G, model, opt, sched, range(EPOCHS // 2, EPOCHS))
    final = [p.detach().numpy().copy() for _, p in model.named_parameters()]

    model, opt, sched = build(G)
    saved = G.load(path)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optim"])
    sched.load_state_dict(saved["sched"])
    resumed = train(G, model, opt, sched, range(EPOCHS // 2, EPOCHS))
    assert resumed == rest
    for a, (_, p) in zip(final, model.named_parameters()):
        np.testing.assert_array_equal(a, p.detach().numpy())
    assert len(first[0]) == len(rest[0])
