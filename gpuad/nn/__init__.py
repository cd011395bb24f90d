"""gpuad.nn: modules, parameters and the functional API (fused linear layers, losses), with PyTorch's names."""
from . import functional  # noqa: F401
from .modules import (GELU, MLP, Checkpoint, Dropout, Identity, Linear, Module, Parameter, ReLU,  # noqa: F401
                      Sequential, Sigmoid, Tanh)
from . import parallel  # noqa: F401  (nn.parallel.DistributedDataParallel)
