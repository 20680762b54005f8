"""Live views: the data (chapter 0)."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from .. import figures
from .live import LiveFigure

__all__ = ["browse_images"]


def browse_images(images: torch.Tensor, labels: torch.Tensor, class_names, per_class: int = 8) -> LiveFigure:
    """Browse a labelled image set by class: a slider pages through the examples of every class."""
    largest_page = int(torch.bincount(labels).min().item()) // per_class - 1
    return LiveFigure(
        lambda start: figures.image_grid_by_class(images, labels, class_names, per_class, start * per_class),
        start=widgets.IntSlider(value=0, min=0, max=max(0, largest_page), description="page"),
    )
