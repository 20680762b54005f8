"""Figures for chapter 4 (comparing representations with CKA): Gram matrices, invariances, estimator bias,
minibatch size, and the float32 centring failure. Results in (from `seelike.cka_intro`), figures out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from .style import SMALL, column_size, legend_outside, new_figure, panel_size, styled, to_numpy

__all__ = ["cka_invariances", "float32_failure", "gram_matrices", "hsic_bias", "minibatch_effect"]

BIASED_COLOR, UNBIASED_COLOR, ENGINE_COLOR = "#d95f02", "#1b9e77", "#7570b3"


@styled
def gram_matrices(
    grams: Mapping[str, torch.Tensor],
    labels: torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    cka_values: Mapping[str, float] | None = None,
) -> Figure:
    """Side-by-side (centred) Gram matrices of several representations of the same examples.

    Args:
        grams: title → (n, n) Gram matrix; examples in the same order in each (e.g. sorted by class).
        labels: (n,) class of each example; class blocks are outlined when given.
        class_names: names of the classes, for tick labels.
        cka_values: title → CKA with the first representation, shown in the titles (omit the first).

    Returns:
        the figure.
    """
    if not grams:
        raise ValueError("no Gram matrices to draw")
    sizes = {tuple(g.shape) for g in grams.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 2:
        raise ValueError(f"Gram matrices must be (n, n) and of one size, got {sorted(sizes)}")
    figure, axes = new_figure(1, len(grams), figsize=panel_size(len(grams), 3.0, 3.0, 0.6))
    axes = np.atleast_1d(axes)
    first = next(iter(grams))
    for ax, (title, matrix) in zip(axes, grams.items(), strict=True):
        values = to_numpy(matrix, np.float64)
        limit = np.abs(values).max() or 1.0
        ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        if cka_values is not None and title in cka_values:
            title = f"{title}\nCKA with {first}: {cka_values[title]:.2f}"
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        if labels is not None:
            label_array = to_numpy(labels, np.float64).astype(int)
            edges = np.flatnonzero(np.diff(label_array)) + 0.5
            for edge in edges:
                ax.axhline(edge, color="k", lw=0.4)
                ax.axvline(edge, color="k", lw=0.4)
            if class_names is not None and ax is axes[0]:
                starts = np.concatenate([[-0.5], edges])
                ends = np.concatenate([edges, [len(label_array) - 0.5]])
                ax.set_yticks((starts + ends) / 2)
                ax.set_yticklabels([class_names[c] for c in label_array[np.r_[0, (edges + 0.5).astype(int)]]])
    figure.suptitle("Centred Gram matrices: each pixel compares two images")
    return figure


@styled
def cka_invariances(
    after_transforms: Mapping[str, float],
    condition_sweep: Mapping[str, torch.Tensor] | None = None,
    kernel: str = "linear",
) -> Figure:
    """CKA between a representation and transformed copies of it; optionally CKA against the condition number
    of an invertible linear map.

    Args:
        after_transforms: transform name → CKA(X, T(X)) (from `cka_intro.cka_after_transforms`).
        condition_sweep: {"condition_number", "cka"} (from `cka_intro.cka_vs_condition_number`).
        kernel: shown in the title.

    Returns:
        the figure.
    """
    panels = 2 if condition_sweep is not None else 1
    figure, axes = new_figure(1, panels, figsize=column_size(3.2, 0.62 * panels if panels == 1 else 1.0))
    axes = np.atleast_1d(axes)
    names = list(after_transforms)
    values = np.array([after_transforms[name] for name in names])
    colors = [UNBIASED_COLOR if abs(v - 1) < 1e-6 else BIASED_COLOR for v in values]
    ax = axes[0]
    ax.barh(range(len(names)), values, color=colors)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    for row, value in enumerate(values):
        ax.text(value + 0.01, row, f"{value:.3f}", va="center", fontsize=SMALL)
    ax.set_xlabel("CKA(X, transformed X)")
    ax.set_title(f"{kernel} CKA\ngreen = exactly 1 (invariant)")
    if condition_sweep is not None:
        ax = axes[1]
        ax.plot(
            to_numpy(condition_sweep["condition_number"], np.float64),
            to_numpy(condition_sweep["cka"], np.float64),
            "o-",
            color=BIASED_COLOR,
        )
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("condition number κ of the linear map A")
        ax.set_ylabel("CKA(X, X A)")
        ax.set_title("κ = 1: a rotation\nthe more uneven the stretch, the lower")
    return figure


@styled
def hsic_bias(
    result: Mapping[str, torch.Tensor], features: int | None = None, kernel: str = "linear"
) -> Figure:
    """CKA of two independent random representations against the number of examples, from biased and from
    unbiased HSIC (mean over repeats, band = min to max).

    Args:
        result: {"n", "biased", "unbiased"} from `cka_intro.independent_cka_vs_n`.
        features: features per representation, for the title.
        kernel: kernel name, for the title.

    Returns:
        the figure.
    """
    figure, ax = new_figure(1, 1, figsize=(6.0, 3.6))
    n = to_numpy(result["n"], np.float64)
    for key, color, label in (
        ("biased", BIASED_COLOR, "biased HSIC (Gretton et al. 2005)"),
        ("unbiased", UNBIASED_COLOR, "unbiased HSIC (Song et al. 2012)"),
    ):
        values = to_numpy(result[key], np.float64)
        ax.fill_between(n, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)
        ax.plot(n, values.mean(0), "o-", color=color, label=label, ms=4)
    ax.axhline(0.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of examples n")
    ax.set_ylabel("CKA estimate (true value 0)")
    size = f"{features} features each, " if features is not None else ""
    ax.set_title(f"Two independent random representations ({size}{kernel} kernel)")
    ax.legend(frameon=False)
    return figure


@styled
def minibatch_effect(
    result: Mapping[str, torch.Tensor], n: int | None = None, title: str | None = None
) -> Figure:
    """Minibatch CKA (HSIC summed over minibatches) and two shortcuts against the minibatch size.

    Args:
        result: from `cka_intro.minibatch_size_effect`.
        n: number of examples, for the title.
        title: what was compared (e.g. the two layers).

    Returns:
        the figure.
    """
    figure, ax = new_figure(1, 1, figsize=column_size(4.0))
    sizes = to_numpy(result["batch_size"], np.float64)
    ax.axhline(
        float(result["full_unbiased"]),
        color=UNBIASED_COLOR,
        ls="--",
        lw=1,
        label="all examples at once, unbiased",
    )
    ax.axhline(
        float(result["full_biased"]), color=BIASED_COLOR, ls="--", lw=1, label="all examples at once, biased"
    )
    ax.plot(
        sizes,
        to_numpy(result["minibatch"], np.float64),
        "o-",
        color=ENGINE_COLOR,
        lw=2,
        label="minibatch CKA: unbiased HSIC summed, normalised once",
    )
    ax.plot(
        sizes,
        to_numpy(result["mean_unbiased"], np.float64),
        "s-",
        color=UNBIASED_COLOR,
        ms=4,
        label="mean of per-minibatch CKA, unbiased",
    )
    ax.plot(
        sizes,
        to_numpy(result["mean_biased"], np.float64),
        "^-",
        color=BIASED_COLOR,
        ms=4,
        label="mean of per-minibatch CKA, biased",
    )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(int(s)) for s in sizes])
    ax.set_xlabel("minibatch size")
    ax.set_ylabel("CKA")
    head = title or "Minibatch size and the CKA estimate"
    ax.set_title(head + (f" (n = {n})" if n is not None else ""))
    legend_outside(figure, ax, ncols=2)
    return figure


@styled
def float32_failure(result: Mapping[str, torch.Tensor], scale: float = 1.0) -> Figure:
    """CKA of (scale·X + offset, scale·Y + offset) against the offset: flat lines are correct.

    Args:
        result: from `cka_intro.offset_failure`.
        scale: the scale applied, for the title.

    Returns:
        the figure.
    """
    figure, ax = new_figure(1, 1, figsize=(6.2, 3.6))
    offsets = to_numpy(result["offset"], np.float64)
    lines = [  # result key, format, style, label
        ("reference", "--", {"color": "0.5", "lw": 1}, "float64 reference, biased"),
        ("reference_unbiased", "--", {"color": ENGINE_COLOR, "lw": 1}, "float64 reference, unbiased"),
        ("naive_float64", "s-", {"color": "0.3", "ms": 4}, "Gram-space formula, float64"),
        ("naive_float32", "o-", {"color": BIASED_COLOR}, "Gram-space formula, float32"),
        ("minibatch_cka", "^-", {"color": ENGINE_COLOR, "ms": 5}, "seelike MinibatchCKA (float32 Gram)"),
    ]
    for key, fmt, style, label in lines:
        ax.plot(offsets, to_numpy(result[key], np.float64), fmt, label=label, **style)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("offset added to every activation")
    ax.set_ylabel("CKA")
    ax.set_title(f"CKA should not move: activations × {scale:g} + offset")
    ax.legend(frameon=False, loc="best")
    return figure
