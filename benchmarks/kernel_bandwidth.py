"""Memory bandwidth of gpuad's elementwise forward and fused backward kernels, as a fraction of the device-to-device
copy bandwidth measured in the same run.

    python benchmarks/kernel_bandwidth.py [--device cpu|cuda] [--mb 64] [--cases ...] [--repeat 5] [--min-time 0.2]

Every tensor is 64 MB (float32, 16M elements). For each case the bytes the operation must move are counted
analytically, each tensor read or written once: the forward of ``a * b`` reads a and b and writes the product
(3 x 64 MB); a unary forward (tanh, sigmoid, relu, gelu) reads x and writes y (2 x 64 MB); the backward of ``a * b``
reads g, a and b and writes ga and gb (5 x 64 MB); a unary backward reads g and the one saved tensor (y for tanh,
sigmoid and relu, x for gelu) and writes gx (3 x 64 MB). Achieved bandwidth is those bytes over the median time; the
reference is a copy of a 64 MB array into a preallocated one (``xp.copyto(dst, src)``, 2 x 64 MB), measured before
and after the cases. Target: achieved / copy bandwidth >= 0.8 for every case.

Forwards run under ``no_grad`` (the kernel alone, no graph). A backward builds its forward once and times only
``gpuad.autograd.grad(y, inputs, grad_outputs=g, retain_graph=True)``; at 64 MB the engine's own overhead (tens of
microseconds) is negligible. Each result is checked against NumPy on a slice before timing. On CUDA the device is
synchronized before the clock starts and before it stops. On the CPU the ops are gpuad's NumPy paths and the copy is
NumPy's: the ratio then measures those paths (temporaries, fresh outputs faulted in page by page), not the CUDA kernels.
Results go to benchmarks/results/kernel-bandwidth-<host>[-cuda]-<date>.json.
"""
import math
import os
import resource
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, measure, sync, write_result  # noqa: E402

import numpy as np  # noqa: E402

import gpuad as G  # noqa: E402

TARGET = 0.8
CHECK = 4096  # elements compared against NumPy before timing


# --- NumPy references (float64), used only for the correctness check -------------------------------------------
def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _gelu_slope(x):
    return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _gelu_tanh_slope(x):
    k = math.sqrt(2 / math.pi)
    t = np.tanh(k * (x + 0.044715 * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# (name, kind, tensors moved, description, gpuad function of the inputs, inputs used, reference of the host inputs)
# Unary references take x; binary ones take (a, b). A backward's reference gives the expected gradients given g.
CASES = [
    ("mul", "fwd", 3, "a * b: reads a, b; writes y", lambda a, b: a * b, "ab", lambda a, b: a * b),
    ("tanh", "fwd", 2, "tanh(x): reads x; writes y", G.tanh, "x", np.tanh),
    ("sigmoid", "fwd", 2, "sigmoid(x): reads x; writes y", G.sigmoid, "x", _sigmoid),
    ("relu", "fwd", 2, "relu(x): reads x; writes y", G.relu, "x", lambda x: np.maximum(x, 0)),
    ("gelu", "fwd", 2, "gelu(x) (erf): reads x; writes y", G.gelu, "x", _gelu),
    ("gelu_tanh", "fwd", 2, "gelu(x, 'tanh'): reads x; writes y", lambda x: G.gelu(x, approximate="tanh"), "x",
     _gelu_tanh),
    ("mul", "bwd", 5, "d(a * b): reads g, a, b; writes ga, gb", lambda a, b: a * b, "ab",
     lambda g, a, b: (g * b, g * a)),
    ("tanh", "bwd", 3, "d tanh: reads g, y; writes gx", G.tanh, "x", lambda g, x: (g * (1 - np.tanh(x) ** 2),)),
    ("sigmoid", "bwd", 3, "d sigmoid: reads g, y; writes gx", G.sigmoid, "x",
     lambda g, x: (g * _sigmoid(x) * (1 - _sigmoid(x)),)),
    ("relu", "bwd", 3, "d relu: reads g, y (or x); writes gx", G.relu, "x", lambda g, x: (g * (x > 0),)),
    ("gelu", "bwd", 3, "d gelu (erf): reads g, x; writes gx", G.gelu, "x", lambda g, x: (g * _gelu_slope(x),)),
    ("gelu_tanh", "bwd", 3, "d gelu('tanh'): reads g, x; writes gx", lambda x: G.gelu(x, approximate="tanh"), "x",
     lambda g, x: (g * _gelu_tanh_slope(x),)),
]
CASE_NAMES = [f"{name}_{kind}" for name, kind, *_ in CASES]


def host(t, k=CHECK):
    return t.detach()[:k].cpu().numpy().astype(np.float64)


def check(label, got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if not np.allclose(g, w, rtol=1e-4, atol=1e-5):
            err = float(np.max(np.abs(g - w)))
            sys.exit(f"{label}: result {i} differs from the NumPy reference (max abs error {err:.3g}); not timing it")


def copy_baseline(device, n, min_time, repeat):
    """Per-iteration seconds of copying n float32 values into a preallocated array on the device."""
    if device == "cpu":
        xp = np
    else:
        import cupy as xp
        xp.cuda.Device(int(device.partition(":")[2] or 0)).use()
    src = xp.arange(n, dtype=xp.float32)
    dst = xp.empty_like(src)
    xp.copyto(dst, src)
    sync(device)
    if not bool((dst[-16:] == src[-16:]).all()):
        sys.exit("copy baseline: the copy is wrong")
    _, seconds, faults = measure(lambda: xp.copyto(dst, src), device, min_time, repeat)
    return seconds, faults


def main(argv=None):
    parser = bench_parser(__doc__, device="auto", repeat=5, min_time=0.2)
    parser.add_argument("--mb", type=float, default=64, help="MiB per tensor (default 64: 16M float32 elements)")
    parser.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=CASE_NAMES, metavar="CASE",
                        help="subset of: " + " ".join(CASE_NAMES))
    args = parser.parse_args(argv)
    device = args.device
    n = int(args.mb * 2 ** 20) // 4
    tensor_bytes = 4 * n
    page = resource.getpagesize()

    rng = np.random.default_rng(0)
    a_h, b_h, x_h, g_h = (rng.standard_normal(n, dtype=np.float32) for _ in range(4))
    a, b, x = (G.tensor(v, device=device, requires_grad=True) for v in (a_h, b_h, x_h))
    g = G.tensor(g_h, device=device)
    inputs = {"ab": (a, b), "x": (x,)}
    host_inputs = {"ab": (a_h[:CHECK].astype(np.float64), b_h[:CHECK].astype(np.float64)),
                   "x": (x_h[:CHECK].astype(np.float64),)}
    g_check = g_h[:CHECK].astype(np.float64)
    del a_h, b_h, x_h, g_h

    print(f"elementwise kernel bandwidth, float32, {tensor_bytes / 2 ** 20:g} MiB ({n:,} elements) per tensor, "
          f"device={device}, median of {args.repeat} repeats (each >= {args.min_time} s)")
    if device == "cpu":
        print("note: on the CPU these are gpuad's NumPy paths against NumPy's copy; the ratio measures the NumPy path "
              "(temporaries, fresh outputs), not gpuad's CUDA kernels")

    copy_before, copy_faults = copy_baseline(device, n, args.min_time, args.repeat)
    rows = []
    for name, kind, moved, desc, fn, which, ref in CASES:
        label = f"{name}_{kind}"
        if label not in args.cases:
            continue
        ins = inputs[which]
        if kind == "fwd":
            with G.no_grad():
                check(label, [host(fn(*ins))], [ref(*host_inputs[which])])
                _, seconds, faults = measure(lambda: fn(*ins), device, args.min_time, args.repeat)
        else:
            y = fn(*ins)
            grads = G.autograd.grad(y, ins, grad_outputs=g, retain_graph=True)
            check(label, [host(t) for t in grads], ref(g_check, *host_inputs[which]))
            del grads
            _, seconds, faults = measure(lambda: G.autograd.grad(y, ins, grad_outputs=g, retain_graph=True), device,
                                         args.min_time, args.repeat)
            del y
        rows.append({"case": label, "op": name, "pass": kind, "description": desc, "tensors_moved": moved,
                     "bytes": moved * tensor_bytes, "seconds": seconds, "median_s": statistics.median(seconds),
                     "faulted_bytes_per_iter": None if faults is None or device != "cpu" else faults * page})
    copy_after, _ = copy_baseline(device, n, args.min_time, args.repeat)

    copy_s = statistics.median(copy_before + copy_after)
    copy_bw = 2 * tensor_bytes / copy_s
    print(f"copy {tensor_bytes / 2 ** 20:g} MiB into a preallocated array: {copy_s * 1e3:.3f} ms, "
          f"{copy_bw / 1e9:.1f} GB/s (median over before: {statistics.median(copy_before) * 1e3:.3f} ms and after: "
          f"{statistics.median(copy_after) * 1e3:.3f} ms)")
    print()
    faults_col = device == "cpu"
    head = f"{'case':<15} {'moved':>5} {'ms':>9} {'GB/s':>7} {'/copy':>6}"
    print(head + (f" {'faulted MB':>10}" if faults_col else "") + "  result   what")
    verdicts = []
    for row in rows:
        bw = row["bytes"] / row["median_s"]
        ratio = bw / copy_bw
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        row.update(bandwidth_bytes_per_s=bw, over_copy=ratio, verdict=verdict)
        verdicts.append(verdict)
        extra = ""
        if faults_col:
            fb = row["faulted_bytes_per_iter"]
            extra = f" {fb / 2 ** 20:>10.0f}" if fb is not None else f" {'-':>10}"
        print(f"{row['case']:<15} {row['tensors_moved']:>4}x {row['median_s'] * 1e3:>9.3f} {bw / 1e9:>7.1f} "
              f"{ratio:>6.2f}{extra}  {verdict:<7}  {row['description']}")
    print()
    failed = [r["case"] for r in rows if r["verdict"] == "FAIL"]
    print(f"target: achieved / copy bandwidth >= {TARGET} for every case: "
          + ("PASS" if not failed else f"FAIL ({', '.join(failed)})")
          + (" [CPU: NumPy paths, not the CUDA kernels]" if device == "cpu" else ""))
    write_result(args, "kernel-bandwidth", {
        "benchmark": "kernel_bandwidth", "dtype": "float32", "elements": n, "tensor_bytes": tensor_bytes,
        "target_over_copy": TARGET, "repeat": args.repeat, "min_time_s": args.min_time,
        "copy": {"bytes": 2 * tensor_bytes, "seconds_before": copy_before, "seconds_after": copy_after,
                 "median_s": copy_s, "bandwidth_bytes_per_s": copy_bw,
                 "faulted_bytes_per_iter": None if copy_faults is None or device != "cpu" else copy_faults * page},
        "rows": rows, "verdict": "PASS" if not failed else "FAIL",
        "note": "CPU: NumPy paths, not the CUDA kernels" if device == "cpu" else None})


if __name__ == "__main__":
    main()
