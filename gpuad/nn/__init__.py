"""gpuad.nn: modules, parameters, containers, layers, losses, init and the functional API, with PyTorch's names."""
from . import functional, init, utils  # noqa: F401
from .activation import (CELU, ELU, GELU, GLU, PReLU, ReLU, ReLU6, RReLU, SELU, Hardshrink,  # noqa: F401
                         Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish, Sigmoid, SiLU, Softmax, Softmin, Softplus,
                         Softshrink, Softsign, Tanh, Tanhshrink, Threshold)
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout  # noqa: F401
from .linear import Flatten, Identity, Linear, Unflatten  # noqa: F401
from .loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, GaussianNLLLoss,  # noqa: F401
                   HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss, MarginRankingLoss, MSELoss,
                   MultiLabelSoftMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss, SoftMarginLoss, TripletMarginLoss)
from .mlp import MLP, Checkpoint  # noqa: F401
from .module import Module  # noqa: F401
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm, RMSNorm  # noqa: F401
from .parameter import Parameter  # noqa: F401
from .sparse import Embedding  # noqa: F401
from . import parallel  # noqa: F401,E402 - nn.parallel.DistributedDataParallel
