# Module containers, buffers, hooks, state_dict round trips, named_modules and print(model)
import collections

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n, n) for _ in range(2)])
        self.norm = nn.LayerNorm(n)
        self.register_buffer("scale", torch.ones(n))
        self.register_buffer("scratch", torch.zeros(1), persistent=False)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.norm(x) * self.scale


model = nn.Sequential(collections.OrderedDict([
    ("inp", nn.Linear(4, 8)),
    ("act", nn.ReLU()),
    ("block", Block(8)),
    ("heads", nn.ModuleDict({"a": nn.Linear(8, 2), "b": nn.Linear(8, 3)})),
]))
rng = np.random.default_rng(2)
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)), dtype=torch.float32))
print(model)
keys = list(model.state_dict().keys())
names = [n for n, _ in model.named_modules()]
seen = []
handle = model.block.register_forward_hook(lambda m, inp, out: seen.append(tuple(out.shape)))
pre = model.inp.register_forward_pre_hook(lambda m, inp: (inp[0] * 2,))
x = torch.tensor(rng.standard_normal((5, 4)), dtype=torch.float32)
h = model[:3](x)
out = model.heads["a"](h).sum() + model.heads["b"](h).pow(2).mean()
out.backward()
handle.remove()
pre.remove()
h2 = model[:3](x)
grads = [p.grad.abs().sum().item() for p in model.parameters() if p.grad is not None]
clone = nn.Sequential(collections.OrderedDict([
    ("inp", nn.Linear(4, 8)), ("act", nn.ReLU()), ("block", Block(8)),
    ("heads", nn.ModuleDict({"a": nn.Linear(8, 2), "b": nn.Linear(8, 3)}))]))
result = clone.load_state_dict(model.state_dict())
same = torch.allclose(clone[:3](x), h2)
n_params = sum(p.numel() for p in model.parameters())
frozen = model.inp.requires_grad_(False)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
RESULT = [out.item(), float(len(seen)), float(same), float(n_params), float(trainable), float(len(keys)),
          float(len(names)), float(len(result.missing_keys) + len(result.unexpected_keys))] + grads + h2.flatten().tolist()
STRINGS = [str(model), " ".join(keys), " ".join(names), str(seen)]
COMPARE = "close"
