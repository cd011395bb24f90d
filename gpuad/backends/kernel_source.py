"""Read the CUDA sources shipped in the wheel as the package ``gpuad.kernels`` (the top-level ``kernels/`` folder).

``kernel_text`` inlines the local ``#include "..."`` lines, so what CuPy compiles (and keys its on-disk cache on) is
the whole source: a changed header can never leave a stale binary behind. ``device_templates`` lists the function
templates a source defines in ``namespace gpuad``, for the checks that hold Python's kernel tables to the sources
(tests/test_kernel_tables.py, tests/kernel_compile_check.py).
"""
import re
from importlib import resources
from pathlib import Path
from typing import NamedTuple

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


_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_TEMPLATE_DEFINITION = re.compile(
    r"template\s*<(?P<template>[^<>]*)>\s*(?P<head>[\w\s:&*]+?)\s*\b(?P<name>\w+)\s*\((?P<params>[^()]*)\)\s*\{")


class DeviceTemplate(NamedTuple):
    """One function template defined in ``namespace gpuad``: its template parameters (``("typename A",)``),
    qualifiers (``("__device__", "__forceinline__")``), return type and parameters (each as declared)."""
    name: str
    template: tuple
    qualifiers: tuple
    returns: str
    params: tuple


def _gpuad_namespaces(text):
    """The bodies of every ``namespace gpuad { ... }`` block in ``text`` (comments already removed)."""
    bodies = []
    for m in re.finditer(r"\bnamespace\s+gpuad\s*\{", text):
        depth, start = 1, m.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                bodies.append(text[start:i])
                break
        else:
            raise ValueError("namespace gpuad is not closed")
    return bodies


def device_templates(text):
    """{name: DeviceTemplate} for the function templates *defined* (with a body, not only declared) in ``namespace
    gpuad`` of a CUDA source's text: what ``gpuad::<name><...>`` can name. Members of structs (``SumOp``'s
    ``operator()``) and explicit specializations are not listed."""
    found = {}
    for body in _gpuad_namespaces(_COMMENT.sub(" ", text)):
        for m in _TEMPLATE_DEFINITION.finditer(body):
            if body.count("{", 0, m.start()) != body.count("}", 0, m.start()):
                continue  # inside a struct or a function body, not at namespace scope
            head = m["head"].split()
            params = tuple(p.strip() for p in m["params"].split(",") if p.strip())
            template = tuple(" ".join(p.split()) for p in m["template"].split(",") if p.strip())
            found[m["name"]] = DeviceTemplate(m["name"], template, tuple(head[:-1]), head[-1], params)
    return found
