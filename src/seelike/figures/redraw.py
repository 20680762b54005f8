"""Fast redraws: a new figure keeps the layout of the last laid-out one while its decorations fit it.

A live view redraws by calling its pure figure function again, which returns a new figure. Laying that
figure out (matplotlib's constrained layout measures every tick label of every axes, in two passes) and
cropping it (`bbox_inches="tight"` draws it once more) costs most of a redraw. Most control changes alter
what is drawn inside the axes (an image, a line, a highlighted block, the number in a title) and leave the
decorations around them the same size. Constrained layout reads only those: the figure's size, its grid of
axes, and per axes the layout bounding box of its decorations (matplotlib's `for_layout_only` box: tick
labels, the heights of the title and x label, the width of the y label, texts and legends), plus the
super-titles' heights and the outside legends. `layout_key` takes them (a `Layout`).

`reuse_layout` puts the new figure's axes where the laid-out figure's are, takes its `Layout` there, and
keeps those positions (layout engine off) when the grid is the same and every box lies inside its
counterpart. Then nothing can overlap or cross the figure's edge that did not in the laid-out figure, which
constrained layout kept clear. When the boxes are equal the figure is the one a full layout gives, pixel for
pixel in every case tests/test_redraw.py tries (constrained layout iterates twice from the axes' initial
positions, so equal final inputs are the condition it is tested under, not a proof); when they are
smaller, its margins are the laid-out figure's, a little wider than a full layout would make them, and the
axes stay put as the reader moves a control. Anything larger (a longer tick label, another legend entry)
is laid out in full.

`render_png` is the redraw's PNG: one draw, cropped to the ink in numpy instead of a second draw, fast PNG
compression.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text

from .style import CSS_PX_PER_INCH, PAD_INCHES, _BookCanvas, figure_title

__all__ = ["Layout", "PooledCanvas", "layout_key", "render_png", "reuse_layout"]

PNG_COMPRESS_LEVEL = 1  # zlib level: 2-3× faster to encode than the default 6, ~10% larger
DIGITS = 6  # extents are compared to 1e-6 px: the same text measures 1e-14 px apart at another position


def _box(bbox) -> tuple | None:
    return None if bbox is None else tuple(round(float(v), DIGITS) for v in bbox.extents)


def _axes_structure(ax: Axes, ids: dict[int, int]) -> tuple:
    """An axes' place in the grid and the settings constrained layout uses."""
    spec = ax.get_subplotspec()
    info = getattr(ax, "_colorbar_info", None)  # a colour bar's placement relative to its parents
    if info is not None:  # parents named by their index in the figure's axes, not by object
        info = tuple(
            (name, tuple(ids.get(id(a), -1) for a in value) if name == "parents" else value)
            for name, value in sorted(info.items())
        )
    return (
        type(ax).__name__, spec.get_geometry() if spec is not None else None, ax.get_visible(),
        ax.get_in_layout(), ax.get_aspect(), ax.get_box_aspect(), info,
        tuple(ids.get(id(cb), -1) for cb in getattr(ax, "_colorbars", ())),
    )  # fmt: skip


def _text_extent(text: Text | None, renderer, extent: str) -> float | None:
    """A super-title's height (a super y label's width): all of it the layout reads."""
    if text is None or not text.get_visible() or not text.get_in_layout():
        return None
    return round(getattr(text.get_window_extent(renderer), extent), DIGITS)


@dataclass(frozen=True)
class Layout:
    """What constrained layout reads of a figure at its axes' current positions.

    Attributes:
        structure: figure size, dpi, layout parameters, and per axes its grid cell and settings.
        sizes: the super-titles' heights (the super y label's width); None for an absent one.
        boxes: (x0, y0, x1, y1) pixel boxes of the outside legends, then of every axes with its decorations
            (`Axes.get_tightbbox(for_layout_only=True)`: tick labels, title and x label heights, y label
            width, texts and legends).
    """

    structure: tuple
    sizes: tuple
    boxes: tuple

    def fits(self, laid_out: Layout) -> bool:
        """True if a figure with this layout fits the margins of `laid_out`'s: same structure, nothing
        larger, every box inside its counterpart (so nothing can overlap or cross the edge that did not
        in the laid-out figure)."""
        if self.structure != laid_out.structure or len(self.boxes) != len(laid_out.boxes):
            return False
        for new, old in zip(self.sizes, laid_out.sizes, strict=True):
            if (new is None) != (old is None) or (new is not None and new > old):
                return False
        for new, old in zip(self.boxes, laid_out.boxes, strict=True):
            if (new is None) != (old is None):
                return False
            if new is not None and not (
                new[0] >= old[0] and new[1] >= old[1] and new[2] <= old[2] and new[3] <= old[3]
            ):
                return False
        return True


def _constrained(figure: Figure) -> bool:
    """True if `figure` is laid out by constrained layout and has no subfigures (which the key ignores)."""
    return isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine) and not figure.subfigs


def layout_key(figure: Figure) -> Layout | None:
    """What constrained layout reads of `figure` at its axes' current positions (see the module
    docstring); None when the figure is not laid out by constrained layout or has subfigures."""
    if not _constrained(figure):
        return None
    engine = figure.get_layout_engine()
    renderer = figure._get_renderer()
    ids = {id(ax): index for index, ax in enumerate(figure.axes)}
    structure = (
        tuple(figure.get_size_inches()), figure.dpi, tuple(sorted(engine.get().items())),
        tuple((legend._outside_loc, legend._bbox_to_anchor is None) for legend in figure.legends),
        tuple(_axes_structure(ax, ids) for ax in figure.axes),
    )  # fmt: skip
    sizes = (
        _text_extent(figure._suptitle, renderer, "height"),
        _text_extent(figure._supxlabel, renderer, "height"),
        _text_extent(figure._supylabel, renderer, "width"),
    )
    boxes = tuple(_box(legend.get_tightbbox(renderer)) for legend in figure.legends) + tuple(
        _box(ax.get_tightbbox(renderer, for_layout_only=True)) if ax.get_visible() else None
        for ax in figure.axes
    )
    return Layout(structure, sizes, boxes)


def _layout_state(figure: Figure) -> list:
    """What constrained layout sets: every axes' positions and anchor, the super-titles' positions."""
    state: list[Any] = [
        (ax.get_position(original=True), ax.get_position(original=False), ax.get_anchor())
        for ax in figure.axes
    ]
    for name in ("_suptitle", "_supxlabel", "_supylabel"):
        text = getattr(figure, name)
        state.append(None if text is None else (text.get_position(), text.get_verticalalignment()))
    return state


def _set_layout_state(figure: Figure, state: list) -> None:
    axes_state, labels_state = state[: len(figure.axes)], state[len(figure.axes) :]
    for ax, (original, active, anchor) in zip(figure.axes, axes_state, strict=True):
        ax._set_position(original, which="original")
        ax._set_position(active, which="active")
        ax.set_anchor(anchor)
    for name, saved in zip(("_suptitle", "_supxlabel", "_supylabel"), labels_state, strict=True):
        text = getattr(figure, name)
        if text is not None and saved is not None:
            text.set_position(saved[0])
            text.set_verticalalignment(saved[1])


def reuse_layout(laid_out: Figure, figure: Figure, key: Layout | None = None) -> bool:
    """Give `figure` the layout of `laid_out` (a drawn figure) if its decorations fit it, and switch its
    layout engine off, so drawing it skips the layout.

    The new figure is measured at the old figure's positions (tick locators choose ticks for the axes'
    size); when it does not fit (`Layout.fits`), `figure` is left as it was.

    Args:
        laid_out: a figure drawn with constrained layout.
        figure: a new figure, not drawn yet.
        key: `layout_key(laid_out)` if known (saves measuring it again).

    Returns:
        True if the layout was copied.
    """
    if len(laid_out.axes) != len(figure.axes) or not _constrained(figure):
        return False
    old = layout_key(laid_out) if key is None else key
    if old is None:
        return False
    before = _layout_state(figure)
    _set_layout_state(figure, _layout_state(laid_out))
    new = layout_key(figure)
    if new is None or not new.fits(old):
        _set_layout_state(figure, before)
        return False
    figure.set_layout_engine("none")
    return True


class PooledCanvas(_BookCanvas):
    """The book's Agg canvas, drawing with one renderer per (width, height, dpi) shared by every figure
    that has it. matplotlib caches text metrics per renderer, so a new figure of a live view measures its
    tick labels and titles from the cache instead of laying each out with FreeType again.

    The pixels of a drawn figure stay in the shared renderer only until another figure of that size is
    drawn: read them (`render_png` does) before drawing the next.
    """

    _pool: ClassVar[dict[tuple, RendererAgg]] = {}
    POOL_SIZE = 8  # renderers kept (one per figure size a session's views use)

    def get_renderer(self) -> RendererAgg:
        width, height = self.get_width_height(physical=True)
        key = (width, height, self.figure.dpi)
        renderer = self._pool.pop(key, None) or RendererAgg(width, height, self.figure.dpi)
        self._pool[key] = renderer  # most recently used last
        while len(self._pool) > self.POOL_SIZE:
            self._pool.pop(next(iter(self._pool)))
        self.renderer, self._lastKey = renderer, key
        return renderer


def render_png(figure: Figure) -> tuple[bytes, dict[str, int]]:
    """The figure as a PNG for a live view: one draw at the figure's dpi (the standard's `DPI`), cropped to
    its ink plus the standard's `PAD_INCHES` (what `bbox_inches="tight"` gives, without its second draw),
    fast compression, the figure's title as PNG `Title` (alt text).

    Returns:
        (PNG bytes, CSS size {"width", "height"} in px).
    """
    from PIL import Image, PngImagePlugin

    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba())  # (height, width, 4) uint8
    ink = rgba.view(np.uint32)[..., 0] != np.uint32(0xFFFFFFFF)  # pixels not opaque white, 4 bytes at once
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows):
        pad = round(PAD_INCHES * figure.dpi)
        top, bottom = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, rgba.shape[0])
        left, right = max(columns[0] - pad, 0), min(columns[-1] + 1 + pad, rgba.shape[1])
        rgba = rgba[top:bottom, left:right]
    image = Image.fromarray(np.ascontiguousarray(rgba)).convert("RGB")  # (h, w, 4) uint8: RGBA
    info = PngImagePlugin.PngInfo()
    title = figure_title(figure)
    if title:
        info.add_text("Title", title)
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info)
    scale = CSS_PX_PER_INCH / figure.dpi
    width, height = image.size
    return buffer.getvalue(), {"width": round(width * scale), "height": round(height * scale)}
