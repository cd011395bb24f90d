"""Every learning-rate scheduler against torch.optim.lr_scheduler: 100 steps of the rates (and of the momentum or
beta1 that CyclicLR and OneCycleLR cycle), with two parameter groups, compared exactly, together with the groups'
other entries (initial_lr, max_lr, ...); compositions, warm restarts, ReduceLROnPlateau fed a loss sequence, the
closed forms ``step(epoch)`` uses, and a state_dict save / load that resumes the same sequence."""
import warnings

import numpy as np
import pytest

import gpuad as G
from gpuad import optim

torch = pytest.importorskip("torch")

STEPS = 100


def sgd(lib):
    """Two groups (lr 0.1 and 0.05) with momentum, as both libraries make them."""
    tensor = (lambda: G.zeros(2, requires_grad=True)) if lib is optim else (lambda: torch.zeros(2, requires_grad=True))
    return lib.SGD([{"params": [tensor()]}, {"params": [tensor()], "lr": 0.05}], lr=0.1, momentum=0.9)


def adam(lib):
    tensor = (lambda: G.zeros(2, requires_grad=True)) if lib is optim else (lambda: torch.zeros(2, requires_grad=True))
    return lib.Adam([{"params": [tensor()]}, {"params": [tensor()], "lr": 0.02}], lr=0.01)


SCHEDULERS = {
    "StepLR": (sgd, lambda s, o: s.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (sgd, lambda s, o: s.MultiStepLR(o, milestones=[10, 30, 30, 60], gamma=0.3)),
    "ExponentialLR": (sgd, lambda s, o: s.ExponentialLR(o, gamma=0.97)),
    "CosineAnnealingLR": (sgd, lambda s, o: s.CosineAnnealingLR(o, T_max=30, eta_min=1e-3)),
    "CosineAnnealingWarmRestarts": (sgd, lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2,
                                                                                      eta_min=1e-4)),
    "CosineAnnealingWarmRestarts-T_mult1": (sgd, lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=7)),
    "LinearLR": (sgd, lambda s, o: s.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=20)),
    "LinearLR-decay": (adam, lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=60)),
    "ConstantLR": (sgd, lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=15)),
    "LambdaLR": (sgd, lambda s, o: s.LambdaLR(o, lambda e: 0.95 ** e)),
    "LambdaLR-per-group": (sgd, lambda s, o: s.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.99 ** e])),
    "MultiplicativeLR": (sgd, lambda s, o: s.MultiplicativeLR(o, lambda e: 0.98)),
    "PolynomialLR": (sgd, lambda s, o: s.PolynomialLR(o, total_iters=40, power=2.0)),
    "OneCycleLR": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS)),
    "OneCycleLR-linear-three-phase": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=0.3, epochs=10, steps_per_epoch=10,
                                                                      anneal_strategy="linear", three_phase=True)),
    "OneCycleLR-adam-betas": (adam, lambda s, o: s.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, pct_start=0.25,
                                                              base_momentum=0.8, max_momentum=0.9)),
    "CyclicLR": (sgd, lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=10)),
    "CyclicLR-triangular2": (sgd, lambda s, o: s.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=8,
                                                          step_size_down=5, mode="triangular2")),
    "CyclicLR-exp_range-adam": (adam, lambda s, o: s.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=6,
                                                              mode="exp_range", gamma=0.98)),
    "CyclicLR-scale_fn": (sgd, lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=5, cycle_momentum=False,
                                                       scale_fn=lambda x: 0.5 ** x, scale_mode="iterations")),
    "SequentialLR": (sgd, lambda s, o: s.SequentialLR(o, [s.LinearLR(o, start_factor=0.1, total_iters=10),
                                                          s.ExponentialLR(o, gamma=0.95)], milestones=[10])),
    "SequentialLR-three": (sgd, lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.2, total_iters=5), s.CosineAnnealingLR(o, T_max=20),
            s.StepLR(o, step_size=10, gamma=0.5)], milestones=[5, 40])),
    "ChainedScheduler": (sgd, lambda s, o: s.ChainedScheduler([s.ConstantLR(o, factor=0.5, total_iters=5),
                                                               s.ExponentialLR(o, gamma=0.9)])),
    "ChainedScheduler-warmup-cosine": (adam, lambda s, o: s.ChainedScheduler(
        [s.LinearLR(o, start_factor=0.1, total_iters=10), s.CosineAnnealingWarmRestarts(o, T_0=25)], optimizer=o)),
}


def groups(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def run(lib, name, steps=STEPS, after=None):
    """(rates after every step, the groups after every step) of scheduler ``name`` built in ``lib``."""
    make_opt, make_sched = SCHEDULERS[name]
    opt = make_opt(lib)
    sched = make_sched(lib.lr_scheduler, opt)
    lrs, seen = [sched.get_last_lr()], [groups(opt)]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        seen.append(groups(opt))
    if after is not None:
        after(opt, sched)
    return lrs, seen


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_a_hundred_steps_equal_pytorchs(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # optimizer.step() comes first: no ordering warning from either
        ours, theirs = run(optim, name), run(torch.optim, name)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert len({tuple(lr) for lr in ours[0]}) > 1  # the rates did change


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_round_trip_resumes_the_same_rates(name, tmp_path):
    straight = run(optim, name)[0]
    path = str(tmp_path / "sched.gpuad")

    def save(opt, sched):
        G.save({"optim": opt.state_dict(), "sched": sched.state_dict()}, path)
    run(optim, name, steps=40, after=save)
    make_opt, make_sched = SCHEDULERS[name]
    opt = make_opt(optim)
    sched = make_sched(optim.lr_scheduler, opt)
    saved = G.load(path)
    opt.load_state_dict(saved["optim"])
    sched.load_state_dict(saved["sched"])
    assert sched.get_last_lr() == straight[40]
    resumed = []
    for _ in range(STEPS - 40):
        opt.step()
        sched.step()
        resumed.append(sched.get_last_lr())
    assert resumed == straight[41:]


def plateau_losses():
    """Improving, then flat with noise, then improving again, then rising: every branch of ReduceLROnPlateau."""
    rng = np.random.default_rng(3)
    return ([1.0 / (1 + i) for i in range(20)] + [0.05 + 1e-3 * rng.random() for _ in range(30)]
            + [0.04 * 0.9 ** i for i in range(20)] + [0.01 + 0.002 * i for i in range(30)])


@pytest.mark.parametrize("options", [
    {}, {"patience": 3, "factor": 0.5}, {"patience": 2, "cooldown": 4, "min_lr": [0.02, 1e-3]},
    {"mode": "max", "patience": 4, "threshold": 0.01, "threshold_mode": "abs"},
    {"patience": 0, "factor": 0.7, "eps": 1e-3, "threshold_mode": "abs"}])
def test_reduce_lr_on_plateau_fed_a_loss_sequence_equals_pytorchs(options, tmp_path):
    def run_plateau(lib, losses, state=None):
        opt = sgd(lib)
        sched = lib.lr_scheduler.ReduceLROnPlateau(opt, **options)
        if state is not None:
            opt.load_state_dict(state[0])
            sched.load_state_dict(state[1])
        out = []
        for loss in losses:
            opt.step()
            sched.step(loss)
            out.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
        return out, (opt.state_dict(), sched.state_dict())
    losses = plateau_losses()
    ours, (opt_state, sched_state) = run_plateau(optim, losses[:50])
    theirs, _ = run_plateau(torch.optim, losses)
    assert len({tuple(o[0]) for o in theirs}) > 2  # the rates were reduced
    path = str(tmp_path / "plateau.gpuad")
    G.save({"optim": opt_state, "sched": sched_state}, path)
    saved = G.load(path)
    resumed, _ = run_plateau(optim, losses[50:], (saved["optim"], saved["sched"]))
    assert ours + resumed == theirs


@pytest.mark.parametrize("name,make,epochs", [
    ("StepLR", lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), [1, 2, 5, 9, 4]),
    ("MultiStepLR", lambda s, o: s.MultiStepLR(o, milestones=[2, 4, 4], gamma=0.5), [1, 3, 5, 2]),
    ("ExponentialLR", lambda s, o: s.ExponentialLR(o, gamma=0.9), [3, 1, 7]),
    ("CosineAnnealingLR", lambda s, o: s.CosineAnnealingLR(o, T_max=10), [2, 5, 13, 1]),
    ("LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.5, total_iters=4), [1, 6, 2]),
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=3), [1, 3, 0]),
    ("PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=6, power=1.5), [2, 7, 3]),
    ("CosineAnnealingWarmRestarts", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2),
     [0.5, 3.25, 5, 13.5, 2]),
])
def test_step_with_an_epoch_uses_pytorchs_closed_form(name, make, epochs):
    def rates(lib):
        opt = sgd(lib)
        sched = make(lib.lr_scheduler, opt)
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in epochs:
                opt.step()
                sched.step(e)
                out.append(sched.get_last_lr())
        return out
    assert rates(optim) == rates(torch.optim)


def test_initial_lr_and_resuming_with_last_epoch_follow_pytorch():
    opt = sgd(optim)
    optim.lr_scheduler.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(sgd(optim), step_size=2, last_epoch=3)
    ours = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5, last_epoch=4)
    theirs_opt = sgd(torch.optim)
    torch.optim.lr_scheduler.StepLR(theirs_opt, step_size=2)
    theirs = torch.optim.lr_scheduler.StepLR(theirs_opt, step_size=2, gamma=0.5, last_epoch=4)
    assert ours.last_epoch == theirs.last_epoch == 5 and ours.get_last_lr() == theirs.get_last_lr()


def test_stepping_the_scheduler_before_the_optimizer_warns_as_pytorch():
    opt = sgd(optim)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def test_bad_scheduler_arguments_raise_pytorchs_errors():
    cases = [
        lambda s, o: s.ConstantLR(o, factor=1.5),
        lambda s, o: s.LinearLR(o, start_factor=0),
        lambda s, o: s.LinearLR(o, end_factor=2),
        lambda s, o: s.LambdaLR(o, [lambda e: 1.0]),
        lambda s, o: s.MultiplicativeLR(o, 0.5),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1),
        lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
        lambda s, o: s.OneCycleLR(o, max_lr=[0.1], total_steps=10),
        lambda s, o: s.CyclicLR(o, 0.01, 0.1, mode="sine"),
        lambda s, o: s.ReduceLROnPlateau(o, factor=1.0),
        lambda s, o: s.ReduceLROnPlateau(o, mode="up"),
        lambda s, o: s.ReduceLROnPlateau(o, min_lr=[0.1]),
        lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2)], milestones=[3]),
        lambda s, o: s.SequentialLR(o, [s.ReduceLROnPlateau(o)], milestones=[]),
        lambda s, o: s.ChainedScheduler([]),
        lambda s, o: s.StepLR(object(), 2),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(Exception) as theirs:
            case(torch.optim.lr_scheduler, sgd(torch.optim))
        with pytest.raises(theirs.type) as ours:
            case(optim.lr_scheduler, sgd(optim))
        assert str(ours.value) == str(theirs.value), i


def test_one_cycle_past_its_total_steps_is_an_error():
    opt = sgd(optim)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


def same_state(ours, theirs, where="state_dict"):
    """Equal entries in the two libraries' scheduler state dicts (functions aside)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and sorted(ours, key=str) == sorted(theirs, key=str), where
        for k in theirs:
            same_state(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same_state(a, b, f"{where}[{i}]")
    elif not callable(theirs):
        assert ours == theirs, where


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_has_pytorchs_entries(name):
    dicts = []
    run(optim, name, steps=12, after=lambda opt, sched: dicts.append(sched.state_dict()))
    run(torch.optim, name, steps=12, after=lambda opt, sched: dicts.append(sched.state_dict()))
    same_state(*dicts)
