"""gpuad keeps freed array memory for reuse (glibc mallopt at import): measured as page faults, not time."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = """
import resource, numpy as np, gpuad
a = np.ones(1_000_000, np.float32)
def step():
    b = a * 2; c = b + a; return (c * b).sum()
for _ in range(5): step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20): step()
print(sorted(gpuad._malloc.applied), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 20)
"""


def _run(**env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    full.update(env, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=full, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    names, faults = out.stdout.rsplit("]", 1)
    return names + "]", float(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_arrays_are_not_faulted_in_again():
    names, faults = _run()
    if names == "[]":
        pytest.skip("not glibc")
    assert names == "['mmap_threshold', 'trim_threshold']"
    assert faults < 100  # 4 MB arrays from the heap's free blocks, not fresh pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_the_tuning_can_be_turned_off():
    names, faults = _run(GPUAD_MALLOC_TUNING="0")
    assert names == "[]"
    assert faults > 1000  # glibc's defaults: every 4 MB array is mapped and faulted afresh
