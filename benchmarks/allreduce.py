"""All-reduce bandwidth against message size: gpuad.distributed.all_reduce against mpi4py's Allreduce called directly
on the same float32 arrays, 1 KB to 64 MB, on the ranks of an MPI job.

    python benchmarks/allreduce.py                 # starts itself under mpiexec -n 2 (--ranks N)
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SIZES = [1 << k for k in range(10, 27, 2)]  # 1 KiB, 4 KiB, ..., 64 MiB
TARGET = 0.95


def in_mpi_job():
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"))


def timed(fn, comm, min_time, repeat_index):
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


def main(argv=None):
    from _common import bench_parser
    parser = bench_parser(__doc__)
    parser.add_argument("--ranks", type=int, default=2, help="processes to start when not already under mpiexec")
    parser.add_argument("--min-time", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not in_mpi_job():
        import shutil
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            sys.exit("mpiexec not found: pip install \".[distributed]\" (mpi4py and the MPICH wheel)")
        os.execv(mpiexec, [mpiexec, "-n", str(args.ranks), sys.executable, os.path.abspath(__file__)] +
                 sys.argv[1:])

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
        for r in range(args.repeat):
            for name, fn in (list(calls.items()) if r % 2 == 0 else list(calls.items())[::-1]):
                seconds, loops[name] = timed(fn, comm, args.min_time, r)
                best[name] = min(best[name], seconds)
        bus = {k: nbytes * 2 * (world - 1) / world / v / 1e9 for k, v in best.items()}
        rows.append({"bytes": nbytes, "seconds": best, "loops": loops, "bus_GBps": bus,
                     "gpuad_over_mpi4py_bandwidth": best["mpi4py"] / best["gpuad"]})  # = bandwidth ratio
        if rank == 0:
            print(f"{_size(nbytes):>7}  gpuad {best['gpuad'] * 1e6:10.1f} us {bus['gpuad']:7.2f} GB/s   "
                  f"mpi4py {best['mpi4py'] * 1e6:10.1f} us {bus['mpi4py']:7.2f} GB/s   "
                  f"ratio {rows[-1]['gpuad_over_mpi4py_bandwidth']:.3f}", flush=True)
    largest = rows[-1]["gpuad_over_mpi4py_bandwidth"]
    verdict = "PASS" if largest >= TARGET else "FAIL"
    if rank == 0:
        print(f"64 MiB: gpuad / mpi4py bandwidth = {largest:.3f} (target >= {TARGET}): {verdict}")
        if not args.no_json:
            from _common import write_result
            write_result(f"allreduce-{world}ranks", "cpu", {
                "what": "all-reduce (SUM, float32, in place) bandwidth, gpuad.distributed.all_reduce vs "
                        "mpi4py Comm.Allreduce(IN_PLACE) on the same arrays",
                "ranks": world, "mpi": MPI.Get_library_version().splitlines()[0].strip(),
                "mpi4py": __import__("mpi4py").__version__, "min_time": args.min_time, "repeat": args.repeat,
                "rows": rows, "target": TARGET, "ratio_at_64MiB": largest, "verdict": verdict,
                "load_average_1_5_15_min": os.getloadavg()})
    dist.destroy_process_group()


def _size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


if __name__ == "__main__":
    main()
