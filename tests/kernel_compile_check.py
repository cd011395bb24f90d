"""CI's compile check of ``kernels/``: one translation unit per source file, generated from what the code already
declares, compiled with nvcc for sm_80 without a GPU. Run by ``.ci/run`` as ``python tests/kernel_compile_check.py``.

- A RawModule file (``linear.cu``, ``softmax.cu``) gets every instantiation in ``cuda_kernels.RAW_TEMPLATES`` for
  every storage type, named by the same expressions ``_siblings`` gives CuPy: taking each one's address instantiates
  it, as NVRTC does for a name expression.
- Any other file gets a kernel that calls each of its ``template <typename A>`` device functions (the compute-type
  convention of ``kernels/``, found by parsing the source) for A = float and A = double. Helpers with other template
  parameters are compiled through their callers.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "kernels"
if __name__ == "__main__":  # run as a script from a source tree: import this tree's gpuad
    sys.path.insert(0, str(ROOT))

from gpuad.backends import cuda_kernels as ck  # noqa: E402
from gpuad.backends.kernel_source import device_templates  # noqa: E402

NVCC_FLAGS = ("-std=c++14", "-ptx", "-arch=sm_80")
COMPUTE_TYPES = ("float", "double")


def sources():
    """The CUDA files of kernels/, by name."""
    return sorted(p.name for p in KERNELS.iterdir() if p.suffix in (".cu", ".cuh"))


def raw_unit(source, names=None):
    """``source`` with every RAW_TEMPLATES instantiation for every storage type (or only ``names``), each
    instantiated by taking its address."""
    if names is None:
        names = [n for storage in ck.STORAGE_TYPES for n in ck.raw_instantiations(source, storage)]
    lines = [f'#include "{source}"', "void gpuad_compile_check() {"]
    lines += [f"    (void)&{name};" for name in names]
    return "\n".join(lines + ["}", ""])


def _argument(source, fn, param, outputs):
    """The expression passed for one parameter of ``fn`` in the check kernel (``outputs`` collects A& locals)."""
    kind = " ".join(param.split()[:-1]).replace(" &", "&")
    if kind in ("A", "const A"):
        return "v"
    if kind in ("bool", "const bool"):
        return "true"
    if kind == "A&":
        outputs.append(f"out{len(outputs)}")
        return outputs[-1]
    raise ValueError(f"kernels/{source}: gpuad::{fn.name} takes {param!r}; the compile check "
                     f"(tests/kernel_compile_check.py) passes only A, A& and bool arguments")


def device_unit(source, text):
    """A kernel calling every ``template <typename A>`` device function of ``source`` (its text ``text``), for each
    compute type."""
    calls = []
    for fn in device_templates(text).values():
        if fn.template != ("typename A",) or "__device__" not in fn.qualifiers:
            continue
        outputs = []
        args = ", ".join(_argument(source, fn, p, outputs) for p in fn.params)
        call = f"gpuad::{fn.name}<A>({args})"
        declare = f"A {', '.join(o + ' = v' for o in outputs)}; " if outputs else ""
        use = "".join(f" acc += {o};" for o in outputs)
        calls.append(f"    {{ {declare}{'acc += ' if fn.returns == 'A' else ''}{call};{use} }}")
    lines = [f'#include "{source}"']
    if calls:
        lines += ["template <typename A> __global__ void gpuad_compile_check(const A* x, A* y) {",
                  "    const A v = x[threadIdx.x];", "    A acc = A(0);"] + calls + ["    y[threadIdx.x] = acc;", "}"]
        lines += [f"template __global__ void gpuad_compile_check<{c}>(const {c}*, {c}*);" for c in COMPUTE_TYPES]
    return "\n".join(lines + [""])


def unit(source):
    """The translation unit that checks ``kernels/<source>``."""
    if source in ck.RAW_TEMPLATES:
        return raw_unit(source)
    return device_unit(source, (KERNELS / source).read_text())


def nvcc():
    return shutil.which("nvcc")


def compile_unit(text):
    """nvcc's result for one generated unit (which includes files from kernels/)."""
    return subprocess.run([nvcc(), *NVCC_FLAGS, f"-I{KERNELS}", "-x", "cu", "-", "-o", os.devnull],
                          input=text, capture_output=True, text=True)


def main():
    failed = []
    for source in sources():
        print(f"nvcc compile-check: kernels/{source}", flush=True)
        result = compile_unit(unit(source))
        if result.returncode:
            failed.append(source)
            print(result.stdout + result.stderr, file=sys.stderr)
    if failed:
        print(f"compile check failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
