"""gpuad: a tensor autograd library that runs the same code on NumPy (CPU) and CuPy (CUDA).

PyTorch's autograd names and semantics (requires_grad, backward, .grad, no_grad, autograd.grad, Function), with
every op's forward and VJP declared together in ``gpuad.ops``. Importing gpuad never imports CuPy.
"""
from . import _malloc
_malloc.apply()  # keep freed array memory for reuse (see gpuad/_malloc.py; GPUAD_MALLOC_TUNING=0 turns it off)
from . import accelerator, autograd, backends, cuda, dtypes, func, memory, nn, ops, optim, tensor_api, utils, viz  # noqa: F401,E501
from .autograd.checkpoint import checkpoint, checkpoint_sequential  # noqa: F401
from .autograd import enable_grad, gradcheck, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .autograd import inference_mode, is_inference_mode_enabled  # noqa: F401
from .device import Device, Device as device, get_default_device, set_default_device  # noqa: F401
from .dtypes import (bool, double, float, float16, float32, float64, get_default_dtype, half, int, int8, int16,  # noqa: F401,A004,E501
                     int32, int64, long, set_default_dtype, short, uint8)
from .dtypes import dtype, finfo, iinfo  # noqa: F401
from .factories import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like, linspace,  # noqa: F401,E501
                        ones, ones_like, rand, rand_like, randint, randn, randn_like, tensor, zeros, zeros_like)
from .ops import *  # noqa: F401,F403 - every op as gpuad.<name>
from . import linalg, special  # noqa: F401,E402 - gpuad.linalg and gpuad.special as modules, as in PyTorch
from .ops import return_types  # noqa: F401,E402
from .serialization import load, save  # noqa: F401
from .random import (Generator, default_generator, get_rng_state, initial_seed, manual_seed, randperm, seed,  # noqa: F401,E501
                     set_rng_state)
from .func import vmap  # noqa: F401 - torch.vmap
from .tensor import Size, Tensor, is_tensor  # noqa: F401
from .tensor_api import is_floating_point, numel  # noqa: F401
from .tensor_api import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,  # noqa: F401,E402
                         IntTensor, LongTensor, ShortTensor)
from .printing import set_printoptions  # noqa: F401
from .threads import get_num_interop_threads, get_num_threads, set_num_interop_threads, set_num_threads  # noqa: F401,E501
from .capture import compile  # noqa: F401,A004

__version__ = "0.1.0"
