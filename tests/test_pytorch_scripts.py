"""PyTorch scripts (tests/pytorch_scripts/) run under gpuad with only the import changed.

The scripts are PyTorch code as people write it: PyTorch's beginner tutorials ("Learning PyTorch with Examples",
the Quickstart with a synthetic stand-in for FashionMNIST) and small-model habits (containers, hooks, losses, init,
optimizers, schedulers, DataLoader, save/resume, transforms, higher-order gradients). The test rewrites ``torch`` to
``gpuad`` in the import lines and runs the script under both libraries. Each script sets ``RESULT`` (numbers) and,
optionally, ``STRINGS`` (printed forms) and ``COMPARE``:
- "close": the script draws its numbers from NumPy, so both libraries compute the same thing: equal to PyTorch's
  to float32/float64 rounding; strings equal once "gpuad" reads "torch".
- otherwise (the script uses the library's own random numbers): the final ``RESULT`` (a loss) is no worse than
  twice PyTorch's."""
import math
import pathlib
import re

import numpy as np
import pytest

import gpuad

SCRIPTS = sorted(pathlib.Path(__file__).parent.joinpath("pytorch_scripts").glob("*.py"))


def as_gpuad(source):
    """The script with its imports changed: ``import torch`` -> ``import gpuad as torch``, ``import torch.nn as nn``
    -> ``import gpuad.nn as nn``, ``from torch.x import y`` -> ``from gpuad.x import y``."""
    source = re.sub(r"^(\s*)import torch$", r"\1import gpuad as torch", source, flags=re.M)
    source = re.sub(r"^(\s*)import torch((?:\.\w+)+) as ", r"\1import gpuad\2 as ", source, flags=re.M)
    return re.sub(r"^(\s*)from torch(\.|\s)", r"\1from gpuad\2", source, flags=re.M)


def run(source, capsys, library):
    """Run the script with the library's global generator seeded: a script that draws from it (the tutorials'
    ``torch.randn`` initial values) gets the same numbers on every run of the suite."""
    library.manual_seed(0)
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<script>", "exec"), namespace)
    capsys.readouterr()
    result = namespace["RESULT"] if "RESULT" in namespace else namespace["FINAL_LOSS"]
    result = [float(v) for v in (result if isinstance(result, list) else [result])]
    return result, namespace.get("STRINGS", []), namespace.get("COMPARE")


def test_the_import_rewrite_changes_only_imports():
    src = ("import torch\nfrom torch import nn\nfrom torch.utils.data import DataLoader\nimport torch.nn as nn\n"
           "import torch.nn.functional as F\nx = torch.ones(1)\n")
    assert as_gpuad(src) == ("import gpuad as torch\nfrom gpuad import nn\nfrom gpuad.utils.data import DataLoader\n"
                             "import gpuad.nn as nn\nimport gpuad.nn.functional as F\nx = torch.ones(1)\n")


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_pytorch_script_runs_under_gpuad(script, capsys):
    source = script.read_text()
    ours, our_strings, compare = run(as_gpuad(source), capsys, gpuad)
    assert all(math.isfinite(v) for v in ours)
    torch = pytest.importorskip("torch")
    theirs, their_strings, _ = run(source, capsys, torch)
    if compare == "close":
        assert len(ours) == len(theirs)
        np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=1e-5)
        assert [s.replace("gpuad", "torch") for s in our_strings] == their_strings
    else:  # the same recipe, other random numbers
        print(f"{script.stem}: gpuad {ours[-1]:.6g}, PyTorch {theirs[-1]:.6g}")
        assert ours[-1] <= max(2.0 * theirs[-1], theirs[-1] + 0.05), (ours, theirs)
