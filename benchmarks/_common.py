"""Timing and machine facts shared by the benchmark scripts."""
import datetime
import json
import os
import platform
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(fn, sync, min_time, repeat, prepare=None):
    """Per-iteration seconds for ``repeat`` repeats of a loop sized to last at least ``min_time``.

    ``prepare`` (for backward alone) builds one argument per iteration before the timer starts. The GPU is
    synchronized before the timer starts and before it stops.
    """
    clock = time.perf_counter

    def run(number):
        args = [prepare() for _ in range(number)] if prepare else None
        sync()
        t0 = clock()
        if args is None:
            for _ in range(number):
                fn()
        else:
            for arg in args:
                fn(arg)
        sync()
        elapsed = clock() - t0
        del args
        return elapsed

    scale = 1
    number = None
    while number is None:  # like timeit.autorange: 1, 2, 5, 10, 20, 50, ... loops until one run takes min_time
        for base in (1, 2, 5):
            if run(base * scale) >= min_time:
                number = base * scale
                break
        scale *= 10
    run(number)  # warm-up at the final size
    faults = _minor_faults()
    seconds = [run(number) / number for _ in range(repeat)]
    faults = None if faults is None else (_minor_faults() - faults) / (number * repeat)
    return number, seconds, faults


def _minor_faults():
    """Minor page faults of this process so far (memory the kernel had to map in), where the OS reports them."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def machine_info(device):
    info = {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }
    info["gpuad_git"] = _git_state()
    if device != "cpu":
        try:
            query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
            out = subprocess.run(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
            info["gpus"] = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def _git_state():
    """The commit the measured gpuad came from, and whether its sources had uncommitted changes."""
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "gpuad", "kernels"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_parser(doc, device="cpu"):
    """The argument parser every benchmark script starts from: its docstring's first paragraph, --device and
    --no-json."""
    import argparse
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--device", default=device)
    parser.add_argument("--no-json", action="store_true", help="print the table only")
    return parser


def best_time(fn, sync, min_time, repeat):
    """The fastest per-iteration seconds of ``measure``'s repeats."""
    return min(measure(fn, sync, min_time, repeat)[1])


def default_device():
    """cuda where gpuad sees a usable GPU, else cpu."""
    try:
        import gpuad
        return "cuda" if gpuad.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def timed_steps(step, sync, steps, clock=time.perf_counter):
    """Seconds of each of ``steps`` calls of ``step``, the device synchronized before each clock reading (``clock``:
    wall time by default; ``time.process_time`` counts this process's CPU time, robust to other jobs' load)."""
    times = []
    for _ in range(steps):
        start = clock()
        step()
        sync()
        times.append(clock() - start)
    return times


def device_sync(device):
    """A function that waits for the device to finish queued work (a no-op on the CPU); exits where no GPU is."""
    if device == "cpu":
        return lambda: None
    import sys
    import gpuad
    if not gpuad.cuda.is_available():
        sys.exit("no CUDA GPU available: run with --device cpu")
    return gpuad.cuda.synchronize


def result_path(name, device, suffix=".json"):
    """results/<name>-<host>[-cuda]-<date><suffix>, the folder created if needed."""
    folder = os.path.join(HERE, "results")
    os.makedirs(folder, exist_ok=True)
    tag = f"{name}-{socket.gethostname()}{'-cuda' if device != 'cpu' else ''}-{datetime.date.today()}"
    return os.path.join(folder, tag + suffix)


def write_result(name, device, payload):
    """Write the JSON result whole (temporary file, then rename) with the machine's facts added; returns the path."""
    path = result_path(name, device)
    payload = dict(payload, machine=machine_info(device))
    with open(path + ".tmp", "w") as fh:
        json.dump(payload, fh, indent=1)
    os.replace(path + ".tmp", path)
    print(f"wrote {os.path.relpath(path)}")
    return path
