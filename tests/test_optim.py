"""Optimizers follow PyTorch's update rules exactly: 50 steps of an MLP against a float64 NumPy reference written here
(and against PyTorch where installed), plus state_dict round trips."""
import numpy as np
import pytest

import gpuad as G
from gpuad import nn, optim
from gpuad.nn import functional as F

SIZES = [6, 16, 12, 4]
STEPS = 50


def initial_weights(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1)
            for a, b in zip(SIZES[:-1], SIZES[1:])]


def batches(seed=1):
    """Five fixed batches, seen ten times each: training must lower their losses."""
    rng = np.random.default_rng(seed)
    five = [(rng.standard_normal((8, SIZES[0])), rng.integers(0, SIZES[-1], 8)) for _ in range(5)]
    return [five[i % 5] for i in range(STEPS)]


# --- the reference: a float64 MLP and the optimizers written out in NumPy ---------------------------------------------
def reference_loss_and_grads(params, x, y):
    acts = [x]
    h = x
    for i, (w, b) in enumerate(params):
        z = h @ w.T + b
        h = np.tanh(z) if i < len(params) - 1 else z
        acts.append(h)
    m = h.max(1, keepdims=True)
    lse = np.log(np.exp(h - m).sum(1, keepdims=True)) + m
    loss = float(np.mean(lse[:, 0] - h[np.arange(len(y)), y]))
    g = np.exp(h - lse)
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        if i < len(params) - 1:
            g = g * (1 - acts[i + 1] ** 2)
        grads.append((g.T @ acts[i], g.sum(0)))
        g = g @ w
    return loss, grads[::-1]


def reference_run(kind, options):
    params = [(w.copy(), b.copy()) for w, b in initial_weights()]
    state = [[{}, {}] for _ in params]
    losses = []
    for step, (x, y) in enumerate(batches(), start=1):
        loss, grads = reference_loss_and_grads(params, x, y)
        losses.append(loss)
        for layer, (pair, gpair) in enumerate(zip(params, grads)):
            for j, (p, g) in enumerate(zip(pair, gpair)):
                s = state[layer][j]
                lr = options["lr"]
                wd = options.get("weight_decay", 1e-2 if kind == "adamw" else 0.0)  # PyTorch's defaults
                if kind == "sgd":
                    d = g + wd * p
                    mom = options.get("momentum", 0.0)
                    if mom:
                        s["buf"] = d.copy() if "buf" not in s else mom * s["buf"] + (1 - options.get("dampening", 0)) * d
                        d = d + mom * s["buf"] if options.get("nesterov") else s["buf"]
                    p -= lr * d
                else:
                    b1, b2 = options.get("betas", (0.9, 0.999))
                    eps = options.get("eps", 1e-8)
                    if kind == "adamw":
                        p *= 1 - lr * wd
                    else:
                        g = g + wd * p
                    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
                    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
                    denom = np.sqrt(s["v"]) / np.sqrt(1 - b2 ** step) + eps
                    p -= lr / (1 - b1 ** step) * s["m"] / denom
    return losses


def gpuad_run(kind, options):
    model = nn.MLP(SIZES, activation="tanh", dtype=G.float64)
    with G.no_grad():
        for layer, (w, b) in zip(model.layers, initial_weights()):
            layer.weight.copy_(G.tensor(w))
            layer.bias.copy_(G.tensor(b))
    cls = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW}[kind]
    opt = cls(model.parameters(), **options)
    losses = []
    for x, y in batches():
        opt.zero_grad()
        loss = F.cross_entropy(model(G.tensor(x)), G.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


CONFIGS = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("sgd", {"lr": 0.05, "momentum": 0.5, "dampening": 0.1}),
    ("adam", {"lr": 1e-2}),
    ("adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 1e-2}),
    ("adamw", {"lr": 1e-2}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.1, "eps": 1e-6}),
]


@pytest.mark.parametrize("kind,options", CONFIGS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)])
def test_fifty_steps_match_the_numpy_reference(kind, options):
    ours, reference = gpuad_run(kind, options), reference_run(kind, options)
    assert ours[-5] < ours[0]  # the same batch, 45 steps later
    np.testing.assert_allclose(ours, reference, rtol=1e-10)


@pytest.mark.parametrize("kind,options", CONFIGS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CONFIGS)])
def test_fifty_steps_match_pytorch(kind, options):
    torch = pytest.importorskip("torch")
    layers = []
    for w, b in initial_weights():
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(b))
        layers += [lin, torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1])
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opt = cls(model.parameters(), **options)
    losses = []
    for x, y in batches():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(gpuad_run(kind, options), losses, rtol=1e-10)


def test_state_dict_round_trip_resumes_identically(tmp_path):
    def make():
        model = nn.MLP(SIZES, activation="tanh", dtype=G.float64)
        with G.no_grad():
            for layer, (w, b) in zip(model.layers, initial_weights()):
                layer.weight.copy_(G.tensor(w))
                layer.bias.copy_(G.tensor(b))
        return model, optim.Adam(model.parameters(), lr=1e-2)

    def train(model, opt, data):
        for x, y in data:
            opt.zero_grad()
            F.cross_entropy(model(G.tensor(x)), G.tensor(y)).backward()
            opt.step()
    data = batches()
    model, opt = make()
    train(model, opt, data[:20])
    G.save({"model": model.state_dict(), "optim": opt.state_dict()}, str(tmp_path / "ckpt.gpuad"))
    train(model, opt, data[20:])
    resumed_model, resumed_opt = make()
    saved = G.load(str(tmp_path / "ckpt.gpuad"))
    resumed_model.load_state_dict(saved["model"])
    resumed_opt.load_state_dict(saved["optim"])
    train(resumed_model, resumed_opt, data[20:])
    for a, b in zip(model.parameters(), resumed_model.parameters()):
        np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True))


def test_bad_optimizer_arguments_are_clear_errors():
    p = G.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([G.zeros(2, requires_grad=True) * 2])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.Adam([np.zeros(2)])
    with pytest.raises(ValueError, match="parameters"):
        optim.Adam([p]).load_state_dict({"state": {}, "param_groups": [{"params": [0, 1]}]})
