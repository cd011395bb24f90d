"""CUDA kernel launches per MLP training step: gpuad with its fused kernels on and off, and PyTorch eager.

    python benchmarks/kernel_launches.py [--device cuda] [--sizes S M L] [--profile-steps 5] [--steps 20]

The step is train_step.py's (its builders are imported from there): a ReLU MLP, cross-entropy, SGD; S = batch 64,
784-128-128-10; M = batch 256, 784-512-512-512-10; L = batch 1024, 1024-2048x4-10; float32. Three configurations,
each in a process of its own: gpuad as it is ("fused"), gpuad inside ``gpuad.cuda.fused_kernels(False)`` ("unfused":
the same maths as plain CuPy calls), and PyTorch eager.

In each process: 3 warm-up steps; ``--steps`` steps timed one by one with the device synchronized (median step time,
profiler off); one profiled step thrown away (it lets CUPTI set itself up); then ``--profile-steps`` steps under
``torch.profiler.profile(activities=[ProfilerActivity.CUDA])``, synchronized before the profiler stops. CUPTI records
every kernel the process runs, CuPy's as well as PyTorch's. Events whose device type is CUDA are sorted into kernels,
memcpys and memsets (by their activity type, or by name where the profiler gives none), and each count is divided by
the number of profiled steps. No target is set: the counts and step times are reported, with fused/unfused and
gpuad/torch ratios. Results go to benchmarks/results/kernel-launches-<host>-cuda-<date>.json.

Launches can only be counted on a GPU: on the CPU, or where CuPy sees no GPU, or PyTorch is missing or built without
CUDA, the script says so in one line and exits 0 (``--strict``: exits 2 instead, for scripted GPU runs).
"""
import collections
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, gpu_problem, run_worker, sync, timed_steps, write_result  # noqa: E402
from train_step import SIZES, gpuad_step, torch_step  # noqa: E402

CONFIGS = ["fused", "unfused", "torch"]
WARMUP = 3
TOP_KERNELS = 40  # kernel names kept per configuration in the JSON


def classify(evt, cuda_type):
    """'kernel', 'memcpy', 'memset', or None (a CPU-side event, or another GPU activity such as an annotation)."""
    if evt.device_type != cuda_type:
        return None
    activity = str(getattr(evt, "activity_type", "") or "").lower()
    name = evt.name or ""
    if "memcpy" in activity or name.startswith("Memcpy"):
        return "memcpy"
    if "memset" in activity or name.startswith("Memset"):
        return "memset"
    if activity in ("kernel", "concurrent_kernel") or (not activity and name):
        return "kernel"
    return "other:" + activity


def count_launches(step, device, steps):
    """Kernels, memcpys and memsets per step, and the kernel names, over ``steps`` profiled steps."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.init()  # in a gpuad process PyTorch has not touched the GPU yet; launches nothing

    def profiled(n):
        sync(device)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(n):
                step()
            sync(device)
        counts = collections.Counter()
        names = collections.Counter()
        for evt in prof.events():
            kind = classify(evt, DeviceType.CUDA)
            if kind is None:
                continue
            counts[kind] += 1
            if kind == "kernel":
                names[evt.name] += 1
        return counts, names

    profiled(1)  # CUPTI's first session sets itself up; not counted
    counts, names = profiled(steps)
    return ({k: v / steps for k, v in counts.items()},
            [[name, c / steps] for name, c in names.most_common(TOP_KERNELS)])


def worker(config, size, device, steps, profile_steps):
    import contextlib
    if config == "torch":
        def context():
            return contextlib.nullcontext()
    else:
        import gpuad

        def context():
            return gpuad.cuda.fused_kernels(config == "fused")
    with context():
        step = (torch_step if config == "torch" else gpuad_step)(size, device)
    with context():
        for _ in range(WARMUP):
            step()
        times = timed_steps(step, device, steps)
        per_step, names = count_launches(step, device, profile_steps)
    return {"config": config, "size": size, "times": times, "median_s": statistics.median(times),
            "per_step": per_step, "kernel_names": names}


def main(argv=None):
    # without a GPU this script says so itself (exit 0, or 2 under --strict): no GPU check in the parser
    parser = bench_parser(__doc__, device="auto", gpu_check=False, steps=20)
    parser.add_argument("--sizes", nargs="+", default=["S", "M", "L"], choices=sorted(SIZES))
    parser.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    parser.add_argument("--profile-steps", type=int, default=5, help="steps profiled for the counts (default 5)")
    parser.add_argument("--strict", action="store_true", help="exit 2, not 0, where launches cannot be counted")
    args = parser.parse_args(argv)
    problem = "--device cpu" if args.device == "cpu" else gpu_problem(torch=True)
    if problem:
        print(f"kernel_launches: CUDA kernel launches can only be counted on a GPU with CuPy and PyTorch CUDA; "
              f"nothing measured ({problem})")
        return 2 if args.strict else 0

    results = {}
    for size in args.sizes:
        for config in args.configs:
            print(f"{size}: {config} ...", file=sys.stderr, flush=True)
            results[(config, size)] = run_worker(worker, config, size, args.device, args.steps, args.profile_steps)

    print(f"CUDA kernel launches per training step (ReLU MLP, cross-entropy, SGD; float32), device={args.device}: "
          f"kernels counted by CUPTI over {args.profile_steps} steps / {args.profile_steps}; step time the median of "
          f"{args.steps} unprofiled steps; each configuration in its own process")
    print(f"{'size':<5} {'config':<8} {'kernels':>8} {'memcpy':>7} {'memset':>7} {'other':>6} {'step ms':>9}")
    rows = []
    for size in args.sizes:
        for config in args.configs:
            res = results[(config, size)]
            per = res["per_step"]
            other = sum(v for k, v in per.items() if k.startswith("other"))
            print(f"{size:<5} {config:<8} {per.get('kernel', 0):>8.1f} {per.get('memcpy', 0):>7.1f} "
                  f"{per.get('memset', 0):>7.1f} {other:>6.1f} {res['median_s'] * 1e3:>9.3f}")
            rows.append({"size": size, "batch": SIZES[size][0], "layers": SIZES[size][1], "config": config,
                         "kernels_per_step": per.get("kernel", 0), "memcpy_per_step": per.get("memcpy", 0),
                         "memset_per_step": per.get("memset", 0), "other_per_step": other, "per_step": per,
                         "median_step_s": res["median_s"], "step_times_s": res["times"],
                         "top_kernels": res["kernel_names"]})
    print()
    print(f"{'size':<5} {'kernels fused/unfused':>22} {'kernels gpuad/torch':>20} {'time fused/unfused':>19} "
          f"{'time gpuad/torch':>17}  (reported; no target)")
    ratios = []
    for size in args.sizes:
        def get(config, key, size=size):
            res = results.get((config, size))
            return None if res is None else (res["per_step"].get("kernel", 0) if key == "k" else res["median_s"])

        def ratio(x, y):
            return x / y if x is not None and y else None

        r = {"size": size,
             "kernels_fused_over_unfused": ratio(get("fused", "k"), get("unfused", "k")),
             "kernels_gpuad_over_torch": ratio(get("fused", "k"), get("torch", "k")),
             "time_fused_over_unfused": ratio(get("fused", "t"), get("unfused", "t")),
             "time_gpuad_over_torch": ratio(get("fused", "t"), get("torch", "t"))}
        ratios.append(r)
        cells = [f"{v:.2f}" if v is not None else "n/a" for k, v in r.items() if k != "size"]
        print(f"{size:<5} {cells[0]:>22} {cells[1]:>20} {cells[2]:>19} {cells[3]:>17}")
    empty = [f"{r['size']}/{r['config']}" for r in rows if not r["kernels_per_step"]]
    if empty:
        print(f"WARNING: no kernels counted for {', '.join(empty)}: the profiler did not see those processes' "
              f"launches, so their counts are not real")
    write_result(args, "kernel-launches", {
        "benchmark": "kernel_launches", "steps": args.steps, "profile_steps": args.profile_steps, "warmup": WARMUP,
        "rows": rows, "ratios": ratios, "not_counted": empty})
    return 1 if empty else 0


if __name__ == "__main__":
    sys.exit(main())
