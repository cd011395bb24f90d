"""Read the CUDA sources shipped in the wheel as the package ``gpuad.kernels`` (the top-level ``kernels/`` folder).

``kernel_text`` inlines the local ``#include "..."`` lines, so what CuPy compiles (and keys its on-disk cache on) is
the whole source: a changed header can never leave a stale binary behind.
"""
import re
from importlib import resources
from pathlib import Path

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)


def _folder():
    try:
        return resources.files("gpuad.kernels")
    except ModuleNotFoundError:  # run from a source tree that was never installed: kernels/ beside gpuad/
        return Path(__file__).resolve().parents[2] / "kernels"


def kernel_names():
    """Names of the shipped ``.cu`` and ``.cuh`` files."""
    return sorted(p.name for p in _folder().iterdir() if p.name.endswith((".cu", ".cuh")))


def read_kernel(name):
    """The text of ``kernels/<name>``; a clear error if the wheel was built without it."""
    path = _folder().joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"CUDA source {name!r} is not in the installed package (gpuad.kernels has "
                                f"{kernel_names()}); reinstall gpuad with 'pip install .'")
    return path.read_text()


def kernel_text(name, _seen=None):
    """``kernels/<name>`` with its local includes inlined, each file once (system includes are left as they are)."""
    seen = set() if _seen is None else _seen
    if name in seen:
        return ""
    seen.add(name)
    return _INCLUDE.sub(lambda m: kernel_text(m.group(1), seen), read_kernel(name))
