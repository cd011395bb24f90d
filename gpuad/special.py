"""``gpuad.special``: the torch.special names people type (erf, erfc, erfinv, expit, logit, xlogy, gammaln, digamma,
ndtr, ...), all differentiable where PyTorch's are."""
from .ops.elementwise import erf, sigmoid as expit  # noqa: F401
from .ops.math_extra import (digamma, entr, erfc, erfinv, exp2, expm1, i0, lgamma as gammaln, log_ndtr, logit,  # noqa: F401,E501
                             ndtr, ndtri, polygamma, sinc, xlog1py, xlogy)
from .ops.elementwise import log1p, round  # noqa: F401,A004
from .ops.reduce import log_softmax, logsumexp, softmax  # noqa: F401

psi = digamma
