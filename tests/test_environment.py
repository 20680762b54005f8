"""pyproject.toml and environment.yml must list the same packages with the same version ranges."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip", "torchvision"}


def _split(requirement: str) -> tuple[str, str]:
    name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()
    return name, requirement[len(name) :].replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return dict(_split(r) for r in requirements)


def environment_requirements() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:") + 1
    found = {}
    for line in lines[start:]:
        # conda packages ("  - name"), and PyPI-only ones under "  - pip:" ("      - name"), not "-e ."
        match = re.match(r"^  - ([^\s:]+)\s*$", line) or re.match(r"^      - ([A-Za-z][^\s]*)\s*$", line)
        if match:
            name, spec = _split(match.group(1))
            found[CONDA_TO_PYPI.get(name, name)] = spec
    return {k: v for k, v in found.items() if k not in CONDA_ONLY}


def test_environment_yml_matches_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_environment_yml_installs_the_package():
    assert "- -e ." in (ROOT / "environment.yml").read_text()


def test_jupyter_book_major_version_is_capped():
    assert pyproject_requirements()["jupyter-book"] == ">=1.0.4,<2"
