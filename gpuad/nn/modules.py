"""The module classes under their older import path (``gpuad.nn.modules``); they live in the files of gpuad/nn/."""
from . import *  # noqa: F401,F403
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
