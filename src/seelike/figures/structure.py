"""Figures for chapter 5 (internal structure of ViT vs ResNet, the paper's Figs 1 and 2 and the Mixer
appendix): within-model heatmaps with ResNet stage boundaries, a cross-model heatmap with the best-match path
drawn over it, and the depth-correspondence check. CKA results in, figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..activations import boundaries
from .cka import cka_heatmap
from .style import fit_column, new_figure, styled

__all__ = ["best_match_path", "correspondence_plot", "cross_model_heatmap", "within_model_heatmaps"]

PATH_COLOR = "#00d5ff"


@styled
def within_model_heatmaps(
    results: Mapping[str, tuple[Any, Sequence[str]]],
    subtitles: Mapping[str, str] | None = None,
    ticks: str = "blocks",
    panel_size: tuple[float, float] = (4.4, 3.9),
) -> Figure:
    """Fig 1: one within-model CKA heatmap per model, ResNet stages outlined.

    Args:
        results: title → (matrix (L, L), layer names); e.g. {"ViT": (m, names), "ResNet": (m2, names2)}.
        subtitles: title → a second title line (e.g. the mean off-diagonal CKA).
        ticks: tick labelling, as in `cka_heatmap`.
        panel_size: inches per panel.

    Returns:
        the figure. Stage boundaries (where a ResNet's resolution halves) are white lines.
    """
    if not results:
        raise ValueError("no heatmaps to draw")
    figure, axes = new_figure(
        1, len(results), figsize=fit_column(panel_size[0] * len(results), panel_size[1]), squeeze=False
    )
    for index, (ax, (title, (matrix, names))) in enumerate(zip(axes[0], results.items(), strict=True)):
        stages = boundaries(names, "stage")
        label = title if not subtitles or title not in subtitles else f"{title}\n{subtitles[title]}"
        cka_heatmap(
            matrix,
            names,
            names,
            ax=ax,
            title=label,
            ticks=ticks,
            colorbar=index == len(results) - 1,
            xlabel=f"{title} layers",
            ylabel=f"{title} layers",
        )
        _draw_stages(ax, stages, stages)
    return figure


def _draw_stages(ax: Axes, along_x: Sequence[int], along_y: Sequence[int]) -> None:
    for position in along_x:
        ax.axvline(position, color="white", lw=1.3)
    for position in along_y:
        ax.axhline(position, color="white", lw=1.3)


@styled
def best_match_path(
    ax: Axes,
    matches: torch.Tensor | Sequence[int],
    along: str = "y",
    color: str = PATH_COLOR,
    label: str | None = None,
) -> None:
    """Draw, over a `cka_heatmap`, the best-matching cell for each layer of one side.

    Args:
        ax: the heatmap's axes (cell (i, j) spans [i, i+1] × [j, j+1]).
        matches: along="y": for each y layer j, the x index of its best match (from `best_matches(m, dim=0)`);
            along="x": for each x layer i, the y index of its best match (`best_matches(m, dim=1)`).
        along: which side the matches are indexed by.
        color: line colour.
        label: legend label.
    """
    if along not in ("x", "y"):
        raise ValueError(f"along must be 'x' or 'y', got {along!r}")
    matches = np.asarray(matches.tolist() if isinstance(matches, torch.Tensor) else matches, dtype=np.float64)
    own = np.arange(len(matches)) + 0.5
    xs, ys = (matches + 0.5, own) if along == "y" else (own, matches + 0.5)
    ax.plot(xs, ys, "o-", color=color, lw=1.4, ms=3.5, mec="k", mew=0.4, label=label)


@styled
def cross_model_heatmap(
    matrix: Any,
    names_x: Sequence[str],
    names_y: Sequence[str],
    matches: torch.Tensor | Sequence[int] | None = None,
    *,
    model_x: str = "ViT",
    model_y: str = "ResNet",
    title: str | None = None,
    ticks: str = "blocks",
    figsize: tuple[float, float] = (6.0, 4.4),
) -> Figure:
    """Fig 2: CKA between every layer of model x (horizontal) and model y (vertical), with y's stage
    boundaries and, optionally, the path of each y layer's best-matching x layer.

    Args:
        matrix: (len(names_x), len(names_y)) CKA.
        names_x, names_y: layer names.
        matches: for each y layer, the index of its best x layer (`comparisons.best_matches(matrix, dim=0)`).
        model_x, model_y: model names for the axis labels.
        title: axes title.
        ticks: tick labelling, as in `cka_heatmap`.
        figsize: figure size.

    Returns:
        the figure.
    """
    figure, ax = new_figure(1, 1, figsize=figsize)
    stages_x, stages_y = boundaries(names_x, "stage"), boundaries(names_y, "stage")
    cka_heatmap(
        matrix,
        names_x,
        names_y,
        ax=ax,
        title=title,
        ticks=ticks,
        xlabel=f"{model_x} layers",
        ylabel=f"{model_y} layers",
    )
    _draw_stages(ax, stages_x, stages_y)
    if matches is not None:
        if len(matches) != len(names_y):
            raise ValueError(f"{len(matches)} matches for {len(names_y)} {model_y} layers")
        best_match_path(ax, matches, along="y", label=f"best {model_x} layer for each {model_y} layer")
        ax.legend(loc="upper left", framealpha=0.8)
    return figure


@styled
def correspondence_plot(
    summary: Mapping[str, Any], model_x: str = "ViT", model_y: str = "ResNet", title: str | None = None
) -> Figure:
    """Relative depth of each ResNet layer against that of its best-matching ViT layer, with the paper's
    reading of Fig 2 shaded (lower half of ResNet → lowest quarter of ViT; upper half → the next third).

    Args:
        summary: from `seelike.comparisons.correspondence`.
        model_x, model_y: the models' names (x = the matched model, ViT).
        title: axes title (default: the two fractions).

    Returns:
        the figure.
    """
    figure, ax = new_figure(1, 1, figsize=(5.4, 3.8))
    ax.add_patch(_rectangle(0.0, 0.0, 0.5, 0.25, "lower half → lowest quarter (paper)"))
    ax.add_patch(_rectangle(0.5, 0.25, 0.5, 1 / 3, "upper half → next third (paper)", "#b3cde3"))
    depth_y = np.asarray(summary["resnet_depth"], dtype=np.float64)
    depth_x = np.asarray(summary["best_vit_depth"], dtype=np.float64)
    ax.plot(depth_y, depth_x, "o-", color="k", ms=4, lw=1, label=f"best {model_x} layer (this zoo)")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(f"{model_y} layer, relative depth")
    ax.set_ylabel(f"best-matching {model_x} layer, relative depth")
    default = (
        f"lower half in lowest quarter: {summary['lower_half_in_lowest_quarter']:.0%}; "
        f"upper half in next third: {summary['upper_half_in_next_third']:.0%}"
    )
    ax.set_title(title or default)
    ax.legend(loc="upper left", frameon=False)
    return figure


def _rectangle(x: float, y: float, width: float, height: float, label: str, color: str = "#fbb4ae"):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), width, height, color=color, alpha=0.6, lw=0, label=label)
