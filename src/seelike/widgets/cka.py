"""Live views for chapter 5: CKA heatmaps between any two models of a set (or within one), for a chosen
layer family and number of images. Results come from `seelike.cka.model_cka`, cached on disk, so a
setting seen before redraws without running a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import torch
from torch import nn

from .. import activations, cka, comparisons
from ..figures import structure as figures
from .live import LiveFigure

__all__ = ["structure_view"]


def structure_view(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    model_a: str | None = None,
    model_b: str | None = None,
    family: str = "all",
    examples: int | None = None,
    example_options: Sequence[int] = (256, 512, 1024, 2048),
    batch_size: int = 256,
) -> LiveFigure:
    """Heatmap of CKA between the layers of two models (within one model when both choices agree).

    Across models, the path marks, for each layer of the second model, its most similar layer of the first.

    Args:
        models: display name → model in eval mode (e.g. {"vit": ..., "resnet": ..., "mixer": ...}).
        images: (N, C, H, W) images every model takes.
        model_a, model_b: initial choices (default: the first two models).
        family: initial layer family, one of `activations.FAMILY_CHOICES`.
        examples: initial number of images (default: the largest option ≤ N).
        example_options: the choices offered for the number of images (those ≤ N are kept).
        batch_size: minibatch size of the CKA estimator.

    Returns:
        the LiveFigure; controls "model_a", "model_b", "family", "examples".
    """
    names = list(models)
    if not names:
        raise ValueError("no models to compare")
    model_a = model_a or names[0]
    model_b = model_b or names[min(1, len(names) - 1)]
    options = [n for n in example_options if 4 <= n <= len(images)] or [len(images)]
    if examples is None:
        examples = options[-1]
    if examples not in options:
        raise ValueError(f"examples={examples} is not among the options {options}")

    def draw(model_a: str, model_b: str, family: str, examples: int):
        first, second = models[model_a], models[model_b]
        subset = images[:examples]
        layers_a = activations.layers_for(first, family)
        if model_a == model_b:
            matrix, names_a, _ = cka.model_cka(first, None, subset, layers_a, batch_size=batch_size)
            subtitle = (
                f"mean off-diagonal CKA {comparisons.mean_off_diagonal(matrix):.2f} ({examples} images)"
            )
            return figures.within_model_heatmaps({model_a: (matrix, names_a)}, {model_a: subtitle})
        layers_b = activations.layers_for(second, family)
        matrix, names_a, names_b = cka.model_cka(
            first, second, subset, layers_a, layers_b, batch_size=batch_size
        )
        return figures.cross_model_heatmap(
            matrix,
            names_a,
            names_b,
            comparisons.best_matches(matrix, dim=0),
            model_x=model_a,
            model_y=model_b,
            title=f"{model_a} vs {model_b}: {family} layers, {examples} images",
        )

    return LiveFigure(
        draw,
        model_a=widgets.Dropdown(options=names, value=model_a, description="model x"),
        model_b=widgets.Dropdown(options=names, value=model_b, description="model y"),
        family=widgets.Dropdown(options=list(activations.FAMILY_CHOICES), value=family, description="layers"),
        examples=widgets.Dropdown(options=options, value=examples, description="images"),
    )
