"""MPI (mpi4py) carries CPU arrays, and CUDA arrays where the MPI is CUDA-aware: upper-case mpi4py calls on the
arrays' own buffers, so nothing is pickled or copied. Every method takes C-contiguous arrays and returns a pending
request (``async_op=True``) or None once done."""
from numpy import ndarray


class MpiPending:
    """An MPI request, with the wait/test pair Work expects."""
    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

    def wait(self):
        self.request.Wait()

    def test(self):
        return self.request.Test()


class MpiTransport:
    name = "mpi"

    def __init__(self, MPI, comm, cuda_aware):
        self.MPI, self.comm, self.cuda_aware = MPI, comm, cuda_aware
        self.ops = {"SUM": MPI.SUM, "MAX": MPI.MAX, "MIN": MPI.MIN, "PRODUCT": MPI.PROD}

    def check_device(self, device, who):
        if device.type != "cpu" and not self.cuda_aware:
            raise RuntimeError(f"{who}: a tensor on {device} over MPI needs a CUDA-aware MPI, and this one is not "
                               f"({self.MPI.Get_library_version().splitlines()[0].strip()}); use backend='nccl' (or "
                               f"None) with NCCL installed, or copy the tensor to the CPU first")

    def _ready(self, arrays):
        """MPI reads device memory directly: the queued kernels that write it must have finished."""
        for a in arrays:
            if a is not None and a.__class__ is not ndarray:
                a.device.synchronize()  # the array's GPU (the current one may be another)
                return

    def _run(self, async_op, blocking, nonblocking, *args, arrays=()):
        self._ready(arrays)
        if async_op:
            return MpiPending(nonblocking(*args))
        blocking(*args)
        return None

    def all_reduce(self, buf, op, async_op):
        c = self.comm
        return self._run(async_op, c.Allreduce, c.Iallreduce, self.MPI.IN_PLACE, buf, self.ops[op], arrays=(buf,))

    def broadcast(self, buf, src, async_op):
        c = self.comm
        return self._run(async_op, c.Bcast, c.Ibcast, buf, src, arrays=(buf,))

    def all_gather(self, send, recv, async_op):
        c = self.comm
        return self._run(async_op, c.Allgather, c.Iallgather, send, recv, arrays=(send,))

    def reduce_scatter(self, send, recv, op, async_op):
        c = self.comm
        return self._run(async_op, c.Reduce_scatter_block, c.Ireduce_scatter_block, send, recv, self.ops[op],
                         arrays=(send,))

    def reduce(self, buf, op, dst, async_op):
        c = self.comm
        send, recv = (self.MPI.IN_PLACE, buf) if c.rank == dst else (buf, None)
        return self._run(async_op, c.Reduce, c.Ireduce, send, recv, self.ops[op], dst, arrays=(buf,))

    def gather(self, send, recv, dst, async_op):
        c = self.comm
        return self._run(async_op, c.Gather, c.Igather, send, recv, dst, arrays=(send,))

    def scatter(self, send, recv, src, async_op):
        c = self.comm
        return self._run(async_op, c.Scatter, c.Iscatter, send, recv, src, arrays=(send,))

    def barrier(self, async_op):
        c = self.comm
        return self._run(async_op, c.Barrier, c.Ibarrier)

    def close(self):
        pass
