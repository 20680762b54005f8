"""Refresh the book's notebooks from their paired percent files.

    python tools/notebooks.py book/02_attention.py [more.py ...]   # or: --all

For each chapter: write the .ipynb from the .py (jupytext pairing), execute it top to bottom in a fresh
kernel, then keep it small for git: images, HTML and widget outputs are dropped (the book re-executes and
renders them), text and Markdown outputs and execution counts stay so `pytest --nbval-lax` can compare the
cells tagged `nbval-check-output`. Prints each notebook's execution time (budget: 2 minutes per chapter).

Every chapter's first code cell is `install_cell()`: the same text in every chapter, with the repository URL
of `_config.yml` (its one home); `refresh` writes it, tests/test_config.py checks it.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
KEEP_MIME = {"text/plain", "text/markdown"}  # markdown: the claim tables (tests read the conclusion's)
INSTALL_MARKER = "# Colab / fresh machines:"
INSTALL_CELL = """\
# Colab / fresh machines: install the book's package when it is missing. Upgrades nothing Colab already has;
# SEELIKE_REPO (a git URL or a local clone) installs from another copy of the book.
try:
    import seelike
except ImportError:
    import importlib.metadata, os, subprocess, sys

    def install(repo, clone):
        source = repo if os.path.isdir(repo) else clone
        steps = [] if os.path.isdir(source) else [["git", "clone", "-q", "--depth", "1", repo, source]]
        for step in steps + [[sys.executable, "-m", "pip", "install", "-q", "-e", source]]:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode:
                hint = f"Instead: clone {repo}, pip install -e the clone, restart, or set SEELIKE_REPO to it."
                raise RuntimeError(f"{' '.join(step)} failed:\\n{done.stderr[-2000:]}\\n{hint}") from None
        sys.path.insert(0, os.path.join(source, "src"))  # this kernel does not see the new install
        names = [name for name in ("numpy", "torch", "matplotlib", "ipywidgets") if name in sys.modules]
        if changed := [n for n in names if importlib.metadata.version(n) != sys.modules[n].__version__]:
            print(f"pip changed {', '.join(changed)}, already loaded: restart the runtime, then run again.")

    install(os.environ.get("SEELIKE_REPO", "@REPOSITORY_URL@"), os.path.abspath("seelike"))
    import seelike"""
KEEP_METADATA = {"kernelspec", "language_info", "jupytext"}


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """`repository.url` of the book's `_config.yml`."""
    match = re.search(r"^repository:\n(?:\s+.*\n)*?\s+url:\s*(\S+)", config.read_text(), re.M)
    if not match:
        raise ValueError(f"{config} has no repository.url")
    return match.group(1)


def install_cell(url: str | None = None) -> str:
    """The first code cell of every chapter, for the repository at `url` (default: `repository_url()`)."""
    return INSTALL_CELL.replace("@REPOSITORY_URL@", url or repository_url())


def set_install_cell(notebook: nbformat.NotebookNode) -> None:
    """Make the notebook's first code cell `install_cell()` (it must already be an install cell)."""
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    if not first.source.startswith(INSTALL_MARKER):
        raise ValueError(f"the first code cell is not the install cell (starting {INSTALL_MARKER!r})")
    first.source = install_cell()


def strip(notebook: nbformat.NotebookNode) -> None:
    notebook.metadata = {k: v for k, v in notebook.metadata.items() if k in KEEP_METADATA}
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("colab", None)
        cell.metadata.pop("outputId", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type in ("display_data", "execute_result"):
                data = {k: v for k, v in output.data.items() if k in KEEP_MIME}
                text = data.get("text/plain", "")
                if not data or text.startswith(("<Figure", "<BookFigure", "<LiveFigure", "VBox(", "HBox(")):
                    continue
                output.data = data
                output.metadata = {}
            if output.output_type == "stream" and output.name == "stderr":
                continue  # progress bars and warnings: machine-specific noise
            kept.append(output)
        cell.outputs = kept


def keep_cell_ids(notebook: nbformat.NotebookNode, previous: Path) -> None:
    """Reuse the ids of the previous notebook's cells with the same type and source (smaller git diffs)."""
    if not previous.is_file():
        return
    unused: dict[tuple[str, str], list[str]] = {}
    for cell in nbformat.read(previous, as_version=4).cells:
        if "id" in cell:
            unused.setdefault((cell.cell_type, cell.source), []).append(cell.id)
    for cell in notebook.cells:
        ids = unused.get((cell.cell_type, cell.source))
        if ids:
            cell.id = ids.pop(0)


def refresh(py_path: Path, timeout: int = 600) -> float:
    notebook = jupytext.read(py_path)
    set_install_cell(notebook)
    keep_cell_ids(notebook, py_path.with_suffix(".ipynb"))
    notebook.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    started = time.time()
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(py_path.parent)}},
    )
    client.execute()
    elapsed = time.time() - started
    strip(notebook)
    ipynb = py_path.with_suffix(".ipynb")
    jupytext.write(notebook, ipynb, fmt="ipynb")
    jupytext.write(notebook, py_path, fmt="py:percent")  # keep the pair in step (same cells, same metadata)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (more on a busy machine)")
    args = parser.parse_args()
    paths = sorted(Path("book").glob("[0-9][0-9]_*.py")) if args.all else args.paths
    if not paths:
        parser.error("give chapter .py files or --all")
    for path in paths:
        print(f"{path}: executing...", flush=True)
        print(f"{path}: {refresh(path, timeout=args.timeout):.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
