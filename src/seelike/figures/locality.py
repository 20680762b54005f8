"""Figures for chapter 6, local vs global: mean attention distance per head (Figs 3 and 4), CKA of
first-block head subsets with early ResNet layers (Fig 5), effective receptive fields (Fig 6).
Results in (from `seelike.attention`, `seelike.receptive_field`), figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .style import (
    COLUMN_WIDTH,
    SMALL,
    column_size,
    integer_ticks,
    legend_outside,
    new_figure,
    styled,
    to_numpy,
)

__all__ = [
    "head_subset_cka_curves",
    "mean_distance_by_data",
    "mean_distance_by_head",
    "receptive_field_detail",
    "receptive_field_grid",
]

DEPTH_CMAP = "viridis"  # block depth: dark = low blocks, yellow = top blocks
ERF_CMAP = "magma"


def _check_distances(distances) -> np.ndarray:
    values = to_numpy(distances, np.float64)
    if values.ndim != 2:
        raise ValueError(f"distances must have shape (blocks, heads), got {values.shape}")
    return values


def _block_colors(blocks: int) -> list:
    cmap = colormaps[DEPTH_CMAP]
    return [cmap(0.9 * b / max(blocks - 1, 1)) for b in range(blocks)]


def _reference_lines(
    ax, uniform: float | None, local_fraction: float | None, horizontal: bool = True
) -> None:
    """Dashed line at the uniform-attention distance, dotted at the local-head threshold."""
    if uniform is None:
        return
    ax.axhline(uniform, color="0.35", ls="--", lw=1, label=f"uniform attention ({uniform:.1f} px)")
    if local_fraction is not None:
        ax.axhline(
            local_fraction * uniform, color="0.35", ls=":", lw=1, label=f"{local_fraction:g} × uniform"
        )


def _sorted_head_panel(
    ax,
    values: np.ndarray,
    highlight_block: int | None,
    uniform: float | None,
    local_fraction: float | None,
    legend: bool,
) -> None:
    """x = head rank within its block (most local first), one line per block coloured by depth."""
    blocks, heads = values.shape
    ranks = np.arange(heads)
    for block, color in enumerate(_block_colors(blocks)):
        faded = highlight_block is not None and block != highlight_block
        ax.plot(
            ranks,
            np.sort(values[block]),
            "o-",
            color=color,
            lw=2.4 if block == highlight_block else 1.3,
            ms=6 if block == highlight_block else 4,
            alpha=0.25 if faded else 0.95,
            label=f"block {block}",
            zorder=3 if block == highlight_block else 2,
        )
    _reference_lines(ax, uniform, local_fraction)
    ax.set_xticks(ranks)
    ax.set_xlabel("head, sorted within its block (local → global)")
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(loc="lower right", ncol=2 if blocks > 6 else 1)


@styled
def mean_distance_by_head(
    distances: torch.Tensor,
    uniform: float | None = None,
    highlight_block: int | None = None,
    local_fraction: float | None = 0.6,
    title: str | None = None,
) -> Figure:
    """Fig 3: mean attention distance of every head in every block.

    Left: heads sorted within each block, one line per block (colour = depth). Right: every head's
    distance against its block, so local heads (low) and global heads (high) in the same block show as a
    vertical spread.

    Args:
        distances: (blocks, heads) mean distances in pixels (from `dataset_mean_attention_distance`).
        uniform: the uniform-attention distance of the model's grid (dashed line).
        highlight_block: draw this block bold and fade the others.
        local_fraction: draw the local-head threshold at this fraction of `uniform` (None: no line).
        title: figure title.

    Returns:
        the figure.
    """
    values = _check_distances(distances)
    blocks, heads = values.shape
    figure, (left, right) = new_figure(1, 2, figsize=column_size(3.9))
    _sorted_head_panel(left, values, highlight_block, uniform, local_fraction, legend=False)
    left.set_ylabel("mean attention distance (px)")
    colors = _block_colors(blocks)
    for block in range(blocks):
        faded = highlight_block is not None and block != highlight_block
        jitter = np.linspace(-0.18, 0.18, heads) if heads > 1 else np.zeros(1)
        right.scatter(
            block + jitter,
            np.sort(values[block]),
            color=colors[block],
            s=40 if block == highlight_block else 24,
            alpha=0.25 if faded else 0.95,
            edgecolor="white",
            linewidth=0.5,
            zorder=3,
        )
    _reference_lines(right, uniform, local_fraction)
    right.set_xticks(range(blocks))
    right.set_xlabel("block")
    right.set_ylim(left.get_ylim())
    integer_ticks(right)
    legend_outside(figure, left, ncols=4)
    right.set_title("each dot is one head")
    left.set_title("sorted heads per block")
    if title:
        figure.suptitle(title)
    return figure


@styled
def mean_distance_by_data(
    distances_by_model: Mapping[str, torch.Tensor],
    uniform: float | None = None,
    blocks: Sequence[int] | None = None,
    local_counts: Mapping[str, int] | None = None,
    local_fraction: float | None = 0.6,
    title: str | None = None,
) -> Figure:
    """Fig 4: mean attention distance per sorted head, one panel per model (e.g. per training-set size).

    Args:
        distances_by_model: panel title → (blocks, heads) mean distances, drawn left to right.
        uniform: the uniform-attention distance (dashed line in every panel).
        blocks: the blocks drawn (None: all); colours still follow each block's depth.
        local_counts: panel title → a number of local heads, written in the panel.
        local_fraction: the local-head threshold as a fraction of `uniform` (dotted line).
        title: figure title.

    Returns:
        the figure, panels sharing the y axis.
    """
    if not distances_by_model:
        raise ValueError("no models to draw")
    panels = {name: _check_distances(d) for name, d in distances_by_model.items()}
    ncols = len(panels) if len(panels) <= 3 else 2  # four panels: two rows of two
    nrows = -(-len(panels) // ncols)
    width = column_size(0, min(1.0, 0.2 + 0.4 * ncols))[0]
    figure, grid = new_figure(nrows, ncols, figsize=(width, 2.9 * nrows + 0.9), sharey=True, squeeze=False)
    for ax in grid.flat[len(panels) :]:
        ax.set_visible(False)
    axes = grid.flat[: len(panels)]
    top = max(float(v.max()) for v in panels.values())
    if uniform is not None:
        top = max(top, uniform)
    for index, (ax, (name, values)) in enumerate(zip(axes, panels.items(), strict=True)):
        n_blocks, heads = values.shape
        shown = list(range(n_blocks)) if blocks is None else [b for b in blocks if 0 <= b < n_blocks]
        colors = _block_colors(n_blocks)
        for block in shown:
            ax.plot(np.arange(heads), np.sort(values[block]), "o-", color=colors[block], lw=1.3, ms=4,
                    label=f"block {block}")  # fmt: skip
        _reference_lines(ax, uniform, local_fraction)
        ax.set_xticks(range(heads))
        ax.set_xlabel("sorted head")
        ax.set_title(name)
        ax.set_ylim(0, 1.08 * top)
        if local_counts is not None and name in local_counts:
            ax.text(0.03, 0.96, f"local heads: {local_counts[name]}", transform=ax.transAxes, va="top",
                    fontsize=SMALL, bbox={"facecolor": "white", "edgecolor": "0.8", "pad": 2})  # fmt: skip
        if index % ncols == 0:
            ax.set_ylabel("mean attention distance (px)")
    legend_outside(figure, axes[-1], ncols=4 if ncols > 1 else 2)
    if title:
        figure.suptitle(title)
    return figure


@styled
def head_subset_cka_curves(
    subset_distances: torch.Tensor,
    cka: torch.Tensor,
    layer_names: Sequence[str],
    subset_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Fig 5: CKA between head subsets of one ViT block and early ResNet layers, against the subsets' mean
    attention distance.

    Args:
        subset_distances: (S,) mean attention distance of each head subset (px), ordered local → global.
        cka: (S, R) CKA of each subset's attention output with each of R ResNet layers.
        layer_names: the R ResNet layer names (one line each).
        subset_labels: optional (S,) labels written next to the points (e.g. the heads in each subset).
        title: figure title.

    Returns:
        the figure.
    """
    x = to_numpy(subset_distances, np.float64)
    values = to_numpy(cka, np.float64)
    if values.shape != (len(x), len(layer_names)):
        raise ValueError(f"cka must have shape ({len(x)}, {len(layer_names)}), got {values.shape}")
    figure, ax = new_figure(1, 1, figsize=(6.2, 4.0))
    cmap = colormaps["plasma"]
    for index, name in enumerate(layer_names):
        color = cmap(0.85 * index / max(len(layer_names) - 1, 1))
        ax.plot(x, values[:, index], "o-", color=color, label=name, lw=1.6, ms=5)
    if subset_labels is not None:
        if len(subset_labels) != len(x):
            raise ValueError(f"need {len(x)} subset labels, got {len(subset_labels)}")
        for xi, top, label in zip(x, np.nanmax(values, axis=1), subset_labels, strict=True):
            ax.annotate(label, (xi, top), xytext=(0, 7), textcoords="offset points", ha="center",
                        fontsize=SMALL, color="0.3")  # fmt: skip
        ax.margins(y=0.12)
    ax.set_xlabel("mean attention distance of the head subset (px)")
    ax.set_ylabel("CKA with the ResNet layer")
    legend_outside(figure, ax, "right", title="ResNet layer")
    ax.set_title(title or "first-block head subsets vs early ResNet layers")
    return figure


def _erf_image(
    ax, erf: np.ndarray, normalise: bool, patch_size: int | None, log_decades: float | None = None
):
    shown = erf / erf.max() if normalise and erf.max() > 0 else erf
    if log_decades is not None:
        top = float(shown.max())
        norm = LogNorm(vmin=top * 10.0**-log_decades, vmax=top)  # colour range only: values are unchanged
        cmap = colormaps[ERF_CMAP].with_extremes(bad="black", under="black")
        image = ax.imshow(np.ma.masked_less_equal(shown, 0), cmap=cmap, norm=norm, interpolation="nearest")
    else:
        image = ax.imshow(
            shown, cmap=ERF_CMAP, vmin=0, vmax=1 if normalise else None, interpolation="nearest"
        )
    if patch_size:  # the patch grid: one line collection per direction (hundreds of lines in a grid)
        height, width = erf.shape
        style = {"color": "white", "lw": 0.3, "alpha": 0.35}
        ax.hlines(np.arange(patch_size, height, patch_size) - 0.5, -0.5, width - 0.5, **style)
        ax.vlines(np.arange(patch_size, width, patch_size) - 0.5, -0.5, height - 0.5, **style)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


@styled
def receptive_field_grid(
    rows: Mapping[str, Mapping[str, torch.Tensor]],
    patch_sizes: Mapping[str, int] | None = None,
    normalise: bool = True,
    log_decades: float | None = None,
    title: str | None = None,
) -> Figure:
    """Fig 6: effective receptive fields, one row per model or view, one map per layer.

    Args:
        rows: row title → (layer label → (H, W) ERF map), rows top to bottom, layers left to right.
        patch_sizes: row title → patch size, to draw the patch grid over that row's maps.
        normalise: scale each map to its own maximum (the shape, not the magnitude, is compared).
        log_decades: None for a linear colour scale (as in the paper); else a logarithmic one spanning this
            many decades below each map's maximum (faint tails become visible; smaller values are black).
        title: figure title.

    Returns:
        the figure.
    """
    if not rows or not all(rows.values()):
        raise ValueError("rows must be a non-empty mapping of non-empty mappings")
    ncols = max(len(maps) for maps in rows.values())
    side = min(1.55, (COLUMN_WIDTH - 1.3) / ncols)  # one map, inches
    figure, axes = new_figure(len(rows), ncols, figsize=(side * ncols + 1.3, (side + 0.3) * len(rows) + 0.5))
    axes = np.atleast_2d(axes)
    if axes.shape != (len(rows), ncols):
        axes = axes.reshape(len(rows), ncols)
    shown = None
    for row_axes, (row_title, maps) in zip(axes, rows.items(), strict=True):
        for ax in row_axes[len(maps) :]:
            ax.axis("off")
        for col, (ax, (label, erf)) in enumerate(zip(row_axes, maps.items(), strict=False)):
            patch_size = (patch_sizes or {}).get(row_title)
            shown = _erf_image(ax, to_numpy(erf, np.float64), normalise, patch_size, log_decades)
            ax.set_title(label, fontsize=8.5)
            ax.xaxis.set_visible(False)  # no ticks: a hidden axis also costs the layout nothing
            if col == 0:
                ax.set_ylabel(row_title)
            else:
                ax.yaxis.set_visible(False)
    scale = "linear colour scale" if log_decades is None else f"log colour scale, {log_decades:g} decades"
    if normalise and shown is not None:  # every map on one scale: 1 = its own maximum
        bar = figure.colorbar(shown, ax=axes, shrink=0.8, label=f"|gradient| / map maximum\n({scale})")
        if log_decades is not None:  # one plain label per decade (mathtext labels and minor ticks are slow)
            decades = [10.0**-k for k in range(int(log_decades) + 1)]
            bar.minorticks_off()
            bar.set_ticks(decades, labels=[f"{d:g}" for d in decades])
    if title:
        figure.suptitle(f"{title}, {scale}")
    return figure


@styled
def receptive_field_detail(
    erf: torch.Tensor, label: str, patch_size: int | None = None, extent: float | None = None
) -> Figure:
    """One effective receptive field in detail: the map and its profile through the centre row (log scale).

    Args:
        erf: (H, W) ERF map.
        label: layer name for the title.
        patch_size: draw the patch grid (ViTs).
        extent: a size summary (e.g. `erf_extent`, px) written in the title.

    Returns:
        the figure.
    """
    values = to_numpy(erf, np.float64)
    if values.ndim != 2:
        raise ValueError(f"erf must be (H, W), got {values.shape}")
    figure, (left, right) = new_figure(1, 2, figsize=column_size(3.4))
    _erf_image(left, values, True, patch_size)
    left.set_title(label + (f"\n(half the mass within {extent:.1f} px)" if extent is not None else ""))
    centre = (values.shape[0] - 1) // 2
    profile = values[centre] / values.max() if values.max() > 0 else values[centre]
    positive = profile > 0
    right.plot(np.arange(values.shape[1])[positive], profile[positive], "o-", ms=3, color="#b2182b")
    right.set_yscale("log")
    right.axvline(centre, color="0.5", lw=0.8, ls=":")
    right.set_xlabel("input column (centre row)")
    integer_ticks(right)
    right.set_ylabel("|gradient| / max (log)")
    right.set_title("profile through the centre")
    return figure
