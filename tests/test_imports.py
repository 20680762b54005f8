"""The package's structure (../shared/DESIGN.md): no import cycle, no module importing a module above it.

Every `import` in every module of `seelike` counts, at module level or inside a function (a lazy import is
still a dependency), read from the source with `ast`, so the test needs no optional packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import seelike

PACKAGE = Path(seelike.__file__).parent

# DESIGN.md's order, from the bottom up. A module may import modules of its own rank or below, never above;
# within a rank, only without a cycle.
RANKS: dict[str, int] = {
    "seelike": 0,  # the package itself (__version__)
    "data": 0,
    "kernels": 0,
    "cache": 1,
    "zoo": 1,
    "train": 2,
    "activations": 2,
    "cka": 3,
    # measures, one module per concept (patches: the patch grid, used by localization; rollout: attention
    # rollout)
    "attention": 4,
    "receptive_field": 4,
    "skips": 4,
    "localization": 4,
    "probes": 4,
    "patches": 4,
    "rollout": 4,
    # reading CKA matrices, and the teaching modules (what chapters 1, 2 and 4 show)
    "comparisons": 5,
    "gradients": 5,
    "selfattention": 5,
    "cka_intro": 5,
    "claims": 6,
    "report": 6,
    "figures": 7,
    "widgets": 8,
    "cli": 9,
}

# (importer, imported) pairs allowed to break the order, each with its reason. Remove with the shims.
EXCEPTIONS: dict[tuple[str, str], str] = {}

# `train` runs from a fresh process while the book is edited: it may depend on data and zoo only.
ONLY = {"train": {"seelike", "data", "zoo"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["seelike", *parts])


def imports_of(path: Path) -> set[str]:
    """The seelike modules `path` imports (absolute names, e.g. "seelike.cka")."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "seelike")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "seelike":
                continue
            if node.module is None or target in MODULES:  # `from . import x`: x may be a module
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
            else:
                found.add(target)
    found.discard(name)
    return {m for m in found if m in MODULES or m.rpartition(".")[0] in MODULES}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {
    name: {m if m in MODULES else m.rpartition(".")[0] for m in imports_of(p)} for name, p in MODULES.items()
}


def top(name: str) -> str:
    """The DESIGN.md unit of a module: "seelike.figures.cka" → "figures", "seelike" → "seelike"."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "seelike"


def test_every_module_has_a_rank():
    missing = sorted({top(name) for name in MODULES} - set(RANKS))
    assert not missing, f"modules not placed in DESIGN.md's order (add them to RANKS): {missing}"


def test_no_upward_import():
    upward = []
    for importer, imported in sorted((a, b) for a, targets in GRAPH.items() for b in targets):
        pair = (top(importer), top(imported))
        if pair[0] != pair[1] and RANKS[pair[1]] > RANKS[pair[0]] and pair not in EXCEPTIONS:
            upward.append(f"{importer} (rank {RANKS[pair[0]]}) imports {imported} (rank {RANKS[pair[1]]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_train_depends_on_data_and_zoo_only():
    for name, targets in GRAPH.items():
        if top(name) in ONLY:
            extra = {top(t) for t in targets} - ONLY[top(name)]
            assert not extra, f"{name} imports {sorted(extra)}"


def test_no_import_cycle():
    graph = {
        name: {t for t in targets if (top(name), top(t)) not in EXCEPTIONS} for name, targets in GRAPH.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_walker_sees_lazy_and_relative_imports():
    """The parser itself: a function-level `from . import x` and `from ..y import z` are both found."""
    assert "seelike.attention" in GRAPH["seelike.claims"]  # imported inside functions only
    assert "seelike.activations" in GRAPH["seelike.cka"]
    assert any(t.startswith("seelike.figures") for t in GRAPH["seelike.widgets.data"])


def _calls_of(tree: ast.AST, name: str) -> list[int]:
    """Line numbers of calls to `name` (a bare name or an attribute `x.name`)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    ]


def test_no_hand_built_cache_key_outside_the_cache():
    """One cache policy: results are cached through `cache.memoize`; only the cache calls `cached` itself."""
    book = PACKAGE.parents[1] / "book"
    sources = [p for p in PACKAGE.rglob("*.py") if p.name != "cache.py"] + sorted(book.glob("*.py"))
    found = [
        f"{path.name}:{line}" for path in sources for line in _calls_of(ast.parse(path.read_text()), "cached")
    ]
    assert not found, f"hand-built cache keys (decorate the function with cache.memoize instead): {found}"


def test_the_cache_call_finder_sees_both_spellings():
    tree = ast.parse(
        "from seelike.cache import cached\nimport seelike\ncached(1, f)\nseelike.cache.cached(2, g)\n"
    )
    assert _calls_of(tree, "cached") == [3, 4]
