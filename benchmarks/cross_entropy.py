"""Cross-entropy forward + backward on (4096, 1000) float32 logits: gpuad against PyTorch eager.

    python benchmarks/cross_entropy.py [--device cpu|cuda] [--steps 20] [--rounds 3] [--batch 4096] [--classes 1000]

One step is ``loss = cross_entropy(logits, target)`` (mean over the rows, int64 class indices) and
``loss.backward()`` with respect to the logits, whose ``.grad`` is reset to None first so accumulation never changes
the work: ``gpuad.nn.functional.cross_entropy`` against ``torch.nn.functional.cross_entropy``. Both get the same data
(seeded NumPy). Each library runs in a process of its own, round-robin for ``--rounds`` passes with the order
rotated; each process times its first step on its own (the first-call latency: in a fresh process on CUDA it includes
compiling the kernels or loading them from CuPy's / PyTorch's caches), then 3 warm-up steps, then ``--steps`` timed
steps. On CUDA the device is synchronized before the clock starts and before it stops. The losses and gradients of the
two libraries are compared before the table is printed. Target: median step time gpuad / PyTorch <= 1.0. First-call
latency is reported, with no target. Results go to benchmarks/results/cross-entropy-<host>[-cuda]-<date>.json.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, round_robin, run_worker, timed_steps, write_result  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 1.0
LIBS = ["gpuad", "torch"]
SAMPLE_ROWS = 4  # rows of the gradient each worker sends back for the cross-check


def data(batch, classes, seed=0):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((batch, classes), dtype=np.float32) * 3).astype(np.float32)
    target = rng.integers(0, classes, batch, dtype=np.int64)
    return logits, target


def gpuad_setup(logits_h, target_h, device):
    import gpuad
    from gpuad.nn import functional as F
    logits = gpuad.tensor(logits_h, device=device, requires_grad=True)
    target = gpuad.tensor(target_h, device=device)

    def step():
        logits.grad = None
        loss = F.cross_entropy(logits, target)
        loss.backward()
        return loss

    def results(loss):
        grad = logits.grad.cpu().numpy()
        return float(loss.item()), grad
    return step, results, {"version": gpuad.__version__}


def torch_setup(logits_h, target_h, device):
    import torch
    logits = torch.from_numpy(logits_h).to(device).requires_grad_(True)
    target = torch.from_numpy(target_h).to(device)

    def step():
        logits.grad = None
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    def results(loss):
        return float(loss.item()), logits.grad.cpu().numpy()
    return step, results, {"version": torch.__version__, "threads": torch.get_num_threads(),
                           "interop_threads": torch.get_num_interop_threads()}


def worker(lib, device, batch, classes, steps):
    logits_h, target_h = data(batch, classes)
    step, results, info = {"gpuad": gpuad_setup, "torch": torch_setup}[lib](logits_h, target_h, device)
    first, = timed_steps(step, device, 1)
    loss_value, grad = results(step())  # every step computes the same loss and gradient
    for _ in range(3):
        step()
    times = timed_steps(step, device, steps)
    return {"lib": lib, "first_call_s": first, "times": times, "loss": loss_value,
            "grad_rows": grad[:SAMPLE_ROWS].tolist(), "grad_sq_sum": float(np.sum(grad.astype(np.float64) ** 2)),
            **info}


def cross_check(runs):
    """gpuad's loss and gradient against PyTorch's on the same data (float32 tolerances)."""
    g, t = runs["gpuad"][0], runs["torch"][0]
    loss_err = abs(g["loss"] - t["loss"]) / max(abs(t["loss"]), 1e-12)
    tg = np.asarray(t["grad_rows"])
    grad_err = float(np.max(np.abs(np.asarray(g["grad_rows"]) - tg)) / max(float(np.max(np.abs(tg))), 1e-30))
    sq_err = abs(g["grad_sq_sum"] - t["grad_sq_sum"]) / max(t["grad_sq_sum"], 1e-30)
    ok = loss_err < 1e-5 and grad_err < 1e-4 and sq_err < 1e-4
    return {"loss_rel_err": loss_err, "grad_max_err_sample": grad_err, "grad_sq_sum_rel_err": sq_err, "ok": ok}


def main(argv=None):
    parser = bench_parser(__doc__, device="auto", steps=20, rounds=3)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=1000)
    args = parser.parse_args(argv)
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        sys.exit("cross_entropy: PyTorch is not installed, and the target is relative to it")

    runs = {lib: [] for lib in LIBS}
    for lib in round_robin(LIBS, args.rounds):
        runs[lib].append(run_worker(worker, lib, args.device, args.batch, args.classes, args.steps))
    check = cross_check(runs)
    med = {lib: statistics.median([t for run in runs[lib] for t in run["times"]]) for lib in LIBS}
    first = {lib: [run["first_call_s"] for run in runs[lib]] for lib in LIBS}
    ratio = med["gpuad"] / med["torch"]
    verdict = "PASS" if ratio <= TARGET and check["ok"] else "FAIL"

    t0 = runs["torch"][0]
    print(f"cross-entropy forward + backward, logits ({args.batch}, {args.classes}) float32, int64 targets, "
          f"device={args.device}, median of {args.rounds} rounds x {args.steps} steps, each library in its own "
          f"process (gpuad {runs['gpuad'][0]['version']}, torch {t0['version']}"
          + (f", {t0['threads']} intra-op threads" if args.device == "cpu" else "") + ")")
    print(f"cross-check against PyTorch: loss rel. error {check['loss_rel_err']:.1e}, gradient max error "
          f"{check['grad_max_err_sample']:.1e} of its largest entry (first {SAMPLE_ROWS} rows), sum of squares rel. "
          f"error {check['grad_sq_sum_rel_err']:.1e}: {'ok' if check['ok'] else 'MISMATCH'}")
    print()
    print(f"{'':<24} {'gpuad':>10} {'torch':>10} {'gpuad/torch':>12}  target  result")
    print(f"{'step, median ms':<24} {med['gpuad'] * 1e3:>10.3f} {med['torch'] * 1e3:>10.3f} {ratio:>12.2f}  "
          f"<= {TARGET:<4}  {verdict}")
    for label, pick in (("first call, ms (round 1)", lambda v: v[0]), ("first call, ms (median)", statistics.median)):
        fg, ft = pick(first["gpuad"]), pick(first["torch"])
        print(f"{label:<24} {fg * 1e3:>10.3f} {ft * 1e3:>10.3f} {fg / ft:>12.2f}  -       reported")
    if args.device != "cpu":
        print("(first call in a fresh process: round 1 may include compiling kernels into the on-disk caches; later "
              "rounds load them from there)")
    write_result(args, "cross-entropy", {
        "benchmark": "cross_entropy", "batch": args.batch, "classes": args.classes, "steps": args.steps,
        "rounds": args.rounds, "target_gpuad_over_torch": TARGET,
        "median_step_s": med, "gpuad_over_torch": ratio, "verdict": verdict,
        "first_call_s": first, "cross_check": check,
        "runs": {lib: [{k: v for k, v in run.items() if k != "grad_rows"} for run in runs[lib]] for lib in LIBS}})


if __name__ == "__main__":
    main()
