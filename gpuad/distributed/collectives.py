"""Collectives on tensors, in place, with PyTorch's names and arguments.

Each call checks its tensors (type, shape, dtype, device) with errors naming the call, hands C-contiguous buffers to
the transport (the tensor's own array when it is contiguous: no copy), and writes the result back into the output
tensors, bumping their version counters as any in-place op does. ``async_op=True`` returns a Work whose ``wait()``
completes it. bool tensors travel as uint8 (SUM/MAX are OR, MIN/PRODUCT are AND); AVG is SUM divided by the world
size and, as in PyTorch, needs a floating-point tensor.
"""
from .process_group import _check_group, current
from .reduce_op import ReduceOp, as_reduce_op
from .work import completed
from ..tensor import Tensor


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Every rank's ``tensor`` becomes the reduction of all ranks' tensors."""
    who = "all_reduce"
    world, transport = _setup(who, group, tensor)
    wire, average = _wire(as_reduce_op(op, who), tensor.dtype, who)
    buf, staged = _contiguous(tensor)
    pending = transport.all_reduce(_on_wire(buf), wire, async_op)
    return completed(pending, _writer(tensor, buf, staged, world.size if average else None), async_op)


def broadcast(tensor, src, group=None, async_op=False):
    """Every rank's ``tensor`` becomes rank ``src``'s."""
    who = "broadcast"
    world, transport = _setup(who, group, tensor)
    _check_rank(src, world, who, "src")
    buf, staged = _contiguous(tensor)
    pending = transport.broadcast(_on_wire(buf), src, async_op)
    return completed(pending, _writer(tensor, buf, staged, None), async_op)


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank ``dst``'s ``tensor`` becomes the reduction of all ranks' tensors; the others' are left unchanged."""
    who = "reduce"
    world, transport = _setup(who, group, tensor)
    _check_rank(dst, world, who, "dst")
    wire, average = _wire(as_reduce_op(op, who), tensor.dtype, who)
    buf, staged = _contiguous(tensor)
    pending = transport.reduce(_on_wire(buf), wire, dst, async_op)
    if world.rank != dst:
        return completed(pending, lambda: None, async_op)
    return completed(pending, _writer(tensor, buf, staged, world.size if average else None), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r]`` becomes rank r's ``tensor``, on every rank."""
    who = "all_gather"
    world, transport = _setup(who, group, tensor)
    _check_list(tensor_list, tensor, world, who, "tensor_list")
    send, _ = _contiguous(tensor)
    recv = _empty_rows(tensor, world.size)
    pending = transport.all_gather(_on_wire(send), _on_wire(recv), async_op)
    return completed(pending, _rows_writer(tensor_list, recv), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """``output_tensor`` (shape ``(world * n, ...)`` or ``(world, n, ...)``) becomes every rank's input, in rank
    order."""
    who = "all_gather_into_tensor"
    world, transport = _setup(who, group, input_tensor)
    _check_stacked(output_tensor, input_tensor, world, who, "output_tensor")
    send, _ = _contiguous(input_tensor)
    recv, staged = _contiguous(output_tensor)
    pending = transport.all_gather(_on_wire(send), _on_wire(recv), async_op)
    return completed(pending, _writer(output_tensor, recv, staged, None), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """``input`` holds world equal chunks along dim 0 (shape ``(world * n, ...)`` or ``(world, n, ...)``); rank r's
    ``output`` becomes the reduction of every rank's chunk r."""
    who = "reduce_scatter_tensor"
    world, transport = _setup(who, group, output)
    _check_stacked(input, output, world, who, "input")
    wire, average = _wire(as_reduce_op(op, who), output.dtype, who)
    send, _ = _contiguous(input)
    recv, staged = _contiguous(output)
    pending = transport.reduce_scatter(_on_wire(send), _on_wire(recv), wire, async_op)
    return completed(pending, _writer(output, recv, staged, world.size if average else None), async_op)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """On rank ``dst``, ``gather_list[r]`` becomes rank r's ``tensor``; the other ranks pass no list."""
    who = "gather"
    world, transport = _setup(who, group, tensor)
    _check_rank(dst, world, who, "dst")
    send, _ = _contiguous(tensor)
    if world.rank == dst:
        _check_list(gather_list, tensor, world, who, "gather_list")
        recv = _empty_rows(tensor, world.size)
        pending = transport.gather(_on_wire(send), _on_wire(recv), dst, async_op)
        return completed(pending, _rows_writer(gather_list, recv), async_op)
    if gather_list:
        raise ValueError(f"{who}: Argument ``gather_list`` must NOT be specified on non-destination ranks "
                         f"(rank {world.rank}, dst {dst}).")
    return completed(transport.gather(_on_wire(send), None, dst, async_op), lambda: None, async_op)


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Rank r's ``tensor`` becomes ``scatter_list[r]`` of rank ``src``; the other ranks pass no list."""
    who = "scatter"
    world, transport = _setup(who, group, tensor)
    _check_rank(src, world, who, "src")
    recv, staged = _contiguous(tensor)
    send = None
    if world.rank == src:
        _check_list(scatter_list, tensor, world, who, "scatter_list")
        send = _empty_rows(tensor, world.size)
        tensor._device.backend.on_device(_fill_rows, send, scatter_list)
        send = _on_wire(send)
    elif scatter_list:
        raise ValueError(f"{who}: Argument ``scatter_list`` must NOT be specified on non-source ranks "
                         f"(rank {world.rank}, src {src}).")
    pending = transport.scatter(send, _on_wire(recv), src, async_op)
    return completed(pending, _writer(tensor, recv, staged, None), async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Return once every rank has called barrier."""
    _check_group(group, "barrier")
    world = current("barrier")
    transport = world.nccl if world.backend == "nccl" else world.mpi
    return completed(transport.barrier(async_op), lambda: None, async_op)


# --- checks -----------------------------------------------------------------------------------------------------------
def _setup(who, group, tensor):
    _check_group(group, who)
    world = current(who)
    _check_tensor(tensor, who, "tensor")
    return world, world.transport(tensor._device, who)


def _check_tensor(t, who, name):
    if not isinstance(t, Tensor):
        raise TypeError(f"{who}: {name} must be a gpuad Tensor, got {type(t).__name__}")


def _check_rank(rank, world, who, name):
    if not isinstance(rank, int) or not 0 <= rank < world.size:
        raise ValueError(f"{who}: {name}={rank!r} is not a rank of this job (ranks 0 to {world.size - 1})")


def _check_like(t, like, who, name):
    """``t`` has ``like``'s dtype and device (shapes are checked by the caller)."""
    _check_tensor(t, who, name)
    if t.dtype != like.dtype:
        raise TypeError(f"{who}: {name} has dtype {t.dtype}, the input has {like.dtype}; they must match")
    if t._device is not like._device:
        raise ValueError(f"{who}: {name} is on {t.device}, the input on {like.device}; they must match")


def _check_list(tensors, like, world, who, name):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != world.size:
        got = f"{len(tensors)} tensors" if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{who}: {name} must be a list of world_size={world.size} tensors, got {got}")
    for i, t in enumerate(tensors):
        _check_like(t, like, who, f"{name}[{i}]")
        if t.shape != like.shape:
            raise ValueError(f"{who}: {name}[{i}] has shape {tuple(t.shape)}, the input has shape "
                             f"{tuple(like.shape)}; they must match")


def _check_stacked(big, small, world, who, name):
    """``big`` holds ``world`` copies of ``small``'s shape, concatenated or stacked along dim 0."""
    _check_like(big, small, who, name)
    shape = tuple(small.shape)
    stacked = (world.size,) + shape
    concatenated = (world.size * shape[0],) + shape[1:] if shape else (world.size,)
    if tuple(big.shape) not in (stacked, concatenated):
        raise ValueError(f"{who}: {name} has shape {tuple(big.shape)}; with world_size={world.size} and a chunk of "
                         f"shape {shape} it must be {concatenated} or {stacked}")


def _wire(op, dtype, who):
    """(the op the transport runs, whether to divide by the world size afterwards)."""
    if op is ReduceOp.AVG:
        if dtype.kind != "f":
            raise TypeError(f"{who}: ReduceOp.AVG needs a floating-point tensor, got {dtype} (PyTorch raises too); "
                            f"reduce with SUM and divide")
        return "SUM", True
    if dtype.kind == "b":
        return ("MAX" if op in (ReduceOp.SUM, ReduceOp.MAX) else "MIN"), False
    return op.name, False


# --- buffers ----------------------------------------------------------------------------------------------------------
def _contiguous(t):
    """(a flat C-contiguous array holding t's values, whether it is a copy that must be written back)."""
    data = t._data
    if data.flags.c_contiguous:
        return data.reshape(-1), False
    return t._device.backend.xp.ascontiguousarray(data).reshape(-1), True


def _on_wire(buf):
    return buf.view("uint8") if buf.dtype.kind == "b" else buf


def _empty_rows(like, rows):
    return like._device.backend.xp.empty((rows, like._data.size), like.dtype)


def _fill_rows(rows, tensors):
    """Row r of ``rows`` becomes tensor r's values (run on their device)."""
    for r, t in enumerate(tensors):
        rows[r] = t._data.reshape(-1)


def _writer(t, buf, staged, divide_by):
    """The finish step of an in-place collective: average, copy back a staged buffer, bump the version (on t's
    device, through its backend: a Work may be waited on with another GPU current)."""
    backend = t._device.backend

    def finish():
        if divide_by is not None:
            backend.xp.divide(buf, divide_by, out=buf)
        if staged:
            backend.write(t._data, buf.reshape(t._data.shape))
        t._version_counter.value += 1
    return finish


def _rows_writer(tensors, rows):
    def finish():
        for t, row in zip(tensors, rows):
            t._device.backend.write(t._data, row.reshape(t._data.shape))
            t._version_counter.value += 1
    return finish
