"""``gpuad-train``: train an MLP classifier end to end, by default on the UCI handwritten digits shipped with gpuad.

    gpuad-train [--device auto|cpu|cuda] [--hidden 256] [--layers 2] [--activation relu] [--epochs 30]
                [--batch-size 64] [--lr 0.001] [--optimizer adam|adamw|sgd] [--checkpoint-segments K]
                [--seed 0] [--save model.gpuad] [--data my.npz|my.csv] [--distributed]

The held-out test split (20% of the data) is fixed, so accuracies are comparable between runs; ``--seed`` sets the
initial weights and the order of the batches, and the same seed gives the same run. Also ``python -m gpuad.train``.
``mpiexec -n N gpuad-train --distributed`` trains data-parallel: each process takes its shard of every epoch with
batches of --batch-size, rank 0 alone prints and saves, and samples/s is the whole job's.
"""
import argparse
import sys
import time


import gpuad
from gpuad import activations, datasets, nn, optim
from gpuad.nn import functional as F
from gpuad.utils.data import DataLoader, TensorDataset
from gpuad.distributed.training import DataParallelRun

SPLIT_SEED = 0  # the test split never changes with --seed


def build_model(config, device):
    sizes = [config["inputs"]] + [config["hidden"]] * config["layers"] + [config["classes"]]
    return nn.MLP(sizes, activation=config["activation"], dropout=config.get("dropout", 0.0),
                  checkpoint_segments=config.get("checkpoint_segments"), device=device)


def make_optimizer(name, params, lr, weight_decay):
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)


def evaluate(model, x, y, batch_size=1024):
    """Accuracy of ``model`` on tensors x (features) and y (class indices)."""
    model.eval()
    correct = 0
    with gpuad.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(x[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == y[start:start + batch_size]).sum().item())
    model.train()
    return correct / max(len(y), 1)


def load_model(path, map_location=None):
    """The model a ``--save`` run wrote, rebuilt from its configuration, and the saved record."""
    record = gpuad.load(path, map_location=map_location)
    if not isinstance(record, dict) or "config" not in record or "model" not in record:
        raise ValueError(f"{path!r} was not written by gpuad-train --save")
    device = map_location or next(iter(record["model"].values())).device
    model = build_model(record["config"], device)
    model.load_state_dict(record["model"])
    return model, record


class ProgressBar:
    """One line per epoch: redrawn in place on a terminal, printed once when it ends elsewhere."""

    def __init__(self, total, label, stream=sys.stderr, width=30):
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.live = hasattr(stream, "isatty") and stream.isatty()

    def update(self, done):
        if self.live:
            filled = int(self.width * done / max(self.total, 1))
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total}")
            self.stream.flush()

    def close(self):
        if self.live:
            self.stream.write("\r" + " " * (len(self.label) + self.width + 20) + "\r")
            self.stream.flush()


def train(args, out=print):
    device = ("cuda" if gpuad.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    run = None
    if getattr(args, "distributed", False):
        run = DataParallelRun(device)
        device, out = run.device, run.main_only(out)
    if args.data:
        x_all, y_all = datasets.load_file(args.data)
        source = args.data
    else:
        x_all, y_all = datasets.load_digits()
        source = "UCI optical handwritten digits (1,797 8x8 images, CC BY 4.0)"
    x_train, y_train, x_test, y_test = datasets.train_test_split(x_all, y_all, 0.2, seed=SPLIT_SEED)
    classes = int(y_all.max()) + 1
    config = {"inputs": int(x_all.shape[1]), "hidden": args.hidden, "layers": args.layers, "classes": classes,
              "activation": args.activation, "checkpoint_segments": args.checkpoint_segments}
    gpuad.manual_seed(args.seed)
    model = build_model(config, device)
    net = model if run is None else run.wrap(model)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    xs, ys = gpuad.tensor(x_train, device=device), gpuad.tensor(y_train, device=device)
    xt, yt = gpuad.tensor(x_test, device=device), gpuad.tensor(y_test, device=device)
    out(f"data: {source}: {len(y_train)} train / {len(y_test)} test samples, {config['inputs']} features, "
        f"{classes} classes")
    out(f"model: MLP {[config['inputs']] + [args.hidden] * args.layers + [classes]} {args.activation}, "
        f"{sum(p.numel() for p in model.parameters())} parameters, {args.optimizer} lr={args.lr}, device={device}")
    def step(x, y):
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        if args.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad_norm)
        optimizer.step()
        return loss
    if getattr(args, "compile", False):  # recorded once per batch shape, then replayed (bitwise the same run)
        step = gpuad.compile(step)
    samples = len(y_train) if run is None else run.samples_per_rank(len(y_train))
    if run is not None:
        out(f"distributed: {run.world} processes, {samples} samples each per epoch")
    batches = -(-samples // args.batch_size)
    scheduler = make_scheduler(args.scheduler, optimizer, args.lr, args.epochs * batches)
    # one process: a shuffling DataLoader over the training tensors (one gather per batch); MPI jobs take their shard
    loader = None if run is not None else DataLoader(
        TensorDataset(xs, ys), batch_size=args.batch_size, shuffle=True,
        generator=gpuad.Generator().manual_seed(args.seed))
    history, total_time = [], 0.0
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        bar = ProgressBar(batches, f"epoch {epoch}/{args.epochs}")
        start, loss_sum = time.perf_counter(), None
        for b, (xb, yb) in enumerate(loader if loader is not None else _shard_batches(run, xs, ys, epoch, args)):
            loss = step(xb, yb)
            loss_sum = loss.detach() * len(yb) if loss_sum is None else loss_sum + loss.detach() * len(yb)
            if scheduler is not None:
                scheduler.step()
            bar.update(b + 1)
        elapsed = time.perf_counter() - start
        total_time += elapsed
        bar.close()
        accuracy = evaluate(model, xt, yt)
        seen, elapsed, loss_total = (samples, elapsed, loss_sum.item()) if run is None else \
            run.totals(samples, elapsed, loss_sum.item())
        train_loss = loss_total / seen
        history.append({"epoch": epoch, "train_loss": train_loss, "test_accuracy": accuracy,
                        "samples_per_second": seen / elapsed})
        out(f"epoch {epoch:3d}  train loss {train_loss:.4f}  test accuracy {accuracy:.2%}  "
            f"{seen / elapsed:,.0f} samples/s")
    out(f"trained {args.epochs} epochs in {total_time:.2f} s: test accuracy {accuracy:.2%}")
    if args.save and (run is None or run.rank == 0):
        gpuad.save({"config": config, "model": model.state_dict(), "test_accuracy": accuracy,
                    "seed": args.seed}, args.save)
        out(f"saved to {args.save}")
    if run is not None:
        run.close()
    return model, history


def _shard_batches(run, xs, ys, epoch, args):
    """This rank's batches of an epoch in an MPI job (its shard of a shuffle every rank agrees on)."""
    order = gpuad.tensor(run.shard(len(ys), epoch, args.seed), device=xs.device)
    for b in range(0, len(order), args.batch_size):
        index = order[b:b + args.batch_size]
        yield xs[index], ys[index]


SCHEDULERS = ("none", "cosine", "onecycle", "step")


def make_scheduler(name, optimizer, lr, total_steps):
    """A learning-rate schedule stepped after every batch: cosine annealing to 0, one-cycle up to ``lr`` and down,
    or a tenfold drop at 1/2 and 3/4 of the run; None for a constant rate."""
    if name == "none":
        return None
    if name == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "onecycle":
        return optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps)
    if name == "step":
        return optim.lr_scheduler.MultiStepLR(optimizer, milestones=[total_steps // 2, total_steps * 3 // 4],
                                              gamma=0.1)
    raise ValueError(f"unknown scheduler {name!r}: choose one of {', '.join(SCHEDULERS)}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="gpuad-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2, help="hidden layers")
    parser.add_argument("--activation", default="relu", choices=[a for a in activations.NAMES if a])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw", "sgd"])
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--checkpoint-segments", type=int, default=None,
                        help="checkpoint the layers in K segments (less activation memory, more compute)")
    parser.add_argument("--scheduler", default="none", choices=SCHEDULERS,
                        help="learning-rate schedule, stepped every batch")
    parser.add_argument("--clip-grad-norm", type=float, default=None, metavar="MAX",
                        help="clip the gradients' total 2-norm to MAX before each step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true",
                        help="run each training step through gpuad.compile (recorded once, then replayed)")
    parser.add_argument("--save", default=None, help="write the trained model here (gpuad.save format)")
    parser.add_argument("--data", default=None, help="train on your own .npz (arrays X, y) or .csv (label last)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the processes of an MPI job: mpiexec -n N gpuad-train --distributed")
    args = parser.parse_args(argv)
    for name in ("hidden", "layers", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    if args.clip_grad_norm is not None and not args.clip_grad_norm > 0:
        parser.error("--clip-grad-norm must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        train(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"gpuad-train: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
