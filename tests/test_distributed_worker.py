"""The programs the distributed tests start as real MPI jobs (``mpiexec -n 2 python tests/test_distributed_worker.py
SCENARIO OUTDIR``), the model and data they share with the single-process references, and ``mpirun`` to start them.
Holds no tests itself: each rank writes what it computed to OUTDIR/<scenario>-<rank>.npz and the test files compare.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.abspath(__file__)
MPIEXEC = shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401  (imported only to see whether it is there; MPI starts in the jobs)
    HAVE_MPI4PY = True
except ImportError:
    HAVE_MPI4PY = False

requires_mpi = pytest.mark.skipif(
    MPIEXEC is None or not HAVE_MPI4PY,
    reason="needs mpi4py and mpiexec: pip install \".[distributed]\" (mpi4py and the MPICH wheel)")


def mpirun(args, n=2, timeout=90):
    """Run ``python args...`` as an n-process MPI job with this checkout's gpuad first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")  # two ranks on a 2-core machine: one BLAS thread each
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def run_scenario(name, tmp_path, n=2):
    """Run one scenario of this file under mpiexec; the per-rank npz results as dicts."""
    done = mpirun([HERE, name, str(tmp_path)], n=n)
    assert done.returncode == 0, f"mpiexec job {name!r} failed:\n{done.stdout}\n{done.stderr}"
    return [dict(np.load(os.path.join(tmp_path, f"{name}-{r}.npz"), allow_pickle=False)) for r in range(n)]


# --- shared by the jobs and the single-process references -------------------------------------------------------------
SIZES = [6, 10, 10, 3]
GLOBAL_BATCH = 16
STEPS = 4


def data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((GLOBAL_BATCH, SIZES[0])), rng.integers(0, SIZES[-1], GLOBAL_BATCH)


def make_model(seed=0, extra=False, hidden=None):
    """A float64 tanh MLP; ``extra`` adds a parameter that forward never uses."""
    import gpuad
    from gpuad import nn
    gpuad.manual_seed(seed)
    sizes = list(SIZES) if hidden is None else [SIZES[0], hidden, hidden, SIZES[-1]]
    mlp = nn.MLP(sizes, activation="tanh", dtype=gpuad.float64)
    if not extra:
        return mlp

    class WithUnused(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = mlp
            self.unused = nn.Parameter(gpuad.ones(4, dtype=gpuad.float64))

        def forward(self, x):
            return self.mlp(x)
    return WithUnused()


def make_branch_model(seed=0):
    """A float64 MLP plus a bias ``extra`` that only the second half of the batch uses (rank 1 under DDP)."""
    import gpuad
    from gpuad import nn
    mlp = make_model(seed)

    class WithBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = mlp
            gpuad.manual_seed(seed + 100)
            self.extra = nn.Parameter(gpuad.randn(SIZES[-1], dtype=gpuad.float64))

        def forward(self, x, use_extra):
            out = self.mlp(x)
            return out + self.extra if use_extra else out
    return WithBranch()


def train_branch(model, optimizer, x, y, halves, steps=STEPS):
    """Each step: the mean loss over ``halves`` (0: first half of the batch, 1: second, with ``extra``)."""
    import gpuad
    from gpuad.nn import functional as F
    half = GLOBAL_BATCH // 2
    for _ in range(steps):
        optimizer.zero_grad()
        losses = [F.cross_entropy(model(gpuad.tensor(x[h * half:(h + 1) * half]), h == 1),
                                  gpuad.tensor(y[h * half:(h + 1) * half])) for h in halves]
        (sum(losses[1:], losses[0]) / len(losses)).backward()
        optimizer.step()


def reference_branch():
    model = make_branch_model()
    train_branch(model, make_optimizer("sgd", model.parameters()), *data(), halves=(0, 1))
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def make_optimizer(name, params):
    from gpuad import optim
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=0.01)


def train(model, optimizer, x, y, steps=STEPS, micro_batches=1, no_sync=None):
    """``steps`` optimizer steps; each sums the gradients of ``micro_batches`` mean losses over equal slices of the
    batch (all but the last backward inside ``no_sync()`` where given)."""
    import contextlib
    import gpuad
    from gpuad.nn import functional as F
    xs, ys = gpuad.tensor(x), gpuad.tensor(y)
    size = len(y) // micro_batches
    for _ in range(steps):
        optimizer.zero_grad()
        for m in range(micro_batches):
            context = no_sync() if no_sync is not None and m < micro_batches - 1 else contextlib.nullcontext()
            with context:
                F.cross_entropy(model(xs[m * size:(m + 1) * size]), ys[m * size:(m + 1) * size]).backward()
        optimizer.step()


def reference(optimizer="sgd", micro_batches=1, extra=False):
    """One process on the whole batch: the parameters after STEPS steps, by name."""
    model = make_model(extra=extra)
    train(model, make_optimizer(optimizer, model.parameters()), *data(), micro_batches=micro_batches)
    return {n: p.detach().numpy().copy() for n, p in model.named_parameters()}


def value(rank, shape, dtype):
    """Rank ``rank``'s input for the collective tests: small exact numbers, different on every rank."""
    i = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
    if dtype == "bool":
        return (i % 3) < (rank + 1)
    if np.dtype(dtype).kind == "f":
        return ((i % 5) * 0.5 + 1 + rank).astype(dtype)
    return (i % 3 + 1 + rank).astype(dtype)


# --- the jobs --------------------------------------------------------------------------------------------------------
DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool"]
OPS = ["SUM", "AVG", "MAX", "MIN", "PRODUCT"]


def job_collectives(out):
    import gpuad
    import gpuad.distributed as dist
    rank, world = dist.get_rank(), dist.get_world_size()
    t = lambda a: gpuad.tensor(a)  # noqa: E731
    res = {}
    for dtype in DTYPES:
        for op in OPS:
            if op == "AVG" and dtype in ("bool",) + tuple(d for d in DTYPES if d.startswith(("int", "uint"))):
                try:
                    dist.all_reduce(t(value(rank, (5,), dtype)), op=dist.ReduceOp.AVG)
                except TypeError as exc:
                    res[f"error/avg/{dtype}"] = np.array(str(exc))
                continue
            for shape in [(), (0,), (2, 3)]:
                x = t(value(rank, shape, dtype))
                dist.all_reduce(x, op=getattr(dist.ReduceOp, op))
                res[f"all_reduce/{dtype}/{op}/{shape}"] = x.numpy()
    # non-contiguous views: the result lands in the view, the rest of the base is untouched
    base = t(value(rank, (4, 6), "float64"))
    view = base.T
    dist.all_reduce(view)
    res["noncontig/transposed"] = base.numpy().copy()
    base = t(value(rank, (4, 6), "float64"))
    dist.all_reduce(base[:, ::2], op=dist.ReduceOp.MAX)
    res["noncontig/strided"] = base.numpy().copy()
    # async handles
    x = t(value(rank, (1000,), "float64"))
    version = x._version_value
    work = dist.all_reduce(x, op=dist.ReduceOp.AVG, async_op=True)
    res["async/returned"] = np.array(work.wait())
    res["async/completed"] = np.array(work.is_completed())
    res["async/all_reduce"] = x.numpy()
    res["async/version_bumped"] = np.array(x._version_value > version)
    x = t(value(rank, (3,), "float32"))
    work = dist.broadcast(x, src=1, async_op=True)
    while not work.is_completed():
        pass
    res["async/broadcast"] = x.numpy()
    # the other collectives
    for dtype in ("float32", "int64", "bool"):
        x = t(value(rank, (2, 3), dtype))
        dist.broadcast(x, src=1)
        res[f"broadcast/{dtype}"] = x.numpy()
        outs = [gpuad.zeros(2, 3, dtype=x.dtype) for _ in range(world)]
        dist.all_gather(outs, t(value(rank, (2, 3), dtype)))
        res[f"all_gather/{dtype}"] = np.stack([o.numpy() for o in outs])
    for shape in [(2, 3), ()]:
        stacked = gpuad.zeros((world,) + shape, dtype=gpuad.float64)
        dist.all_gather_into_tensor(stacked, t(value(rank, shape, "float64")))
        res[f"all_gather_into_tensor/stacked/{shape}"] = stacked.numpy()
    concatenated = gpuad.zeros(world * 2, 3, dtype=gpuad.float64)
    work = dist.all_gather_into_tensor(concatenated, t(value(rank, (2, 3), "float64")), async_op=True)
    work.wait()
    res["all_gather_into_tensor/concatenated"] = concatenated.numpy()
    for op in ("SUM", "AVG", "MAX"):
        out_t = gpuad.zeros(2, 3, dtype=gpuad.float64)
        dist.reduce_scatter_tensor(out_t, t(value(rank, (world * 2, 3), "float64")), op=getattr(dist.ReduceOp, op))
        res[f"reduce_scatter_tensor/{op}"] = out_t.numpy()
    x = t(value(rank, (4,), "float64"))
    dist.reduce(x, dst=1, op=dist.ReduceOp.PRODUCT)
    res["reduce/product_to_1"] = x.numpy()
    gathered = [gpuad.zeros(3, dtype=gpuad.int64) for _ in range(world)] if rank == 0 else None
    dist.gather(t(value(rank, (3,), "int64")), gathered, dst=0)
    if rank == 0:
        res["gather/to_0"] = np.stack([g.numpy() for g in gathered])
    received = gpuad.zeros(2, 2, dtype=gpuad.float32).T  # a non-contiguous output
    pieces = [t(value(r + 10, (2, 2), "float32")) for r in range(world)] if rank == 1 else None
    dist.scatter(received, pieces, src=1)
    res["scatter/from_1"] = received.numpy().copy()
    dist.barrier()
    # errors, named
    errors = {
        "list_length": lambda: dist.all_gather([gpuad.zeros(3)], gpuad.zeros(3)),
        "list_shape": lambda: dist.all_gather([gpuad.zeros(3), gpuad.zeros(4)], gpuad.zeros(3)),
        "list_dtype": lambda: dist.all_gather([gpuad.zeros(3), gpuad.zeros(3, dtype=gpuad.int64)], gpuad.zeros(3)),
        "stacked_shape": lambda: dist.all_gather_into_tensor(gpuad.zeros(5), gpuad.zeros(2)),
        "bad_src": lambda: dist.broadcast(gpuad.zeros(2), src=world),
        "not_a_tensor": lambda: dist.all_reduce(np.zeros(2)),
        "bad_op": lambda: dist.all_reduce(gpuad.zeros(2), op="median"),
        "gather_list_off_root": lambda: dist.gather(gpuad.zeros(1), [gpuad.zeros(1)] * world, dst=1 - rank),
        "twice": lambda: dist.init_process_group(),
        "subgroup": lambda: dist.all_reduce(gpuad.zeros(2), group=object()),
    }
    for name, call in errors.items():
        try:
            call()
        except (TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
            res[f"error/{name}"] = np.array(f"{type(exc).__name__}: {exc}")
    res["backend"] = np.array(dist.get_backend())
    res["world"] = np.array([rank, world])
    np.savez(out(), **res)


def job_ddp(out):
    import gpuad
    import gpuad.distributed as dist
    from gpuad.nn.parallel import DistributedDataParallel as DDP
    rank, world = dist.get_rank(), dist.get_world_size()
    x, y = data()
    per = GLOBAL_BATCH // world
    mine = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    res = {}
    cases = {"sgd": dict(optimizer="sgd"), "adam": dict(optimizer="adam"),
             "no_sync": dict(optimizer="sgd", micro_batches=2),
             "tiny_buckets": dict(optimizer="adam", bucket_cap_mb=1e-9),
             "huge_buckets": dict(optimizer="sgd", bucket_cap_mb=1000),
             "unused": dict(optimizer="sgd", extra=True, find_unused_parameters=True)}
    for case, options in cases.items():
        model = make_model(seed=rank, extra=options.get("extra", False))  # rank 0's weights must win the broadcast
        ddp = DDP(model, bucket_cap_mb=options.get("bucket_cap_mb"),
                  find_unused_parameters=options.get("find_unused_parameters", False))
        micro = options.get("micro_batches", 1)
        train(ddp, make_optimizer(options["optimizer"], ddp.parameters()), *mine, micro_batches=micro,
              no_sync=ddp.no_sync if micro > 1 else None)
        for name, p in model.named_parameters():
            res[f"{case}/{name}"] = p.detach().numpy()
            res[f"{case}/grad_is_none/{name}"] = np.array(p.grad is None)
        res[f"{case}/buckets"] = np.array(ddp.bucket_sizes)
        res[f"{case}/n_params"] = np.array(len(list(model.parameters())))
    # a parameter that only rank 1 uses: rank 0 contributes zeros, its .grad is set to the average
    model = make_branch_model(seed=rank)
    ddp = DDP(model, find_unused_parameters=True)
    train_branch(ddp, make_optimizer("sgd", ddp.parameters()), *data(), halves=(rank,))
    for name, p in model.named_parameters():
        res[f"branch/{name}"] = p.detach().numpy()
    # when the all-reduces start: one bucket per parameter, each started by its own gradient, in order
    ddp = DDP(make_model(), bucket_cap_mb=1e-9)
    ddp._reducer.timeline = []
    from gpuad.nn import functional as F
    F.cross_entropy(ddp(gpuad.tensor(mine[0])), gpuad.tensor(mine[1])).backward()
    step = ddp._reducer.timeline[0]
    res["timeline/launched_minus_backward_end"] = np.array(step["launched"]) - step["backward_end"]
    with gpuad.no_grad():  # forwards that record nothing prepare no reduction
        ddp(gpuad.tensor(mine[0]))
        ddp(gpuad.tensor(mine[0]))
    res["no_grad_forwards_are_fine"] = np.array(True)
    # what PyTorch makes an error is one here, on every rank alike
    from gpuad.nn import functional as F
    xs, ys = gpuad.tensor(mine[0]), gpuad.tensor(mine[1])
    ddp = DDP(make_model(extra=True))
    try:
        F.cross_entropy(ddp(xs), ys).backward()
    except RuntimeError as exc:
        res["error/unused_without_find"] = np.array(str(exc))
    ddp = DDP(make_model())
    ddp(xs)
    try:
        ddp(xs)
    except RuntimeError as exc:
        res["error/forward_twice"] = np.array(str(exc))
    try:
        DDP(make_model(hidden=10 if rank == 0 else 12))
    except RuntimeError as exc:
        res["error/mismatch"] = np.array(str(exc))
    ddp = DDP(make_model())
    res["state_dict_keys"] = np.array(list(ddp.state_dict()))
    try:
        ddp.load_state_dict(ddp.module.state_dict())
    except RuntimeError as exc:
        res["error/plain_state_dict"] = np.array(str(exc))
    np.savez(out(), **res)


def job_crash(out):
    """Rank 1 raises in the middle of a training step while rank 0 waits in the all-reduce."""
    import gpuad
    import gpuad.distributed as dist
    from gpuad.nn import functional as F
    from gpuad.nn.parallel import DistributedDataParallel as DDP
    ddp = DDP(make_model())
    x, y = data()
    loss = F.cross_entropy(ddp(gpuad.tensor(x)), gpuad.tensor(y))
    if dist.get_rank() == 1:
        raise ValueError("rank 1 fails on purpose in the middle of a step")
    loss.backward()
    dist.barrier()


def job_nccl(out):
    """CUDA tensors over NCCL (backend None picks it): the collectives, and DDP on the GPU."""
    import gpuad
    import gpuad.distributed as dist
    from gpuad.nn.parallel import DistributedDataParallel as DDP
    rank, world = dist.get_rank(), dist.get_world_size()
    device = f"cuda:{dist.get_node_local_rank()}"
    cuda = lambda a: gpuad.tensor(a, device=device)  # noqa: E731
    res = {}
    for dtype in ("float16", "float32", "float64", "int64", "bool"):
        for op in ("SUM", "MAX", "MIN", "PRODUCT") + (("AVG",) if dtype.startswith("float") else ()):
            x = cuda(value(rank, (2, 3), dtype)).T  # non-contiguous
            work = dist.all_reduce(x, op=getattr(dist.ReduceOp, op), async_op=op == "SUM")
            if work is not None:
                work.wait()
            res[f"all_reduce/{dtype}/{op}"] = x.cpu().numpy().T
    x = cuda(value(rank, (3,), "float32"))
    dist.broadcast(x, src=1)
    res["broadcast"] = x.cpu().numpy()
    stacked = gpuad.zeros(world, 2, 3, dtype=gpuad.float64, device=device)
    dist.all_gather_into_tensor(stacked, cuda(value(rank, (2, 3), "float64")))
    res["all_gather_into_tensor"] = stacked.cpu().numpy()
    chunk = gpuad.zeros(2, 3, dtype=gpuad.float64, device=device)
    dist.reduce_scatter_tensor(chunk, cuda(value(rank, (world * 2, 3), "float64")))
    res["reduce_scatter_tensor"] = chunk.cpu().numpy()
    gathered = [gpuad.zeros(3, dtype=gpuad.int64, device=device) for _ in range(world)] if rank == 0 else None
    dist.gather(cuda(value(rank, (3,), "int64")), gathered, dst=0)
    if rank == 0:
        res["gather"] = np.stack([g.cpu().numpy() for g in gathered])
    received = gpuad.zeros(2, 2, dtype=gpuad.float32, device=device)
    dist.scatter(received, [cuda(value(r + 10, (2, 2), "float32")) for r in range(world)] if rank == 1 else None,
                 src=1)
    res["scatter"] = received.cpu().numpy()
    dist.barrier()
    x, y = data()
    per = GLOBAL_BATCH // world
    model = make_model(seed=rank).to(device)
    ddp = DDP(model, bucket_cap_mb=1e-9)
    xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
    opt = make_optimizer("adam", ddp.parameters())
    from gpuad.nn import functional as F
    for _ in range(STEPS):
        opt.zero_grad()
        F.cross_entropy(ddp(cuda(xs)), cuda(ys)).backward()
        opt.step()
    for name, p in model.named_parameters():
        res[f"ddp/{name}"] = p.detach().cpu().numpy()
    np.savez(out(), **res)


JOBS = {"collectives": job_collectives, "ddp": job_ddp, "crash": job_crash, "nccl": job_nccl}

if __name__ == "__main__":
    import gpuad.distributed as dist
    scenario, outdir = sys.argv[1], sys.argv[2]
    dist.init_process_group()
    JOBS[scenario](lambda: os.path.join(outdir, f"{scenario}-{dist.get_rank()}.npz"))
    dist.destroy_process_group()
