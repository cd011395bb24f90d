"""Training-step time of nn.Sequential(nn.Linear, nn.ReLU, ...) against gpuad's own nn.MLP and PyTorch eager.

    python benchmarks/sequential_vs_mlp.py [--device cpu|cuda] [--sizes S M] [--steps 40] [--rounds 5]

The common PyTorch form must cost what nn.MLP costs: Sequential runs each Linear + activation pair as one fused node.
All three run the same ReLU MLP (the sizes of train_step.py), cross-entropy and SGD, in one process, interleaved
step by step in rounds so that the machine's drift hits them alike; the table gives median step times and the
ratios Sequential / MLP and each against PyTorch. Writes results/sequential-vs-mlp-<host>-<date>.json.
"""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import bench_parser, device_sync, timed_steps, write_result  # noqa: E402
from train_step import LR, SIZES, _training_step, data  # noqa: E402


def gpuad_models(size, device):
    """(nn.MLP, the same layers as nn.Sequential(nn.Linear, nn.ReLU, ...)), with identical weights."""
    import gpuad
    from gpuad import nn
    weights, biases, _, _ = data(size)
    sizes = SIZES[size][1]
    mlp = nn.MLP(sizes, activation="relu", device=device)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, device=device))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    seq = nn.Sequential(*layers)
    with gpuad.no_grad():
        for model in (mlp, seq):
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            for layer, w, b in zip(linears, weights, biases):
                layer.weight.copy_(gpuad.tensor(w, device=device))
                layer.bias.copy_(gpuad.tensor(b, device=device))
    return mlp, seq


def torch_model(size, device):
    import torch
    weights, biases, _, _ = data(size)
    sizes = SIZES[size][1]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    with torch.no_grad():
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        for layer, w, b in zip(linears, weights, biases):
            layer.weight.copy_(torch.tensor(w))
            layer.bias.copy_(torch.tensor(b))
    return model


def step_of(lib, model, x, y):
    return _training_step(model, lib.optim.SGD(model.parameters(), lr=LR), lib.nn.functional.cross_entropy, x, y)


def run(size, device, steps, rounds):
    import gpuad
    _, _, x, y = data(size)
    mlp, seq = gpuad_models(size, device)
    gx, gy = gpuad.tensor(x, device=device), gpuad.tensor(y, device=device)
    contenders = {"mlp": (step_of(gpuad, mlp, gx, gy), device_sync(device)),
                  "sequential": (step_of(gpuad, seq, gx, gy), device_sync(device))}
    try:
        import torch
        tdev = "cuda" if device.startswith("cuda") else "cpu"
        tmodel = torch_model(size, tdev)
        tx, ty = torch.tensor(x, device=tdev), torch.tensor(y, device=tdev)
        tsync = torch.cuda.synchronize if tdev == "cuda" else (lambda: None)
        contenders["pytorch"] = (step_of(torch, tmodel, tx, ty), tsync)
    except ImportError:
        pass
    times = {name: [] for name in contenders}
    for name, (step, sync) in contenders.items():  # warm-up
        timed_steps(step, sync, 3)
    for _ in range(rounds):
        for name, (step, sync) in contenders.items():
            times[name] += timed_steps(step, sync, steps)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return medians


def main():
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", nargs="+", default=["S", "M"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = {}
    print(f"{'size':<5} {'MLP ms':>9} {'Sequential ms':>14} {'PyTorch ms':>11} {'Seq/MLP':>8} {'MLP/torch':>10} "
          f"{'Seq/torch':>10}")
    for size in args.sizes:
        m = run(size, args.device, args.steps, args.rounds)
        results[size] = m
        torch_ms = m.get("pytorch")
        ratio = (lambda a: f"{a / torch_ms:10.2f}") if torch_ms else (lambda a: f"{'-':>10}")
        print(f"{size:<5} {m['mlp'] * 1e3:9.3f} {m['sequential'] * 1e3:14.3f} "
              f"{(torch_ms or float('nan')) * 1e3:11.3f} {m['sequential'] / m['mlp']:8.3f} {ratio(m['mlp'])} "
              f"{ratio(m['sequential'])}")
    if not args.no_json:
        write_result("sequential-vs-mlp", args.device, {"median_step_seconds": results, "steps": args.steps,
                                                        "rounds": args.rounds})


if __name__ == "__main__":
    main()
