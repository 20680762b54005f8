"""Live views for chapter 6, local vs global: attention distances per model / block / image subset (Figs 3
and 4), head-subset CKA (Fig 5) and effective receptive fields (Fig 6).

Each view computes its measure only when a control asks for a value it has not seen, by calling the cached
measure itself (`seelike.cache.memoize`: a result computed once, in this session or an earlier one, by the
chapter or by a view, is loaded; no view builds a key), and draws with `seelike.figures`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
import torch
from torch import nn

from .. import figures
from ..attention import (
    dataset_mean_attention_distance,
    head_subset_cka,
    head_subsets,
    local_head_mask,
    model_patch_geometry,
    sort_heads,
    subset_distances,
    uniform_attention_distance,
)
from ..receptive_field import effective_receptive_field, erf_extent
from .live import LiveFigure

__all__ = [
    "data_scale_distance_view",
    "head_subset_cka_view",
    "image_subsets",
    "mean_distance_view",
    "receptive_field_grid_view",
    "receptive_field_view",
]

ALL_IMAGES = "all images"


def image_subsets(labels: torch.Tensor, class_names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Subset name → image indices: all images, then one subset per class."""
    subsets = {ALL_IMAGES: torch.arange(len(labels))}
    for index, name in enumerate(class_names):
        members = torch.nonzero(labels == index).flatten()
        if len(members):
            subsets[name] = members
    return subsets


def _distance_function(
    images: torch.Tensor, batch_size: int
) -> Callable[[nn.Module, str, torch.Tensor], torch.Tensor]:
    """(model, subset name, indices) → (blocks, heads) distances, cached on disk (the measure is memoized,
    so a chapter's own call with the same images and settings is read back, not recomputed) and in memory."""
    memory: dict[tuple[int, str], torch.Tensor] = {}

    def distances(model: nn.Module, subset: str, indices: torch.Tensor) -> torch.Tensor:
        key = (id(model), subset)
        if key not in memory:
            patch_size, _, _ = model_patch_geometry(model)
            chosen = images if subset == ALL_IMAGES else images[indices]
            memory[key] = dataset_mean_attention_distance(model, chosen, patch_size, batch_size)
        return memory[key]

    return distances


def _uniform(model: nn.Module) -> float:
    patch_size, grid_size, _ = model_patch_geometry(model)
    return uniform_attention_distance(grid_size, patch_size)


def mean_distance_view(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    batch_size: int = 250,
) -> LiveFigure:
    """Fig 3, live: mean attention distance per sorted head and block.

    Args:
        models: name → timm ViT (the first is shown first).
        images: (N, C, H, W) images the distances are averaged over.
        labels: (N,) class indices, for the per-class image subsets.
        class_names: names of the classes.
        batch_size: images per forward pass (`attention.dataset_mean_attention_distance`'s, whose cached
            results the view reads).

    Returns:
        a LiveFigure with controls `model`, `block` (None = all blocks alike) and `images` (a subset).
    """
    subsets = image_subsets(labels, class_names)
    distances = _distance_function(images, batch_size)
    depth = max(len(model.blocks) for model in models.values())

    def draw(model: str, block: int | None, images: str):
        chosen = models[model]
        values = distances(chosen, images, subsets[images])
        highlight = block if block is not None and block < values.shape[0] else None
        title = f"{model}: mean attention distance ({images}, {len(subsets[images])})"
        return figures.mean_distance_by_head(values, _uniform(chosen), highlight_block=highlight, title=title)

    return LiveFigure(
        draw,
        model=widgets.Dropdown(options=list(models), description="model"),
        block=widgets.Dropdown(
            options=[("all", None)] + [(f"block {b}", b) for b in range(depth)], description="block"
        ),
        images=widgets.Dropdown(options=list(subsets), description="images"),
    )


def data_scale_distance_view(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    local_blocks: Sequence[int] = (0, 1),
    local_fraction: float = 0.6,
    batch_size: int = 250,
) -> LiveFigure:
    """Fig 4, live: sorted heads per block, one panel per model (e.g. per training-set size).

    Args:
        models: panel title → timm ViT, left to right.
        images, labels, class_names, batch_size: as in `mean_distance_view`.
        local_blocks: the blocks in which local heads are counted (written in each panel).
        local_fraction: a head is local at or below this fraction of the uniform-attention distance.

    Returns:
        a LiveFigure with controls `blocks` (which blocks are drawn) and `images` (a subset).
    """
    subsets = image_subsets(labels, class_names)
    distances = _distance_function(images, batch_size)
    depth = max(len(model.blocks) for model in models.values())
    half = depth // 2
    block_choices = [
        ("all", None),
        (f"lowest {len(local_blocks)}", tuple(local_blocks)),
        (f"lower half (0-{half - 1})", tuple(range(half))),
        (f"upper half ({half}-{depth - 1})", tuple(range(half, depth))),
    ] + [(f"block {b}", (b,)) for b in range(depth)]

    def draw(blocks: tuple[int, ...] | None, images: str):
        values = {name: distances(model, images, subsets[images]) for name, model in models.items()}
        counts = {}
        for name, model in models.items():
            patch_size, grid_size, _ = model_patch_geometry(model)
            mask = local_head_mask(values[name], grid_size, patch_size, local_fraction, local_blocks)
            counts[name] = int(mask.sum())
        uniform = _uniform(next(iter(models.values())))
        title = f"mean attention distance by training-set size ({images})"
        return figures.mean_distance_by_data(values, uniform, blocks, counts, local_fraction, title=title)

    return LiveFigure(
        draw,
        blocks=widgets.Dropdown(options=block_choices, description="blocks"),
        images=widgets.Dropdown(options=list(subsets), description="images"),
    )


def head_subset_cka_view(
    vit: nn.Module,
    resnet: nn.Module,
    images: torch.Tensor,
    resnet_layers: Sequence[str],
    distances: torch.Tensor,
    batch_size: int = 250,
) -> LiveFigure:
    """Fig 5, live: CKA of head subsets (ordered local → global) of one ViT block with early ResNet layers.

    Args:
        vit: a timm ViT.
        resnet: the CNN compared with.
        images: (N, C, H, W) images for CKA.
        resnet_layers: module names of `resnet`.
        distances: (blocks, heads) mean attention distances of `vit` (orders the heads).
        batch_size: CKA minibatch size (`attention.head_subset_cka` is memoized: the same images and
            settings as the chapter's own call read its result back).

    Returns:
        a LiveFigure with controls `block` (whose heads) and `size` (heads per subset).
    """
    _, order = sort_heads(distances)
    blocks, heads = distances.shape
    memory: dict[tuple[int, int], torch.Tensor] = {}

    def draw(block: int, size: int):
        subsets = head_subsets(order[block], size)
        if (block, size) not in memory:
            memory[block, size] = head_subset_cka(
                vit, resnet, images, subsets, resnet_layers, block, batch_size
            )
        cka = memory[block, size]
        labels = ["h" + "+".join(map(str, s)) for s in subsets]
        return figures.head_subset_cka_curves(
            subset_distances(distances[block], subsets),
            cka,
            list(resnet_layers),
            labels,
            title=f"block {block} heads, {size} per subset (local → global) vs ResNet",
        )

    return LiveFigure(
        draw,
        block=widgets.Dropdown(options=list(range(blocks)), value=0, description="ViT block"),
        size=widgets.IntSlider(value=min(2, heads), min=1, max=heads, description="heads/subset"),
    )


def _erf_function(images: torch.Tensor, batch_size: int) -> Callable[[nn.Module, str, int], torch.Tensor]:
    memory: dict[tuple[int, str, int], torch.Tensor] = {}

    def erf(model: nn.Module, point: str, count: int) -> torch.Tensor:
        key = (id(model), point, count)
        if key not in memory:
            chosen = images[:count]
            memory[key] = effective_receptive_field(model, chosen, point, batch_size=batch_size)
        return memory[key]

    return erf


def receptive_field_grid_view(
    models: Mapping[str, nn.Module],
    rows: Mapping[str, Mapping[str, Mapping[str, str]]],
    images: torch.Tensor,
    patch_sizes: Mapping[str, int] | None = None,
    counts: Sequence[int] = (32, 8, 128),
    batch_size: int = 32,
    log_colour: bool = False,
) -> LiveFigure:
    """Fig 6, live: ERF maps, one row per model, for a choice of points (e.g. before / after the residual).

    Args:
        models: row title → model.
        rows: view name → (row title → (label → point)); the first view is the default. Every row title
            must be in `models`.
        images: (N, C, H, W); the first `count` are used.
        patch_sizes: row title → patch size (draws the patch grid).
        counts: choices for the number of images (the first is the default).
        batch_size: images per backward pass.
        log_colour: start with the logarithmic colour scale instead of the linear one.

    Returns:
        a LiveFigure with controls `view`, `count` and `colour` (linear, as in the paper, or logarithmic
        over three decades, where the faint tails show).
    """
    erf = _erf_function(images, batch_size)

    def draw(view: str, count: int, colour: float | None):
        maps = {
            row: {label: erf(models[row], point, count) for label, point in points.items()}
            for row, points in rows[view].items()
        }
        title = f"effective receptive fields ({view}; {count} images)"
        return figures.receptive_field_grid(maps, patch_sizes, log_decades=colour, title=title)

    return LiveFigure(
        draw,
        view=widgets.Dropdown(options=list(rows), description="view"),
        count=widgets.Dropdown(options=[c for c in counts if c <= len(images)], description="images"),
        colour=widgets.Dropdown(
            options=[("linear", None), ("log, 3 decades", 3.0)],
            value=3.0 if log_colour else None,
            description="colour",
        ),
    )


def receptive_field_view(
    models: Mapping[str, nn.Module],
    points: Mapping[str, Mapping[str, str]],
    images: torch.Tensor,
    patch_sizes: Mapping[str, int] | None = None,
    count: int = 32,
    batch_size: int = 32,
) -> LiveFigure:
    """Fig 6 in detail, live: one ERF layer at a time, its map and its profile through the centre.

    Args:
        models: name → model.
        points: name → (label → point) of that model (e.g. `vit_erf_points(model)`).
        images: (N, C, H, W); the first `count` are used.
        patch_sizes: name → patch size (draws the patch grid).
        count: number of images averaged.
        batch_size: images per backward pass.

    Returns:
        a LiveFigure with controls `model` and `layer` (the layer list follows the model).
    """
    erf = _erf_function(images, batch_size)
    first = next(iter(models))

    def draw(model: str, layer: str):
        if layer not in points[model]:  # the model just changed; the layer list follows right after
            layer = next(iter(points[model]))
        values = erf(models[model], points[model][layer], count)
        return figures.receptive_field_detail(
            values, f"{model} {layer}", (patch_sizes or {}).get(model), erf_extent(values)
        )

    model_control = widgets.Dropdown(options=list(models), value=first, description="model")
    layer_control = widgets.Dropdown(options=list(points[first]), description="ERF layer")
    view = LiveFigure(draw, model=model_control, layer=layer_control)

    def follow_model(change: dict) -> None:
        layer_control.options = list(points[change["new"]])

    model_control.observe(follow_model, names="value")
    return view
