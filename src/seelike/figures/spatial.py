"""Figures for chapter 7: skip-connection norm ratios (Fig 7), ViTs without one skip connection (Fig 8),
token-to-patch localization (Figs 9/10) and linear probes per block (Fig 11). Results in (from
`seelike.skips`, `seelike.localization`, `seelike.probes`, `seelike.activations`), figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from .style import (
    COLUMN_WIDTH,
    SMALL,
    fit_column,
    integer_ticks,
    legend_outside,
    new_figure,
    styled,
    to_numpy,
)

__all__ = [
    "localization_maps",
    "localization_mosaic",
    "noskip_cka_heatmaps",
    "probe_accuracy_curves",
    "skip_norm_ratios",
]

SUBLAYER_COLORS = {
    "attention": "#1b9e77",
    "mlp": "#d95f02",
    "attention-cls": "#66c2a5",
    "mlp-cls": "#fc8d62",
    "block": "#7570b3",
}
READOUT_STYLES = {  # read-out → (label, color, marker)
    "cls": ("CLS token", "#1b9e77", "o"),
    "gap": ("GAP (all tokens)", "#d95f02", "s"),
    "gap_no_cls": ("GAP without CLS", "#e6ab02", "D"),
    "token": ("one spatial token", "#7570b3", "^"),
}
DIVERGING = "magma"


class _PlainLogFormatter(LogFormatter):
    """A log axis' labels as plain numbers ("0.6", "2", "10"): the ticks matplotlib would label, no
    mathtext."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _mark_nonfinite(ax, values: np.ndarray) -> None:
    """Write ∞ / NaN on the cells of an imshow that have no finite value (drawn as the 'bad' colour)."""
    for row, col in zip(*np.nonzero(~np.isfinite(values)), strict=True):
        text = "∞" if np.isinf(values[row, col]) else "NaN"
        ax.text(col, row, text, ha="center", va="center", color="white", fontsize=SMALL)


# --------------------------------------------------------------------------------------------- Fig 7


@styled
def skip_norm_ratios(
    ratio: torch.Tensor,
    sublayers: Sequence[str],
    num_prefix_tokens: int,
    averages: Mapping[str, torch.Tensor],
    resnet_average: torch.Tensor | None = None,
    tokens_shown: int = 12,
    title: str | None = None,
) -> Figure:
    """Fig 7: ‖z‖/‖f(z)‖ per token and block (one heatmap per sublayer), and per-block averages.

    Args:
        ratio: (L, S, T) ratios of a ViT (from `SkipNormStats.ratio`), prefix tokens (CLS) first.
        sublayers: the S sublayer names, e.g. ("attention", "mlp").
        num_prefix_tokens: 1 if token 0 is CLS.
        averages: curve name → (L,) per-block ratio (from `SkipNormStats.averages()`).
        resnet_average: (L_r,) per-block ratio of a ResNet, drawn on the same axes.
        tokens_shown: how many tokens (rows) the heatmaps show, CLS included.
        title: figure title.

    Returns:
        the figure. Infinite ratios (a branch that outputs zero) are drawn in grey and marked ∞.
    """
    values = to_numpy(ratio, np.float64)
    if values.ndim != 3 or values.shape[1] != len(sublayers):
        raise ValueError(f"ratio must be (L, {len(sublayers)}, T), got {values.shape}")
    blocks, _, tokens = values.shape
    shown = min(tokens_shown, tokens)
    finite = values[np.isfinite(values) & (values > 0)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    figure, axes = new_figure(1, len(sublayers) + 1, figsize=fit_column(2.1 * len(sublayers) + 3.1, 4.4))
    token_labels = ["CLS" if t < num_prefix_tokens else str(t - num_prefix_tokens) for t in range(shown)]
    image = None
    for index, (ax, sublayer) in enumerate(zip(axes[:-1], sublayers, strict=True)):
        panel = values[:, index, :shown].T  # (tokens, blocks)
        cmap = _bad_grey(DIVERGING)
        image = ax.imshow(
            np.ma.masked_invalid(panel), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
        )
        _mark_nonfinite(ax, panel)
        ax.set_xticks(range(blocks))
        ax.set_xlabel("block")
        if index == 0:  # the other panels share these rows: no ticks at all (tick marks are off anyway)
            ax.set_yticks(range(shown), token_labels)
        else:
            ax.set_yticks([])
        if num_prefix_tokens:
            ax.axhline(num_prefix_tokens - 0.5, color="white", lw=1.2)
        ax.set_title(f"{sublayer}\n‖z‖ / ‖f(z)‖")
    axes[0].set_ylabel("token (spatial tokens in raster order)")
    if image is not None:
        bar = figure.colorbar(image, ax=list(axes[:-1]), shrink=0.85, label="ratio (log scale)")
        if norm is not None and norm.vmax >= 10 * norm.vmin:  # whole decades: label them plainly, no
            bar.minorticks_off()  # minor ticks (mathtext labels and minor ticks are slow to lay out)
            bar.ax.yaxis.set_major_formatter(_PlainLogFormatter())
    ax = axes[-1]
    top = max(
        [
            float(v[np.isfinite(v)].max())
            for v in (to_numpy(a, np.float64) for a in averages.values())
            if np.isfinite(v).any()
        ]
        or [1]
    )
    for name, curve in averages.items():
        _plot_ratio_curve(ax, to_numpy(curve, np.float64), name, SUBLAYER_COLORS.get(name), top)
    if resnet_average is not None:
        _plot_ratio_curve(
            ax,
            to_numpy(resnet_average, np.float64),
            "ResNet block",
            SUBLAYER_COLORS["block"],
            top,
            style="--",
        )
    ax.set_yscale("log")
    # plain numbers (2, 0.6) instead of 2×10⁰: easier to read, and no mathtext to lay out at each redraw
    ax.yaxis.set_major_formatter(_PlainLogFormatter())
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False))
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("block")
    ax.set_ylabel("‖z‖ / ‖f(z)‖ (mean norms)")
    ax.set_title("averages\n(spatial tokens, or CLS)")
    integer_ticks(ax)
    legend_outside(figure, ax)
    if title:
        figure.suptitle(title)
    return figure


def _bad_grey(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="0.55")


def _plot_ratio_curve(ax, curve: np.ndarray, label: str, color, top: float, style: str = "-") -> None:
    """One per-block ratio curve; infinite values are marked with ∞ at the top of the axes."""
    x = np.arange(len(curve))
    finite = np.isfinite(curve)
    ax.plot(x[finite], curve[finite], style, marker="o", ms=4, color=color, label=label)
    for position in x[np.isinf(curve)]:
        ax.annotate("∞", (position, top), color=color, ha="center", va="bottom", fontsize=10)


# --------------------------------------------------------------------------------------------- Figs 9/10


def _grid_of(cka_map: np.ndarray) -> int:
    positions = cka_map.shape[0]
    grid = int(round(positions**0.5))
    if cka_map.shape != (positions, positions) or grid * grid != positions:
        raise ValueError(f"a localization map must be (g², g²), got {cka_map.shape}")
    return grid


@styled
def localization_mosaic(
    maps: Mapping[str, torch.Tensor],
    own_fractions: Mapping[str, float] | None = None,
    vmax: float | None = None,
) -> Figure:
    """Figs 9/10 overview: for every token position of each model, the CKA map against every input patch,
    all tiled at their own position (a g×g grid of g×g maps); each small map's own cell is outlined.

    Args:
        maps: model name → (P, P) token × patch CKA (from `localization.token_patch_cka`), P = g².
        own_fractions: model name → fraction of positions peaking at their own cell, shown in the title.
        vmax: the top of the colour scale (default: the largest value over all maps).

    Returns:
        the figure.
    """
    arrays = {name: to_numpy(m, np.float64) for name, m in maps.items()}
    top = vmax if vmax is not None else max(float(np.nanmax(a)) for a in arrays.values())
    ncols = len(arrays) if len(arrays) <= 2 else 2  # at most two mosaics a row: each map stays visible
    nrows = -(-len(arrays) // ncols)
    side = min(4.0, (COLUMN_WIDTH - 1.0) / ncols)
    figure, axes = new_figure(nrows, ncols, figsize=(side * ncols + 1.0, (side + 0.5) * nrows), squeeze=False)
    for ax in axes.flat[len(arrays) :]:
        ax.set_visible(False)
    image = None
    for ax, (name, values) in zip(axes.flat, arrays.items(), strict=False):
        grid = _grid_of(values)
        # mosaic[r·g + i, c·g + j] = CKA(token at (r, c), patch at (i, j))
        mosaic = (
            values.reshape(grid, grid, grid, grid).transpose(0, 2, 1, 3).reshape(grid * grid, grid * grid)
        )
        image = ax.imshow(mosaic, cmap="viridis", vmin=0, vmax=top, interpolation="nearest")
        for edge in np.arange(1, grid) * grid - 0.5:
            ax.axhline(edge, color="white", lw=1.0)
            ax.axvline(edge, color="white", lw=1.0)
        for r in range(grid):
            for c in range(grid):
                ax.add_patch(_cell_outline(r * grid + r, c * grid + c, "red", 1.2))
        ax.set_xticks([])
        ax.set_yticks([])
        label = name
        if own_fractions is not None and name in own_fractions:
            label += f"\npeak at own position: {own_fractions[name]:.0%}"
        ax.set_title(label)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="CKA(token, input patch)")
    return figure


def _cell_outline(row: float, col: float, color: str, lw: float):
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=color, lw=lw)


@styled
def localization_maps(
    maps: Mapping[str, torch.Tensor],
    position: tuple[int, int] = (3, 3),
    reference_grid: int = 7,
    own_fractions: Mapping[str, float] | None = None,
) -> Figure:
    """Figs 9/10 for one token position: each model's CKA between that final-block token and every input
    patch. Models with a coarser grid (a ResNet stage) show the token at the same place in the image.

    Args:
        maps: model name → (P, P) token × patch CKA, P = g² (g may differ between models).
        position: (row, column) of the token on a `reference_grid` × `reference_grid` grid.
        reference_grid: the grid `position` refers to (the ViT's).
        own_fractions: model name → fraction of positions peaking at their own cell, shown in the title.

    Returns:
        the figure; the token's own cell is outlined in red, the row's maximum marked with a white dot.
    """
    arrays = {name: to_numpy(m, np.float64) for name, m in maps.items()}
    ncols = len(arrays) if len(arrays) <= 3 else 2  # four maps: two rows of two
    nrows = -(-len(arrays) // ncols)
    side = min(2.6, (COLUMN_WIDTH - 0.7 * ncols) / ncols)
    figure, axes = new_figure(
        nrows, ncols, figsize=((side + 0.7) * ncols, (side + 0.6) * nrows), squeeze=False
    )
    for ax in axes.flat[len(arrays) :]:
        ax.set_visible(False)
    for ax, (name, values) in zip(axes.flat, arrays.items(), strict=False):
        grid = _grid_of(values)
        r, c = _map_position(position, reference_grid, grid)
        heat = values[r * grid + c].reshape(grid, grid)
        image = ax.imshow(heat, cmap="viridis", vmin=0, interpolation="nearest")
        ax.add_patch(_cell_outline(r, c, "red", 2.0))
        peak = int(np.nanargmax(heat))
        ax.plot(peak % grid, peak // grid, "o", color="white", ms=5, mec="k")
        ax.set_xticks([])
        ax.set_yticks([])
        label = f"{name}: token ({r}, {c}) of {grid}×{grid}"
        if own_fractions is not None and name in own_fractions:
            label += f"\nall positions: {own_fractions[name]:.0%} peak at own"
        ax.set_title(label)
        figure.colorbar(image, ax=ax, shrink=0.8)
    return figure


# --------------------------------------------------------------------------------------------- Fig 8


@styled
def noskip_cka_heatmaps(
    matrices: Mapping[str, torch.Tensor],
    layer_names: Sequence[str],
    accuracies: Mapping[str, float] | None = None,
    removed_blocks: Mapping[str, int | None] | None = None,
) -> Figure:
    """Fig 8: within-model CKA heatmaps side by side (e.g. `vit` and `vit-noskip-k`), drawn with
    `cka_heatmap`.

    Args:
        matrices: model name → (L, L) CKA between its own layers (the same layer list for every model).
        layer_names: the L layer names (e.g. `blocks.3.norm1`); block boundaries are drawn from them.
        accuracies: model name → test accuracy, shown in the title.
        removed_blocks: model name → the block whose skip connections were removed (None: none); that
            block's layers are framed by dashed cyan lines.

    Returns:
        the figure.
    """
    from .cka import cka_heatmap

    ncols = len(matrices) if len(matrices) <= 2 else 2  # more: rows of two, each heatmap stays readable
    nrows = -(-len(matrices) // ncols)
    figure, axes = new_figure(nrows, ncols, figsize=(COLUMN_WIDTH, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[len(matrices) :]:
        ax.set_visible(False)
    for index, (ax, (name, matrix)) in enumerate(zip(axes.flat, matrices.items(), strict=False)):
        cka_heatmap(
            matrix,
            layer_names,
            layer_names,
            ax=ax,
            ticks="blocks",
            boundaries=True,
            colorbar=index % ncols == ncols - 1 or index == len(matrices) - 1,
            xlabel="layer (block)",
            ylabel="layer (block)" if index % ncols == 0 else "",
        )
        label = name
        if accuracies is not None and name in accuracies:
            label += f"  (test acc. {accuracies[name]:.1%})"
        ax.set_title(label)
        removed = (removed_blocks or {}).get(name)
        prefix = f"blocks.{removed}"
        inside = [i for i, n in enumerate(layer_names) if n == prefix or n.startswith(prefix + ".")]
        if removed is not None and inside:
            for edge in (inside[0], inside[-1] + 1):
                ax.axvline(edge, color="cyan", lw=1.2, ls="--")
                ax.axhline(edge, color="cyan", lw=1.2, ls="--")
    return figure


# --------------------------------------------------------------------------------------------- Fig 11


@styled
def probe_accuracy_curves(
    results: Mapping[str, Mapping[str, torch.Tensor]],
    token: str | tuple[int, int] = "mean",
    reference_grid: int = 7,
    readouts: Sequence[str] = ("cls", "gap", "gap_no_cls", "token"),
    chance: float | None = 0.1,
) -> Figure:
    """Fig 11: linear-probe test accuracy per block for each read-out, one panel per model.

    Args:
        results: model name → {"cls", "gap", "gap_no_cls": (L,), "token": (L, P)} (from
            `probes.probe_layers(..., per_token=True)`; read-outs a model lacks are skipped). P = g² positions
            in raster order.
        token: which spatial token's probe to draw: "mean" for the mean over positions (the band shows their
            range), or a (row, column) on a `reference_grid` grid, mapped to each model's own grid.
        reference_grid: the grid `token` refers to.
        readouts: which read-outs to draw.
        chance: chance accuracy, drawn as a dotted line.

    Returns:
        the figure.
    """
    size = fit_column(2.8 * len(results) + 0.4, 3.6)
    figure, axes = new_figure(1, len(results), figsize=size, squeeze=False, sharey=True)
    entries: dict[str, tuple] = {}  # read-out → (handle, legend label): one legend for every panel
    for ax, (name, result) in zip(axes[0], results.items(), strict=True):
        for readout in readouts:
            if readout not in result:
                continue
            label, color, marker = READOUT_STYLES[readout]
            values = to_numpy(result[readout], np.float64)
            x = np.arange(values.shape[0])
            if readout != "token":
                (line,) = ax.plot(x, values, marker=marker, ms=4, color=color, label=label)
                entries.setdefault(readout, (line, label))
            elif token == "mean":
                ax.fill_between(x, values.min(1), values.max(1), color=color, alpha=0.18, lw=0)
                (line,) = ax.plot(
                    x, values.mean(1), marker=marker, ms=4, color=color, label=f"{label} (mean, range)"
                )
                entries.setdefault(readout, (line, line.get_label()))
            else:
                grid = int(round(values.shape[1] ** 0.5))
                r, c = _map_position(token, reference_grid, grid)
                (line,) = ax.plot(
                    x, values[:, r * grid + c], marker=marker, ms=4, color=color, label=f"token ({r}, {c})"
                )
                grid_name = f"{reference_grid}×{reference_grid}"
                where = f"token {tuple(token)} of the {grid_name} grid (the same place on other grids)"
                entries.setdefault(readout, (line, where))
        if chance is not None:
            ax.axhline(chance, color="k", lw=0.6, ls=":")
        ax.set_title(name)
        ax.set_xlabel("block")
        ax.set_ylim(0, 1)
        integer_ticks(ax)
    axes[0, 0].set_ylabel("probe test accuracy")
    if entries:
        handles, labels = zip(*entries.values(), strict=True)
        figure.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return figure


def _map_position(position: tuple[int, int], reference_grid: int, grid: int) -> tuple[int, int]:
    """The cell of a grid×grid grid that contains the centre of `position`'s cell on the reference grid."""
    row, col = position
    if not (0 <= row < reference_grid and 0 <= col < reference_grid):
        raise ValueError(f"position {position} is outside the {reference_grid}×{reference_grid} grid")
    return int((2 * row + 1) * grid // (2 * reference_grid)), int(
        (2 * col + 1) * grid // (2 * reference_grid)
    )
