"""CKA heatmaps (Figs 1, 2, 8 and the chapter-5 figures): CKA matrices in, heatmaps out.

Convention (the paper's): layer i of the X side runs along the horizontal axis from the left, layer j of
the Y side up the vertical axis from the bottom, so `matrix[i, j]` is drawn at (i, j) and a within-model
heatmap has its diagonal going up to the right.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from ..activations import boundaries as layer_boundaries
from .style import fit_column, new_figure, styled, to_numpy

__all__ = ["cka_heatmap", "cka_heatmaps", "layer_ticks"]

CKA_CMAP = "magma"


def _as_array(matrix: Any) -> np.ndarray:
    array = to_numpy(matrix, np.float64)
    if array.ndim != 2:
        raise ValueError(f"a CKA matrix must be 2-D, got shape {array.shape}")
    return array


def _block_key(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "blocks" and len(parts) > 1:
        return parts[1]
    if parts[0].startswith("layer") and len(parts) > 1:
        return f"{parts[0][5:]}.{parts[1]}"
    if parts[0] == "stages" and len(parts) > 3:
        return f"{int(parts[1]) + 1}.{parts[3]}"
    return name


@styled
def layer_ticks(
    names: Sequence[str], mode: str = "auto", max_names: int = 20
) -> tuple[list[float], list[str]]:
    """Tick positions (cell centres) and labels for one heatmap axis.

    Args:
        names: the layer names along the axis.
        mode: "names" (every layer); "blocks" (one tick at the last layer of each block, i.e. its output,
            labelled with the block: "3" for blocks.3, "2.1" for layer2.1); "index" (every fifth layer
            index); or "auto" (names if there are at most `max_names`, else blocks).
        max_names: threshold for "auto".

    Returns:
        (positions, labels).
    """
    if mode == "auto":
        mode = "names" if len(names) <= max_names else "blocks"
    if mode == "names":
        return [i + 0.5 for i in range(len(names))], list(names)
    if mode == "blocks":
        ends = [b - 1 for b in layer_boundaries(names, "block")] + [len(names) - 1]
        return [e + 0.5 for e in ends], [_block_key(names[e]) for e in ends]
    if mode == "index":
        positions = list(range(0, len(names), 5))
        return [p + 0.5 for p in positions], [str(p) for p in positions]
    raise ValueError(f"unknown tick mode {mode!r}: use 'auto', 'names', 'blocks' or 'index'")


class _SpacedLabels(Formatter):
    """Fixed tick labels, thinned when drawn so that none overlaps another at the axes' drawn size.

    Labels are kept in order of priority (block labels before other layer names such as "stem" or "norm",
    then left to right); a label is dropped (drawn empty) when it would touch one already kept. Many layers
    on a small heatmap so show every block that fits, and never "5" on top of "norm".
    """

    GAP_PT = 2.0

    def __init__(self, positions: Sequence[float], labels: Sequence[str]):
        self.labels = dict(zip(positions, labels, strict=True))

    def __call__(self, x, pos=None) -> str:
        return self.labels.get(x, "")

    def format_ticks(self, values) -> list[str]:
        labels = [self.labels.get(v, "") for v in values]
        axis = self.axis
        if axis is None or len(labels) < 2:
            return labels
        ax, horizontal = axis.axes, axis.axis_name == "x"
        length_px = ax.bbox.width if horizontal else ax.bbox.height
        low, high = sorted(ax.get_xlim() if horizontal else ax.get_ylim())
        if length_px <= 1 or high <= low:
            return labels
        points_per_unit = length_px * 72 / ax.figure.dpi / (high - low)
        ticks = axis.get_major_ticks()
        size = ticks[0].label1.get_fontsize() if ticks else 8.0
        rotation = ticks[0].label1.get_rotation() if ticks else 0.0
        across = horizontal == (round(rotation) % 180 == 0)  # the label's width lies along the axis
        extents = [_text_width(label, size) if across else 1.2 * size for label in labels]
        order = sorted(range(len(labels)), key=lambda i: (not labels[i].replace(".", "").isdigit(), i))
        kept: list[tuple[float, float]] = []
        shown = [""] * len(labels)
        for i in order:
            if not labels[i]:
                continue
            centre = (values[i] - low) * points_per_unit
            span = (centre - extents[i] / 2 - self.GAP_PT / 2, centre + extents[i] / 2 + self.GAP_PT / 2)
            if all(span[1] <= a or span[0] >= b for a, b in kept):
                kept.append(span)
                shown[i] = labels[i]
        return shown


def _text_width(text: str, size: float) -> float:
    """Width in points of `text` at font size `size` (the current default font)."""
    fonts = (tuple(matplotlib.rcParams["font.family"]), tuple(matplotlib.rcParams["font.sans-serif"]))
    return _cached_text_width(text, float(size), fonts) if text else 0.0


@functools.lru_cache(maxsize=4096)
def _cached_text_width(text: str, size: float, fonts: tuple) -> float:
    # A text path's extents take milliseconds, and every draw pass asks again for the same few labels;
    # `fonts` (the rcParams the default font comes from) is part of the key, so a style change is seen.
    from matplotlib.textpath import TextPath

    return float(TextPath((0, 0), text, size=size).get_extents().width)


@styled
def cka_heatmap(
    matrix: Any,
    names_x: Sequence[str],
    names_y: Sequence[str],
    ax: Axes | None = None,
    *,
    title: str | None = None,
    boundaries: bool | tuple[Sequence[int], Sequence[int]] = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ticks: str = "auto",
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = CKA_CMAP,
    colorbar: bool = True,
    figsize: tuple[float, float] = (5.2, 4.4),
) -> Figure:
    """A CKA heatmap: X layers left to right, Y layers bottom to top.

    Args:
        matrix: (len(names_x), len(names_y)) CKA values (torch or numpy); NaN cells are left blank.
        names_x: layer names of the rows of `matrix` (horizontal axis).
        names_y: layer names of the columns of `matrix` (vertical axis).
        ax: draw into these axes; default a new figure.
        title: axes title.
        boundaries: True draws thin lines between blocks (from the layer names); or explicit
            (positions along x, positions along y), each a list of layer indices where a group starts.
        xlabel, ylabel: axis labels (default "layers").
        ticks: tick labelling, see `layer_ticks` ("auto", "names", "blocks", "index").
        vmin, vmax: colour range (values outside are drawn with the end colours; the data is unchanged).
        cmap: colour map.
        colorbar: draw a colour bar labelled "CKA".
        figsize: size of a new figure.

    Returns:
        the matplotlib Figure.
    """
    values = _as_array(matrix)
    if values.shape != (len(names_x), len(names_y)):
        raise ValueError(
            f"matrix of shape {values.shape} does not match {len(names_x)} x-names and {len(names_y)} y-names"
        )
    if ax is None:
        figure, ax = new_figure(1, 1, figsize=figsize)
    else:
        figure = ax.figure
    # One cell per layer pair, X layers left to right and layer 0 at the bottom; NaN cells blank. (Drawn
    # the way seaborn's heatmap draws it, without the extra figure draw seaborn makes to check its labels.)
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values.T), cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0, edgecolor="white",
        rasterized=True,
    )  # fmt: skip
    ax.set(xlim=(0, len(names_x)), ylim=(0, len(names_y)))
    for spine in ax.spines.values():
        spine.set_visible(False)
    if len(names_x) == len(names_y):
        ax.set_aspect("equal")
    if colorbar:
        bar = figure.colorbar(mesh, ax=ax, label="CKA")
        bar.outline.set_linewidth(0)
        bar.solids.set_rasterized(True)
    for axis, names in ((ax.xaxis, names_x), (ax.yaxis, names_y)):
        positions, labels = layer_ticks(names, ticks)
        axis.set_ticks(positions)
        axis.set_major_formatter(_SpacedLabels(positions, labels))
    # Rotate only labels that are names ("blocks.0.attn"); block numbers and stem / norm read across.
    long_labels = max((len(label) for label in layer_ticks(names_x, ticks)[1]), default=0) > 4
    ax.tick_params(axis="x", labelrotation=90 if long_labels else 0)
    ax.tick_params(axis="y", labelrotation=0)
    if boundaries is not False:
        lines_x, lines_y = (
            (layer_boundaries(names_x), layer_boundaries(names_y)) if boundaries is True else boundaries
        )
        for position in lines_x:
            ax.axvline(position, color="white", lw=0.6, alpha=0.7)
        for position in lines_y:
            ax.axhline(position, color="white", lw=0.6, alpha=0.7)
    ax.set_xlabel(xlabel if xlabel is not None else "layers")
    ax.set_ylabel(ylabel if ylabel is not None else "layers")
    if title:
        ax.set_title(title)
    return figure


@styled
def cka_heatmaps(
    panels: Sequence[dict[str, Any]],
    ncols: int | None = None,
    *,
    panel_size: tuple[float, float] = (4.2, 3.8),
    **common: Any,
) -> Figure:
    """Several CKA heatmaps side by side (e.g. Fig 1: ViT and ResNet), one colour scale.

    Args:
        panels: one dict per heatmap with the keys of `cka_heatmap` ("matrix", "names_x", "names_y",
            and optionally "title", "xlabel", "ylabel", "boundaries", ...).
        ncols: panels per row (default: all in one row).
        panel_size: (width, height) per panel in inches.
        **common: `cka_heatmap` keyword arguments shared by every panel (e.g. ticks="blocks").

    Returns:
        the Figure; only the last panel of each row has a colour bar.
    """
    if not panels:
        raise ValueError("no panels to draw")
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    figure, axes = new_figure(
        nrows, ncols, figsize=fit_column(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.set_visible(False)
            continue
        options = {**common, **panels[index]}
        options.setdefault("colorbar", (index % ncols == ncols - 1) or index == len(panels) - 1)
        cka_heatmap(options.pop("matrix"), options.pop("names_x"), options.pop("names_y"), ax=ax, **options)
    return figure
