"""Measure gpuad's per-op overhead against the hand-written NumPy floor and PyTorch, and check the targets.

    python benchmarks/overhead_table.py                 # CPU: gpuad vs NumPy vs PyTorch (about a minute)
    python benchmarks/overhead_table.py --device cuda   # GPU: gpuad vs CuPy vs PyTorch CUDA

Each library is measured in a process of its own (``--worker``), so one library's state (PyTorch's idle thread
pools, allocator caches, imported modules) cannot slow another down; thread settings are left at their defaults and
reported. The workers run round-robin ``--rounds`` times, and every (library, case) keeps all its repeats: the table
uses the best per-iteration time (``--stat median`` for the median instead). Results go to
``benchmarks/results/overhead-<host>-<YYYY-MM-DD>.json``.
"""
import argparse
import datetime
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # this checkout's gpuad, in the workers too
import _workloads as w  # noqa: E402
from _common import machine_info, measure  # noqa: E402

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
        number, per_iter, faults = measure(fn, wl.sync, min_time if size == w.SMALL else min_time * 2, repeat,
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
def run_worker(lib, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--device", args.device,
           "--min-time", str(args.min_time), "--repeat", str(args.repeat)] + ([] if args.gc else ["--no-gc"])
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE)  # the user's environment, untuned
    if proc.returncode != 0:
        raise SystemExit(f"the {lib} worker failed (exit status {proc.returncode}); its error is above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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


def cuda_problem():
    """Why CUDA can't be benchmarked here, or None when it can (checked in a throwaway process)."""
    code = ("import sys\n"
            "try:\n import cupy\n"
            "except ImportError:\n"
            " sys.exit('CuPy is not installed (pip install \"gpuad[cuda12]\" or \"gpuad[cuda13]\")')\n"
            "if not cupy.is_available():\n sys.exit('CuPy sees no CUDA GPU')")
    proc = subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["CUDA is unusable"])[-1]


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
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--rounds", type=int, default=5, help="round-robin passes over the libraries (default 5)")
    p.add_argument("--repeat", type=int, default=5, help="timed repeats per case in each pass (default 5)")
    p.add_argument("--min-time", type=float, default=0.05,
                   help="seconds one timed repeat lasts at least (twice this for the 1M case; default 0.05)")
    p.add_argument("--stat", choices=["best", "median"], default="best", help="statistic for the table and ratios")
    p.add_argument("--no-gc", dest="gc", action="store_false",
                   help="disable Python's garbage collector while timing (it is on by default, as in real use)")
    p.add_argument("--tag", help="name for the JSON file instead of the hostname")
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--no-json", action="store_true", help="print the table only")
    p.add_argument("--worker", choices=w.LIBS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.device, args.min_time, args.repeat, args.gc)))
        return 0

    if args.device == "cuda":
        problem = cuda_problem()
        if problem:
            print(f"overhead_table: --device cuda needs a CUDA GPU with CuPy, and this machine has none usable: "
                  f"{problem}", file=sys.stderr)
            return 2

    started = time.time()
    runs = []
    for r in range(args.rounds):
        order = w.LIBS[r % 3:] + w.LIBS[:r % 3]  # rotate, so no library always runs first
        for lib in order:
            print(f"round {r + 1}/{args.rounds}: {lib} ...", file=sys.stderr, flush=True)
            runs.append(run_worker(lib, args))
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

    if not args.no_json:
        today = datetime.date.today().isoformat()
        tag = args.tag or machine["hostname"] or machine["cpu_model"]
        tag = re.sub(r"[^A-Za-z0-9._-]+", "-", tag).strip("-").lower() or "unknown"
        suffix = "" if args.device == "cpu" else f"-{args.device}"
        os.makedirs(args.out_dir, exist_ok=True)
        path = os.path.join(args.out_dir, f"overhead-{tag}{suffix}-{today}.json")
        doc = {
            "benchmark": "gpuad per-op overhead",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "device": args.device,
            "settings": {"rounds": args.rounds, "repeat": args.repeat, "min_time_s": args.min_time,
                         "stat": args.stat, "gc_enabled": args.gc, "separate_processes": True,
                         "malloc_env": {}},
            "machine": machine,
            "versions": {**versions, "python": machine["python"]},
            "cases": {case: {"n": n, "description": DESCRIPTIONS[case]} for case, n, _ in CASES},
            "libraries": merged,
            "ratios": {case: {"gpuad/floor": _ratio(merged, case, "numpy", args.stat),
                              "gpuad/torch": _ratio(merged, case, "torch", args.stat)} for case, _, _ in CASES},
            "targets": verdicts,
            "wall_s": round(time.time() - started, 1),
        }
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {os.path.relpath(path)}")
    return 0


def _ratio(merged, case, ref, stat):
    g, r = timing(merged, "gpuad", case, stat), timing(merged, ref, case, stat)
    return g / r if g and r else None


if __name__ == "__main__":
    sys.exit(main())
