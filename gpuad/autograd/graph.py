"""``gpuad.autograd.graph``, PyTorch's public path for the recorded graph's nodes; they live in
``gpuad._autograd.graph``, below the ops that record them."""
from .._autograd.graph import AccumulateGrad, HookHandle, Node, edge_of, leaf_accumulator  # noqa: F401
