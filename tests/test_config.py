"""Book configuration: one repository URL, every chapter in the table of contents, notebooks paired."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def _config_value(key: str) -> str:
    match = re.search(rf"^\s+{key}:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    assert match, key
    return match.group(1)


def test_install_cells_use_the_configured_repository():
    url = _config_value("url")
    for notebook in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        if not code:
            continue  # a chapter still being written
        first = "".join(code[0]["source"])
        assert "import seelike" in first, notebook.name
        assert url in first, f"{notebook.name}: install cell must clone {url}"


def notebooks_tool():
    spec = importlib.util.spec_from_file_location("notebooks_tool", ROOT / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_chapter_has_the_same_install_cell():
    tool = notebooks_tool()
    assert tool.repository_url() == _config_value("url")
    expected = tool.install_cell()
    for notebook in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        code = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
        assert "".join(code[0]["source"]) == expected, f"{notebook.name}: run tools/notebooks.py on it"
        paired = notebook.with_suffix(".py").read_text()
        assert "\n# %%\n" + expected + "\n" in paired, (
            f"{notebook.with_suffix('.py').name}: install cell differs"
        )


@pytest.mark.parametrize("repo", ["https://invalid.example/no/such/repo", "no-such-folder"])
def test_install_cell_says_what_failed_and_what_to_do(repo, tmp_path):
    """Without seelike, a clone that fails ends in one clear message, not a CalledProcessError."""
    cell = notebooks_tool().install_cell()
    script = "import sys\nsys.modules['seelike'] = None  # import seelike now raises ImportError\n" + cell
    env = dict(os.environ, SEELIKE_REPO=repo, GIT_TERMINAL_PROMPT="0")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    message = done.stderr[done.stderr.index("RuntimeError: ") :]
    assert f"git clone -q --depth 1 {repo} {tmp_path / 'seelike'} failed" in message, done.stderr[-500:]
    assert "Instead: clone" in message and "SEELIKE_REPO" in message
    assert "CalledProcessError" not in done.stderr


def test_every_notebook_is_paired_and_listed():
    toc = (BOOK / "_toc.yml").read_text()
    for notebook in sorted(BOOK.glob("*.ipynb")):
        assert notebook.with_suffix(".py").is_file(), f"{notebook.name} has no paired .py"
        listed = re.search(rf"^\s*(- file|root): {re.escape(notebook.stem)}\s*$", toc, re.M)
        assert listed, f"{notebook.name} is not in _toc.yml"


def test_notebooks_are_small_and_clean():
    for notebook in sorted(BOOK.glob("*.ipynb")):
        text = notebook.read_text()
        assert len(text) < 300_000, f"{notebook.name} is {len(text) // 1024} KiB: strip outputs"
        assert '"colab"' not in text and "executionInfo" not in text, f"{notebook.name} has Colab metadata"
        assert '"image/png"' not in text, f"{notebook.name} stores images: run tools/notebooks.py"
