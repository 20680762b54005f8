"""The book's shared plotting style."""

from __future__ import annotations

import io

import matplotlib
from matplotlib.figure import Figure

matplotlib.use(matplotlib.get_backend())  # keep whatever backend the session chose (inline, Agg)


def apply_style() -> None:
    import seaborn as sns

    sns.set_theme(context="notebook", style="white", font_scale=0.9)
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.autolayout": False})


class BookFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in any notebook, whatever the backend."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.0, 4.0), **subplot_kw):
    """A figure and its axes without pyplot: figures stay pure (no global state, never shown twice).

    Returns:
        (BookFigure, Axes or array of Axes), as `plt.subplots` would.
    """
    figure = BookFigure(figsize=figsize, layout="constrained")
    axes = figure.subplots(nrows, ncols, **subplot_kw)
    return figure, axes
