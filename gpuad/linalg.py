"""``gpuad.linalg``: PyTorch's torch.linalg names (norms, solve, inv, det, slogdet, cholesky, eigh, qr, svd, lstsq,
...), working on (batches of) matrices on the CPU and CUDA through the tensor's ``xp.linalg``."""
from .ops.linalg import diagonal, matmul, multi_dot, matrix_power  # noqa: F401
from .ops.linalg_decomp import (cholesky, cross, det, eigh, eigvalsh, inv, lstsq, matrix_norm, matrix_rank,  # noqa: F401,E501
                                norm, pinv, qr, slogdet, solve, svd, svdvals, vecdot, vector_norm)
from .ops.out_arg import with_out as _with_out

for _name in ("cholesky", "cross", "det", "inv", "matrix_norm", "norm", "solve", "vector_norm", "vecdot", "matmul",
              "multi_dot", "svdvals", "eigvalsh", "pinv", "matrix_rank"):
    globals()[_name] = _with_out(globals()[_name], f"linalg.{_name}")
