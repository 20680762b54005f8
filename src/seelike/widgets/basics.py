"""Live views of chapters 1-3: each builder computes with the measure modules and draws with
`seelike.figures.basics`, wrapped in a `LiveFigure` (live controls in Jupyter, a static PNG in the book)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

import ipywidgets as widgets
import torch
from torch import nn

from .. import gradients, patches, rollout, selfattention, skips
from ..activations import attention_probabilities
from ..figures import basics as figures
from .live import LiveFigure

__all__ = [
    "attention_map_view",
    "attention_scaling_view",
    "gradient_norms_view",
    "live_training_view",
    "patch_filters_view",
    "patchify_view",
    "position_similarity_view",
    "residual_stream_view",
    "rollout_view",
    "shuffled_patches_view",
    "zoo_training_curves_view",
]

_LAYOUT = {"style": {"description_width": "initial"}}


# --------------------------------------------------------------------------------------------- chapter 1


def gradient_norms_view(
    images: torch.Tensor, labels: torch.Tensor, depth: int = 32, steps: int = 20, max_depth: int = 56
) -> LiveFigure:
    """Per-layer gradient norms of plain vs residual networks; controls: depth, SGD steps.

    Args:
        images, labels: training data for the toy networks (a few thousand Fashion-MNIST images).
        depth, steps: initial control values; max_depth: the depth slider's upper end.
    """

    def draw(depth: int, steps: int):
        norms = gradients.compare_gradient_norms(images, labels, depth, steps)
        return figures.gradient_norms_figure(norms, steps)

    return LiveFigure(
        draw,
        depth=widgets.IntSlider(value=depth, min=4, max=max_depth, step=4, description="layers", **_LAYOUT),
        steps=widgets.IntSlider(value=steps, min=0, max=100, step=5, description="SGD steps", **_LAYOUT),
    )


def zoo_training_curves_view(histories: Mapping[str, Mapping[str, list]], smoothing: int = 4) -> LiveFigure:
    """Zoo training curves (from the manifest); controls: loss smoothing, log scale."""

    def draw(smoothing: int, log_loss: bool):
        return figures.training_curves_figure(histories, smoothing=smoothing, log_loss=log_loss)

    return LiveFigure(
        draw,
        smoothing=widgets.IntSlider(value=smoothing, min=1, max=20, description="smoothing", **_LAYOUT),
        log_loss=widgets.Checkbox(value=False, description="log loss axis", **_LAYOUT),
    )


def live_training_view(
    images: torch.Tensor, labels: torch.Tensor, depth: int = 32, steps: int = 150, lr: float = 0.05
) -> LiveFigure:
    """Train a plain and a residual network for a few seconds; controls: depth, steps, learning rate."""

    def draw(depth: int, steps: int, lr: float):
        runs = gradients.training_runs(images, labels, depth, steps, lr=lr)
        return figures.training_loss_figure(runs, title=f"{depth} layers, SGD lr {lr}, batch 128")

    return LiveFigure(
        draw,
        depth=widgets.IntSlider(value=depth, min=4, max=56, step=4, description="layers", **_LAYOUT),
        steps=widgets.IntSlider(value=steps, min=50, max=500, step=50, description="steps", **_LAYOUT),
        lr=widgets.Dropdown(
            options=[0.01, 0.02, 0.05, 0.1, 0.2], value=lr, description="learning rate", **_LAYOUT
        ),
    )


def residual_stream_view(models: Mapping[str, nn.Module], images: torch.Tensor) -> LiveFigure:
    """‖skip‖ vs ‖f(x)‖ per block of ResNets; control: which model.

    Args:
        models: label → timm ResNet in eval mode (e.g. the trained zoo `resnet` and its initialisation).
        images: (N, 1, 28, 28) images to average over.
    """

    @cache
    def norms(name: str):
        return skips.resnet_branch_norms(models[name], images)

    def draw(model: str):
        return figures.residual_stream_figure(norms(model), title=f"{model}: the two summands of every block")

    names = list(models)
    return LiveFigure(
        draw, model=widgets.Dropdown(options=names, value=names[0], description="model", **_LAYOUT)
    )


# --------------------------------------------------------------------------------------------- chapter 2


def attention_scaling_view(num_tokens: int = 16, head_dim: int = 64, seed: int = 0) -> LiveFigure:
    """Random attention with and without 1/√d; control: head dimension d."""

    def draw(head_dim: int):
        scaled = selfattention.random_attention_weights(num_tokens, head_dim, scaled=True, seed=seed)
        unscaled = selfattention.random_attention_weights(num_tokens, head_dim, scaled=False, seed=seed)
        return figures.attention_scaling_figure(
            scaled, unscaled, head_dim,
            selfattention.attention_entropy(scaled).mean().item(),
            selfattention.attention_entropy(unscaled).mean().item(),
        )  # fmt: skip

    options = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    return LiveFigure(
        draw, head_dim=widgets.SelectionSlider(options=options, value=head_dim, description="d", **_LAYOUT)
    )


def shuffled_patches_view(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    patch_size: int,
    class_names: Sequence[str],
    image: int = 0,
    seed: int = 0,
) -> LiveFigure:
    """A ViT on an image and on its patch-shuffled copy, with and without position embeddings;
    controls: image, shuffle seed."""

    def draw(image: int, seed: int):
        picture = images[image : image + 1]
        count = patches.patchify(picture, patch_size).shape[1]
        permutation = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
        shuffled = patches.shuffle_patches(picture, patch_size, permutation)
        probabilities = {}
        for positions, title in (
            (True, "ViT with position embeddings"),
            (False, "same ViT, positions removed"),
        ):
            both = [
                selfattention.class_probabilities(model, x, positions=positions)[0]
                for x in (picture, shuffled)
            ]
            probabilities[title] = tuple(both)
        return figures.shuffled_patches_figure(
            picture[0], shuffled[0], probabilities, class_names, int(labels[image])
        )

    return LiveFigure(
        draw,
        image=widgets.IntSlider(value=image, min=0, max=len(images) - 1, description="image", **_LAYOUT),
        seed=widgets.IntSlider(value=seed, min=0, max=20, description="shuffle seed", **_LAYOUT),
    )


def attention_map_view(
    model: nn.Module,
    images: torch.Tensor,
    patch_size: int,
    image: int = 0,
    block: int = 0,
    head: int = 0,
    query: int = 25,
    num_prefix_tokens: int = 1,
) -> LiveFigure:
    """Attention of one query token in one head of one block, over an image; controls: image, block,
    head, query token (0 = CLS when the model has one)."""
    attentions = attention_probabilities(model, images)  # per block (N, H, T, T), computed once
    heads, tokens = attentions[0].shape[1], attentions[0].shape[-1]

    def draw(image: int, block: int, head: int, query: int):
        weights = attentions[block][image, head, query]
        return figures.attention_map_figure(
            images[image], weights, query, patch_size, num_prefix_tokens, title=f"block {block}, head {head}"
        )

    return LiveFigure(
        draw,
        image=widgets.IntSlider(value=image, min=0, max=len(images) - 1, description="image", **_LAYOUT),
        block=widgets.IntSlider(value=block, min=0, max=len(attentions) - 1, description="block", **_LAYOUT),
        head=widgets.IntSlider(value=head, min=0, max=heads - 1, description="head", **_LAYOUT),
        query=widgets.IntSlider(value=query, min=0, max=tokens - 1, description="query token", **_LAYOUT),
    )


def rollout_view(
    model: nn.Module, images: torch.Tensor, image: int = 0, query: int = 0, num_prefix_tokens: int = 1
) -> LiveFigure:
    """Per-block attention (heads averaged) vs attention rollout for one query; controls: image, head
    fusion, weight of the skip connection."""
    attentions = attention_probabilities(model, images)
    grid = int(round((attentions[0].shape[-1] - num_prefix_tokens) ** 0.5))
    label = "CLS" if query < num_prefix_tokens else f"patch {query - num_prefix_tokens}"

    def draw(image: int, fusion: str, residual_weight: float):
        selected = [attention[image : image + 1] for attention in attentions]
        rolled = rollout.attention_rollout(selected, fusion=fusion, residual_weight=residual_weight)
        raw = [rollout.fuse_heads(attention.double(), fusion)[0, query] for attention in selected]
        as_maps = [row[num_prefix_tokens:].reshape(grid, grid) for row in raw]
        rolled_maps = [r[0, query, num_prefix_tokens:].reshape(grid, grid) for r in rolled]
        return figures.rollout_figure(images[image], as_maps, rolled_maps, query_label=label)

    return LiveFigure(
        draw,
        image=widgets.IntSlider(value=image, min=0, max=len(images) - 1, description="image", **_LAYOUT),
        fusion=widgets.Dropdown(
            options=list(rollout.HEAD_FUSIONS), value="mean", description="heads", **_LAYOUT
        ),
        residual_weight=widgets.FloatSlider(
            value=0.5, min=0.0, max=0.9, step=0.1, description="skip weight α", **_LAYOUT
        ),
    )


# --------------------------------------------------------------------------------------------- chapter 3


def patchify_view(
    images: Mapping[str, torch.Tensor], embed_dim: int, patch_sizes: Mapping[str, int] | None = None
) -> LiveFigure:
    """Cut an image into patches; controls: image, patch size (the sizes that tile the chosen image).

    Args:
        images: name → (C, H, W) square image in [0, 1]; the first one is shown first.
        embed_dim: token width D (for the annotation).
        patch_sizes: name → the patch size selected when that image is chosen (default: a middle one).
    """
    names = list(images)
    patch_sizes = dict(patch_sizes or {})

    def sizes(name: str) -> list[int]:
        side = images[name].shape[-1]
        return [p for p in patches.divisors(side) if side // p <= 56 and p < side]  # at most 56×56 patches

    def default_size(name: str) -> int:
        options = sizes(name)
        return patch_sizes[name] if patch_sizes.get(name) in options else options[len(options) // 2]

    image_control = widgets.Dropdown(options=names, value=names[0], description="image", **_LAYOUT)
    size_control = widgets.Dropdown(
        options=sizes(names[0]), value=default_size(names[0]), description="patch size", **_LAYOUT
    )

    def on_image(change: dict) -> None:  # registered before the LiveFigure's observer, so it runs first
        size_control.options = sizes(change["new"])  # (may redraw once with the first option)
        size_control.value = default_size(change["new"])

    image_control.observe(on_image, names="value")

    def draw(image: str, patch_size: int):
        picture = images[image]
        flat = patches.patchify(picture[None], patch_size)[0]
        return figures.patchify_figure(picture, flat, patch_size, embed_dim)

    return LiveFigure(draw, image=image_control, patch_size=size_control)


def patch_filters_view(filters: Mapping[str, torch.Tensor], count: int = 32) -> LiveFigure:
    """Patch-embedding filters or their principal components; controls: model, what to show, how many.

    Args:
        filters: model label → (D, C, p, p) filters (e.g. `seelike.patches.patch_embedding_filters`).
        count: initial number of filters shown.
    """
    names = list(filters)
    largest = max(len(f) for f in filters.values())

    def draw(model: str, show: str, count: int):
        chosen = filters[model]
        if show == "principal components":
            components, explained = patches.filter_principal_components(chosen, count)
            return figures.patch_filters_figure(components, f"{model}: principal components", explained)
        return figures.patch_filters_figure(
            chosen[:count], f"{model}: first {min(count, len(chosen))} filters"
        )

    return LiveFigure(
        draw,
        model=widgets.Dropdown(options=names, value=names[0], description="model", **_LAYOUT),
        show=widgets.Dropdown(
            options=["filters", "principal components"], value="filters", description="show", **_LAYOUT
        ),
        count=widgets.IntSlider(
            value=min(count, largest), min=4, max=largest, step=4, description="how many", **_LAYOUT
        ),  # fmt: skip
    )


def position_similarity_view(
    embeddings: Mapping[str, torch.Tensor], highlight: tuple[int, int] = (1, 1)
) -> LiveFigure:
    """Cosine similarity of position embeddings as a grid of maps; controls: which embedding, which map
    to outline (row, column).

    Args:
        embeddings: label → (N, D) position embeddings of the patches (N a square).
        highlight: initial (row, column) of the outlined map.
    """
    names = list(embeddings)
    largest_grid = max(int(round(len(e) ** 0.5)) for e in embeddings.values())

    @cache
    def similarity(name: str):
        return patches.position_embedding_similarity(embeddings[name])

    def draw(embedding: str, row: int, column: int):
        table = similarity(embedding)
        grid = table.shape[0]
        return figures.position_similarity_figure(
            table, embedding, highlight=(min(row, grid - 1), min(column, grid - 1))
        )

    return LiveFigure(
        draw,
        embedding=widgets.Dropdown(options=names, value=names[0], description="embedding", **_LAYOUT),
        row=widgets.IntSlider(value=highlight[0], min=0, max=largest_grid - 1, description="row", **_LAYOUT),
        column=widgets.IntSlider(
            value=highlight[1], min=0, max=largest_grid - 1, description="column", **_LAYOUT
        ),
    )
