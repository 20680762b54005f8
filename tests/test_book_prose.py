"""Prose numbers come from cells: every measured number in a chapter's markdown is a myst-nb glue reference.

A markdown cell may name the numbers it states that are not measurements (a rule's threshold, a setting) in
an HTML comment, `<!-- constants: 0.6 0.9 25% -->`; every other decimal or percentage in the prose must be a
``{glue:text}`name` `` reference to a value a cell of the same chapter glues. The chapters listed in
`MEASURED_CHAPTERS` are held to this; the rest are checked by `test_unconverted_chapters_are_listed` so the
list cannot silently go stale.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
# chapters whose prose numbers are all glued, and those that still state numbers by hand
MEASURED_CHAPTERS = [
    "01_resnets",
    "02_attention",
    "03_patches",
    "04_cka",
    "05_structure",
    "06_local_global",
    "07_spatial",
    "08_data_scale",
]
PENDING: list[str] = []

GLUE_ROLE = re.compile(r"\{glue(?::text|:any|:)?\}`([^`:]+)(?::[^`]*)?`")
NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?\s?%|\d+\.\d+|\.\d+)(?!\w|\.\d)")  # a full stop may end it
STRIP = [
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),  # roles: glue, cite, ref, doc
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\$[^$]*\$"),  # inline math
    re.compile(r"https?://\S+"),
]
CONSTANTS = re.compile(r"<!--\s*constants:([^>]*)-->")


def markdown_cells(path: Path) -> list[str]:
    """The markdown cells of a percent-format chapter, comment markers removed."""
    cells, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("# %%"):
            if current is not None:
                cells.append("\n".join(current))
            current = [] if "[markdown]" in line else None
        elif current is not None:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    if current is not None:
        cells.append("\n".join(current))
    return cells


def glued_names(path: Path) -> list[re.Pattern]:
    """Patterns of the names a chapter's code glues: `glue("name", ...)`, `glue(f"name_{i}", ...)` (any text
    in place of each `{...}`) and every `prefix_...` of `glue_record("prefix", ...)`."""
    text = path.read_text()
    patterns = []
    for literal in re.findall(r"\bglue\(\s*f?[\"']([^\"']+)[\"']", text):
        parts = re.split(r"\{[^}]*\}", literal)
        patterns.append(re.compile(".+".join(re.escape(p) for p in parts) + "$"))
    for prefix in re.findall(r"\bglue_record\(\s*[\"']([^\"']+)[\"']", text):
        patterns.append(re.compile(re.escape(prefix) + "_.+$"))
    return patterns


def unglued_numbers(cell: str) -> list[str]:
    """Decimals and percentages in a markdown cell that are neither glued nor declared constants."""
    allowed = {c for group in CONSTANTS.findall(cell) for c in group.replace(",", " ").split()}
    text = CONSTANTS.sub("", cell)
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    return [n.replace(" ", "") for n in NUMBER.findall(text) if n.replace(" ", "") not in allowed]


def test_the_checker_finds_unglued_numbers():
    cell = "U is 0.84 and {glue:text}`u_vit:.3f`; `0.5` is code, 25% of layers <!-- constants: 0.6 -->, 0.6"
    assert unglued_numbers(cell) == ["0.84", "25%"]
    assert unglued_numbers("CKA is close to 0 instead of 0.91. At 12.5% it is 3.") == ["0.91", "12.5%"]
    assert unglued_numbers("ViT-B/16, Fig. 2, 28×28 images, {cite}`raghu2021vision`") == []


@pytest.mark.parametrize("chapter", MEASURED_CHAPTERS)
def test_prose_numbers_are_glued(chapter):
    path = BOOK / f"{chapter}.py"
    found = {n for cell in markdown_cells(path) for n in unglued_numbers(cell)}
    assert not found, f"{chapter}: prose numbers no cell glues (glue them or declare constants): {found}"


@pytest.mark.parametrize("chapter", MEASURED_CHAPTERS)
def test_every_glue_reference_is_glued_in_the_chapter(chapter):
    path = BOOK / f"{chapter}.py"
    patterns = glued_names(path)
    used = {name for cell in markdown_cells(path) for name in GLUE_ROLE.findall(cell)}
    missing = {u for u in used if not any(p.match(u) for p in patterns)}
    assert not missing, f"{chapter}: prose refers to values no cell glues: {missing}"


def test_unconverted_chapters_are_listed():
    chapters = {p.stem for p in BOOK.glob("0[1-9]_*.py")}
    assert chapters == set(MEASURED_CHAPTERS) | set(PENDING)
    assert not set(MEASURED_CHAPTERS) & set(PENDING)


@pytest.mark.parametrize("chapter", MEASURED_CHAPTERS)
def test_checked_cells_glue_nothing(chapter):
    """A glue call displays a record that the stored, stripped outputs lack: nbval would see a difference."""
    cells = (BOOK / f"{chapter}.py").read_text().split("\n# %%")
    checked = [cell for cell in cells if cell.startswith(' tags=["nbval-check-output"]')]
    assert checked, f"{chapter} has no checked cell"
    assert not [cell for cell in checked if re.search(r"\bglue(_record)?\(", cell)], (
        f"{chapter}: glue in a checked cell"
    )


@pytest.mark.parametrize("chapter", MEASURED_CHAPTERS)
def test_claim_record_references_name_real_series(chapter):
    """`{glue:text}`c1_vit_mean`` must name a per-seed series of a claim record: "<claim>_<slug>_mean|_sd|_n",
    the slug of a string in `seelike.claims` (as `report.glue_record` makes it), or its verdict,
    sub-criterion or baseline."""
    from seelike import claims, zoo
    from seelike.report import _slug

    source = Path(claims.__file__).read_text()
    literals = set(re.findall(r"\"([^\"\n]+)\"", source))
    slugs = {_slug(text) for text in literals} | {_slug(f"{f:.0%}") for f in claims.FRACTIONS.values()}
    # f"CKA drop, {position}": the prefix's slug, then any of the dict keys the f-string runs over
    prefixes = {_slug(p) for p in re.findall(r"f\"([^\"{\n]+)\{", source) if _slug(p)}
    used = {n for cell in markdown_cells(BOOK / f"{chapter}.py") for n in GLUE_ROLE.findall(cell)}
    # a chapter measuring one claim on several models prefixes the record with the model (c3_vit_localinit_)
    models = tuple(_slug(name) + "_" for name in zoo.names())
    bad = []
    for name in used:
        match = re.fullmatch(r"c\d+_(.+)_(mean|sd|n)", name)
        if not match:
            continue
        series = {match.group(1)} | {match.group(1)[len(m) :] for m in models if match.group(1).startswith(m)}
        if series & slugs or any(s.startswith(prefix + "_") for s in series for prefix in prefixes):
            continue
        bad.append(name)
    assert not bad, f"{chapter}: no claim series of that name: {bad}"


def test_conclusion_table_and_checked_verdicts_agree():
    """The conclusion's verdict table (`claims.markdown_table(claims.evaluate())`, the table `seelike
    reproduce` writes) and its checked cell (which nbval compares with a fresh `claims.evaluate()` on the
    committed zoo on every test run) must give each claim the same verdict in the committed notebook."""
    import json

    notebook = json.loads((BOOK / "conclusion.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    table = next(c for c in code if "claims.markdown_table(records)" in "".join(c["source"]))
    checked = next(c for c in code if "nbval-check-output" in c.get("metadata", {}).get("tags", []))
    assert "records = claims.evaluate(" in "".join(table["source"])
    outputs = [o["data"]["text/markdown"] for o in table["outputs"] if "text/markdown" in o.get("data", {})]
    markdown = "".join("".join(text) for text in outputs)
    rows = [line.split("|")[1:-1] for line in markdown.splitlines()[2:]]
    from_table = {row[0].strip(): row[-1].strip() for row in rows}
    printed = "".join("".join(o.get("text", "")) for o in checked["outputs"])
    from_check = {line.split()[0]: line[27:].strip() for line in printed.splitlines() if line.strip()}
    assert len(from_table) == 14 and from_table == from_check
