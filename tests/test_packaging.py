"""The wheel holds every package of the source tree: each folder of gpuad/ with an __init__.py is listed in
pyproject.toml (an unlisted one imports from a checkout but is missing after ``pip install .``)."""
import pathlib

import pytest

ROOT = pathlib.Path(__file__).parents[1]


def test_every_package_folder_is_in_the_wheel():
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "gpuad").rglob("__init__.py")}
    assert found - listed == set()
