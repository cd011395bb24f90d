"""Above gpuad/backends/, no code asks which device it is on or whether our fused kernels are on: the backends own every
device decision (issue 12). Checked from the source with ``ast`` (strings and comments do not count):

- no comparison of a device's ``type`` with "cpu" or "cuda", except where the device type is itself part of the
  PyTorch API a file implements (listed below with the reason);
- no use of ``FUSED`` (the fused-kernel switch) except in gpuad/cuda.py, where ``gpuad.cuda.fused_kernels`` sets it;
- no ``with <something>.device:`` block: a backend enters its device context itself;
- no import of ``cuda_kernels``, and no ``backend.name`` test.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]
PKG = ROOT / "gpuad"

# file -> why a device-type comparison belongs there (each is about the user's API, not about how to compute)
DEVICE_TYPE_API = {
    "device.py": "names devices ('cpu', 'cuda:1') and their repr",
    "tensor.py": "Tensor.is_cuda; numpy() and __array__ refuse GPU tensors, as PyTorch's do",
    "tensor_api.py": "the legacy typed tensor classes (FloatTensor vs cuda.FloatTensor) are per device type",
    "printing.py": "a tensor's repr names its device unless it is the CPU, as PyTorch's does",
    "nn/module.py": "Module.cuda(device) refuses a CPU device argument",
    "nn/parallel.py": "DistributedDataParallel's device_ids must name the module's own GPU",
    "cuda.py": "gpuad.cuda's functions refuse devices that are not GPUs",
    "distributed/mpi_transport.py": "MPI stages GPU buffers through the host unless it is CUDA-aware",
    "distributed/nccl_transport.py": "NCCL carries GPU tensors only",
    "distributed/process_group.py": "the default transport for a device: MPI for the CPU, NCCL for GPUs",
}
FUSED_SWITCH = {"cuda.py"}  # gpuad.cuda.fused_kernels() is the user's switch


def _above_backends():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if not rel.startswith("backends/"):
            yield rel, ast.parse(path.read_text(), str(path))


def _is_device_type(node):
    return isinstance(node, ast.Attribute) and node.attr == "type"


def _device_strings(node):
    return isinstance(node, ast.Constant) and node.value in ("cpu", "cuda")


def device_questions(tree):
    """(line, what) for each place ``tree`` asks about the device or the fused kernels."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left] + node.comparators
            if any(_is_device_type(s) for s in sides) and any(_device_strings(s) for s in sides):
                found.append((node.lineno, "device type"))
            if any(isinstance(s, ast.Attribute) and s.attr == "name" and "backend" in ast.unparse(s.value)
                   for s in sides):
                found.append((node.lineno, "backend.name"))
        elif isinstance(node, (ast.Name, ast.Attribute)) and (getattr(node, "id", None) == "FUSED"
                                                              or getattr(node, "attr", None) == "FUSED"):
            found.append((node.lineno, "FUSED"))
        elif isinstance(node, ast.With):
            for item in node.items:
                if isinstance(item.context_expr, ast.Attribute) and item.context_expr.attr == "device":
                    found.append((node.lineno, "with ...device"))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any("cuda_kernels" in n for n in names):
                found.append((node.lineno, "cuda_kernels import"))
    return found


@pytest.mark.parametrize("rel,tree", list(_above_backends()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_device_or_fused_questions_above_the_backends(rel, tree):
    found = device_questions(tree)
    if rel in DEVICE_TYPE_API:
        found = [f for f in found if f[1] != "device type"]
    if rel in FUSED_SWITCH:
        found = [f for f in found if f[1] != "FUSED"]
    assert not found, (f"gpuad/{rel} decides by device or fused kernels above gpuad/backends/ at "
                       f"{', '.join(f'line {line} ({what})' for line, what in found)}: give both backends a method "
                       f"for it instead")


def test_the_check_finds_each_kind_of_question():
    source = '''
if x.device.type == "cuda": pass
if backend.name == "cuda": pass
if _cuda.FUSED: pass
with dev.backend.device: pass
from ..backends import cuda_kernels
'''
    assert [what for _, what in sorted(device_questions(ast.parse(source)))] == [
        "device type", "backend.name", "FUSED", "with ...device", "cuda_kernels import"]


def test_every_listed_exception_still_needs_its_place():
    """An exception whose file no longer asks is stale: the list must shrink with the code."""
    trees = dict(_above_backends())
    for rel in DEVICE_TYPE_API:
        assert any(what == "device type" for _, what in device_questions(trees[rel])), rel
    for rel in FUSED_SWITCH:
        assert any(what == "FUSED" for _, what in device_questions(trees[rel])), rel
