"""``gpuad.autograd.grad_mode``, PyTorch's public path for the grad-mode switches; they live in
``gpuad._autograd.grad_mode``, below the ops that read them."""
from .._autograd.grad_mode import (enable_grad, first_order, grad_batch, is_grad_enabled, mode, no_grad,  # noqa: F401
                                   set_grad_enabled)
