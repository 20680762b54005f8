"""Figures for chapter 8, the effect of data scale: same-layer CKA of models trained on fractions of the data
against the full-data model (Fig 12), linear-probe accuracy against normalised depth (Fig 13), and the
number of local attention heads per block for each training-set size. Results in (from `comparisons`,
`probes`, `attention`), figures out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from .style import SMALL, column_size, legend_outside, new_figure, styled, to_numpy

__all__ = ["local_heads_by_data", "probe_depth_curves", "same_layer_cka_curves"]

SCALE_CMAP = "viridis"  # training-set size: light = little data, dark = all of it
# Models outside the data-size series (the untrained initialisation, a ResNet): one colour each, in order.
OTHER_COLORS = ("0.45", "#c0392b", "#2c7fb8", "#8e44ad")


def _series_colors(n: int) -> list:
    """n colours from light (first: least data) to dark (last: most data)."""
    cmap = colormaps[SCALE_CMAP]
    return [cmap(0.85 - 0.75 * i / max(n - 1, 1)) for i in range(n)]


def _empty(note: str) -> Figure:
    """A blank panel carrying a note (e.g. when a live view has no model selected)."""
    figure, ax = new_figure(1, 1, figsize=(5.6, 3.4))
    ax.text(0.5, 0.5, note, ha="center", va="center", color="0.3", transform=ax.transAxes)
    ax.set_axis_off()
    return figure


def _colors(labels: Sequence[str], others: Collection[str]) -> dict[str, object]:
    """label → colour: the data-size series light to dark, the others from `OTHER_COLORS`."""
    series = [label for label in labels if label not in others]
    colors: dict[str, object] = dict(zip(series, _series_colors(len(series)), strict=True))
    outside = [label for label in labels if label in others]
    colors.update({label: OTHER_COLORS[i % len(OTHER_COLORS)] for i, label in enumerate(outside)})
    return colors


def _block_ticks(names: Sequence[str]) -> tuple[list[float], list[str], list[int]]:
    """Tick positions and labels for a list of layer names, plus the index where each block starts.

    Each block ("blocks.3", "blocks.3.mlp.act", ...) gets one tick at the middle of its layers, labelled by
    its number; names outside the blocks ("stem", "norm") keep their own tick and name.
    """
    spans: dict[str, list[int]] = {}
    singles: list[tuple[int, str]] = []
    for index, name in enumerate(names):
        parts = name.split(".")
        if parts[0] == "blocks" and len(parts) > 1:
            spans.setdefault(parts[1], []).append(index)
        else:
            singles.append((index, name))
    ticks = [((span[0] + span[-1]) / 2, block) for block, span in spans.items()]
    ticks += [(float(index), name) for index, name in singles]
    ticks.sort()
    starts = [span[0] for span in spans.values()]
    return [t for t, _ in ticks], [label for _, label in ticks], starts


@styled
def same_layer_cka_curves(
    curves: Mapping[str, tuple[torch.Tensor, Sequence[str]]],
    reference: str = "vit",
    others: Collection[str] = (),
    title: str | None = None,
) -> Figure:
    """Fig 12: CKA between each layer of a model and the same layer of the reference, one line per model.

    Args:
        curves: line label → ((L,) CKA values, the L layer names), ordered from least to most training data
            (colours go from light to dark). Every curve must use the same layer names. An empty mapping
            gives a blank panel saying so.
        reference: the model compared against (named in the axis label).
        others: labels of curves outside the data-size series (e.g. the untrained initialisation), drawn
            dashed in their own colours.
        title: figure title.

    Returns:
        the figure: x = layer (ticks at block starts, labelled by block), y = CKA.
    """
    if not curves:
        return _empty("no model selected")
    names = list(next(iter(curves.values()))[1])
    for label, (values, layer_names) in curves.items():
        if list(layer_names) != names or len(values) != len(names):
            raise ValueError(f"curve {label!r} does not have the same layers as the first curve")
    blocks_only = all(n.startswith("blocks.") and n.count(".") == 1 for n in names)
    figure, ax = new_figure(
        1, 1, figsize=column_size(3.6, min(1.0, max(0.75, 0.13 * len(names) / 7.1 + 0.5)))
    )
    x = np.arange(len(names))
    colors = _colors(list(curves), others)
    lowest = 1.0
    for label, (values, _) in curves.items():
        y = to_numpy(values, np.float64)
        lowest = min(lowest, float(np.nanmin(y)))
        size = 5 if blocks_only else 3
        if label in others:
            ax.plot(x, y, "s--", color=colors[label], lw=1.3, ms=size - 1, label=label)
        else:
            ax.plot(x, y, "o-", color=colors[label], lw=1.6, ms=size, label=label)
    positions, labels, starts = _block_ticks(names)
    if not blocks_only:
        for start in starts:
            ax.axvline(start - 0.5, color="0.88", lw=0.8, zorder=0)
    ax.set_xticks(positions, labels)
    ax.set_xlabel("block" if blocks_only else "layer, grouped by block")
    ax.set_ylabel(f"CKA with the same layer of {reference}")
    # Fit the curves (an axis from 0 would squeeze 0.8-1.0 into its top fifth); say so when 0 is cut off.
    bottom = max(0.0, lowest - 0.1 * (1.02 - lowest)) if np.isfinite(lowest) else 0.0
    ax.set_ylim(bottom, 1.02)
    ax.axhline(1.0, color="0.6", lw=0.6, ls=":")
    legend_outside(figure, ax, "right", title="trained on")
    ax.set_title(title or f"Same-layer CKA with {reference}")
    return figure


@styled
def probe_depth_curves(
    curves: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    others: Collection[str] = (),
    chance: float | None = 0.1,
    title: str | None = None,
) -> Figure:
    """Fig 13: linear-probe test accuracy against normalised depth, one line per model.

    Args:
        curves: line label → ((L,) normalised depths in (0, 1], (L,) accuracies), the data-size series ordered
            from least to most data (light to dark).
        others: labels of models outside the series (e.g. the initialisation, a ResNet), drawn dashed in
            their own colours.
        chance: chance accuracy: a dotted line when it falls inside the plotted range, else a note.
        title: figure title.

    Returns:
        the figure: x = layer index / number of layers, y = probe accuracy.
    """
    if not curves:
        return _empty("no model selected")
    colors = _colors(list(curves), others)
    figure, ax = new_figure(1, 1, figsize=column_size(3.6, 0.9))
    lowest = 1.0
    for label, (depth, accuracy) in curves.items():
        x, y = to_numpy(depth, np.float64), to_numpy(accuracy, np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"curve {label!r}: depths {x.shape} and accuracies {y.shape} must be equal (L,)")
        lowest = min(lowest, float(np.nanmin(y)))
        if label in others:
            ax.plot(x, y, "s--", color=colors[label], lw=1.4, ms=4, label=label)
        else:
            ax.plot(x, y, "o-", color=colors[label], lw=1.6, ms=5, label=label)
    bottom = max(0.0, lowest - 0.05)
    if chance is not None and chance >= bottom:
        ax.axhline(chance, color="k", lw=0.6, ls=":", label="chance")
    elif chance is not None:
        ax.text(0.02, 0.03, f"chance: {chance:.2f}", transform=ax.transAxes, fontsize=SMALL, color="0.35")
    ax.set_xlim(0, 1.03)
    ax.set_ylim(bottom, 1.0)
    ax.set_xlabel("normalised depth (layer index / number of layers)")
    ax.set_ylabel("linear probe test accuracy")
    legend_outside(figure, ax, "right")
    ax.set_title(title or "Linear probes by depth")
    return figure


@styled
def local_heads_by_data(
    counts: Mapping[str, torch.Tensor],
    heads: int | None = None,
    others: Collection[str] = (),
    title: str | None = None,
) -> Figure:
    """Local attention heads per block, one bar per model within each block.

    Args:
        counts: bar label → (blocks,) number of local heads, ordered from least to most training data.
        heads: heads per block (the y-axis limit); default the largest count.
        others: labels outside the data-size series (e.g. the initialisation), hatched in their own colours.
        title: figure title.

    Returns:
        the figure: x = block, grouped bars.
    """
    if not counts:
        return _empty("no model selected")
    values = {label: to_numpy(c, np.float64) for label, c in counts.items()}
    blocks = {v.shape for v in values.values()}
    if len(blocks) != 1 or len(next(iter(blocks))) != 1:
        raise ValueError(f"every count must be a (blocks,) vector of one length, got shapes {sorted(blocks)}")
    n_blocks = next(iter(values.values())).shape[0]
    width = 0.8 / len(values)
    figure, ax = new_figure(1, 1, figsize=column_size(3.2, 0.9))
    colors = _colors(list(values), others)
    for k, (label, v) in enumerate(values.items()):
        offset = (k - (len(values) - 1) / 2) * width
        hatch = "//" if label in others else None
        face = "white" if label in others else colors[label]
        ax.bar(np.arange(n_blocks) + offset, v, width, color=face, edgecolor=colors[label], hatch=hatch,
               label=label)  # fmt: skip
    top = heads if heads is not None else max(1, int(max(v.max() for v in values.values())))
    ax.set_ylim(0, top + 0.3)
    ax.set_yticks(range(top + 1))
    ax.set_xticks(range(n_blocks))
    ax.set_xlabel("block")
    ax.set_ylabel("local heads")
    legend_outside(figure, ax, "right", title="trained on")
    ax.set_title(title or "Local attention heads per block")
    return figure
