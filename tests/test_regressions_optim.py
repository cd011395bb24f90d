"""Regressions in the optimizers (issue 11, item 9): a 0-d parameter must be updated exactly like a one-element
vector. NumPy turns arithmetic on 0-d arrays into scalars, so an update that rebinds a name instead of writing into
the state's array (``buf = g + wd * p``; ``buf *= m``) silently leaves the momentum buffer frozen."""
import numpy as np
import pytest

import gpuad as G
from gpuad import optim

EVERY_OPTION = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.1, "maximize": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.1, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.1, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 1.0, "weight_decay": 0.1}),
    ("Rprop", {"lr": 0.1}),
]


def run(name, options, shape, steps=8):
    p = G.full(shape, 0.7, dtype=G.float64, requires_grad=True)
    opt = getattr(optim, name)([p], **options)
    values = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (p * p).sum() - (-1.0 if options.get("maximize") else 1.0) * 0.3 * p.sum()
        (-loss if options.get("maximize") else loss).backward()
        opt.step()
        values.append(float(p.detach().numpy().reshape(-1)[0]))
    return values, opt.state[p]


def test_sgd_momentum_weight_decay_on_a_0d_parameter_updates_its_buffer():
    """The issue's reproduction: three steps on p*p from 1.0 give 0.0243 (PyTorch), not 0.1547."""
    p = G.tensor(1.0, dtype=G.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        (p * p).backward()
        opt.step()
    x, buf = 1.0, None  # the same three steps written out in Python floats
    for _ in range(3):
        d = 2 * x + 0.1 * x
        buf = d if buf is None else 0.9 * buf + d
        x -= 0.1 * buf
    assert p.item() == pytest.approx(x, rel=1e-14) and abs(x - 0.0243) < 1e-4
    assert type(opt.state[p]["momentum_buffer"]._data) is np.ndarray
    assert opt.state[p]["momentum_buffer"].item() == pytest.approx(buf, rel=1e-14)


@pytest.mark.parametrize("name,options", EVERY_OPTION, ids=[n + "-" + "-".join(o) for n, o in EVERY_OPTION])
def test_a_0d_parameter_moves_exactly_like_a_one_element_vector(name, options):
    scalar, scalar_state = run(name, options, ())
    vector, _ = run(name, options, (1,))
    assert scalar == vector
    assert abs(scalar[-1] - 0.7) > 1e-3
    for key, value in scalar_state.items():
        assert isinstance(value, G.Tensor) and type(value._data) is np.ndarray and value.ndim == 0, key


def test_sgd_0d_parameter_matches_pytorch():
    torch = pytest.importorskip("torch")
    p = G.tensor(1.0, dtype=G.float64, requires_grad=True)
    q = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    ours = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    theirs = torch.optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    for _ in range(5):
        for t, o in ((p, ours), (q, theirs)):
            o.zero_grad()
            (t * t).backward()
            o.step()
    assert p.item() == pytest.approx(q.item(), rel=1e-12)
