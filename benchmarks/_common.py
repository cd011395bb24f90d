"""What every benchmark script shares: its argument parser, the device sync, timing loops, the worker runner (a
measurement in a fresh process of its own) and the result writer.

Importing this module puts this checkout's gpuad first on ``sys.path``, so a script measures the gpuad beside it,
never another installed one. Run as a script, it is the worker process of ``run_worker``.
"""
import argparse
import datetime
import functools
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
for _path in (HERE, ROOT):  # this checkout's gpuad and the sibling benchmark modules, in every process
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)


# --- the argument parser ------------------------------------------------------------------------------------------
# the flags several scripts share: name -> (type, help); a script asks for one by giving its default
SHARED_FLAGS = {
    "rounds": (int, "round-robin passes over the processes that measure"),
    "steps": (int, "timed steps"),
    "repeat": (int, "timed repeats of each measurement"),
    "min_time": (float, "seconds one timed repeat lasts at least (the loop count grows to reach it)"),
}


class _BenchParser(argparse.ArgumentParser):
    """An ArgumentParser that, once parsed, stops with a clear message (exit status 2) where a GPU is asked for and
    none is usable."""

    def __init__(self, *args, gpu_check=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.gpu_check = gpu_check

    def parse_args(self, args=None, namespace=None):
        ns = super().parse_args(args, namespace)
        device = getattr(ns, "device", "cpu")
        problem = gpu_problem() if self.gpu_check and device != "cpu" else None
        if problem:
            self.exit(2, f"{self.prog}: --device {device} needs a CUDA GPU that CuPy can use, and none is usable "
                         f"here: {problem}\n")
        return ns


def bench_parser(doc, device="cpu", gpu_check=True, **shared):
    """The parser every benchmark script starts from: its docstring's first paragraph as the description, --device
    (``device`` is the default; "auto" is cuda where a GPU is usable, else cpu; None: no such flag, a CPU-only
    script), the shared flags named in ``shared`` with their defaults (rounds, steps, repeat, min_time), and the
    result file's --no-json, --out-dir and --tag. ``gpu_check=False``: the script says itself what it does without a
    GPU."""
    parser = _BenchParser(description=doc.split("\n\n")[0], gpu_check=gpu_check)
    if device is not None:
        default = "cuda where a GPU is usable, else cpu" if device == "auto" else device
        parser.add_argument("--device", type=_device, default=device, help=f"cpu, cuda or cuda:N (default: {default})")
    for name, value in shared.items():
        kind, text = SHARED_FLAGS[name]
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=value, help=f"{text} (default {value})")
    parser.add_argument("--no-json", action="store_true", help="print the table only, write no result file")
    parser.add_argument("--out-dir", default=RESULTS, help="folder of the result file (default benchmarks/results)")
    parser.add_argument("--tag", help="name in the result file's name instead of the host's")
    return parser


def _device(text):
    if text == "auto":
        return "cuda" if gpu_problem() is None else "cpu"
    if text == "cpu" or re.fullmatch(r"cuda(:\d+)?", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device: cpu, cuda or cuda:N")


@functools.lru_cache(maxsize=None)
def gpu_problem(torch=False):
    """Why no CUDA GPU can be measured here (through CuPy, and PyTorch's CUDA too where ``torch``), or None. Asked in
    a throwaway process, so that the driver holds no CUDA state of its own."""
    code = ("import sys\n"
            "try:\n import cupy\n"
            "except ImportError:\n"
            " sys.exit('CuPy is not installed (pip install \"gpuad[cuda12]\" or \"gpuad[cuda13]\")')\n"
            "if not cupy.is_available():\n sys.exit('CuPy sees no CUDA GPU')\n")
    if torch:
        code += ("try:\n import torch\n"
                 "except ImportError:\n sys.exit('PyTorch is not installed')\n"
                 "if not torch.cuda.is_available():\n sys.exit('PyTorch has no CUDA (a CPU-only build, or no GPU)')\n")
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["the GPU check failed"])[-1]


# --- the device sync and the timing loops ---------------------------------------------------------------------------
def sync(device):
    """Wait until ``device`` has finished the work queued on it: nothing on the CPU; on a GPU the device's own
    synchronize (every stream, as gpuad.cuda.synchronize and torch.cuda.synchronize do), through CuPy or else
    PyTorch, whichever this process has loaded, so that a worker imports only the library it measures."""
    if device == "cpu":
        return
    index = int(device.partition(":")[2] or 0)
    if "cupy" in sys.modules or "torch" not in sys.modules:
        import cupy
        with cupy.cuda.Device(index):
            cupy.cuda.runtime.deviceSynchronize()
    else:
        sys.modules["torch"].cuda.synchronize(index)


def measure(fn, device, min_time, repeat, prepare=None):
    """(loop count, per-iteration seconds of ``repeat`` repeats of a loop sized to last at least ``min_time``, minor
    page faults per iteration or None).

    ``prepare`` (for backward alone) builds one argument per iteration before the timer starts. The device is
    synchronized before the timer starts and before it stops.
    """
    clock = time.perf_counter

    def run(number):
        args = [prepare() for _ in range(number)] if prepare else None
        sync(device)
        t0 = clock()
        if args is None:
            for _ in range(number):
                fn()
        else:
            for arg in args:
                fn(arg)
        sync(device)
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


def best_time(fn, device, min_time, repeat):
    """The fastest per-iteration seconds of ``measure``'s repeats."""
    return min(measure(fn, device, min_time, repeat)[1])


def timed_steps(step, device, steps, clock=time.perf_counter):
    """Seconds of each of ``steps`` calls of ``step``, the device synchronized before the first and after each
    (``clock``: wall time by default; ``time.process_time`` counts this process's CPU time, robust to other jobs'
    load)."""
    sync(device)
    times = []
    for _ in range(steps):
        start = clock()
        step()
        sync(device)
        times.append(clock() - start)
    return times


def _minor_faults():
    """Minor page faults of this process so far (memory the kernel had to map in), where the OS reports them."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# --- the worker runner --------------------------------------------------------------------------------------------
def run_worker(fn, *args, env=None, launcher=()):
    """``fn(*args)`` in a fresh Python process, and the JSON value it returned.

    ``fn`` is a module-level function of a benchmark script, ``args`` JSON values. Each library measured this way
    has a process of its own, so that no other library's thread pools, allocator caches or imports can slow it down.
    The process gets the user's environment as it is, plus ``env`` where a script documents a setting (nothing
    else: no allocator or thread tuning); its output and errors go to this terminal. ``launcher`` runs it under
    another program (``mpiexec(n)``): there every rank runs ``fn`` and the ranks that return None write nothing.
    """
    script = os.path.abspath(sys.modules[fn.__module__].__file__)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        cmd = [*launcher, sys.executable, os.path.abspath(__file__), script, fn.__name__, json.dumps(args), out]
        proc = subprocess.run(cmd, env=dict(os.environ, **(env or {})))
        if proc.returncode != 0 or not os.path.exists(out):
            sys.exit(f"{os.path.basename(script)}: the worker {fn.__name__}{tuple(args)} failed (exit status "
                     f"{proc.returncode}); its error is above")
        with open(out) as fh:
            return json.load(fh)


def _worker_main(script, name, args, out):
    """The worker process: import ``script`` (its ``__main__`` block does not run), call its function ``name``."""
    module_name = os.path.splitext(os.path.basename(script))[0]
    spec = importlib.util.spec_from_file_location(module_name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    result = getattr(module, name)(*json.loads(args))
    if result is not None:
        with open(out, "w") as fh:
            json.dump(result, fh)


def round_robin(items, rounds):
    """Each of ``items`` once per round for ``rounds`` rounds, the order rotated every round so that none always runs
    first; progress goes to stderr."""
    items = list(items)
    for r in range(rounds):
        k = r % len(items)
        for item in items[k:] + items[:k]:
            label = " ".join(map(str, item)) if isinstance(item, tuple) else item
            print(f"round {r + 1}/{rounds}: {label} ...", file=sys.stderr, flush=True)
            yield item


def mpiexec(ranks):
    """The command prefix that starts ``ranks`` MPI processes; exits with a clear message where there is none."""
    found = shutil.which("mpiexec")
    if found is None:
        sys.exit("mpiexec not found: pip install \".[distributed]\" (mpi4py and the MPICH wheel)")
    return [found, "-n", str(ranks)]


# --- the result writer --------------------------------------------------------------------------------------------
def result_path(args, name, suffix=".json"):
    """<--out-dir>/<name>-<--tag or host>[-cuda]-<date><suffix>, the folder created if needed."""
    os.makedirs(args.out_dir, exist_ok=True)
    tag = re.sub(r"[^A-Za-z0-9._-]+", "-", args.tag or socket.gethostname()).strip("-").lower() or "unknown"
    cuda = "-cuda" if getattr(args, "device", "cpu") != "cpu" else ""
    return os.path.join(args.out_dir, f"{name}-{tag}{cuda}-{datetime.date.today()}{suffix}")


def write_result(args, name, payload):
    """Write ``payload`` with the device, its name, the date and the machine's facts added, as JSON at
    ``result_path``; returns the path, or None (nothing written) under --no-json."""
    if args.no_json:
        return None
    device = getattr(args, "device", "cpu")
    machine = machine_info(device)
    doc = dict(payload, device=device, device_name=device_name(device, machine),
               date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), machine=machine)
    path = result_path(args, name)
    write_atomically(path, lambda tmp: _dump_json(doc, tmp))
    return path


def _dump_json(doc, path):
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)


def write_atomically(path, write):
    """``write(tmp)`` fills a temporary file beside ``path``, which then replaces ``path`` in one step: a reader
    never sees half a result. Prints the path."""
    base, ext = os.path.splitext(path)
    tmp = f"{base}.partial{ext}"  # the same ending, for writers that choose the format by it
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {os.path.relpath(path)}")


# --- the machine's facts ------------------------------------------------------------------------------------------
def machine_info(device):
    info = {
        "hostname": socket.gethostname(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "gpuad_git": _git_state(),
    }
    if device != "cpu":
        try:
            query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
            out = subprocess.run(query, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
            info["gpus"] = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def device_name(device, machine):
    """The CPU's model, or the GPU's name as nvidia-smi gives it (None where it gave nothing)."""
    if device == "cpu":
        return machine["cpu_model"]
    gpus = machine.get("gpus") or []
    index = int(device.partition(":")[2] or 0)
    return gpus[index].split(",")[0].strip() if index < len(gpus) else None


def _git_state():
    """The commit the measured gpuad came from, and whether its sources had uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=30)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "gpuad", "kernels"],
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


if __name__ == "__main__":
    _worker_main(*sys.argv[1:])
