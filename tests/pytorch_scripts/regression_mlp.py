# A regression MLP with Adam, a StepLR schedule, gradient clipping, a DataLoader without shuffling, and evaluation
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(0)
X = torch.tensor(rng.standard_normal((256, 8)), dtype=torch.float32)
true_w = torch.tensor(rng.standard_normal((8, 1)), dtype=torch.float32)
y = torch.sin(X @ true_w) + 0.1 * X[:, :1] ** 2

model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 1))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.3, dtype=torch.float32))

loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=False)
opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
history = []
for epoch in range(15):
    model.train()
    total = 0.0
    for xb, yb in loader:
        opt.zero_grad()
        loss = F.mse_loss(model(xb), yb)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
        total += loss.item() * len(xb)
    sched.step()
    history.append(total / len(loader.dataset))
model.eval()
with torch.no_grad():
    final = F.mse_loss(model(X), y).item()
print(history, sched.get_last_lr())
RESULT = history + [final] + sched.get_last_lr()
COMPARE = "close"
