# Save and resume: model, optimizer and scheduler state dicts through torch.save/torch.load; early stopping
import io
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(5)
X = torch.tensor(rng.standard_normal((64, 6)), dtype=torch.float64)
y = torch.tensor(rng.integers(0, 3, 64))


def make():
    m = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.tensor(np.random.default_rng(6).standard_normal(tuple(p.shape)) * 0.4))
    o = torch.optim.AdamW(m.parameters(), lr=0.05)
    s = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)
    return m, o, s


def step(m, o, s):
    o.zero_grad()
    loss = F.cross_entropy(m(X), y)
    loss.backward()
    o.step()
    s.step()
    return loss.item()


m, o, s = make()
straight = [step(m, o, s) for _ in range(20)]
m, o, s = make()
first = [step(m, o, s) for _ in range(10)]
path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
torch.save({"model": m.state_dict(), "optim": o.state_dict(), "sched": s.state_dict(), "epoch": 10}, path)
buf = io.BytesIO()
torch.save(m.state_dict(), buf)
buf.seek(0)
m2, o2, s2 = make()
ckpt = torch.load(path)
m2.load_state_dict(ckpt["model"])
o2.load_state_dict(ckpt["optim"])
s2.load_state_dict(ckpt["sched"])
resumed = first + [step(m2, o2, s2) for _ in range(10)]
same_buf = all(torch.equal(a, b) for a, b in zip(torch.load(buf).values(), ckpt["model"].values()))
best, bad, stopped = float("inf"), 0, None
for epoch, loss in enumerate(straight):
    if loss < best - 1e-3:
        best, bad = loss, 0
    else:
        bad += 1
        if bad >= 3:
            stopped = epoch
            break
assert resumed == straight, (resumed, straight)
RESULT = straight + [float(same_buf), float(ckpt["epoch"]), float(-1 if stopped is None else stopped)]
COMPARE = "close"
