# Parameter groups with their own learning rates, several optimizers and schedulers, gradient accumulation
import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(9)
X = torch.tensor(rng.standard_normal((40, 5)))
Y = torch.tensor(rng.standard_normal((40, 1)))
RESULT = []
configs = [
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), torch.optim.lr_scheduler.MultiStepLR,
     dict(milestones=[3, 6], gamma=0.3)),
    (torch.optim.Adam, dict(lr=0.01, amsgrad=True), torch.optim.lr_scheduler.ExponentialLR, dict(gamma=0.9)),
    (torch.optim.RMSprop, dict(lr=0.005, momentum=0.5), torch.optim.lr_scheduler.LinearLR,
     dict(start_factor=0.5, total_iters=4)),
    (torch.optim.Adagrad, dict(lr=0.1), torch.optim.lr_scheduler.LambdaLR, dict(lr_lambda=lambda e: 0.95 ** e)),
    (torch.optim.NAdam, dict(lr=0.01), torch.optim.lr_scheduler.OneCycleLR, dict(max_lr=0.05, total_steps=10)),
    (torch.optim.RAdam, dict(lr=0.01), torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, dict(T_0=3)),
    (torch.optim.Adamax, dict(lr=0.02), torch.optim.lr_scheduler.ConstantLR, dict(factor=0.5, total_iters=2)),
]
for opt_cls, opt_kw, sched_cls, sched_kw in configs:
    model = nn.Sequential(nn.Linear(5, 8), nn.Softplus(), nn.Linear(8, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(np.random.default_rng(10).standard_normal(tuple(p.shape)) * 0.5))
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": opt_kw["lr"] * 0.5}]
    opt = opt_cls(groups, **opt_kw)
    sched = sched_cls(opt, **sched_kw)
    for step in range(10):
        opt.zero_grad()
        for chunk in range(2):  # two accumulated half batches
            xb, yb = X[chunk * 20:(chunk + 1) * 20], Y[chunk * 20:(chunk + 1) * 20]
            (((model(xb) - yb) ** 2).mean() / 2).backward()
        opt.step()
        sched.step()
    RESULT += [((model(X) - Y) ** 2).mean().item()] + [g["lr"] for g in opt.param_groups]
plateau_opt = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=1.0)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(plateau_opt, factor=0.5, patience=1)
for metric in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8]:
    plateau.step(metric)
    RESULT.append(plateau_opt.param_groups[0]["lr"])
COMPARE = "close"
