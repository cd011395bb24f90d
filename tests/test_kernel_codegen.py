"""Every CuPy kernel gpuad builds compiles, for every dtype, without a GPU.

CuPy only generates and compiles a kernel's source when it launches it, which needs a GPU. These tests ask CuPy's own
code generator for the full source it would compile (our device functions from ``kernels/`` inside CuPy's
ElementwiseKernel / ReductionKernel scaffolding, with strided indexing) and compile it with nvcc, so a typo in an
operation string or a type that does not convert is caught on a machine with no GPU. They use CuPy internals and
skip, with the reason, where CuPy, those internals or nvcc are missing. The RawModule sources are compiled with
every template instantiation by tests/kernel_compile_check.py (tests/test_kernel_tables.py and ``.ci/run``).
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

from gpuad.backends import cuda_kernels as ck
from gpuad.backends.kernel_source import read_kernel
from op_cases import fused_grad_cases

cupy = pytest.importorskip("cupy", reason="CuPy is not installed: its code generator is needed")
K = pytest.importorskip("cupy._core._kernel")
R = pytest.importorskip("cupy._core._reduction")
_carray = pytest.importorskip("cupy._core._carray")
_scalar = pytest.importorskip("cupy._core._scalar")
core = pytest.importorskip("cupy._core.core")
if not hasattr(K, "_get_elementwise_kernel_code") or not hasattr(R, "_ReductionKernel_get_cached_function_code"):
    pytest.skip("this CuPy version does not expose its kernel code generator", allow_module_level=True)
NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")

DTYPES = ("float16", "float32", "float64")
GRAD_RULES = {rule: len(kinds) for _, kinds, rule, _ in fused_grad_cases().values()}  # rule -> number of inputs


def _arginfos(params, dtype, ndim=2, contiguous=False):
    infos = []
    for p in params:
        if p.name == "_ind":
            infos.append(K._ArgInfo(2, _carray.Indexer, None, ndim, True, True))
        elif p.ctype == "T":
            infos.append(K._ArgInfo(1, cupy.ndarray, np.dtype(dtype), ndim, contiguous, True))
        else:
            infos.append(K._ArgInfo(3, _scalar.CScalar, np.dtype(p.dtype), 0, True, True))
    return tuple(infos)


def elementwise_source(kernel, dtype):
    """The CUDA source CuPy would compile for ``kernel`` on strided 2-D arrays of ``dtype``."""
    types = K._TypeMap((("T", np.dtype(dtype)),))
    return K._get_elementwise_kernel_code(_arginfos(kernel.params, dtype), types, kernel.params, kernel.operation,
                                          kernel.name, kernel.preamble, **kernel.kwargs)


def reduction_source(kernel, dtype):
    params = kernel._params  # (x, y, _raw_in_ind, _raw_out_ind, _block_stride)-style parameter list
    infos = []
    for p in params:
        if p.ctype == "T" or p.name in ("x", "y"):
            infos.append(K._ArgInfo(1, cupy.ndarray, np.dtype(dtype), 2, False, True))
        elif "ind" in p.name:
            infos.append(K._ArgInfo(2, _carray.Indexer, None, 2 if "in" in p.name else 1, True, True))
        else:
            infos.append(K._ArgInfo(3, _scalar.CScalar, np.dtype(p.dtype or np.int32), 0, True, True))
    types = K._TypeMap((("T", np.dtype(dtype)), ("IndexT", np.dtype(np.int32))))  # CuPy's 32-bit index case
    return R._ReductionKernel_get_cached_function_code(
        kernel.nin, kernel.nout, params, tuple(infos), types, kernel.name, 256, kernel.reduce_type,
        kernel.identity, kernel.map_expr, kernel.reduce_expr, kernel.post_map_expr, kernel.preamble, ())


def compile_all(sources):
    """Compile (source, kernel name) pairs in one nvcc run, each in its own namespace; returns nvcc's result."""
    include = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    headers = [f"#include <{h}>" for h in core._cupy_header_list]
    units = []
    for i, (source, name) in enumerate(sources):
        lines = source.replace(f" {name}(", f" {name}_{i}(").splitlines()
        headers += [line for line in lines if line.strip().startswith("#include")]  # at file scope, once
        body = "\n".join(line for line in lines if not line.strip().startswith("#include"))
        units.append(f"namespace unit{i} {{\n{body}\n}}")
    text = "\n".join(dict.fromkeys(headers)) + "\n" + "\n".join(units) + "\n"
    return subprocess.run([NVCC, "-ptx", "-arch=sm_80", "-std=c++17", "-I", include, "-x", "cu", "-", "-o",
                           os.devnull], input=text, capture_output=True, text=True)


def _assert_compiles(kernels):
    """Each kernel with the storage dtypes that use its compute type (float: float16 and float32)."""
    sources = [(elementwise_source(k, dtype), k.name) for k in kernels for dtype in DTYPES
               if k.name.endswith("_" + ck.compute_type(dtype))]
    result = compile_all(sources)
    assert result.returncode == 0, result.stderr[-4000:]


def test_elementwise_forward_and_backward_kernels_compile_for_every_dtype():
    unary = [ck.unary(name, c) for name in ("sigmoid_fwd", "gelu_fwd", "gelu_tanh_fwd") for c in ("float", "double")]
    grads = []
    for rule, inputs in sorted(GRAD_RULES.items()):
        for c in ("float", "double"):
            if inputs == 2:
                grads += [ck.binary_grad(rule, c, which) for which in ("ab", "a", "b")]
            else:
                grads.append(ck.unary_grad(rule, c))
    _assert_compiles(unary + grads)


def test_optimizer_kernels_compile_for_every_dtype():
    _assert_compiles([ck.sgd_kernel(c, m) for c in ("float", "double") for m in (False, True)]
                     + [ck.adam_kernel(c) for c in ("float", "double")])


def test_the_broadcast_gradient_reduction_compiles_for_every_dtype():
    sources = [(reduction_source(ck.sum_reduction(ck.compute_type(d)), d), ck.sum_reduction(ck.compute_type(d)).name)
               for d in DTYPES]
    result = compile_all(sources)
    assert result.returncode == 0, result.stderr[-4000:]


def test_a_broken_operation_fails_to_compile():  # the check above can fail
    bad = cupy.ElementwiseKernel("T x", "T y", "y = gpuad::no_such_function<float>(x)", "gpuad_broken",
                                 preamble=read_kernel("elementwise.cu"))
    assert compile_all([(elementwise_source(bad, "float32"), bad.name)]).returncode != 0
