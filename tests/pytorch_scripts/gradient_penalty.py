# Higher-order gradients: a gradient penalty and a physics-informed (PINN) residual with create_graph
import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(4)
net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).double()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
x = torch.linspace(0, 1, 32, dtype=torch.float64).reshape(-1, 1).requires_grad_(True)
losses = []
for step in range(30):
    u = net(x)
    du = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]
    d2u = torch.autograd.grad(du, x, grad_outputs=torch.ones_like(du), create_graph=True)[0]
    residual = d2u + (np.pi ** 2) * torch.sin(np.pi * x)
    boundary = net(torch.tensor([[0.0], [1.0]], dtype=torch.float64))
    penalty = ((du.norm(2, dim=1) - 1) ** 2).mean()
    loss = residual.pow(2).mean() + boundary.pow(2).sum() + 0.1 * penalty
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
RESULT = losses
COMPARE = "close"
