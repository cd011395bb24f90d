"""The optimizer configurations the optimizer tests share (test_optim_pytorch, test_optim_cuda): every optimizer
with each of its options, and the small problem they train on."""
import numpy as np

STEPS = 50
SIZES = [5, 7, 3]

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "maximize": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "maximize": True, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 1e-2, "betas": (0.3, 0.9), "eps": 1e-6}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2, "maximize": True}),
    ("RMSprop", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-2, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-2, "centered": True}),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.5, "weight_decay": 1e-2, "alpha": 0.9}),
    ("RMSprop", {"lr": 1e-2, "alpha": 0.3, "centered": True, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 1e-2, "maximize": True, "eps": 1e-6}),
    ("Adamax", {"lr": 2e-2}),
    ("Adamax", {"lr": 2e-2, "betas": (0.3, 0.9), "weight_decay": 1e-2}),
    ("Adamax", {"lr": 2e-2, "maximize": True}),
    ("NAdam", {"lr": 1e-2}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 1e-2, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("NAdam", {"lr": 1e-2, "betas": (0.4, 0.95)}),
    ("RAdam", {"lr": 1e-2}),  # rho_t <= 5 for the first steps, then rectified: both branches
    ("RAdam", {"lr": 1e-2, "weight_decay": 1e-2}),
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 1e-2, "betas": (0.3, 0.8)}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-4, "weight_decay": 1e-2}),
    ("Adadelta", {"lr": 1.0, "weight_decay": 0.1, "maximize": True}),
    ("Rprop", {"lr": 1e-2}),
    ("Rprop", {"lr": 2e-2, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}),
    ("Rprop", {"lr": 1e-2, "maximize": True}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CONFIGS)]


def initial_values(seed=0):
    """[W1, b1, W2, b2, gain (0-d), frozen offset, unused]: one MLP's parameters and three odd ones."""
    rng = np.random.default_rng(seed)
    values = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        values += [rng.standard_normal((b, a)) / np.sqrt(a), rng.standard_normal(b) * 0.1]
    return values + [np.array(1.3), rng.standard_normal(SIZES[-1]) * 0.1, rng.standard_normal(4)]


def batches(seed=1):
    rng = np.random.default_rng(seed)
    five = [(rng.standard_normal((8, SIZES[0])), rng.integers(0, SIZES[-1], 8)) for _ in range(5)]
    return [five[i % 5] for i in range(STEPS)]
