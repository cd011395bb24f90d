"""gpuad-train end to end on the CPU: output, saved models, reproducibility, user data files and their errors."""
import contextlib
import io
import re
import subprocess
import sys

import numpy as np
import pytest

import gpuad as G
from gpuad import datasets, train

SMALL = ["--epochs", "2", "--hidden", "32", "--device", "cpu"]
EPOCH_LINE = re.compile(r"^epoch\s+(\d+)\s+train loss (\d+\.\d+)\s+test accuracy (\d+\.\d+)%\s+([\d,]+) samples/s$",
                        re.MULTILINE)


def run(*argv):
    """main(argv) in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = train.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def epochs(stdout):
    """[(epoch, train loss, test accuracy %, samples/s)] from the per-epoch lines."""
    return [(int(e), float(loss), float(acc), float(rate.replace(",", ""))) for e, loss, acc, rate in
            EPOCH_LINE.findall(stdout)]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "model.gpuad"
    code, stdout, stderr = run(*SMALL, "--save", str(path))
    return code, stdout, path


def test_small_run_prints_epochs_and_saves(saved_run):
    code, stdout, path = saved_run
    assert code == 0
    lines = epochs(stdout)
    assert [e for e, *_ in lines] == [1, 2]
    for _, loss, accuracy, rate in lines:
        assert 0 < loss < 10 and 0 <= accuracy <= 100 and rate > 0
    assert "1438 train / 359 test samples" in stdout
    assert f"saved to {path}" in stdout and path.is_file()


def test_saved_model_reproduces_the_reported_accuracy(saved_run):
    _, stdout, path = saved_run
    model, record = train.load_model(str(path))
    assert record["config"]["hidden"] == 32 and record["seed"] == 0
    X, y = datasets.load_digits()
    _, _, x_test, y_test = datasets.train_test_split(X, y, 0.2, seed=train.SPLIT_SEED)
    accuracy = train.evaluate(model, G.tensor(x_test), G.tensor(y_test))
    assert accuracy == record["test_accuracy"]
    assert f"{accuracy:.2%}" == f"{epochs(stdout)[-1][2]:.2f}%"
    assert f"test accuracy {accuracy:.2%}" in stdout.splitlines()[-2]  # the "trained ... epochs" summary


def test_load_model_rejects_other_files(tmp_path):
    path = tmp_path / "other.gpuad"
    G.save({"w": G.ones(2)}, path)
    with pytest.raises(ValueError, match="gpuad-train"):
        train.load_model(str(path))


def test_same_seed_gives_identical_losses(saved_run):
    first = [loss for _, loss, _, _ in epochs(saved_run[1])]
    again = [loss for _, loss, _, _ in epochs(run(*SMALL)[1])]
    other = [loss for _, loss, _, _ in epochs(run(*SMALL, "--seed", "1")[1])]
    assert again == first
    assert other != first


def test_compile_gives_the_same_run(saved_run):
    compiled = [line[:3] for line in epochs(run(*SMALL, "--compile")[1])]
    assert compiled == [line[:3] for line in epochs(saved_run[1])]


def test_checkpoint_segments_do_not_change_the_run(saved_run):
    ckpt = [line[:3] for line in epochs(run(*SMALL, "--checkpoint-segments", "2")[1])]
    assert ckpt == [line[:3] for line in epochs(saved_run[1])]


@pytest.mark.parametrize("name", ["cosine", "onecycle", "step"])
def test_schedulers_follow_pytorchs_rates_batch_by_batch(name):
    """make_scheduler's schedule is PyTorch's scheduler of that name, stepped after every batch."""
    torch = pytest.importorskip("torch")
    total = 40
    ours = G.optim.SGD([G.zeros(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    mine = train.make_scheduler(name, ours, 0.1, total)
    ref = {"cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total),
           "onecycle": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=total),
           "step": lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [20, 30], 0.1)}[name](theirs)
    for _ in range(total - 1):
        ours.step()
        theirs.step()
        mine.step()
        ref.step()
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12, abs=1e-15)


def test_scheduler_and_clipping_change_the_run_and_still_learn(saved_run):
    plain = [line[1] for line in epochs(saved_run[1])]
    for extra in (["--scheduler", "onecycle", "--lr", "3e-3"], ["--clip-grad-norm", "0.05"]):
        code, stdout, _ = run(*SMALL, *extra)
        lines = epochs(stdout)
        assert code == 0 and len(lines) == 2
        assert [line[1] for line in lines] != plain  # the option took effect
        assert lines[-1][1] < lines[0][1]  # and training still lowers the loss


def test_scheduler_and_clipping_bad_values_are_usage_errors():
    for argv, message in ((["--clip-grad-norm", "0"], "--clip-grad-norm must be positive"),
                          (["--scheduler", "linear"], "invalid choice")):
        with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()) as err:
            train.main(argv)
        assert info.value.code == 2 and message in err.getvalue()


# --- user data files -------------------------------------------------------------------------------------------------
def _blobs(n=90, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.standard_normal((n, features)) * 0.3 + y[:, None]
    return X, y


def _write_npz(path):
    X, y = _blobs()
    np.savez(path, X=X, y=y)


def _write_csv(path):
    X, y = _blobs()
    rows = [",".join(f"f{i}" for i in range(X.shape[1])) + ",label"]
    rows += [",".join(f"{v:.6f}" for v in x) + f",{label}" for x, label in zip(X, y)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("suffix,write", [(".npz", _write_npz), (".csv", _write_csv)])
def test_training_on_a_user_file(suffix, write, tmp_path):
    path = tmp_path / f"blobs{suffix}"
    write(path)
    code, stdout, stderr = run("--epochs", "3", "--hidden", "16", "--device", "cpu", "--data", str(path))
    assert code == 0, stderr
    assert f"data: {path}: 72 train / 18 test samples, 4 features, 3 classes" in stdout
    assert len(epochs(stdout)) == 3


def _bad_cell_csv(path):
    path.write_text("1,2,0\n3,oops,1\n")


def _ragged_csv(path):
    path.write_text("1,2,0\n3,1\n")


def _npz_without_y(path):
    np.savez(path, X=np.ones((10, 2)))


def _garbage_npz(path):
    path.write_bytes(b"this is not a zip archive at all")


def _nan_npz(path):
    np.savez(path, X=np.array([[1.0, np.nan]] * 10), y=np.zeros(10, dtype=int))


def _wrong_extension(path):
    path.write_text("1,2,0\n")


@pytest.mark.parametrize("name,write", [
    ("bad.csv", _bad_cell_csv), ("ragged.csv", _ragged_csv), ("noy.npz", _npz_without_y),
    ("garbage.npz", _garbage_npz), ("nan.npz", _nan_npz), ("data.txt", _wrong_extension), ("missing.csv", None),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_malformed_data_file_exits_2_naming_it(name, write, tmp_path):
    path = tmp_path / name
    if write is not None:
        write(path)
    code, stdout, stderr = run(*SMALL, "--data", str(path))
    assert code == 2
    assert str(path) in stderr and stderr.startswith("gpuad-train: ")
    assert "Traceback" not in stderr


def test_bad_command_line_values_are_usage_errors():
    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()) as err:
        train.main(["--epochs", "0"])
    assert info.value.code == 2 and "--epochs must be at least 1" in err.getvalue()


# --- defaults and the module entry point --------------------------------------------------------------------------
def test_default_run_reaches_97_percent():
    code, stdout, _ = run("--device", "cpu")
    assert code == 0
    lines = epochs(stdout)
    assert len(lines) == 30
    assert lines[-1][2] >= 97.0


def test_module_help_exits_0():
    result = subprocess.run([sys.executable, "-m", "gpuad.train", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: gpuad-train" in result.stdout and "--checkpoint-segments" in result.stdout
