"""Every optimizer and option, step for step against torch.optim: 50 steps of a small float64 MLP (two parameter
groups with different learning rates, a frozen parameter, a parameter that never gets a gradient, a 0-d parameter),
the parameters after every step, the final state and param_groups; then a save / load / resume that is bitwise equal
to the uninterrupted run, and PyTorch's errors and defaults."""
import numpy as np
import pytest

import gpuad as G
from gpuad import optim
from optim_cases import CONFIGS, IDS, batches, initial_values

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tensors of a few dozen elements: PyTorch's intra-op thread pool only costs time here (5x on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Run:
    """The same training loop in gpuad (lib=G) or PyTorch (lib=torch)."""

    def __init__(self, lib, name, options, groups=True):
        self.lib = lib
        self.maximize = options.get("maximize", False)
        tensor = G.tensor if lib is G else lambda v: torch.tensor(v, dtype=torch.float64)
        self.params = [tensor(v) for v in initial_values()]
        for i, p in enumerate(self.params):
            if i != 5:  # the frozen offset
                p.requires_grad_()
        w1, b1, w2, b2, gain, _, unused = self.params
        cls = getattr(optim if lib is G else torch.optim, name)
        if groups:
            self.opt = cls([{"params": [w1, b1], "lr": options["lr"] * 0.5},
                            {"params": [w2, b2, gain, self.params[5], unused]}], **options)
        else:
            self.opt = cls(self.params, **options)

    def loss(self, x, y):
        lib = self.lib
        w1, b1, w2, b2, gain, offset, _ = self.params
        x = G.tensor(x) if lib is G else torch.tensor(x)
        y = G.tensor(y) if lib is G else torch.tensor(y)
        logits = (x @ w1.T + b1).tanh() @ w2.T * gain + b2 + offset
        F = G.nn.functional if lib is G else torch.nn.functional
        loss = F.cross_entropy(logits, y)
        return -loss if self.maximize else loss  # maximizing -loss is minimizing the loss

    def train(self, data):
        history = []
        for x, y in data:
            self.opt.zero_grad()
            self.loss(x, y).backward()
            self.opt.step()
            history.append([_host(p) for p in self.params])
        return history


def _host(t):
    return t.detach().numpy().copy() if isinstance(t, torch.Tensor) else t.numpy(force=True).copy()


def _plain(value):
    """A state value as a NumPy array or a Python value, from either library."""
    if isinstance(value, (torch.Tensor, G.Tensor)):
        return np.asarray(_host(value), dtype=np.float64)
    return value


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_fifty_steps_match_pytorch(name, options):
    ours, theirs = Run(G, name, options), Run(torch, name, options)
    got, want = ours.train(batches()), theirs.train(batches())
    start = initial_values()
    for step, (a, b) in enumerate(zip(got, want)):
        for i, (pa, pb) in enumerate(zip(a, b)):
            np.testing.assert_allclose(pa, pb, rtol=1e-10, atol=1e-12, err_msg=f"parameter {i} after step {step}")
    assert np.abs(got[-1][0] - start[0]).max() > 1e-3  # the steps moved the weights
    np.testing.assert_array_equal(got[-1][5], start[5])  # frozen: requires_grad=False
    np.testing.assert_array_equal(got[-1][6], start[6])  # never had a grad
    ours_sd, theirs_sd = ours.opt.state_dict(), theirs.opt.state_dict()
    assert ours_sd["param_groups"] == theirs_sd["param_groups"]
    assert sorted(ours_sd["state"]) == sorted(theirs_sd["state"])
    for index, s in theirs_sd["state"].items():
        assert list(ours_sd["state"][index]) == list(s), index
        for key, value in s.items():
            np.testing.assert_allclose(_plain(ours_sd["state"][index][key]), _plain(value), rtol=1e-10, atol=1e-12,
                                       err_msg=f"state {key!r} of parameter {index}")
    p = ours.params[0]
    assert ours.opt.state[p] is ours.opt.state[ours.opt.param_groups[0]["params"][0]]  # keyed by the parameter
    assert set(ours.opt.state[p]) == set(theirs.opt.state[theirs.params[0]])


@pytest.mark.parametrize("name,options", CONFIGS, ids=IDS)
def test_save_load_resume_is_bitwise_equal_to_an_uninterrupted_run(name, options, tmp_path):
    data = batches()
    straight = Run(G, name, options)
    straight.train(data[:20])
    path = str(tmp_path / "checkpoint.gpuad")
    G.save({"params": [p.detach() for p in straight.params], "optim": straight.opt.state_dict()}, path)
    final = straight.train(data[20:])[-1]
    resumed = Run(G, name, options)
    saved = G.load(path)
    with G.no_grad():
        for p, v in zip(resumed.params, saved["params"]):
            p.copy_(v)
    resumed.opt.load_state_dict(saved["optim"])
    assert resumed.opt.param_groups[0]["params"][0] is resumed.params[0]
    for a, b in zip(resumed.train(data[20:])[-1], final):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,options", CONFIGS[::5], ids=IDS[::5])
def test_a_plain_parameter_list_matches_pytorch(name, options):
    got = Run(G, name, options, groups=False).train(batches()[:10])
    want = Run(torch, name, options, groups=False).train(batches()[:10])
    for a, b in zip(got[-1], want[-1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
                                  "Adadelta", "Rprop"])
def test_defaults_param_groups_and_repr_are_pytorchs(name):
    ours = getattr(optim, name)([G.zeros(3, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.zeros(3, requires_grad=True)])
    assert ours.defaults == theirs.defaults
    assert list(ours.param_groups[0]) == list(theirs.param_groups[0])
    assert {k: v for k, v in ours.param_groups[0].items() if k != "params"} == \
        {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
    assert repr(ours) == repr(theirs)


def test_add_param_group_mid_training_matches_pytorch():
    def run(lib):
        r = Run(lib, "Adam", {"lr": 1e-2}, groups=False)
        w1, b1, w2, b2, gain, offset, unused = r.params
        r.opt = (optim if lib is G else torch.optim).Adam([w1, b1, w2], lr=1e-2)
        r.train(batches()[:5])
        r.opt.add_param_group({"params": [b2, gain], "lr": 3e-2, "amsgrad": True})
        assert r.opt.param_groups[1]["betas"] == (0.9, 0.999)  # the defaults fill the new group
        return r.train(batches()[5:15])[-1], r.opt.state_dict()["param_groups"]
    (got, ours), (want, theirs) = run(G), run(torch)
    assert ours == theirs
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_named_parameters_keep_their_names_in_the_groups():
    model = G.nn.Linear(3, 2)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_zero_grad_sets_none_by_default_or_zeroes_in_place():
    p = G.ones(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and np.array_equal(p.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # no grad: nothing moves, no state is made
    assert np.array_equal(p.detach().numpy(), np.ones(3)) and len(opt.state) == 0


def test_parameter_checks_follow_pytorch():
    p = G.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optim.SGD([p]).add_param_group([p])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)


BAD = [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1.0}),
    ("SGD", {"nesterov": True}), ("SGD", {"momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -1e-3}), ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}), ("Adam", {"weight_decay": -1e-2}), ("AdamW", {"betas": (0.9, 1.5)}),
    ("Adam", {"fused": True, "foreach": True}),
    ("RMSprop", {"lr": -1.0}), ("RMSprop", {"alpha": -0.1}), ("RMSprop", {"momentum": -0.1}),
    ("RMSprop", {"eps": -1e-8}), ("RMSprop", {"weight_decay": -1.0}),
    ("Adagrad", {"lr_decay": -1.0}), ("Adagrad", {"initial_accumulator_value": -0.5}), ("Adagrad", {"eps": -1.0}),
    ("Adamax", {"betas": (0.9, 1.0)}), ("Adamax", {"lr": -2e-3}),
    ("NAdam", {"momentum_decay": -0.1}), ("NAdam", {"betas": (-0.1, 0.9)}),
    ("RAdam", {"betas": (0.9, 2.0)}), ("RAdam", {"weight_decay": -0.1}),
    ("Rprop", {"etas": (1.0, 1.2)}), ("Rprop", {"etas": (0.5, 1.0)}), ("Rprop", {"lr": -1.0}),
    ("Adadelta", {"rho": 1.5}), ("Adadelta", {"rho": -0.1}), ("Adadelta", {"lr": -1.0}), ("Adadelta", {"eps": -1.0}),
]


@pytest.mark.parametrize("name,options", BAD, ids=[f"{n}-{'-'.join(o)}" for n, o in BAD])
def test_bad_hyper_parameters_raise_pytorchs_error(name, options):
    with pytest.raises(Exception) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **options)
    with pytest.raises(theirs.type) as ours:
        getattr(optim, name)([G.zeros(2, requires_grad=True)], **options)
    assert str(ours.value) == str(theirs.value)


def test_what_gpuad_does_not_have_is_a_clear_error():
    p = G.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="Python number, not a Tensor"):
        optim.SGD([p], lr=G.tensor(0.1))
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([p], differentiable=True)


def test_load_state_dict_checks_the_groups():
    p, q = G.zeros(2, requires_grad=True), G.zeros(3, requires_grad=True)
    saved = optim.Adam([p, q]).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [p]}, {"params": [q]}]).load_state_dict(saved)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([p]).load_state_dict(saved)
    opt = optim.Adam([p, q])
    (p.sum() + q.sum()).backward()
    opt.step()
    swapped = optim.Adam([q, p])
    with pytest.raises(ValueError, match="has shape"):
        swapped.load_state_dict(opt.state_dict())


def make_custom_sgd(lib):
    """An optimizer written the way PyTorch's documentation shows, on the library's own base class."""
    base = optim.Optimizer if lib is G else torch.optim.Optimizer
    from gpuad.optim.optimizer import required as ours
    from torch.optim.optimizer import required as theirs
    required = ours if lib is G else theirs

    class SignSGD(base):
        def __init__(self, params, lr=required, momentum=0.0):
            super().__init__(params, {"lr": lr, "momentum": momentum})

        def step(self, closure=None):
            with lib.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state[p]
                        if "buf" not in state:
                            state["buf"] = lib.zeros_like(p)
                        state["buf"].mul_(group["momentum"]).add_(p.grad.sign())
                        p.add_(state["buf"], alpha=-group["lr"])
    return SignSGD


def test_a_users_optimizer_on_the_base_class_runs_as_in_pytorch():
    def run(lib):
        r = Run(lib, "SGD", {"lr": 0.01}, groups=False)
        r.opt = make_custom_sgd(lib)([{"params": r.params[:2], "lr": 0.01}, {"params": r.params[2:], "lr": 0.02}],
                                     momentum=0.5)
        return r.train(batches()[:10])[-1], r.opt.state_dict()
    (got, ours), (want, theirs) = run(G), run(torch)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert ours["param_groups"] == theirs["param_groups"] and sorted(ours["state"]) == sorted(theirs["state"])
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        make_custom_sgd(G)([G.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"])
def test_betas_given_as_a_list_are_kept_as_pytorch_keeps_them(name):
    ours = getattr(optim, name)([G.zeros(2, requires_grad=True)], betas=[0.8, 0.9])
    theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], betas=[0.8, 0.9])
    assert type(ours.param_groups[0]["betas"]) is type(theirs.param_groups[0]["betas"])


def test_a_groups_own_bad_hyper_parameter_is_an_error_too():
    """PyTorch checks only the constructor's arguments; gpuad checks each group's with the same messages."""
    p, q = G.zeros(2, requires_grad=True), G.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        optim.SGD([{"params": [p]}, {"params": [q], "lr": -0.1}], lr=0.1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([p]).add_param_group({"params": [q], "betas": (0.9, 1.0)})
