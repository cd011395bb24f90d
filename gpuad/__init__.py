"""gpuad: a tensor autograd library that runs the same code on NumPy (CPU) and CuPy (CUDA).

PyTorch's autograd names and semantics (requires_grad, backward, .grad, no_grad, autograd.grad, Function), with
every op's forward and VJP declared together in ``gpuad.ops``. Importing gpuad never imports CuPy.
"""
from . import _malloc
_malloc.apply()  # keep freed array memory for reuse (see gpuad/_malloc.py; GPUAD_MALLOC_TUNING=0 turns it off)
from . import autograd, cuda, dtypes, func, memory, nn, ops, optim, viz  # noqa: F401
from .autograd.checkpoint import checkpoint, checkpoint_sequential  # noqa: F401
from .autograd import enable_grad, gradcheck, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .device import Device, Device as device  # noqa: F401
from .dtypes import (bool, double, float, float16, float32, float64, get_default_dtype, half, int, int8, int16,  # noqa: F401,A004,E501
                     int32, int64, long, set_default_dtype, short, uint8)
from .factories import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like, linspace,  # noqa: F401,E501
                        ones, ones_like, rand, rand_like, randint, randn, randn_like, tensor, zeros, zeros_like)
from .ops import *  # noqa: F401,F403 - every op as gpuad.<name>
from .serialization import load, save  # noqa: F401
from .capture import compile  # noqa: F401,A004
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state  # noqa: F401
from .tensor import Tensor, is_tensor  # noqa: F401

__version__ = "0.1.0"
