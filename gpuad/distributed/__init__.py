"""gpuad.distributed: PyTorch's ``torch.distributed`` names on MPI (mpi4py) for CPU tensors and NCCL (cupy.cuda.nccl)
for CUDA tensors. Start the job with ``mpiexec -n N python train.py``; ``init_process_group()`` takes rank and world
size from MPI and installs an exception hook that aborts the whole job when any rank raises.

Needs the ``distributed`` extra (``pip install "gpuad[distributed]"``: mpi4py and the MPICH wheel); importing
gpuad.distributed never starts MPI, ``init_process_group`` does.
"""
from .collectives import (all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast, gather,  # noqa: F401
                          reduce, reduce_scatter_tensor, scatter)
from .process_group import (destroy_process_group, get_backend, get_node_local_rank, get_rank,  # noqa: F401
                            get_world_size, init_process_group, is_available, is_initialized)
from .reduce_op import ReduceOp  # noqa: F401
from .work import Work  # noqa: F401

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized", "get_rank",
           "get_world_size", "get_backend", "get_node_local_rank", "barrier", "all_reduce", "broadcast", "reduce",
           "all_gather", "all_gather_into_tensor", "reduce_scatter_tensor", "gather", "scatter", "ReduceOp", "Work"]
