"""Effective receptive fields (Fig 6 of the paper): which input pixels move a layer's centre location.

For a layer's feature map F (channels × positions) and an image x, the effective receptive field is

    ERF(x) = | ∂ Σ_c F_c(centre) / ∂ x |        summed over the input's colour channels,

averaged over images: the sensitivity of the centre location's (channel-summed) activation to every input
pixel (Luo et al. 2016; Raghu et al. 2021). A ResNet stage's ERF grows with depth; a ViT block can reach
the whole image at once, but its residual stream keeps the centre patch dominant. Positions are the spatial
positions of a (B, C, h, w) map, or the patch tokens of a (B, T, C) token sequence (prefix tokens such as CLS
are not positions). "Centre" is position ((h-1)//2, (w-1)//2): the true centre on odd grids, the one just
above and left of it on even grids.

Layers are given as points in the network: `name` (a module output) or `name:input` (a module input). For
timm ViTs, `vit_erf_points` names every sublayer before and after its residual connection:

    blocks.i.attn           attention sublayer output, before the residual add
    blocks.i.attn+residual  the stream after adding it (the input of blocks.i.norm2)
    blocks.i.mlp            MLP sublayer output, before the residual add
    blocks.i                the stream after adding it (the block output)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from .activations import Layer, capture
from .cache import memoize

__all__ = [
    "effective_receptive_field",
    "effective_receptive_fields",
    "erf_extent",
    "resnet_erf_points",
    "resolve_point",
    "vit_erf_points",
]


def vit_erf_points(model: nn.Module) -> dict[str, str]:
    """Points of a timm ViT, label → point, in depth order (see the module docstring)."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ValueError(f"{type(model).__name__} has no `blocks`: not a timm ViT")
    points: dict[str, str] = {}
    for index in range(len(blocks)):
        points[f"blocks.{index}.attn"] = f"blocks.{index}.attn"
        points[f"blocks.{index}.attn+residual"] = f"blocks.{index}.norm2:input"
        points[f"blocks.{index}.mlp"] = f"blocks.{index}.mlp"
        points[f"blocks.{index}"] = f"blocks.{index}"
    return points


def resnet_erf_points(model: nn.Module) -> dict[str, str]:
    """Points of a timm ResNet, label → point: the stem activation and every residual block's output."""
    if not hasattr(model, "layer1"):
        raise ValueError(f"{type(model).__name__} has no `layer1`: not a timm ResNet")
    points = {"stem": "act1"}
    for stage in range(1, 5):
        layer = getattr(model, f"layer{stage}", None)
        if layer is None:
            break
        for index in range(len(layer)):
            points[f"layer{stage}.{index}"] = f"layer{stage}.{index}"
    return points


def resolve_point(model: nn.Module, point: str) -> tuple[nn.Module, bool]:
    """(module, read its input?) for a point `name` or `name:input`; an empty name is the model itself."""
    name, _, where = point.partition(":")
    if where not in ("", "input", "output"):
        raise ValueError(f"point must be 'name', 'name:input' or 'name:output', got {point!r}")
    try:
        module = model.get_submodule(name)
    except AttributeError as error:
        raise ValueError(f"{type(model).__name__} has no module {name!r}") from error
    return module, where == "input"


def centre_activation(features: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
    """Σ over channels of the centre position's activation, one value per image.

    Args:
        features: (B, C, h, w) feature map or (B, T, C) tokens (prefix tokens first, then a square grid).
        num_prefix_tokens: leading non-spatial tokens of a token sequence.

    Returns:
        (B,).
    """
    if features.ndim == 4:
        height, width = features.shape[-2:]
        return features[:, :, (height - 1) // 2, (width - 1) // 2].sum(1)
    if features.ndim == 3:
        patches = features.shape[1] - num_prefix_tokens
        grid = math.isqrt(max(patches, 0))
        if patches < 1 or grid * grid != patches:
            raise ValueError(
                f"{features.shape[1]} tokens minus {num_prefix_tokens} prefix is not a square grid"
            )
        centre = (grid - 1) // 2
        return features[:, num_prefix_tokens + centre * grid + centre].sum(-1)
    raise ValueError(f"features must be (B, C, h, w) or (B, T, C), got {tuple(features.shape)}")


@memoize(ignore=("progress",))
def effective_receptive_field(
    model: nn.Module,
    images: torch.Tensor,
    point: str,
    num_prefix_tokens: int | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> torch.Tensor:
    """Mean over images of |∂ (centre activation of `point`, summed over channels) / ∂ input| (cached,
    `seelike.cache.memoize`).

    The model runs through `activations.capture` with autograd on, only up to the point (capture stops the
    forward pass there). Each image's gradient is its
    own: images do not interact in eval mode, so one backward pass per batch gives every image's map.

    Args:
        model: any torch model, in the mode it should be analysed in (eval for the zoo).
        images: (N, C, H, W) float images as the model takes them.
        point: module name (its output) or `name:input`; see `vit_erf_points`, `resnet_erf_points`.
        num_prefix_tokens: prefix tokens of token outputs; the model's own `num_prefix_tokens` (else 0).
        batch_size: images per backward pass.
        progress: show a progress bar.

    Returns:
        (H, W) float64, the ERF, summed over input channels and averaged over images.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf")
    if num_prefix_tokens is None:
        num_prefix_tokens = getattr(model, "num_prefix_tokens", 0)
    _, read_input = resolve_point(model, point)  # checks the point (an empty name is the model itself)
    layer = Layer(point, point.partition(":")[0], "input" if read_input else "output")
    captured: list[torch.Tensor] = []
    total = torch.zeros(images.shape[-2:], dtype=torch.float64)

    def add_gradient(index: int, batch: torch.Tensor) -> None:
        nonlocal total
        if not captured:
            raise RuntimeError(f"{point!r} was not reached in the forward pass")
        (gradient,) = torch.autograd.grad(centre_activation(captured[0], num_prefix_tokens).sum(), batch)
        total += gradient.abs().double().sum(dim=(0, 1)).cpu()
        captured.clear()

    capture(
        model, [layer], images, lambda name, features: captured.append(features), batch_size=batch_size,
        progress=progress, on_batch_end=add_gradient, desc=f"ERF {point}", grad=True, stop=True,
    )  # fmt: skip
    return total / len(images)


def effective_receptive_fields(
    model: nn.Module,
    images: torch.Tensor,
    points: dict[str, str] | list[str],
    num_prefix_tokens: int | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """`effective_receptive_field` for several points (each cached).

    Args:
        points: label → point (e.g. from `vit_erf_points`), or a list of points (each its own label).

    Returns:
        label → (H, W) float64 map, in the given order.
    """
    if isinstance(points, list):
        points = {point: point for point in points}
    return {
        label: effective_receptive_field(model, images, point, num_prefix_tokens, batch_size)
        for label, point in tqdm(points.items(), desc="receptive fields", disable=not progress)
    }


def erf_extent(erf: torch.Tensor, mass: float = 0.5) -> float:
    """Radius in pixels (from the map's weighted centre) of the smallest disc holding `mass` of the ERF.

    A single-number summary of a map's size: 0.5 means the half of the gradient mass nearest the centre.

    Args:
        erf: (H, W) non-negative map.
        mass: fraction of the total, in (0, 1).

    Returns:
        radius in pixels.
    """
    if erf.ndim != 2 or (erf < 0).any() or not torch.isfinite(erf).all():
        raise ValueError("erf must be a finite, non-negative (H, W) map")
    if not 0 < mass < 1:
        raise ValueError(f"mass must be in (0, 1), got {mass}")
    weights = erf.double().flatten()
    total = weights.sum()
    if total <= 0:
        raise ValueError("erf is all zero: the point does not depend on the input")
    rows, cols = torch.meshgrid(torch.arange(erf.shape[0]), torch.arange(erf.shape[1]), indexing="ij")
    rows, cols = rows.flatten().double(), cols.flatten().double()
    centre_row, centre_col = (weights * rows).sum() / total, (weights * cols).sum() / total
    radius = ((rows - centre_row) ** 2 + (cols - centre_col) ** 2).sqrt()
    order = radius.argsort()
    cumulative = weights[order].cumsum(0) / total
    index = int((cumulative < mass).sum())  # the first radius whose disc holds `mass` (< 1, so it exists)
    return radius[order][index].item()
