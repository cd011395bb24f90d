"""``get_num_threads`` / ``set_num_threads``: the number of threads NumPy's BLAS (matmul, linalg) uses on the CPU.

With threadpoolctl installed (``pip install threadpoolctl``, or gpuad's ``threads`` extra) the limit is applied to
the BLAS and OpenMP pools NumPy has loaded, at once. Without it the BLAS threads of a running process cannot be
changed portably, so ``set_num_threads`` only records the number (set OMP_NUM_THREADS before starting Python to
limit them), and ``get_num_threads`` reports the recorded number, else OMP_NUM_THREADS, else the CPUs this process
may use. gpuad's elementwise ops are single-threaded
NumPy calls either way; on CUDA neither function has an effect.
"""
import os

_requested = [None]
_limiter = [None]


def _threadpoolctl():
    try:
        import threadpoolctl  # lazy: optional
    except ImportError:
        return None
    return threadpoolctl


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def get_num_threads():
    """The number of threads CPU BLAS calls use."""
    tpc = _threadpoolctl()
    if tpc is not None:
        pools = [p for p in tpc.threadpool_info() if p.get("user_api") in ("blas", "openmp")]
        if pools:
            return max(int(p["num_threads"]) for p in pools)
    if _requested[0] is not None:
        return _requested[0]
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else _cpus()


def set_num_threads(n):
    """Use ``n`` threads in CPU BLAS calls from now on (see the module docstring for what applies without
    threadpoolctl)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _requested[0] = n
    tpc = _threadpoolctl()
    if tpc is not None:
        _limiter[0] = tpc.threadpool_limits(limits=n)  # applies now and stays until the next call


def get_num_interop_threads():
    """gpuad runs ops one at a time on the calling thread: always 1."""
    return 1


def set_num_interop_threads(n):
    """Accepted for PyTorch compatibility; gpuad has no inter-op thread pool (ops run on the calling thread)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_interop_threads: expected a positive int, got {n!r}")
