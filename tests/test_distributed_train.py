"""``mpiexec -n 2 gpuad-train --distributed``: each rank trains on its shard, rank 0 alone prints and saves, the
throughput is the job's, and the saved model (plain keys, no ``module.`` prefix) reproduces the reported accuracy."""
import re

import gpuad as G
from gpuad import datasets, train
from test_distributed_worker import mpirun, requires_mpi

EPOCH = re.compile(r"^epoch\s+(\d+)\s+train loss (\d+\.\d+)\s+test accuracy (\d+\.\d+)%\s+([\d,]+) samples/s$",
                   re.MULTILINE)


@requires_mpi
def test_two_processes_train_shard_log_and_save_once(tmp_path):
    path = tmp_path / "model.gpuad"
    done = mpirun(["-m", "gpuad.train", "--distributed", "--epochs", "2", "--hidden", "32", "--device", "cpu",
                   "--save", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = EPOCH.findall(done.stdout)
    assert [int(e) for e, *_ in lines] == [1, 2]  # printed by rank 0 only
    assert done.stdout.count("saved to") == 1 and done.stdout.count("data: ") == 1
    assert "distributed: 2 processes, 719 samples each per epoch" in done.stdout  # 1438 samples split in two
    assert all(float(rate.replace(",", "")) > 0 and 0 < float(loss) < 10 for _, loss, _, rate in lines)
    model, record = train.load_model(str(path))
    assert all(not k.startswith("module.") for k in record["model"])
    X, y = datasets.load_digits()
    _, _, x_test, y_test = datasets.train_test_split(X, y, 0.2, seed=train.SPLIT_SEED)
    accuracy = train.evaluate(model, G.tensor(x_test), G.tensor(y_test))
    assert f"{accuracy:.2%}" == f"{float(lines[-1][2]):.2f}%"
