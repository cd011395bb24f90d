"""Ordinary PyTorch code using the Tensor API ops, run unchanged with ``torch`` and with ``gpuad as torch``: metrics,
one-hot by scatter_, masked attention by einsum, nearest neighbours by cdist and topk, and a least-squares fit."""
import numpy as np
import pytest

import gpuad

real_torch = pytest.importorskip("torch")


def metrics(torch, logits, labels):
    pred = logits.max(1)[1]
    accuracy = (pred == labels).float().mean()
    top2 = logits.topk(2, dim=1).indices
    top2_accuracy = (top2 == labels.unsqueeze(1)).any(dim=1).float().mean()
    confidence, _ = torch.max(logits.softmax(dim=1), dim=1)
    counts = torch.bincount(pred, minlength=logits.shape[1])
    one_hot = torch.zeros(len(labels), logits.shape[1]).scatter_(1, labels.unsqueeze(1), 1.0)
    ranks = logits.argsort(dim=1, descending=True).argsort(dim=1).gather(1, labels.unsqueeze(1)).squeeze(1)
    return accuracy, top2_accuracy, confidence, counts, one_hot, ranks


def attention(torch, q, k, v, lengths):
    scores = torch.einsum("bqd,bkd->bqk", q, k) / q.shape[-1] ** 0.5
    positions = torch.arange(k.shape[1])
    pad = positions[None, None, :] >= lengths[:, None, None]
    causal = torch.triu(torch.ones(q.shape[1], k.shape[1], dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(pad | causal, float("-inf"))
    weights = scores.softmax(dim=-1)
    return torch.bmm(weights, v)


def neighbours(torch, points, queries):
    d = torch.cdist(queries, points)
    dist, idx = d.topk(3, dim=1, largest=False)
    votes = torch.gather(points[:, 0], 0, idx.reshape(-1)).reshape(idx.shape)
    return dist, idx, votes.median(dim=1).values


def least_squares(torch, x, y):
    design = torch.stack([torch.ones_like(x), x, x ** 2], dim=1)
    coef = torch.linalg.solve(design.T @ design, design.T @ y)
    residual = torch.linalg.norm(design @ coef - y)
    return coef, residual, torch.linalg.det(design.T @ design).log()


@pytest.mark.parametrize("script", [metrics, attention, neighbours, least_squares])
def test_pytorch_code_runs_unchanged_and_agrees(script):
    rng = np.random.default_rng(0)
    data = {
        metrics: lambda: [rng.standard_normal((20, 5)), rng.integers(0, 5, 20)],
        attention: lambda: [rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)),
                            rng.standard_normal((2, 4, 3)), np.array([4, 2])],
        neighbours: lambda: [rng.standard_normal((10, 2)), rng.standard_normal((4, 2))],
        least_squares: lambda: [rng.standard_normal(30), rng.standard_normal(30)],
    }[script]()
    ours = script(gpuad, *[gpuad.tensor(d, dtype=gpuad.float64) if d.dtype.kind == "f" else gpuad.tensor(d)
                           for d in data])
    theirs = script(real_torch, *[real_torch.tensor(d) for d in data])
    for o, t in zip(ours, theirs):
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)
