"""The default process group: rank and world size come from MPI (start the job with ``mpiexec -n N``); CPU tensors
travel over MPI, CUDA tensors over NCCL (created on first use with backend=None) or a CUDA-aware MPI."""
import importlib.util
import os

from .. import cuda
from .failure import install_abort_hook, uninstall_abort_hook
from .mpi_transport import MpiTransport
from .nccl_transport import NcclTransport, load_nccl

MISSING = ("gpuad.distributed needs mpi4py and an MPI library: pip install \"gpuad[distributed]\" (mpi4py and the "
           "MPICH wheel, which brings mpiexec), or pip install mpi4py built against your cluster's MPI")
BACKENDS = ("mpi", "nccl")


def load_mpi():
    """mpi4py.MPI (initialising MPI), or a RuntimeError naming the extra to install."""
    try:
        from mpi4py import MPI  # lazy: mpi4py only in distributed runs
    except ImportError as exc:
        raise RuntimeError(f"{MISSING} ({exc})") from exc
    return MPI


class ProcessGroup:
    """World: every process of the MPI job. ``backend`` is "mpi", "nccl" or None (MPI for CPU, NCCL for CUDA)."""

    def __init__(self, backend, MPI):
        self.MPI = MPI
        self.backend = backend
        self.comm = MPI.COMM_WORLD.Dup()  # our messages never meet the program's own MPI traffic
        self.rank, self.size = self.comm.rank, self.comm.size
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = node.rank, node.size
        node.Free()
        self.mpi = MpiTransport(MPI, self.comm, cuda_aware_mpi(MPI))
        self.nccl = None
        if backend == "nccl":
            self._nccl()

    def backend_name(self):
        return self.backend or "cpu:mpi,cuda:nccl"

    def transport(self, device, who):
        """The transport that carries tensors on ``device``, or a clear error."""
        if device.type == "cpu":
            if self.backend == "nccl":
                raise RuntimeError(f"{who}: backend 'nccl' carries CUDA tensors only, this one is on the CPU; "
                                   f"init_process_group() with backend=None (or 'mpi') carries CPU tensors over MPI")
            return self.mpi
        if self.backend == "mpi":
            self.mpi.check_device(device, who)
            return self.mpi
        if self.nccl is None:
            if self.backend is None and self.mpi.cuda_aware and not nccl_loadable():
                return self.mpi
            self._nccl()
        self.nccl.check_device(device, who)
        return self.nccl

    def _nccl(self):
        if not cuda.is_available():
            raise RuntimeError("backend 'nccl' needs a CUDA GPU, and gpuad sees none (gpuad.cuda.is_available() is "
                               "False); use backend='mpi' for CPU tensors")
        import cupy  # lazy: import gpuad never imports CuPy
        index = self.local_rank % cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(index).use()  # rank r uses local GPU r
        self.nccl = NcclTransport(self.comm, index)

    def close(self):
        if self.nccl is not None:
            self.nccl.close()
        self.comm.Free()


def cuda_aware_mpi(MPI):
    """Whether this MPI reads and writes GPU memory itself (GPUAD_CUDA_AWARE_MPI=1/0 overrides the query)."""
    forced = os.environ.get("GPUAD_CUDA_AWARE_MPI")
    if forced is not None:
        return forced == "1"
    query = getattr(MPI, "Query_cuda_support", None)
    return bool(query()) if query is not None else False


def nccl_loadable():
    try:
        load_nccl()
        return True
    except (RuntimeError, ImportError):
        return False


_world = None


def is_available():
    """True where mpi4py is installed (checked without starting MPI)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_initialized():
    return _world is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the job's default process group. Rank and world size come from MPI; ``world_size``/``rank``, if given,
    must agree with it. Installs the exception hook that aborts the whole job when any rank raises."""
    global _world
    if _world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    if backend is not None:
        backend = str(backend).lower()
        if backend not in BACKENDS:
            raise ValueError(f"init_process_group: backend must be 'mpi', 'nccl' or None (MPI for CPU tensors, NCCL "
                             f"for CUDA tensors), got {backend!r}; gloo and ucc are not part of gpuad")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method={init_method!r} is not supported; gpuad takes ranks from "
                         f"MPI (start the job with mpiexec -n N)")
    if store is not None:
        raise ValueError("init_process_group: store= is not supported; gpuad takes ranks from MPI")
    MPI = load_mpi()
    group = ProcessGroup(backend, MPI)
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given not in (-1, None) and int(given) != actual:
            group.close()
            raise ValueError(f"init_process_group: {name}={given} was given, but MPI says {actual} (gpuad takes "
                             f"ranks from MPI; start the job with mpiexec -n N)")
    _world = group
    install_abort_hook(MPI)


def destroy_process_group(group=None):
    global _world
    _check_group(group, "destroy_process_group")
    world = current("destroy_process_group")
    _world = None
    uninstall_abort_hook()
    world.close()


def current(who):
    if _world is None:
        raise ValueError(f"{who}: Default process group has not been initialized, please make sure to call "
                         f"init_process_group.")
    return _world


def _check_group(group, who):
    if group is not None and group is not _world and group != "WORLD":
        raise NotImplementedError(f"{who}: only the default group (every rank) is supported; new_group() subgroups "
                                  f"are not part of gpuad.distributed")


def get_rank(group=None):
    _check_group(group, "get_rank")
    return current("get_rank").rank


def get_world_size(group=None):
    _check_group(group, "get_world_size")
    return current("get_world_size").size


def get_backend(group=None):
    _check_group(group, "get_backend")
    return current("get_backend").backend_name()


def get_node_local_rank(fallback_rank=None):
    """This process's rank among the processes on its machine (from MPI's shared-memory split)."""
    if _world is None:
        if fallback_rank is not None:
            return fallback_rank
        raise ValueError("get_node_local_rank: Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return _world.local_rank
