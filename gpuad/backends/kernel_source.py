"""Read the CUDA sources shipped in the wheel as the package ``gpuad.kernels`` (the top-level ``kernels/`` folder)."""
from importlib import resources


def kernel_names():
    """Names of the shipped ``.cu`` files."""
    return sorted(p.name for p in resources.files("gpuad.kernels").iterdir() if p.name.endswith(".cu"))


def read_kernel(name):
    """The text of ``kernels/<name>``; a clear error if the wheel was built without it."""
    path = resources.files("gpuad.kernels").joinpath(name)
    if not path.is_file():
        raise FileNotFoundError(f"CUDA source {name!r} is not in the installed package (gpuad.kernels has "
                                f"{kernel_names()}); reinstall gpuad with 'pip install .'")
    return path.read_text()
