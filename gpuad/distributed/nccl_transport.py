"""NCCL (through ``cupy.cuda.nccl``) carries CUDA arrays: one communicator per process on its local GPU, its unique
id sent from rank 0 over MPI. Calls are queued on the current CUDA stream and return at once, so "blocking" means
ordered on the stream, as in PyTorch; ``async_op=True`` records an event that ``Work.wait()`` orders the current stream
after. NCCL has no gather or scatter: those are grouped point-to-point sends and receives.

Every call runs with the communicator's GPU current (through its backend's ``on_device``): the current stream, the
arrays CuPy makes and NCCL's launches are then that GPU's, whichever GPU the caller has current.

This path has never run: no machine in this repository's history had two GPUs (see README, "Many processes").
"""

import functools
import warnings

from ..device import Device

NCCL_MISSING = ("NCCL is not available to CuPy (cupy.cuda.nccl could not load libnccl); install it, e.g. "
                "pip install nvidia-nccl-cu12 (or -cu13, matching CuPy), or use backend='mpi' with a CUDA-aware MPI")


def load_nccl():
    """cupy.cuda.nccl, or a RuntimeError naming what to install."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CuPy warns where libnccl is missing; the error below says it
            from cupy.cuda import nccl  # lazy: import gpuad never imports CuPy
    except ImportError as exc:
        raise RuntimeError(NCCL_MISSING + f" ({exc})") from exc
    if not getattr(nccl, "available", True):
        raise RuntimeError(NCCL_MISSING)
    return nccl


def nccl_dtypes(nccl):
    """NumPy dtype name -> NCCL datatype (bool travels as uint8)."""
    return {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64,
            "int8": nccl.NCCL_INT8, "uint8": nccl.NCCL_UINT8, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64}


def _on_its_gpu(method):
    """``method`` run with the transport's GPU current."""
    @functools.wraps(method)
    def run(self, *args):
        return self.backend.on_device(method, self, *args)
    return run


class CudaPending:
    """An event recorded after the collective on its stream; ``wait`` orders that GPU's current stream after it."""
    __slots__ = ("event", "backend")

    def __init__(self, stream, backend):
        import cupy  # lazy: import gpuad never imports CuPy
        self.backend = backend
        self.event = cupy.cuda.Event(block=False, disable_timing=True)
        self.event.record(stream)

    def wait(self):
        self.backend.on_device(_wait_for, self.event)

    def test(self):
        return self.event.done


def _wait_for(event):
    import cupy  # lazy: import gpuad never imports CuPy
    cupy.cuda.get_current_stream().wait_event(event)


class NcclTransport:
    name = "nccl"

    def __init__(self, mpi_comm, device_index):
        import cupy  # lazy: import gpuad never imports CuPy
        nccl = load_nccl()
        self.nccl, self.cupy = nccl, cupy
        self.rank, self.size, self.device_index = mpi_comm.rank, mpi_comm.size, device_index
        self.backend = Device("cuda", device_index).backend
        uid = mpi_comm.bcast(nccl.get_unique_id() if mpi_comm.rank == 0 else None, root=0)
        self.comm = self.backend.on_device(nccl.NcclCommunicator, self.size, uid, self.rank)
        self.ops = {"SUM": nccl.NCCL_SUM, "MAX": nccl.NCCL_MAX, "MIN": nccl.NCCL_MIN, "PRODUCT": nccl.NCCL_PROD}
        self.dtypes = nccl_dtypes(nccl)

    def check_device(self, device, who):
        if device.type != "cuda":
            raise RuntimeError(f"{who}: backend 'nccl' carries CUDA tensors only, this one is on {device}; "
                               f"init_process_group() with backend=None (or 'mpi') carries CPU tensors over MPI")
        if (device.index or 0) != self.device_index:
            raise RuntimeError(f"{who}: the tensor is on {device}, but rank {self.rank}'s NCCL communicator uses "
                               f"cuda:{self.device_index} (rank r uses local GPU r)")

    def _type(self, a):
        dtype = self.dtypes.get(a.dtype.name)
        if dtype is None:
            raise TypeError(f"NCCL has no datatype for {a.dtype}; supported: {sorted(self.dtypes)} and bool")
        return dtype

    def _stream(self, async_op):
        stream = self.cupy.cuda.get_current_stream()
        return stream, (lambda: CudaPending(stream, self.backend) if async_op else None)

    @_on_its_gpu
    def all_reduce(self, buf, op, async_op):
        stream, done = self._stream(async_op)
        if buf.size:
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), self.ops[op], stream.ptr)
        return done()

    @_on_its_gpu
    def broadcast(self, buf, src, async_op):
        stream, done = self._stream(async_op)
        if buf.size:
            self.comm.broadcast(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), src, stream.ptr)
        return done()

    @_on_its_gpu
    def all_gather(self, send, recv, async_op):
        stream, done = self._stream(async_op)
        if send.size:
            self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, self._type(send), stream.ptr)
        return done()

    @_on_its_gpu
    def reduce_scatter(self, send, recv, op, async_op):
        stream, done = self._stream(async_op)
        if recv.size:
            self.comm.reduceScatter(send.data.ptr, recv.data.ptr, recv.size, self._type(send), self.ops[op],
                                    stream.ptr)
        return done()

    @_on_its_gpu
    def reduce(self, buf, op, dst, async_op):
        stream, done = self._stream(async_op)
        if buf.size:
            self.comm.reduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), self.ops[op], dst, stream.ptr)
        return done()

    @_on_its_gpu
    def gather(self, send, recv, dst, async_op):
        """recv (rank dst only): shape (world, n); row r receives rank r's send."""
        stream, done = self._stream(async_op)
        if send.size:
            dtype, n = self._type(send), send.size
            self.nccl.groupStart()
            try:
                if self.rank == dst:
                    for r in range(self.size):
                        if r != dst:
                            self.comm.recv(recv[r].data.ptr, n, dtype, r, stream.ptr)
                else:
                    self.comm.send(send.data.ptr, n, dtype, dst, stream.ptr)
            finally:
                self.nccl.groupEnd()
            if self.rank == dst:
                recv[dst][...] = send
        return done()

    @_on_its_gpu
    def scatter(self, send, recv, src, async_op):
        """send (rank src only): shape (world, n); rank r receives row r."""
        stream, done = self._stream(async_op)
        if recv.size:
            dtype, n = self._type(recv), recv.size
            self.nccl.groupStart()
            try:
                if self.rank == src:
                    for r in range(self.size):
                        if r != src:
                            self.comm.send(send[r].data.ptr, n, dtype, r, stream.ptr)
                else:
                    self.comm.recv(recv.data.ptr, n, dtype, src, stream.ptr)
            finally:
                self.nccl.groupEnd()
            if self.rank == src:
                recv[...] = send[src]
        return done()

    @_on_its_gpu
    def barrier(self, async_op):
        """An all-reduce of one byte on the stream (what PyTorch's NCCL barrier does), then wait for it."""
        one = self.cupy.zeros(1, self.cupy.uint8)
        pending = self.all_reduce(one, "SUM", True)
        if async_op:
            return pending
        self.cupy.cuda.get_current_stream().synchronize()
        return None

    def close(self):
        comm, self.comm = self.comm, None
        if comm is not None:
            comm.destroy()
