"""Live views over `seelike.figures`: controls that redraw a figure, with a static default for the HTML book.

A `LiveFigure` is one output with two renderings. A Jupyter front end with a kernel shows the controls and
the figure, redrawn on every change. Static renderers (the HTML book, nbconvert, a notebook opened without a
kernel) cannot show widgets; for them the same output carries the default figure as a PNG (`_config.yml`
tells the HTML builder to prefer it). Nothing is drawn here that `seelike.figures` does not draw.
"""

from .live import WIDGET_VIEW_MIME, LiveFigure, figure_png, figure_signature, widget_view_bundle  # noqa: F401

__all__ = ["WIDGET_VIEW_MIME", "LiveFigure", "figure_png", "figure_signature", "widget_view_bundle"]

from .basics import *  # noqa: E402,F403  chapters 1-3
from .cka import *  # noqa: E402,F403  chapter 5
from .cka_intro import *  # noqa: E402,F403  chapter 4
from .data import *  # noqa: E402,F403  chapter 0
from .evidence import *  # noqa: E402,F403  per-seed evidence
from .locality import *  # noqa: E402,F403  chapter 6
from .scale import *  # noqa: E402,F403  chapter 8
from .spatial import *  # noqa: E402,F403  chapter 7
