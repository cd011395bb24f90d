# An embedding model and an autoencoder with BatchNorm1d, Dropout in eval mode, and weight init from nn.init
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(7)


class Recommender(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(10, 4, padding_idx=0)
        self.item = nn.Embedding(12, 4)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.1), nn.Dropout(0.2),
                                 nn.Linear(16, 1))

    def forward(self, u, i):
        return self.mlp(torch.cat([self.user(u), self.item(i)], dim=1)).squeeze(1)


model = Recommender().double()
with torch.no_grad():
    for name, p in model.named_parameters():
        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    model.user.weight[0].zero_()
users = torch.tensor(rng.integers(0, 10, 32))
items = torch.tensor(rng.integers(0, 12, 32))
ratings = torch.tensor(rng.uniform(1, 5, 32))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
model.eval()  # dropout off, running statistics used: deterministic
losses = []
for _ in range(5):
    opt.zero_grad()
    loss = F.mse_loss(model(users, items), ratings)
    loss.backward()
    opt.step()
    losses.append(loss.item())
model.train()
with torch.no_grad():
    model.mlp[1](torch.tensor(rng.standard_normal((32, 16))))  # updates running stats
running = model.mlp[1].running_mean.tolist() + model.mlp[1].running_var.tolist()
padding_grad = model.user.weight.grad[0].abs().sum().item()

auto = nn.Sequential(nn.Linear(20, 8), nn.ELU(), nn.Linear(8, 3), nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 20))
for m in auto.modules():
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("relu"))
        nn.init.zeros_(m.bias)
bounds = [m.weight.abs().max().item() <= np.sqrt(6 / sum(m.weight.shape)) * np.sqrt(2) + 1e-6
          for m in auto.modules() if isinstance(m, nn.Linear)]
RESULT = losses + running + [padding_grad, float(all(bounds))]
COMPARE = "close"
