"""Optimizers with torch.optim's names, signatures, defaults and update rules: SGD, Adam, AdamW, RMSprop, Adagrad,
Adamax, NAdam, RAdam, Adadelta, Rprop; and ``gpuad.optim.lr_scheduler``.

Updates run in place on the parameters' arrays (NumPy or CuPy) without recording a graph (SGD, Adam and AdamW as
one fused kernel per parameter on CUDA); ``state_dict`` / ``load_state_dict`` use PyTorch's layout.
"""
from . import lr_scheduler  # noqa: F401
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from .step_hooks import register_optimizer_step_post_hook, register_optimizer_step_pre_hook  # noqa: F401

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta", "Rprop",
           "lr_scheduler"]
