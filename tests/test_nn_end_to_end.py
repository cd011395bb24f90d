"""A realistic PyTorch-style script run with gpuad and with PyTorch side by side: a model built from containers with
Embedding, BatchNorm1d, LayerNorm, Dropout (its masks shared through forward hooks), trained with SGD, gradient
clipping and a label-smoothed, class-weighted cross-entropy that ignores padding; the losses, gradients, running
statistics and final weights agree to 1e-10, and a saved state_dict reloads into a fresh model."""
from collections import OrderedDict

import numpy as np
import pytest

import gpuad
from gpuad import nn as gnn

torch = pytest.importorskip("torch")


def build(lib, nn):
    class TextClassifier(nn.Module):
        def __init__(self, vocab=20, dim=8, tokens=4, hidden=32, classes=5):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim, padding_idx=0)
            self.body = nn.Sequential(OrderedDict([
                ("fc1", nn.Linear(dim * tokens, hidden)), ("bn", nn.BatchNorm1d(hidden)), ("act1", nn.ReLU()),
                ("drop", nn.Dropout(0.3)),
                ("fc2", nn.Linear(hidden, hidden)), ("norm", nn.LayerNorm(hidden)), ("act2", nn.GELU()),
            ]))
            self.heads = nn.ModuleList([nn.Linear(hidden, classes)])
            self.register_buffer("class_weight", lib.linspace(0.5, 1.5, classes))

        def forward(self, tokens):
            h = self.embed(tokens).flatten(1)
            return self.heads[0](self.body(h))
    return TextClassifier()


def test_training_with_pytorch_habits_gives_pytorchs_losses():
    rng = np.random.default_rng(0)
    theirs = build(torch, torch.nn).double()
    ours = build(gpuad, gnn).double()
    ours.load_state_dict(OrderedDict((k, gpuad.tensor(v.numpy())) for k, v in theirs.state_dict().items()))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)

    masks = {}  # one dropout mask per step, applied by the same forward hook in both libraries
    for model, lib in ((ours, gpuad), (theirs, torch)):
        model.body.drop.register_forward_hook(
            lambda m, args, out, lib=lib: args[0] * lib.tensor(masks["now"]) if m.training else out)
    activations = {"ours": [], "theirs": []}
    ours.body.act2.register_forward_hook(lambda m, a, out: activations["ours"].append(out.detach().numpy().copy()))
    theirs.body.act2.register_forward_hook(lambda m, a, out: activations["theirs"].append(out.detach().numpy().copy()))

    loss_ours = gnn.CrossEntropyLoss(weight=ours.class_weight, label_smoothing=0.1, ignore_index=-100)
    loss_theirs = torch.nn.CrossEntropyLoss(weight=theirs.class_weight, label_smoothing=0.1, ignore_index=-100)
    opt_ours = gpuad.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)

    for step in range(6):
        tokens = rng.integers(0, 20, (16, 4))
        tokens[::5, 2:] = 0  # padding
        labels = rng.integers(0, 5, 16)
        labels[::7] = -100  # ignored samples
        masks["now"] = (rng.uniform(size=(16, 32)) >= 0.3) / 0.7
        losses = []
        for model, opt, loss_fn, lib in ((ours, opt_ours, loss_ours, gpuad), (theirs, opt_theirs, loss_theirs,
                                                                            torch)):
            model.train()
            opt.zero_grad()
            loss = loss_fn(model(lib.tensor(tokens)), lib.tensor(labels))
            loss.backward()
            nn_utils = gnn.utils if lib is gpuad else torch.nn.utils
            norm = nn_utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            losses.append((loss.item(), norm.item()))
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10, err_msg=f"step {step}")

    for a, b in zip(activations["ours"], activations["theirs"]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-9, atol=1e-10, err_msg=key)
    assert not ours.embed.weight.grad.numpy()[0].any()  # the padding row never learns

    ours.eval(), theirs.eval()
    tokens = rng.integers(0, 20, (8, 4))
    np.testing.assert_allclose(ours(gpuad.tensor(tokens)).detach().numpy(),
                               theirs(torch.tensor(tokens)).detach().numpy(), rtol=1e-9, atol=1e-10)


def test_a_checkpoint_reloads_into_a_fresh_model(tmp_path):
    model = build(gpuad, gnn)
    model(gpuad.randint(0, 20, (6, 4)))  # running statistics move
    path = tmp_path / "model.gpuad"
    gpuad.save(model.state_dict(), path)
    fresh = build(gpuad, gnn)
    result = fresh.load_state_dict(gpuad.load(path))
    assert result.missing_keys == [] and result.unexpected_keys == []
    model.eval(), fresh.eval()
    tokens = gpuad.randint(0, 20, (3, 4))
    np.testing.assert_array_equal(model(tokens).detach().numpy(), fresh(tokens).detach().numpy())
