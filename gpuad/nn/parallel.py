"""DistributedDataParallel: one replica of a module per process, gradients averaged across the processes.

As in PyTorch, parameters are put into buckets (about ``bucket_cap_mb`` each, the first one 1 MiB by default) in
reverse order of registration, which is about the order backward produces their gradients. Each parameter's
post-accumulate-grad hook copies its gradient, divided by the world size, into its bucket's flat buffer; once a
bucket is complete its all-reduce starts (buckets start in order, so every rank issues the same collectives in the
same sequence), overlapping the rest of backward. A callback queued on the engine waits for all of them when backward
finishes and copies the averages back into ``.grad``.

Differences from PyTorch (documented, not silent): buckets are never rebuilt from the observed gradient order
(PyTorch 2.x starts with one bucket and re-buckets after the first step); ``gradient_as_bucket_view``,
``static_graph`` and process subgroups are not supported and raise.
"""
import contextlib
import time
import weakref

from .modules import Module
from ..autograd.engine import queue_callback
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor, wrap
from .. import distributed as dist
from ..factories import tensor
from ..distributed.process_group import current

MB = 1024 * 1024
FIRST_BUCKET_BYTES = 1 * MB  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES, used while bucket_cap_mb is the default
DEFAULT_BUCKET_CAP_MB = 25


class DistributedDataParallel(Module):
    """Wrap ``module`` (the same architecture on every rank): rank 0's parameters and buffers are broadcast at
    construction, and every ``backward()`` after a forward through this wrapper leaves each parameter's ``.grad``
    averaged over the ranks. ``no_sync()`` skips the averaging (gradient accumulation). The wrapped module is
    ``.module``; ``state_dict()`` keys carry its ``module.`` prefix, as in PyTorch (save ``ddp.module.state_dict()``
    to load into a plain model)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a gpuad.nn.Module, got {type(module).__name__}")
        if process_group is not None:
            raise NotImplementedError("DistributedDataParallel: process_group= subgroups are not supported; gpuad "
                                      "averages over the default group (every rank)")
        if gradient_as_bucket_view or static_graph:
            raise NotImplementedError("DistributedDataParallel: gradient_as_bucket_view and static_graph are not "
                                      "supported by gpuad")
        if not dist.is_initialized():
            raise ValueError("DistributedDataParallel: Default process group has not been initialized, please make "
                             "sure to call init_process_group.")
        self.module = module
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that "
                               "requires a gradient.")
        _check_device_ids(device_ids, named)
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int((DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb) * MB)
        first = FIRST_BUCKET_BYTES if bucket_cap_mb is None else self.bucket_bytes_cap
        _check_same_parameters(named)
        with no_grad():
            for _, t in named + _buffers(module):
                dist.broadcast(t, 0)
        object.__setattr__(self, "_reducer", Reducer(named, first, self.bucket_bytes_cap, find_unused_parameters))

    def forward(self, *inputs, **kwargs):
        reducer = self._reducer
        reducer.check_prior_reduction_finished()
        if self.broadcast_buffers and self.training:
            with no_grad():
                for _, b in _buffers(self.module):
                    dist.broadcast(b, 0)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            reducer.prepare_for_backward(out)
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside this block only accumulate local gradients; the first backward
        after it averages the accumulated sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    @property
    def bucket_sizes(self):
        """Bytes in each bucket, in the order their all-reduces start."""
        return [b.buffer.nbytes for b in self._reducer.buckets]

    def load_state_dict(self, state_dict, strict=True):
        keys = list(state_dict)
        if keys and not any(k.startswith("module.") for k in keys):
            raise RuntimeError("DistributedDataParallel.load_state_dict: the keys have no 'module.' prefix (they "
                               "come from a plain model); load them with ddp.module.load_state_dict(...)")
        return super().load_state_dict(state_dict, strict)

    def extra_repr(self):
        return f"bucket_cap_mb={self.bucket_bytes_cap / MB:g}, find_unused_parameters={self.find_unused_parameters}"


class Bucket:
    """A flat gradient buffer for parameters of one dtype and device, reduced with one all-reduce."""
    __slots__ = ("params", "offsets", "buffer", "tensor", "pending", "work", "launched_at")

    def __init__(self, params):
        self.params = params  # indices into the reducer's parameter list
        self.offsets = []
        self.buffer = None
        self.tensor = None
        self.pending = 0
        self.work = None
        self.launched_at = None


class Reducer:
    """Bucket bookkeeping for one DistributedDataParallel: which gradients are in, which all-reduces run."""

    def __init__(self, named, first_cap, cap, find_unused):
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.world = dist.get_world_size()
        self.find_unused = find_unused
        self.buckets = _assign_buckets(self.params, first_cap, cap)
        self.where = {}  # parameter index -> (bucket, offset)
        for bucket in self.buckets:
            p0 = self.params[bucket.params[0]]
            xp, total = p0._device.backend.xp, 0
            for i in bucket.params:
                bucket.offsets.append(total)
                self.where[i] = (bucket, total)
                total += self.params[i].numel()
            bucket.buffer = xp.zeros(total, p0.dtype)
            bucket.tensor = wrap(bucket.buffer, p0._device)
        self.armed = False       # a forward prepared the next backward for averaging
        self.fired = False       # some gradient of that backward has arrived
        self.ready = [False] * len(self.params)
        self.used = [True] * len(self.params)
        self.next_bucket = 0
        self.last_wait_seconds = 0.0   # time the last backward spent waiting for all-reduces after its end
        self.timeline = None           # a list to append per-step timings to (benchmarks/ddp_step.py)
        me = weakref.ref(self)
        self.handles = [p.register_post_accumulate_grad_hook(_hook(me, i)) for i, p in enumerate(self.params)]
        weakref.finalize(self, _remove_all, list(self.handles))

    # --- forward ------------------------------------------------------------------------------------------------------
    def check_prior_reduction_finished(self):
        if self.armed:
            self.armed = False
            self._reset()
            raise RuntimeError("DistributedDataParallel: Expected to have finished reduction in the prior iteration "
                               "before starting a new one: the previous forward's outputs never went through "
                               "backward(). Call backward() on a loss of every forward run under grad mode, run "
                               "forwards that need no gradients under gpuad.no_grad(), or use no_sync().")

    def prepare_for_backward(self, outputs):
        self._reset()
        self.armed = True
        if self.find_unused:
            reached = _reached_leaves(outputs)
            for i, p in enumerate(self.params):
                if id(p) not in reached:
                    self.used[i] = False
                    bucket, offset = self.where[i]
                    p._device.backend.write(bucket.buffer, 0, slice(offset, offset + p.numel()))
                    self._mark(i)

    def _reset(self):
        n = len(self.params)
        self.ready, self.used = [False] * n, [True] * n
        self.next_bucket, self.fired = 0, False
        for b in self.buckets:
            b.pending, b.work, b.launched_at = len(b.params), None, None

    # --- backward -----------------------------------------------------------------------------------------------------
    def grad_ready(self, i):
        """Parameter i's gradient has been accumulated: copy it into its bucket, start complete buckets."""
        if not self.armed:
            return  # a backward that no synchronising forward of this wrapper prepared
        if self.ready[i]:
            raise RuntimeError(f"DistributedDataParallel: Expected to mark a variable ready only once; parameter "
                               f"'{self.names[i]}' got a second gradient in one backward pass (used outside the "
                               f"wrapper's forward, or in several backward passes of one forward)")
        if not self.fired:
            self.fired = True
            queue_callback(self.finalize)
        p = self.params[i]
        bucket, offset = self.where[i]
        xp = p._device.backend.xp
        xp.divide(p._grad._data.reshape(-1), self.world, out=bucket.buffer[offset:offset + p.numel()])
        self._mark(i)
        self._progress()

    def _mark(self, i):
        self.ready[i] = True
        bucket = self.where[i][0]
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch_ready()

    def _launch_ready(self):
        """Start the complete buckets in order, so that every rank issues its all-reduces in the same sequence."""
        if not self.fired:
            return  # buckets of unused parameters only, marked at forward: they start with the first gradient
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            bucket = self.buckets[self.next_bucket]
            bucket.launched_at = time.perf_counter()
            bucket.work = dist.all_reduce(bucket.tensor, async_op=True)
            self.next_bucket += 1

    def _progress(self):
        """MPI moves nonblocking collectives forward only inside MPI calls: test the oldest one in flight."""
        for bucket in self.buckets[:self.next_bucket]:
            if bucket.work is not None and not bucket.work._done:
                bucket.work.is_completed()
                return

    def finalize(self):
        """At the end of backward: wait for every bucket and write the averages into ``.grad``."""
        self.armed = False
        backward_end = time.perf_counter()
        self._launch_ready()
        if self.next_bucket < len(self.buckets):
            for bucket in self.buckets[:self.next_bucket]:
                bucket.work.wait()
            missing = [self.names[i] for i, r in enumerate(self.ready) if not r]
            raise RuntimeError(
                f"DistributedDataParallel: parameters {missing} received no gradient in this backward pass, so their "
                f"buckets could not be averaged. Pass find_unused_parameters=True to DistributedDataParallel if some "
                f"parameters take no part in the loss, or make sure every forward output takes part in it.")
        globally_used = self._globally_used() if self.find_unused else None
        for bucket in self.buckets:
            bucket.work.wait()
        waited = time.perf_counter() - backward_end
        for bucket in self.buckets:
            for i, offset in zip(bucket.params, bucket.offsets):
                p = self.params[i]
                average = bucket.buffer[offset:offset + p.numel()].reshape(p.shape)
                if self.used[i]:
                    p._device.backend.write(p._grad._data, average)
                    p._grad._version_counter.value += 1
                elif globally_used[i]:
                    p._grad = wrap(p._device.backend.copy(average), p._device)
        self.last_wait_seconds = waited
        if self.timeline is not None:
            self.timeline.append({"backward_end": backward_end, "waited": waited,
                                  "launched": [b.launched_at for b in self.buckets]})

    def _globally_used(self):
        """Per parameter: whether any rank used it (those used nowhere keep their .grad, as in PyTorch)."""
        flags = tensor([1 if u else 0 for u in self.used], dtype="int32")
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return [bool(f) for f in flags.tolist()]


def _hook(reducer_ref, i):
    def hook(_param):
        reducer = reducer_ref()
        if reducer is not None:
            reducer.grad_ready(i)
    return hook


def _remove_all(handles):
    for h in handles:
        h.remove()


def _assign_buckets(params, first_cap, cap):
    """Buckets of parameters in reverse registration order, one open bucket per (dtype, device), each closed once it
    holds ``cap`` bytes (the first of each kind ``first_cap``); ordered by their first parameter."""
    open_buckets, closed, started = {}, [], set()
    for i in reversed(range(len(params))):
        p = params[i]
        key = (p.dtype, p._device)
        bucket = open_buckets.get(key)
        if bucket is None:
            bucket = open_buckets[key] = (Bucket([]), [0])
        bucket[0].params.append(i)
        bucket[1][0] += p.nbytes
        if bucket[1][0] >= (cap if key in started else first_cap):
            started.add(key)
            closed.append(bucket[0])
            del open_buckets[key]
    closed.extend(b for b, _ in open_buckets.values())
    closed.sort(key=lambda b: -b.params[0])
    return closed


def _reached_leaves(outputs):
    """ids of the leaf tensors whose gradients backward from ``outputs`` would reach."""
    stack, seen, leaves = [], set(), set()
    for t in _tensors_in(outputs):
        if t._node is not None:
            stack.append(t._node)
        elif t._rg:
            leaves.add(id(t))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        ref = getattr(node, "tensor_ref", None)
        if ref is not None:
            leaf = ref()
            if leaf is not None:
                leaves.add(id(leaf))
        for edge in node.next:
            if edge is not None:
                stack.append(edge[0])
    return leaves


def _tensors_in(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _tensors_in(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _tensors_in(x)


def _buffers(module):
    """The module's (name, buffer) pairs where it has buffers (gpuad Modules may not)."""
    named_buffers = getattr(module, "named_buffers", None)
    return list(named_buffers()) if named_buffers is not None else []


def _check_device_ids(device_ids, named):
    devices = {p._device for _, p in named}
    if len(devices) > 1:
        raise ValueError(f"DistributedDataParallel: the module's parameters are on several devices "
                         f"{sorted(str(d) for d in devices)}; one device per process is supported")
    if device_ids is None:
        return
    device = next(iter(devices))
    ids = list(device_ids)
    if device.type == "cpu" or len(ids) != 1 or int(str(ids[0]).split(":")[-1]) != (device.index or 0):
        raise ValueError(f"DistributedDataParallel: device_ids={device_ids!r} must be None or the one GPU the "
                         f"module is on (it is on {device})")


def _check_same_parameters(named):
    """Every rank has the same parameter names, shapes and dtypes, or every rank raises naming the first mismatch."""
    world = current("DistributedDataParallel")
    mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
    everyone = world.comm.allgather(mine)
    reference = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        if len(theirs) != len(reference):
            raise RuntimeError(f"DistributedDataParallel: DDP expects the same model on every rank, but rank {rank} "
                               f"has {len(theirs)} parameters that require grad and rank 0 has {len(reference)}")
        for index, (a, b) in enumerate(zip(reference, theirs)):
            if a != b:
                raise RuntimeError(f"DistributedDataParallel: DDP expects the same model on every rank, but "
                                   f"parameter {index} is {b[0]!r} of shape {b[1]} ({b[2]}) on rank {rank} and "
                                   f"{a[0]!r} of shape {a[1]} ({a[2]}) on rank 0")
