"""Live views over the evidence figures (`figures.evidence`): a menu over precomputed sets of per-seed
curves, e.g. the same comparison on several layer families. Nothing is computed here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets

from .. import figures
from .live import LiveFigure

__all__ = ["curves_view"]


def curves_view(
    views: Mapping[str, Mapping[str, Any]], shown: str | None = None, label: str = "view"
) -> LiveFigure:
    """A menu that picks one of several `figures.curves_with_spread` figures.

    Args:
        views: menu entry → the keyword arguments of `figures.curves_with_spread` for it (x, curves,
            baselines, labels, title...).
        shown: the entry drawn first (default: the first).
        label: the menu's description.
    Returns:
        a LiveFigure whose static default is the `shown` entry.
    """
    if not views:
        raise ValueError("no views to choose from")
    options = list(views)
    shown = options[0] if shown is None else shown
    if shown not in views:
        raise ValueError(f"{shown!r} is not among the views {options}")

    def draw(view: str):
        return figures.curves_with_spread(**views[view])

    return LiveFigure(draw, view=widgets.Dropdown(options=options, value=shown, description=label))
