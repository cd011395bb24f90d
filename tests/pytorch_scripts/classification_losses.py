# A zoo of losses and their gradients on fixed inputs
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(1)
logits = torch.tensor(rng.standard_normal((6, 4)), requires_grad=True)
target = torch.tensor([0, 3, 1, 1, 2, 0])
probs = torch.softmax(torch.tensor(rng.standard_normal((6, 4))), dim=1)
x = torch.tensor(rng.standard_normal((6, 4)), requires_grad=True)
t = torch.tensor(rng.standard_normal((6, 4)))
b = torch.tensor(rng.uniform(0, 1, (6, 4)))
losses = {
    "ce": nn.CrossEntropyLoss()(logits, target),
    "ce_weight": nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64))(logits, target),
    "ce_smooth": nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target),
    "ce_ignore": F.cross_entropy(logits, torch.tensor([0, -100, 1, 1, -100, 0])),
    "ce_soft": F.cross_entropy(logits, probs),
    "ce_sum": F.cross_entropy(logits, target, reduction="sum"),
    "nll": nn.NLLLoss()(F.log_softmax(logits, dim=1), target),
    "mse": nn.MSELoss()(x, t),
    "l1": nn.L1Loss(reduction="sum")(x, t),
    "smooth_l1": nn.SmoothL1Loss(beta=0.5)(x, t),
    "huber": nn.HuberLoss(delta=0.7)(x, t),
    "bce": nn.BCELoss()(torch.sigmoid(x), b),
    "bce_logits": nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 3.0, 0.5], dtype=torch.float64))(x, b),
    "kl": nn.KLDivLoss(reduction="batchmean")(F.log_softmax(x, dim=1), F.softmax(t, dim=1)),
    "cosine_emb": nn.CosineEmbeddingLoss(margin=0.2)(x, t, torch.tensor([1, -1, 1, -1, 1, 1])),
}
RESULT = []
for name, loss in losses.items():
    gl, gx = torch.autograd.grad(loss, [logits, x], allow_unused=True)
    RESULT.append(loss.item())
    for g in (gl, gx):
        RESULT.extend([] if g is None else g.flatten().tolist())
COMPARE = "close"
