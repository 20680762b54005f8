"""The book's Sphinx extension (book/_ext/seelike_book.py), without building the book: alt text from a
figure's PNG title, author-year bibliography labels, and the page-script filter."""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

from matplotlib.figure import Figure

from seelike.widgets.live import figure_png, figure_title

ROOT = Path(__file__).resolve().parents[1]


def extension():
    spec = importlib.util.spec_from_file_location("seelike_book", ROOT / "book" / "_ext" / "seelike_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("seelike_book", module)
    spec.loader.exec_module(module)
    return module


def test_png_title_is_the_figures_title(tmp_path):
    figure = Figure()
    left, right = figure.subplots(1, 2)
    left.set_title("CKA, $n = 512$")
    right.set_title("ResNet")
    assert figure_title(figure) == "CKA, $n = 512$; ResNet"
    figure.suptitle("ViT vs ResNet – 4×4 patches")
    path = tmp_path / "figure.png"
    path.write_bytes(figure_png(figure))
    assert extension().png_title(path) == "ViT vs ResNet – 4×4 patches"
    untitled = tmp_path / "untitled.png"
    untitled.write_bytes(figure_png(Figure()))
    assert extension().png_title(untitled) == ""
    assert extension().png_title(tmp_path / "missing.png") == ""


def test_mathtext_becomes_plain_alt_text():
    assert extension().clean_title("CKA, $\\sigma_{x}$ = 1\nsecond line") == "CKA, _x = 1 second line"


def test_bibliography_labels_are_author_year_and_tell_same_year_papers_apart():
    from pybtex.database import parse_file
    from pybtex.plugin import register_plugin

    module = extension()
    register_plugin("pybtex.style.labels", module.LABEL_STYLE, module.AuthorYearLabelStyle)
    style = module.AuthorYearStyle()
    entries = parse_file(str(ROOT / "book" / "references.bib")).entries
    labels = {entry.key: entry.label for entry in style.format_entries(style.sort(entries.values()))}
    assert labels["raghu2021vision"] == "Raghu et al., 2021"
    assert labels["abnar2020quantifying"] == "Abnar and Zuidema, 2020"
    assert labels["gretton2005measuring"] == "Gretton et al., 2005"
    assert labels["he2016deep"] == "He et al., 2016a" and labels["he2016identity"] == "He et al., 2016b"
    assert len(set(labels.values())) == len(labels), "two entries share a label"


def test_page_scripts_lose_widget_state_and_duplicates():
    from sphinx.builders.html._assets import _JavaScript

    module = extension()
    widget_js = "https://cdn.example/embed-amd.js"
    body = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript("_static/doctools.js", priority=200),
        _JavaScript(None, body=body, priority=500),
        _JavaScript("", body=body, priority=500),  # the same inline script, listed a second time
        _JavaScript(None, type=module.WIDGET_STATE_MIME, body="{}"),
        _JavaScript(widget_js, crossorigin="anonymous"),
    ]
    app = SimpleNamespace(config=SimpleNamespace(nb_ipywidgets_js={widget_js: {}}))
    context = {"script_files": scripts}
    module.clean_page_scripts(app, "page", "page.html", context, None)
    assert context["script_files"] is scripts
    assert [(s.filename or "", s.attributes.get("body")) for s in scripts] == [
        ("_static/doctools.js", None),
        ("", body),
    ]
