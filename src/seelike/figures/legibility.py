"""Does a figure meet the book's standard (`seelike.figures.style`) as the book shows it?

`legibility_problems(figure)` draws the figure once, records every piece of text the renderer actually
draws, and measures it at the size the book shows the figure (the column width if the figure is wider):
text smaller than `MIN_TEXT_PX` CSS px, tick labels that overlap, titles that overlap other text, text
crossing the figure's edge, legends crossed by a data curve, and non-integer ticks on an axis of integers
(blocks, heads, layers). It returns one line per problem (empty: the figure is fine).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .style import COLUMN_PX, CSS_PX_PER_INCH, MIN_TEXT_PX, PAD_INCHES

__all__ = ["legibility_problems", "shown_scale"]

TOLERANCE_PX = 1.0  # display px two boxes may share, or a text may stick out of the figure


@contextlib.contextmanager
def _recording() -> Iterator[list[Text]]:
    """Every Text drawn inside the block (invisible, empty and unused-tick texts are never drawn)."""
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def _draw(figure: Figure):
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()  # as savefig(bbox_inches="tight"): one draw to lay out, the next is the one shown
    with _recording() as drawn:
        canvas.draw()
    return canvas.get_renderer(), list(dict.fromkeys(drawn))  # drawn once each, in drawing order


def shown_scale(figure: Figure, renderer=None) -> float:
    """CSS px per display px of `figure` as the book shows it (tight bounding box, at most `COLUMN_PX`)."""
    renderer = renderer or _draw(figure)[0]
    width_in = figure.get_tightbbox(renderer).width + 2 * PAD_INCHES
    scale = min(1.0, COLUMN_PX / (width_in * CSS_PX_PER_INCH))
    return scale * CSS_PX_PER_INCH / figure.dpi


def _describe(text: Text) -> str:
    words = text.get_text().replace("\n", " ")
    return repr(words if len(words) <= 40 else words[:37] + "...")


def _tick_owners(figure: Figure) -> dict[int, str]:
    """id(tick label Text) → "axes i x" / "axes i y" for every tick label of every axes (colour bars too)."""
    owners: dict[int, str] = {}
    for index, ax in enumerate(figure.axes):
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    owners[id(label)] = f"axes {index} ({ax.get_label() or 'plot'}) {name}"
    return owners


def _titles(figure: Figure) -> set[int]:
    titles = {
        id(getattr(ax, attribute))
        for ax in figure.axes
        for attribute in ("title", "_left_title", "_right_title")
    }
    for holder in (figure, *figure.subfigs):
        if getattr(holder, "_suptitle", None) is not None:
            titles.add(id(holder._suptitle))
    return titles


def _overlap(a: Bbox, b: Bbox, tolerance: float) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance


def _unrotated_size(text: Text, renderer) -> tuple[float, float]:
    rotation = text.get_rotation()
    text.set_rotation(0)
    try:
        box = text.get_window_extent(renderer)
    finally:
        text.set_rotation(rotation)
    return box.width, box.height


def _labels_overlap(first: Text, second: Text, boxes: dict, renderer, tolerance: float) -> bool:
    """Two tick labels overlap: their boxes, or for labels turned by the same slant (45°, 60°), the turned
    rectangles (the axis-aligned boxes of slanted labels overlap even when the words do not)."""
    a, b = boxes[id(first)], boxes[id(second)]
    if not _overlap(a, b, tolerance):
        return False
    angle = first.get_rotation() % 180
    if angle % 90 == 0 or abs(angle - second.get_rotation() % 180) > 1e-6:
        return True
    (w1, h1), (w2, h2) = _unrotated_size(first, renderer), _unrotated_size(second, renderer)
    theta = np.deg2rad(angle)
    along, normal = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
    gap = np.array([(b.x0 + b.x1 - a.x0 - a.x1) / 2, (b.y0 + b.y1 - a.y0 - a.y1) / 2])
    return abs(gap @ normal) < (h1 + h2) / 2 - tolerance and abs(gap @ along) < (w1 + w2) / 2 - tolerance


def _data_values(ax: Axes, axis: str) -> np.ndarray:
    values = []
    for line in ax.lines:
        if line.get_visible() and line.get_transform() == ax.transData:
            values.append(np.asarray(line.get_xdata() if axis == "x" else line.get_ydata(), dtype=float))
    for collection in ax.collections:
        if isinstance(collection, PathCollection) and collection.get_offset_transform() == ax.transData:
            offsets = np.asarray(collection.get_offsets(), dtype=float)
            if offsets.size:
                values.append(offsets[:, 0 if axis == "x" else 1])
    flat = np.concatenate(values) if values else np.zeros(0)
    return flat[np.isfinite(flat)]


def _number(text: str) -> float | None:
    try:
        return float(text.replace("\u2212", "-").replace("$", "").replace("\\mathdefault{", "").rstrip("}"))
    except ValueError:
        return None


def _legend_crossings(ax: Axes, renderer) -> list[str]:
    legend = ax.get_legend()
    if legend is None or not legend.get_visible():
        return []
    box = legend.get_window_extent(renderer).padded(-2.0)
    crossed = []
    for line in ax.lines:
        if not line.get_visible() or line.get_transform() != ax.transData or len(line.get_xdata()) == 0:
            continue
        path = line.get_transform().transform_path(line.get_path())
        if path.intersects_bbox(box, filled=False) or box.count_contains(path.vertices) > 0:
            crossed.append(line.get_label())
    for collection in ax.collections:
        if isinstance(collection, PathCollection) and collection.get_offset_transform() == ax.transData:
            points = collection.get_offset_transform().transform(collection.get_offsets())
            if len(points) and box.count_contains(points) > 0:
                crossed.append(collection.get_label())
    return [f"the legend is crossed by {', '.join(map(repr, crossed))}"] if crossed else []


def legibility_problems(figure: Figure) -> list[str]:
    """What keeps `figure` from meeting the standard as the book shows it; [] when nothing does."""
    renderer, drawn = _draw(figure)
    scale = shown_scale(figure, renderer)  # CSS px per display px
    pt_to_css = figure.dpi / 72 * scale
    problems = []
    boxes = {id(text): text.get_window_extent(renderer) for text in drawn}

    for text in drawn:  # size
        size = text.get_fontsize() * pt_to_css
        if size < MIN_TEXT_PX - 1e-6:
            problems.append(f"text {_describe(text)} is {size:.1f} CSS px (< {MIN_TEXT_PX:g})")

    frame = figure.bbox.padded(TOLERANCE_PX)  # inside the figure
    for text in drawn:
        box = boxes[id(text)]
        if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
            problems.append(f"text {_describe(text)} crosses the figure's edge")

    owners = _tick_owners(figure)  # tick labels of one axis
    by_axis: dict[str, list[Text]] = {}
    for text in drawn:
        if id(text) in owners:
            by_axis.setdefault(owners[id(text)], []).append(text)
    for owner, labels in by_axis.items():
        for i, first in enumerate(labels):
            for second in labels[i + 1 :]:
                if _labels_overlap(first, second, boxes, renderer, TOLERANCE_PX):
                    problems.append(
                        f"{owner}: tick labels {_describe(first)} and {_describe(second)} overlap"
                    )

    titles = _titles(figure)  # titles against all other text
    for title in (text for text in drawn if id(text) in titles):
        for other in drawn:
            if other is not title and _overlap(boxes[id(title)], boxes[id(other)], TOLERANCE_PX):
                problems.append(f"title {_describe(title)} overlaps {_describe(other)}")

    for index, ax in enumerate(figure.axes):  # legends and integer axes
        if not ax.get_visible():
            continue
        problems += [f"axes {index}: {p}" for p in _legend_crossings(ax, renderer)]
        for name in ("x", "y"):
            axis = getattr(ax, f"{name}axis")
            values = _data_values(ax, name)
            if axis.get_scale() != "linear" or values.size == 0 or not np.allclose(values, np.round(values)):
                continue
            labels = [text for text in by_axis.get(f"axes {index} ({ax.get_label() or 'plot'}) {name}", [])]
            numbers = [_number(text.get_text()) for text in labels]
            fractional = [n for n in numbers if n is not None and abs(n - round(n)) > 1e-9]
            if fractional:
                problems.append(f"axes {index}: integer {name} axis has ticks at {fractional}")
    return list(dict.fromkeys(problems))
