"""Book configuration: one repository URL, every chapter in the table of contents, notebooks paired."""

import json
import re
from pathlib import Path

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


def test_every_notebook_is_paired_and_listed():
    toc = (BOOK / "_toc.yml").read_text()
    for notebook in sorted(BOOK.glob("*.ipynb")):
        assert notebook.with_suffix(".py").is_file(), f"{notebook.name} has no paired .py"
        assert f"file: {notebook.stem}" in toc, f"{notebook.name} is not in _toc.yml"


def test_notebooks_are_small_and_clean():
    for notebook in sorted(BOOK.glob("*.ipynb")):
        text = notebook.read_text()
        assert len(text) < 300_000, f"{notebook.name} is {len(text) // 1024} KiB: strip outputs"
        assert '"colab"' not in text and "executionInfo" not in text, f"{notebook.name} has Colab metadata"
        assert '"image/png"' not in text, f"{notebook.name} stores images: run tools/notebooks.py"
