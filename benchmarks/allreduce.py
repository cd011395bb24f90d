"""All-reduce bandwidth against message size: gpuad.distributed.all_reduce against mpi4py's Allreduce called directly
on the same float32 arrays, 1 KB to 64 MB, on the ranks of an MPI job.

    python benchmarks/allreduce.py                 # measures on ranks it starts under mpiexec -n 2 (--ranks N)
    mpiexec -n 2 python benchmarks/allreduce.py    # the same

Every timing is the slowest rank's: a barrier, then a loop sized to last --min-time, repeated --repeat times with
gpuad and raw mpi4py alternating; the best repeat is reported. Bus bandwidth is NCCL's convention, bytes * 2(n-1)/n /
time, comparable across rank counts. Target: gpuad ≥ 0.95 x raw mpi4py's bandwidth at 64 MB. Results go to
benchmarks/results/allreduce-<N>ranks-<host>-<date>.json, with the machine's load average (on a shared machine
other jobs' processes inflate the small-message times). ``--ranks 1`` measures gpuad's own per-call cost.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, mpiexec, run_worker, write_result  # noqa: E402

SIZES = [1 << k for k in range(10, 27, 2)]  # 1 KiB, 4 KiB, ..., 64 MiB
TARGET = 0.95


def in_mpi_job():
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))


def timed(fn, comm, min_time):
    """Seconds per call of ``fn``, the slowest rank's, with the loop length agreed by every rank."""
    from mpi4py import MPI
    number = 1
    while True:
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
        if elapsed >= min_time:
            return elapsed / number, number
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.2))


def measure_job(min_time, repeat):
    """On every rank of the MPI job: time both libraries at every size; rank 0 prints each row as it comes and
    returns the rows with the job's facts, the other ranks None."""
    import numpy as np
    from mpi4py import MPI
    import gpuad
    import gpuad.distributed as dist
    dist.init_process_group("mpi")
    comm, rank, world = MPI.COMM_WORLD, dist.get_rank(), dist.get_world_size()
    rows = []
    for nbytes in SIZES:
        array = np.zeros(nbytes // 4, np.float32)  # zeros: the sums stay finite however many calls
        tensor = gpuad.from_numpy(array)            # shares the array: both libraries reduce the same memory
        assert tensor._data is array or np.shares_memory(tensor._data, array)
        calls = {"gpuad": lambda: dist.all_reduce(tensor),
                 "mpi4py": lambda: comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)}
        for fn in calls.values():
            fn()  # warm-up
        best = {k: float("inf") for k in calls}
        loops = {}
        for r in range(repeat):
            for name, fn in (list(calls.items()) if r % 2 == 0 else list(calls.items())[::-1]):
                seconds, loops[name] = timed(fn, comm, min_time)
                best[name] = min(best[name], seconds)
        bus = {k: nbytes * 2 * (world - 1) / world / v / 1e9 for k, v in best.items()}
        rows.append({"bytes": nbytes, "seconds": best, "loops": loops, "bus_GBps": bus,
                     "gpuad_over_mpi4py_bandwidth": best["mpi4py"] / best["gpuad"]})  # = bandwidth ratio
        if rank == 0:
            print(f"{_size(nbytes):>7}  gpuad {best['gpuad'] * 1e6:10.1f} us {bus['gpuad']:7.2f} GB/s   "
                  f"mpi4py {best['mpi4py'] * 1e6:10.1f} us {bus['mpi4py']:7.2f} GB/s   "
                  f"ratio {rows[-1]['gpuad_over_mpi4py_bandwidth']:.3f}", flush=True)
    dist.destroy_process_group()
    if rank != 0:
        return None
    return {"ranks": world, "mpi": MPI.Get_library_version().splitlines()[0].strip(),
            "mpi4py": __import__("mpi4py").__version__, "rows": rows}


def main(argv=None):
    parser = bench_parser(__doc__, device=None, repeat=5, min_time=0.1)
    parser.add_argument("--ranks", type=int, default=2, help="processes to start when not already under mpiexec")
    args = parser.parse_args(argv)
    if in_mpi_job():  # started as ``mpiexec -n N python allreduce.py``: every rank measures, rank 0 reports
        job = measure_job(args.min_time, args.repeat)
        if job is None:
            return
    else:
        job = run_worker(measure_job, args.min_time, args.repeat, launcher=mpiexec(args.ranks))
    largest = job["rows"][-1]["gpuad_over_mpi4py_bandwidth"]
    verdict = "PASS" if largest >= TARGET else "FAIL"
    print(f"64 MiB: gpuad / mpi4py bandwidth = {largest:.3f} (target >= {TARGET}): {verdict}")
    write_result(args, f"allreduce-{job['ranks']}ranks", {
        "what": "all-reduce (SUM, float32, in place) bandwidth, gpuad.distributed.all_reduce vs "
                "mpi4py Comm.Allreduce(IN_PLACE) on the same arrays",
        **job, "min_time": args.min_time, "repeat": args.repeat, "target": TARGET, "ratio_at_64MiB": largest,
        "verdict": verdict, "load_average_1_5_15_min": os.getloadavg()})


def _size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


if __name__ == "__main__":
    main()
