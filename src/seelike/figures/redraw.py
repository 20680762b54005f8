"""Fast redraws: give a new figure the layout of an earlier one when its layout cannot differ.

A live view redraws by calling its pure figure function again, which returns a new figure. Laying that
figure out (matplotlib's constrained layout measures every tick label of every axes, twice) and cropping it
(`bbox_inches="tight"` draws it again) costs three quarters of a redraw. Most control changes alter only
what is drawn inside the axes: an image, a line, a highlighted block, the number in a title. Constrained
layout reads nothing of that. Its inputs are the figure's size, its grid of axes, and per axes the *layout
extents* of the decorations: every tick label, the heights of the titles and the x label, the width of the
y label, texts and legends placed outside the axes, and at figure level the suptitle's height and the
outside legends (matplotlib's `for_layout_only` bounding boxes). `layout_key` lists those inputs; when two
figures have equal keys, constrained layout gives them the same axes positions, so `reuse_layout` copies the
positions from the laid-out figure and turns the new figure's layout engine off. The result is the figure a
full layout would give (tests/test_redraw.py compares pixels), drawn once.

`render_png` is the redraw's PNG: one draw, no tight crop (constrained layout already keeps every artist
inside the figure with the standard's `PAD_INCHES` margin) and fast PNG compression.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text

from .style import CSS_PX_PER_INCH, PAD_INCHES, figure_title

__all__ = ["layout_key", "render_png", "reuse_layout"]

PNG_COMPRESS_LEVEL = 1  # zlib level: 2-3× faster to encode than the default 6, ~10% larger


def _text_key(text: Text | None, renderer, extent: str | None) -> tuple:
    """What of one text the layout reads: nothing if it is hidden or empty; its height or width on the page
    (`extent`, for titles and axis labels whose other extent the layout ignores), else all of it."""
    if text is None or not text.get_visible() or not text.get_in_layout() or not text.get_text():
        return ()
    if extent is not None:
        box = text.get_window_extent(renderer)
        # rounded: the same text measures 1e-14 px differently at another position
        return (text.get_fontsize(), text.get_rotation(), round(getattr(box, extent), 6))
    return (
        text.get_text(), text.get_position(), text.get_fontsize(), text.get_rotation(), text.get_ha(),
        text.get_va(), tuple(text.get_fontproperties().get_family()),
    )  # fmt: skip


def _legend_key(legend: Legend | None) -> tuple:
    if legend is None or not legend.get_visible():
        return ()
    return (
        tuple(t.get_text() for t in legend.get_texts()), legend.get_title().get_text(), legend._loc,
        getattr(legend, "_outside_loc", None), legend._ncols, str(legend.get_bbox_to_anchor()),
    )  # fmt: skip


def _axes_key(ax: Axes, renderer) -> tuple | None:
    """The layout inputs of one axes, or None when it has something the key cannot describe."""
    spec = ax.get_subplotspec()
    key: list[Any] = [
        type(ax).__name__, spec.get_geometry() if spec is not None else None, ax.get_visible(), ax.axison,
        ax.get_aspect(), ax.get_box_aspect(), ax.get_anchor(), ax.get_xlim(), ax.get_ylim(),
        ax.get_xscale(), ax.get_yscale(), ax.get_in_layout(),
    ]  # fmt: skip
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if not axis.get_visible():
            key.append(None)
            continue
        axis.get_majorticklabels()  # makes the ticks and labels for the current view (public API)
        ticks = [
            (tick.get_loc(), tick.label1.get_text() if tick.label1.get_visible() else None,
             tick.label2.get_text() if tick.label2.get_visible() else None, tick.label1.get_fontsize(),
             tick.label1.get_rotation(), tick.tick1line.get_visible(), tick.tick2line.get_visible())
            for tick in axis.get_major_ticks()[: len(axis.get_majorticklocs())]
        ]  # fmt: skip
        minor = [t.get_text() for t in axis.get_minorticklabels()]
        label = _text_key(axis.label, renderer, "height" if name == "x" else "width")
        key.append((tuple(ticks), tuple(minor), axis.get_label_position(), label))
    key.extend(_text_key(title, renderer, "height") for title in (ax.title, ax._left_title, ax._right_title))
    key.append(_legend_key(ax.get_legend()))
    colorbar = getattr(ax, "_colorbar", None)  # a colour bar's axes: its dividers stay inside the axes,
    known = set()  # the extend triangles' size is fixed by `extend` and the axes'
    if colorbar is not None:
        key.append(("colorbar", colorbar.extend, colorbar.orientation))
        known = {id(colorbar.dividers), *(id(patch) for patch in colorbar._extend_patches)}
    for child in ax.get_children():
        if id(child) in known:
            continue
        if isinstance(child, Text) and child not in (ax.title, ax._left_title, ax._right_title):
            key.append(_text_key(child, renderer, None))
        elif isinstance(child, Legend) or child in (ax.xaxis, ax.yaxis, ax.patch, *ax.spines.values()):
            continue
        elif child.get_visible() and child.get_in_layout() and not child.get_clip_on():
            return None  # an unclipped artist may reach outside the axes: its extent is unknown here
    return tuple(key)


def layout_key(figure: Figure) -> tuple | None:
    """Everything of `figure` that constrained layout reads (see the module docstring); None when the figure
    has no constrained layout or holds something the key cannot describe (subfigures, unclipped artists)."""
    engine = figure.get_layout_engine()
    if engine is None or type(engine).__name__ != "ConstrainedLayoutEngine" or figure.subfigs:
        return None
    renderer = figure._get_renderer()
    key: list[Any] = [tuple(figure.get_size_inches()), figure.dpi, tuple(sorted(engine.get().items()))]
    for text in (figure._suptitle, figure._supxlabel, figure._supylabel):
        key.append(_text_key(text, renderer, "width" if text is figure._supylabel else "height"))
    key.append(tuple(_legend_key(legend) for legend in figure.legends))
    labels = (figure._suptitle, figure._supxlabel, figure._supylabel)
    key.append(tuple(_text_key(text, renderer, None) for text in figure.texts if text not in labels))
    for ax in figure.axes:
        axes_key = _axes_key(ax, renderer)
        if axes_key is None:
            return None
        key.append(axes_key)
    return tuple(key)


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
    for ax, (original, active, anchor) in zip(figure.axes, state, strict=False):
        ax._set_position(original, which="original")
        ax._set_position(active, which="active")
        ax.set_anchor(anchor)
    for name, saved in zip(("_suptitle", "_supxlabel", "_supylabel"), state[len(figure.axes) :], strict=True):
        text = getattr(figure, name)
        if text is not None and saved is not None:
            text.set_position(saved[0])
            text.set_verticalalignment(saved[1])


def reuse_layout(laid_out: Figure, figure: Figure, key: tuple | None = None) -> bool:
    """Give `figure` the layout of `laid_out` (a drawn figure) if constrained layout would give it the same
    one, and switch its layout engine off, so drawing it skips the layout.

    The new figure's key is taken at the old figure's positions (tick locators choose ticks for the axes'
    size); when it differs from `laid_out`'s, `figure` is left as it was.

    Args:
        laid_out: a figure drawn with constrained layout (or given its layout by this function).
        figure: a new figure with the same axes structure, not drawn yet.
        key: `layout_key(laid_out)` if known (saves computing it again).

    Returns:
        True if the layout was copied.
    """
    if len(laid_out.axes) != len(figure.axes) or figure.get_layout_engine() is None:
        return False
    old_key = layout_key(laid_out) if key is None else key
    if old_key is None:
        return False
    before = _layout_state(figure)
    _set_layout_state(figure, _layout_state(laid_out))
    if layout_key(figure) != old_key:
        _set_layout_state(figure, before)
        return False
    figure.set_layout_engine("none")
    return True


def render_png(figure: Figure) -> tuple[bytes, dict[str, int]]:
    """The figure as a PNG for a live view: one draw at the figure's dpi (the standard's `DPI`), cropped to
    its ink plus the standard's `PAD_INCHES` (what `bbox_inches="tight"` gives, without its second draw),
    fast compression, the figure's title as PNG `Title` (alt text).

    Returns:
        (PNG bytes, CSS size {"width", "height"} in px).
    """
    from PIL import Image, PngImagePlugin

    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    ink = np.any(pixels != 255, axis=2)
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows):
        pad = round(PAD_INCHES * figure.dpi)
        top, bottom = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, pixels.shape[0])
        left, right = max(columns[0] - pad, 0), min(columns[-1] + 1 + pad, pixels.shape[1])
        pixels = pixels[top:bottom, left:right]
    info = PngImagePlugin.PngInfo()
    title = figure_title(figure)
    if title:
        info.add_text("Title", title)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="png", compress_level=PNG_COMPRESS_LEVEL, pnginfo=info
    )
    scale = CSS_PX_PER_INCH / figure.dpi
    height, width = pixels.shape[:2]
    return buffer.getvalue(), {"width": round(width * scale), "height": round(height * scale)}
