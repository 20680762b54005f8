"""Figures of a claim's evidence: one value per seed, the seed mean, and the baselines it is read against.

Used beside the paper's figures so a reader sees how much of a pattern training put there (the untrained
network) and how far apart two trained seeds of one model are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .style import COLUMN_WIDTH, integer_ticks, legend_outside, new_figure, styled

__all__ = ["seed_spread", "curves_with_spread"]

BASELINE_STYLE = {"color": "0.45", "marker": "x", "s": 60, "zorder": 3}


@styled
def seed_spread(
    series: Mapping[str, Sequence[float]],
    baselines: Mapping[str, Mapping[str, float]] | None = None,
    ylabel: str = "",
    title: str = "",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """One column per series: a dot per seed, a bar for the mean, and crosses for its baselines.

    Args:
        series: label → per-seed values, e.g. {"ViT": [0.81, 0.82, 0.80], "ResNet": [...]}.
        baselines: label → {baseline name → value}, drawn as grey crosses in that column and named in the
            legend (e.g. {"ViT": {"at initialisation": 0.99}}).
        ylabel, title: axis label and title.
        ylim: y range (default: fitted to the values).
    Returns:
        the figure.
    """
    if not series:
        raise ValueError("no series to draw")
    baselines = baselines or {}
    figure, ax = new_figure(figsize=(min(COLUMN_WIDTH, 1.3 * len(series) + 2.4), 3.4))
    markers = ["x", "+", "1", "^"]
    names = sorted({name for b in baselines.values() for name in b})
    for column, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            continue
        offsets = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
        ax.scatter(
            column + offsets, values, color="C0", s=28, zorder=4, label="seed" if column == 0 else None
        )
        ax.hlines(values.mean(), column - 0.25, column + 0.25, color="C0", lw=2.2, zorder=4,
                  label="seed mean" if column == 0 else None)  # fmt: skip
        for name, value in baselines.get(label, {}).items():
            marker = markers[names.index(name) % len(markers)]
            first = not any(name in baselines.get(other, {}) for other in list(series)[:column])
            ax.scatter([column + 0.32], [value], **{**BASELINE_STYLE, "marker": marker},
                       label=name if first else None)  # fmt: skip
    ax.set_xticks(range(len(series)), list(series))
    ax.set_xlim(-0.6, len(series) - 0.4)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return figure


@styled
def curves_with_spread(
    x: Sequence[float],
    curves: Mapping[str, Sequence[Sequence[float]]],
    baselines: Mapping[str, Sequence[float]] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """Per-model curves over seeds: the seed mean as a line, the range over seeds as a band.

    Args:
        x: the shared x positions (e.g. block index or relative depth), length P.
        curves: label → per-seed curves, a sequence of S sequences of length P.
        baselines: label → one curve of length P, drawn dashed grey (e.g. the untrained network, the
            seed-to-seed ceiling).
    Returns:
        the figure.
    """
    if not curves:
        raise ValueError("no curves to draw")
    x = np.asarray(x, dtype=np.float64)
    figure, ax = new_figure(figsize=(6.4, 3.4))
    for index, (label, per_seed) in enumerate(curves.items()):
        values = np.asarray(per_seed, dtype=np.float64).reshape(-1, x.size)
        color = f"C{index}"
        ax.plot(x, values.mean(0), color=color, lw=2, label=_seeds_label(label, values.shape[0]))
        if values.shape[0] > 1:
            ax.fill_between(x, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)
    for index, (label, values) in enumerate((baselines or {}).items()):
        ax.plot(
            x, np.asarray(values, dtype=np.float64), color="0.4", ls=["--", ":", "-."][index % 3], label=label
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if x.size and np.allclose(x, np.round(x)):  # blocks or layers: no 2.5
        integer_ticks(ax)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    legend_outside(figure, ax, "right")
    ax.grid(alpha=0.3)
    return figure


def _seeds_label(label: str, count: int) -> str:
    """ "3% (1 seed)", "100% (2 seeds)"."""
    return f"{label} ({count} seed{'' if count == 1 else 's'})"
