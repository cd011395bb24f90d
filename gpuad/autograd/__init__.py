"""Reverse-mode automatic differentiation: the graph, the engine, custom Functions and gradcheck."""
from . import anomaly_mode
from .anomaly_mode import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import backward, grad
from .function import Function, FunctionCtx, once_differentiable
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .graph import AccumulateGrad, Node
from .inference_mode import inference_mode, is_inference_mode_enabled
from .variable import Variable  # noqa: F401
from ..tensor import Tensor
from . import functional  # noqa: E402,F401 - gpuad.autograd.functional.jacobian/hessian/vjp/jvp/hvp/vhp

__all__ = ["backward", "grad", "Function", "FunctionCtx", "once_differentiable", "gradcheck", "gradgradcheck",
           "GradcheckError", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "inference_mode", "is_inference_mode_enabled", "Node",
           "AccumulateGrad", "functional", "Variable"]


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into each leaf's .grad (PyTorch semantics)."""
    backward(self, gradient, retain_graph, create_graph, inputs)


_tensor_backward.__name__ = "backward"
Tensor.backward = _tensor_backward  # installed here, as tensor.py sits below the engine
