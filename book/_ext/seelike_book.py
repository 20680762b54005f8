"""Sphinx extension for the seelike book's HTML build (listed in `_config.yml` as a local extension).

- **No widget state in the HTML.** The static page shows each widget's default figure as a PNG
  (`nb_mime_priority_overrides` in `_config.yml`), so the widget state myst-nb embeds from the executed
  notebook's metadata (base64 copies of every figure) and the scripts that would read it (require.js and
  the ipywidgets embed manager, from a CDN) are dropped.
- **Each inline script once.** Sphinx 7 lists a body-only script added after the builder started (sphinx-thebe's
  `const THEBE_JS_URL = ...`, sphinx-togglebutton's selector) twice, once per registry it lands in; the second
  `const` is a SyntaxError in the browser console. Duplicates are dropped per page.
- **Alt text from the figure's title.** A notebook image output's alt text is the PNG's `Title` text chunk
  (`seelike.widgets.figure_png` writes the matplotlib figure's title there); without one, "Figure N of
  <page title>" rather than Sphinx's default, the image's file path.
- **Author-year bibliography labels** ("Raghu et al., 2021") to match the author-year citations in the text,
  instead of pybtex's alpha labels ("[RUK+21]").
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
LABEL_STYLE = "seelike_author_year"
BIB_STYLE = "seelike_author_year"


# --- HTML scripts ------------------------------------------------------------------------------------------


def _script_key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", None) or "", tuple(sorted(attributes.items())))


def clean_page_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop the widget-state script, the widget embed scripts, and repeated scripts from this page."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    widget_js = set(getattr(app.config, "nb_ipywidgets_js", {}) or {})
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        filename = getattr(script, "filename", None) or ""
        if attributes.get("type") == WIDGET_STATE_MIME or filename in widget_js:
            continue
        key = _script_key(script)
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept  # the same list the builder renders (and sorts) after this event


# --- alt text ----------------------------------------------------------------------------------------------


def png_title(path: Path) -> str:
    """The `Title` text chunk of a PNG file ('' when it has none or cannot be read)."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            text = getattr(image, "text", {}) or {}
    except Exception:  # a missing or non-PNG file: no title
        return ""
    return clean_title(str(text.get("Title", "")))


def clean_title(title: str) -> str:
    """A matplotlib title as plain text: no mathtext dollars or backslashes, one line."""
    title = re.sub(r"\\[A-Za-z]+\s*", "", title.replace("$", ""))
    return re.sub(r"\s+", " ", title.replace("{", "").replace("}", "")).strip()


def _page_title(doctree) -> str:
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        return section[0].astext()
    return ""


def set_alt_text(app, doctree) -> None:
    """Give every image that has no alt text its PNG's title (or 'Figure N of <page>')."""
    docname = app.env.docname
    count = 0
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if image.get("alt") and image["alt"] != uri:
            continue
        count += 1
        title = ""
        for candidate in (uri, "/" + uri.lstrip("/")):
            path = Path(app.env.relfn2path(candidate, docname)[1])
            if path.is_file():
                title = png_title(path)
                break
        page = _page_title(doctree)
        image["alt"] = title or (f"Figure {count} of “{page}”" if page else f"Figure {count}")


# --- bibliography labels -----------------------------------------------------------------------------------


def _plain(latex: str) -> str:
    try:
        text = codecs.decode(latex, "ulatex")
    except Exception:
        text = latex
    return text.replace("{", "").replace("}", "").strip()


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels like the author-year citations in the text: "He et al., 2016a", "Abnar and Zuidema, 2020"."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield self.format_label(entry)

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
        if not names:
            authors = _plain(entry.fields.get("title", entry.key))
        elif len(names) == 1:
            authors = names[0]
        elif len(names) == 2:
            authors = f"{names[0]} and {names[1]}"
        else:
            authors = f"{names[0]} et al."
        return f"{authors}, {_plain(entry.fields.get('year', 'n.d.'))}"


class AuthorYearStyle(PlainStyle):
    """pybtex's plain style (sorted by author, year, title) with author-year labels."""

    default_label_style = LABEL_STYLE


def setup(app):
    register_plugin("pybtex.style.labels", LABEL_STYLE, AuthorYearLabelStyle)
    register_plugin("pybtex.style.formatting", BIB_STYLE, AuthorYearStyle)
    app.connect("html-page-context", clean_page_scripts, priority=900)  # after myst-nb adds its scripts
    app.connect("doctree-read", set_alt_text)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
