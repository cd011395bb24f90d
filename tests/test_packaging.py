"""The CUDA sources ship inside the package, and importing gpuad never needs CuPy or a GPU."""
import subprocess
import sys

import pytest

from gpuad.backends.kernel_source import kernel_names, kernel_text, read_kernel

FAMILIES = ["common.cuh", "elementwise.cu", "linear.cu", "optim.cu", "reductions.cu", "softmax.cu"]


def test_kernel_sources_are_installed_with_the_package():
    assert kernel_names() == FAMILIES
    assert "__global__ void cross_entropy_fwd" in read_kernel("softmax.cu")


def test_local_includes_are_inlined_once_for_the_compiler_cache():
    source = kernel_text("softmax.cu")
    assert '#include "' not in source
    assert "#include <cuda_fp16.h>" in source  # system headers stay for NVRTC
    assert source.count("struct Acc {") == 1 and "block_sum" in source and "cross_entropy_bwd" in source
    linear = kernel_text("linear.cu")
    assert "gelu_slope" in linear and "bias_act_bwd" in linear


def test_a_missing_kernel_source_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="nonexistent.cu.*reinstall"):
        read_kernel("nonexistent.cu")


def test_import_does_not_import_cupy():
    code = "import sys, gpuad; x = gpuad.ones(2) * 2; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
