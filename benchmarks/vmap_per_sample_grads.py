"""Per-sample gradients with vmap(grad(...)): gpuad's per-example vmap against a hand-written loop and torch.func.

    python benchmarks/vmap_per_sample_grads.py [--device cpu|cuda] [--batches 8 64 256]

The workload is torch.func's per-sample-gradient tutorial in small: an MLP 16 -> 32 -> 32 -> 1 (tanh) called with
functional_call, a squared-error loss per example, float64. gpuad's vmap runs the function once per example and
stacks the results (see gpuad/func.py), so its time grows linearly with the batch; the "loop" column is the same per
example work written by hand (grad per example, then stack), which is what vmap's own overhead is measured against.
torch.func.vmap vectorizes (one batched call), which is the speed gpuad's vmap does not have. All three give the
same gradients (checked before timing). Results go to benchmarks/results/vmap-<host>-<date>.json.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_parser, best_time, write_result  # noqa: E402

import numpy as np  # noqa: E402

import gpuad as G  # noqa: E402
from gpuad import func  # noqa: E402

SIZES = (16, 32, 32, 1)


def weights(rng):
    out = {}
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        out[f"{2 * i}.weight"] = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
        out[f"{2 * i}.bias"] = rng.standard_normal(n_out) * 0.1
    return out


def per_sample(lib, nn, F, arrays, xs, ys, device):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [nn.Linear(n_in, n_out, dtype=lib.float64)] + ([nn.Tanh()] if i < len(SIZES) - 2 else [])
    model = nn.Sequential(*layers).to(device)
    params = {k: lib.tensor(v, device=device) for k, v in arrays.items()}
    x, y = lib.tensor(xs, device=device), lib.tensor(ys, device=device)

    def loss(p, xb, yb):
        return ((F.functional_call(model, p, (xb.unsqueeze(0),)) - yb) ** 2).sum()
    vmapped = F.vmap(F.grad(loss), in_dims=(None, 0, 0))
    return (lambda: vmapped(params, x, y)), loss, params, x, y


def main(argv=None):
    parser = bench_parser(__doc__, repeat=3, min_time=0.1)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 64, 256])
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    arrays = weights(rng)
    rows = []
    print(f"per-sample gradients of an MLP {SIZES}, float64, device={args.device}")
    print(f"{'batch':>6} {'vmap ms':>9} {'loop ms':>9} {'torch.func ms':>14} {'vmap/loop':>10} {'vmap/torch':>11}")
    for batch in args.batches:
        xs, ys = rng.standard_normal((batch, SIZES[0])), rng.standard_normal((batch, 1))
        ours, loss, params, x, y = per_sample(G, G.nn, func, arrays, xs, ys, args.device)
        gradient = func.grad(loss)

        def loop():
            grads = [gradient(params, x[b], y[b]) for b in range(batch)]
            return {k: G.stack([g[k] for g in grads]) for k in params}
        got, by_hand = ours(), loop()
        for k in params:
            np.testing.assert_allclose(got[k].cpu().numpy(), by_hand[k].cpu().numpy(), rtol=1e-12, atol=1e-14)
        t_vmap = best_time(ours, args.device, args.min_time, args.repeat)
        t_loop = best_time(loop, args.device, args.min_time, args.repeat)
        t_torch = None
        if torch is not None and args.device == "cpu":
            theirs = per_sample(torch, torch.nn, torch.func, arrays, xs, ys, "cpu")[0]
            reference = theirs()
            for k in params:
                np.testing.assert_allclose(got[k].numpy(), reference[k].detach().numpy(), rtol=1e-10, atol=1e-12)
            t_torch = best_time(theirs, "cpu", args.min_time, args.repeat)
        rows.append({"batch": batch, "vmap_s": t_vmap, "loop_s": t_loop, "torch_func_s": t_torch})
        torch_ms = f"{t_torch * 1e3:>14.3f}" if t_torch else f"{'-':>14}"
        ratio = f"{t_vmap / t_torch:>11.1f}" if t_torch else f"{'-':>11}"
        print(f"{batch:>6} {t_vmap * 1e3:>9.3f} {t_loop * 1e3:>9.3f} {torch_ms} {t_vmap / t_loop:>10.2f} {ratio}")
    write_result(args, "vmap", {"benchmark": "vmap_per_sample_grads", "sizes": SIZES, "rows": rows})


if __name__ == "__main__":
    main()
