"""The book's figure standard: sizes for the text column, a sharp PNG, fonts that stay legible.

How the book shows a figure. sphinx-book-theme's text column is `COLUMN_PX` (690) CSS px wide. A figure is
shown at `CSS_PX_PER_INCH` (96, the CSS inch) per inch of its size, so a figure `COLUMN_WIDTH` (7.1 in)
wide fills the column (with its `PAD_INCHES` margins), and a point of font size is 96 / 72 = 1.33 CSS px.
Wider figures are scaled down to the column, and their text with them. The PNG is rendered at `DPI` (192:
two device pixels per CSS px, sharp on high-density screens) and carries its CSS size as display metadata,
so the browser shows it at the intended size rather than at its pixel width.

The standard (checked for every figure function by tests/test_figure_legibility.py):
- a figure is at most `COLUMN_WIDTH` wide (`column_size`, `panel_size` help), so it is never scaled down;
- no text is smaller than `MIN_TEXT_PX` (9) CSS px as shown, i.e. `MIN_FONT_PT` (6.75 pt) at full size;
  `STYLE` uses 8 pt for the smallest text (tick labels, legends) and `SMALL` (7.5 pt) for annotations;
- tick labels do not overlap, and no text crosses the figure's edge.

Style is applied explicitly: `new_figure` and every figure function (through `@styled`) draw inside
`matplotlib.rc_context(STYLE)`, so importing `seelike.figures` changes no global matplotlib state.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Callable
from typing import Any, TypeVar

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "COLUMN_PX",
    "COLUMN_WIDTH",
    "CSS_PX_PER_INCH",
    "DPI",
    "MIN_FONT_PT",
    "MIN_TEXT_PX",
    "PAD_INCHES",
    "SMALL",
    "STYLE",
    "BookFigure",
    "apply_style",
    "column_size",
    "fit_column",
    "integer_ticks",
    "legend_outside",
    "new_figure",
    "panel_size",
    "png_bundle",
    "styled",
    "to_numpy",
]

CSS_PX_PER_INCH = 96  # how large the book shows one inch of a figure (the CSS inch)
COLUMN_PX = 690  # sphinx-book-theme's text column, CSS px
PAD_INCHES = 0.04  # white margin around the saved PNG (bbox_inches="tight")
COLUMN_WIDTH = 7.1  # in: the widest a figure should be (7.1 in + the margins = 689 CSS px)
DPI = 2 * CSS_PX_PER_INCH  # PNG pixels per inch: two device pixels per CSS px
MIN_TEXT_PX = 9.0  # the smallest text the book shows, CSS px
MIN_FONT_PT = MIN_TEXT_PX * 72 / CSS_PX_PER_INCH  # 6.75 pt at full size
SMALL = 7.5  # pt: annotations written into a panel (the smallest font the figures ask for)

# seaborn's "white" style (the look the book had), with font sizes for the column, written out so no
# seaborn call is needed (and none changes global state).
STYLE: dict[str, Any] = {
    "axes.axisbelow": True,
    "axes.edgecolor": ".15",
    "axes.facecolor": "white",
    "axes.grid": False,
    "axes.labelcolor": ".15",
    "axes.labelsize": 9.0,
    "axes.linewidth": 1.0,
    "axes.prop_cycle": matplotlib.cycler(
        color=[
            "#4c72b0",
            "#dd8452",
            "#55a868",
            "#c44e52",
            "#8172b3",
            "#937860",
            "#da8bc3",
            "#8c8c8c",
            "#ccb974",
            "#64b5cd",
        ]
    ),  # fmt: skip
    "axes.titlesize": 9.5,
    "figure.titlesize": 10.5,
    "figure.facecolor": "white",
    "figure.dpi": DPI,  # the inline backend renders at the figure's dpi: sharp there too
    "figure.autolayout": False,
    "savefig.dpi": DPI,
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "font.size": 9.0,
    "grid.color": ".8",
    "grid.linestyle": "-",
    "grid.linewidth": 0.8,
    "legend.fontsize": 8.0,
    "legend.title_fontsize": 8.0,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
    "lines.solid_capstyle": "round",
    "patch.edgecolor": "w",
    "patch.force_edgecolor": True,
    "patch.linewidth": 1,
    "text.color": ".15",
    "xtick.bottom": False,
    "xtick.top": False,
    "xtick.color": ".15",
    "xtick.direction": "out",
    "xtick.labelsize": 8.0,
    "xtick.major.size": 4,
    "xtick.major.width": 1.0,
    "xtick.minor.size": 3,
    "xtick.minor.width": 0.8,
    "ytick.left": False,
    "ytick.right": False,
    "ytick.color": ".15",
    "ytick.direction": "out",
    "ytick.labelsize": 8.0,
    "ytick.major.size": 4,
    "ytick.major.width": 1.0,
    "ytick.minor.size": 3,
    "ytick.minor.width": 0.8,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(function: F) -> F:
    """Run a figure function inside the book's style (`STYLE`); nothing global changes."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def apply_style() -> None:
    """Make `STYLE` the global matplotlib style (for your own plots; the book's figures do not need it)."""
    matplotlib.rcParams.update(STYLE)


def column_size(height: float, fraction: float = 1.0) -> tuple[float, float]:
    """(width, height) in inches for a figure `fraction` of the text column wide."""
    return (round(COLUMN_WIDTH * fraction, 3), height)


def panel_size(ncols: int, panel_width: float, height: float, extra: float = 0.0) -> tuple[float, float]:
    """(width, height) for `ncols` panels of `panel_width` in (plus `extra` for colour bars, labels),
    capped at the column width (the panels get narrower, the fonts keep their size)."""
    return (round(min(COLUMN_WIDTH, ncols * panel_width + extra), 3), height)


def fit_column(width: float, height: float, fixed: float = 0.8) -> tuple[float, float]:
    """(width, height) capped at the column width; when capped, the height shrinks in proportion, except
    `fixed` inches kept for titles and labels (whose fonts keep their size)."""
    if width <= COLUMN_WIDTH:
        return (width, height)
    factor = COLUMN_WIDTH / width
    return (COLUMN_WIDTH, round(fixed + (height - fixed) * factor, 3))


def integer_ticks(ax, axis: str = "x") -> None:
    """Ticks at integers only on an axis of counts or indices (blocks, heads, layers): no 2.5."""
    from matplotlib.ticker import MaxNLocator

    for name in ("x", "y") if axis == "both" else (axis,):
        locator = MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True)  # AutoLocator's, integers
        getattr(ax, f"{name}axis").set_major_locator(locator)


def legend_outside(figure: Figure, axes, where: str = "lower center", ncols: int | None = None, **kwargs):
    """One legend for `axes` (an Axes or several; labels shown once) outside the plots, at the figure's
    `where` edge ("lower center", "right", ...), where no curve can cross it. Returns the Legend."""
    seen: dict[str, Any] = {}
    for ax in np.atleast_1d(axes).flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if ncols is None:
        ncols = 1 if where.endswith(("right", "left")) else min(len(seen), 3)
    options = {"frameon": False, **kwargs}
    return figure.legend(
        list(seen.values()), list(seen), loc=f"outside {where}", ncols=max(ncols, 1), **options
    )


def to_numpy(values, dtype=None) -> np.ndarray:
    """A torch tensor (any device, any float type) or array-like as a numpy array; `dtype` converts."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        if dtype is not None and values.is_floating_point():
            values = values.double()  # bfloat16 and half have no numpy type
        values = values.numpy()
    return np.asarray(values) if dtype is None else np.asarray(values, dtype=dtype)


def png_bundle(figure: Figure, dpi: float = DPI) -> tuple[bytes, dict[str, int]]:
    """The figure as the book shows it: PNG bytes at `dpi`, and its CSS size ({"width", "height"} in px) for
    a display bundle's metadata, so a 2× PNG shows at the figure's size (96 CSS px per inch)."""
    buffer = io.BytesIO()
    metadata = {"Title": figure_title(figure) or None}  # the HTML book's alt text
    options = {"bbox_inches": "tight", "pad_inches": PAD_INCHES, "facecolor": "white", "metadata": metadata}
    figure.savefig(buffer, format="png", dpi=dpi, **options)
    data = buffer.getvalue()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    scale = CSS_PX_PER_INCH / dpi
    return data, {"width": round(width * scale), "height": round(height * scale)}


def figure_title(figure: Figure) -> str:
    """The figure's title on one line: its suptitle, else its axes' titles joined by "; " ('' if none)."""
    suptitle = figure.get_suptitle().strip()
    if suptitle:
        return " ".join(suptitle.split())
    titles: list[str] = []
    for axes in figure.get_axes():
        for loc in ("left", "center", "right"):
            title = " ".join(axes.get_title(loc).split())
            if title and title not in titles:
                titles.append(title)
    return "; ".join(titles)


class _BookCanvas(FigureCanvasAgg):
    """Agg, writing the figure's title into every PNG (the inline backend's too): the HTML book's alt text."""

    def print_png(self, filename_or_obj, *, metadata=None, pil_kwargs=None, **_):
        # `**_`: savefig's options for other formats (orientation, dpi, ...), which matplotlib drops for its
        # own canvases only.
        metadata = {"Title": figure_title(self.figure) or None, **(metadata or {})}
        return super().print_png(filename_or_obj, metadata=metadata, pil_kwargs=pil_kwargs)


class BookFigure(Figure):
    """A matplotlib Figure that shows itself as a sharp PNG at its intended size in any notebook."""

    def _repr_png_(self) -> bytes:
        return png_bundle(self)[0]

    def _repr_mimebundle_(self, include=None, exclude=None):
        # Takes precedence over the inline backend's PNG formatter (registered for every Figure), so the
        # book gets the standard's PNG and its CSS size whatever backend the kernel runs.
        data, size = png_bundle(self)
        bundle = {"image/png": base64.b64encode(data).decode("ascii"), "text/plain": repr(self)}
        return bundle, {"image/png": size}


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.0, 4.0), **subplot_kw):
    """A figure and its axes without pyplot: figures stay pure (no global state, never shown twice).

    Created inside the book's style (`STYLE`); a figure function decorated with `@styled` also draws in it.

    Returns:
        (BookFigure, Axes or array of Axes), as `plt.subplots` would.
    """
    with matplotlib.rc_context(STYLE):
        figure = BookFigure(figsize=figsize, layout="constrained")
        _BookCanvas(figure)
        axes = figure.subplots(nrows, ncols, **subplot_kw)
    return figure, axes
