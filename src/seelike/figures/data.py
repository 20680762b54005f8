"""Figures: the data (chapter 0)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure

from .style import COLUMN_WIDTH, new_figure, styled

__all__ = ["image_grid_by_class", "photo_strip"]


@styled
def image_grid_by_class(
    images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str], per_class: int = 8, start: int = 0
) -> Figure:
    """A grid with one row per class and `per_class` examples in each.

    Args:
        images: (N, 1, H, W) or (N, 3, H, W) in [0, 1].
        labels: (N,) int class indices.
        class_names: name of every class, indexed by label.
        per_class: examples shown per class.
        start: skip this many examples of each class first (to browse).
    """
    n_classes = len(class_names)
    figure, axes = new_figure(
        n_classes,
        per_class,
        figsize=(min(COLUMN_WIDTH, 1.2 + per_class * 0.7), n_classes * 0.74),
        squeeze=False,
    )
    for row, name in enumerate(class_names):
        members = torch.nonzero(labels == row).flatten()[start : start + per_class]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(members):
                image = images[members[col]]
                if image.shape[0] == 1:
                    ax.imshow(image[0], cmap="gray_r", vmin=0, vmax=1)
                else:
                    ax.imshow(image.permute(1, 2, 0))
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    return figure


@styled
def photo_strip(photos: Mapping[str, torch.Tensor]) -> Figure:
    """The colour photos side by side, each (3, H, W) in [0, 1], titled by name."""
    width = min(2.2, COLUMN_WIDTH / len(photos))
    figure, axes = new_figure(1, len(photos), figsize=(width * len(photos), width + 0.5), squeeze=False)
    for ax, (name, image) in zip(axes[0], photos.items(), strict=True):
        ax.imshow(image.permute(1, 2, 0))
        ax.set_title(f"{name}\n{tuple(image.shape)}")
        ax.axis("off")
    return figure
