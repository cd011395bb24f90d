"""Measure gpuad's per-op overhead against the hand-written NumPy floor and PyTorch, and check the targets.

    python benchmarks/overhead_table.py                 # CPU: gpuad vs NumPy vs PyTorch (about a minute)
    python benchmarks/overhead_table.py --device cuda   # GPU: gpuad vs CuPy vs PyTorch CUDA

Each library is measured in a process of its own (``_common.run_worker``), so one library's state (PyTorch's idle thread
pools, allocator caches, imported modules) cannot slow another down; thread settings are left at their defaults and
reported. The workers run round-robin ``--rounds`` times, and every (library, case) keeps all its repeats: the table
uses the best per-iteration time (``--stat median`` for the median instead). Results go to
``benchmarks/results/overhead-<host>-<YYYY-MM-DD>.json``.
"""
import gc
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, machine_info, measure, round_robin, run_worker, write_result  # noqa: E402
import _workloads as w  # noqa: E402

# (case, size, what it runs)
CASES = [
    ("small_fwd_bwd", w.SMALL, "fwd_bwd"),
    ("small_fwd_bwd_compiled", w.SMALL, "fwd_bwd_compiled"),
    ("small_fwd", w.SMALL, "fwd"),
    ("small_mul", w.SMALL, "mul"),
    ("small_bwd", w.SMALL, "bwd"),
    ("large_fwd_bwd", w.LARGE, "fwd_bwd"),
]
DESCRIPTIONS = {
    "small_fwd_bwd": "(a*b+c).sum() fwd+bwd, n=10",
    "small_fwd_bwd_compiled": "the same, gpuad.compile (others eager), n=10",
    "small_fwd": "(a*b+c).sum() fwd only, n=10",
    "small_mul": "a*b (requires_grad), n=10",
    "small_bwd": "backward() alone, n=10",
    "large_fwd_bwd": "(a*b+c).sum() fwd+bwd, n=1M",
}
# (case, reference library, largest allowed gpuad/reference ratio)
TARGETS = [
    ("small_fwd_bwd", "torch", 0.5),
    ("small_fwd_bwd_compiled", "torch", 0.2),
    ("small_mul", "torch", 1.0),
    ("large_fwd_bwd", "numpy", 1.2),
]


# --- worker: measure one library in this process --------------------------------------------------------------------
def worker(lib, device, min_time, repeat, use_gc):
    info = {"lib": lib, "device": device, "python": platform.python_version()}
    try:
        workloads = {n: w.make(lib, n, device) for n in {size for _, size, _ in CASES}}
    except (ImportError, RuntimeError) as exc:
        return {**info, "skipped": f"{type(exc).__name__}: {exc}"}
    for n, wl in workloads.items():
        w.check(wl, n)
    wl = next(iter(workloads.values()))
    info["name"], info["version"] = wl.lib, wl.version
    info.update(_thread_info(lib))
    if use_gc:
        gc.enable()
    else:
        gc.disable()
    results = {}
    for case, size, what in CASES:
        wl = workloads[size]
        fn = getattr(wl, what)
        prepare = wl.prepare_bwd if what == "bwd" else None
        # 1M-element iterations take milliseconds: shorter runs keep the whole table quick
        number, per_iter, faults = measure(fn, device, min_time if size == w.SMALL else min_time * 2, repeat,
                                           prepare)
        results[case] = {"n": size, "number": number, "seconds": per_iter, "page_faults_per_iter": faults}
    info["results"] = results
    return info


def _thread_info(lib):
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ}
    out = {"thread_env": env}
    if lib == "torch":
        import torch
        out["torch_threads"] = torch.get_num_threads()
        out["torch_interop_threads"] = torch.get_num_interop_threads()
    return out


# --- driver -------------------------------------------------------------------------------------------------------
def merge(runs):
    """One record per library: every repeat of every round pooled per case."""
    merged = {}
    for run in runs:
        lib = run["lib"]
        rec = merged.setdefault(lib, {k: v for k, v in run.items() if k != "results"})
        if "results" not in run:
            continue
        for case, res in run["results"].items():
            slot = rec.setdefault("results", {}).setdefault(
                case, {"n": res["n"], "number": [], "seconds": [], "page_faults_per_iter": []})
            slot["number"].append(res["number"])
            slot["page_faults_per_iter"].append(res["page_faults_per_iter"])
            slot["seconds"].extend(res["seconds"])
    for rec in merged.values():
        for res in rec.get("results", {}).values():
            res["best"] = min(res["seconds"])
            res["median"] = statistics.median(res["seconds"])
    return merged


def timing(merged, lib, case, stat):
    res = merged.get(lib, {}).get("results", {}).get(case)
    return None if res is None else res[stat]


def fmt_us(seconds):
    if seconds is None:
        return "-"
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def build_table(merged, stat):
    floor = merged.get("numpy", {}).get("name", "numpy")
    rows = []
    verdicts = []
    for case, _, _ in CASES:
        g, f, t = (timing(merged, lib, case, stat) for lib in w.LIBS)
        r_np = g / f if g and f else None
        r_t = g / t if g and t else None
        target = next(((ref, limit) for c, ref, limit in TARGETS if c == case), None)
        if target is None:
            goal = verdict = ""
        else:
            ref, limit = target
            ratio = r_t if ref == "torch" else r_np
            goal = f"gpuad/{'torch' if ref == 'torch' else floor} <= {limit}"
            if ratio is None:
                verdict = "n/a"
            else:
                verdict = "PASS" if ratio <= limit else "FAIL"
            verdicts.append({"case": case, "reference": ref, "limit": limit, "ratio": ratio, "verdict": verdict})
        rows.append([DESCRIPTIONS[case], fmt_us(g), fmt_us(f), fmt_us(t), fmt_ratio(r_np), fmt_ratio(r_t), goal,
                     verdict])
    header = ["case", "gpuad us", f"{floor} us", "torch us", f"gpuad/{floor}", "gpuad/torch", "target", "result"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(wd) if i == 0 or i >= 6 else str(c).rjust(wd)
                       for i, (c, wd) in enumerate(zip(r, widths))).rstrip() for r in [header] + rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines), verdicts


def main(argv=None):
    p = bench_parser(__doc__, rounds=5, repeat=5, min_time=0.05)
    p.add_argument("--stat", choices=["best", "median"], default="best", help="statistic for the table and ratios")
    p.add_argument("--no-gc", dest="gc", action="store_false",
                   help="disable Python's garbage collector while timing (it is on by default, as in real use)")
    args = p.parse_args(argv)

    started = time.time()
    runs = [run_worker(worker, lib, args.device, args.min_time, args.repeat, args.gc)
            for lib in round_robin(w.LIBS, args.rounds)]
    merged = merge(runs)
    table, verdicts = build_table(merged, args.stat)

    machine = machine_info(args.device)
    versions = {lib: rec.get("version") for lib, rec in merged.items()}
    print()
    print(f"gpuad per-op overhead, device={args.device}, {args.stat} of {args.rounds} rounds x {args.repeat} repeats "
          f"per case, each library in its own process, gc {'on' if args.gc else 'off'}, "
          f"environment untuned")
    print(f"machine: {machine['cpu_model']}, {machine['cpus_usable']}/{machine['cpu_count']} CPUs usable, "
          f"Python {machine['python']}; " + ", ".join(f"{merged[lib].get('name', lib)} {v}" for lib, v in
                                                      versions.items() if v))
    torch_rec = merged.get("torch", {})
    if "skipped" in torch_rec:
        print(f"torch: skipped ({torch_rec['skipped']})")
    elif "torch_threads" in torch_rec:
        print(f"torch threads: intra-op {torch_rec['torch_threads']}, inter-op {torch_rec['torch_interop_threads']} "
              f"(defaults)")
    print()
    print(table)
    print()
    if any(v["verdict"] == "FAIL" for v in verdicts):
        print("targets: " + ", ".join(f"{v['case']} {v['verdict']}" for v in verdicts))

    write_result(args, "overhead", {
        "benchmark": "gpuad per-op overhead",
        "settings": {"rounds": args.rounds, "repeat": args.repeat, "min_time_s": args.min_time,
                     "stat": args.stat, "gc_enabled": args.gc, "separate_processes": True,
                     "malloc_env": {}},
        "versions": {**versions, "python": machine["python"]},
        "cases": {case: {"n": n, "description": DESCRIPTIONS[case]} for case, n, _ in CASES},
        "libraries": merged,
        "ratios": {case: {"gpuad/floor": _ratio(merged, case, "numpy", args.stat),
                          "gpuad/torch": _ratio(merged, case, "torch", args.stat)} for case, _, _ in CASES},
        "targets": verdicts,
        "wall_s": round(time.time() - started, 1),
    })
    return 0


def _ratio(merged, case, ref, stat):
    g, r = timing(merged, "gpuad", case, stat), timing(merged, ref, case, stat)
    return g / r if g and r else None


if __name__ == "__main__":
    sys.exit(main())
