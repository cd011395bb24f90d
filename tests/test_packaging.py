"""The CUDA sources ship inside the package, and importing gpuad never needs CuPy or a GPU."""
import subprocess
import sys

import pytest

from gpuad.backends.kernel_source import kernel_names, read_kernel


def test_kernel_sources_are_installed_with_the_package():
    assert "activations.cu" in kernel_names()
    source = read_kernel("activations.cu")
    assert "__global__ void sigmoid_fwd" in source and "gelu_fwd" in source


def test_a_missing_kernel_source_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="nonexistent.cu.*reinstall"):
        read_kernel("nonexistent.cu")


def test_import_does_not_import_cupy():
    code = "import sys, gpuad; x = gpuad.ones(2) * 2; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
