"""Images as sequences of patches: patchify / unpatchify, the linear patch embedding, its learned filters,
and the similarity structure of position embeddings.

A ViT cuts a (C, H, W) image into non-overlapping p×p patches in raster order (left to right, top to
bottom), flattens each to a vector of C·p·p numbers in (channel, row, column) order, and multiplies it by
one matrix. That is exactly a convolution with kernel size and stride p, which is how timm implements it
(`patch_embed.proj`); `embed_patches` does the matrix product so both views can be compared.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .zoo import sincos_2d  # the zoo builds vit-localinit's fixed positions with it; taught here

__all__ = [
    "paper_scale",
    "divisors",
    "embed_patches",
    "filter_principal_components",
    "patch_count",
    "patch_embedding_filters",
    "patchify",
    "position_embedding_similarity",
    "position_embeddings",
    "shuffle_patches",
    "sincos_1d",
    "sincos_2d",
    "unpatchify",
]


def divisors(n: int) -> list[int]:
    """Every patch size that tiles a side of n pixels exactly, ascending."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return [d for d in range(1, n + 1) if n % d == 0]


def patch_count(image_size: int | tuple[int, int], patch_size: int) -> tuple[int, int]:
    """(rows, columns) of p×p patches that tile an image of `image_size` (H, or (H, W)) exactly."""
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(f"patch size {patch_size} does not divide the image size {height}×{width}")
    return height // patch_size, width // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping patches, each flattened, in raster order.

    Args:
        images: (B, C, H, W); patch_size: p, dividing H and W.

    Returns:
        (B, N, C·p·p) with N = (H/p)·(W/p); each row is one patch flattened in (channel, row, column) order.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    rows, cols = patch_count((height, width), patch_size)
    grid = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    return grid.permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, channels * patch_size * patch_size)


def unpatchify(patches: torch.Tensor, patch_size: int, image_size: int | tuple[int, int]) -> torch.Tensor:
    """Inverse of `patchify`: put flattened patches back into images.

    Args:
        patches: (B, N, C·p·p); patch_size: p; image_size: H (square) or (H, W).

    Returns:
        (B, C, H, W).
    """
    if patches.ndim != 3:
        raise ValueError(f"patches must be (B, N, C·p·p), got {tuple(patches.shape)}")
    rows, cols = patch_count(image_size, patch_size)
    batch, count, features = patches.shape
    if count != rows * cols or features % (patch_size * patch_size):
        raise ValueError(f"{count} patches of {features} values do not tile {image_size} with p={patch_size}")
    channels = features // (patch_size * patch_size)
    grid = patches.reshape(batch, rows, cols, channels, patch_size, patch_size)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(batch, channels, rows * patch_size, cols * patch_size)


def shuffle_patches(images: torch.Tensor, patch_size: int, permutation: torch.Tensor) -> torch.Tensor:
    """Images whose patches are rearranged: patch i of the result is patch permutation[i] of the input.

    Args:
        images: (B, C, H, W); patch_size: p; permutation: (N,) a permutation of range(N).

    Returns:
        (B, C, H, W).
    """
    patches = patchify(images, patch_size)
    if sorted(permutation.tolist()) != list(range(patches.shape[1])):
        raise ValueError(f"permutation must reorder range({patches.shape[1]})")
    return unpatchify(patches[:, permutation], patch_size, tuple(images.shape[-2:]))


def embed_patches(
    patches: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """The patch embedding as a matrix product: tokens = patches · Wᵀ + b.

    Args:
        patches: (B, N, C·p·p) from `patchify`.
        weight: (D, C, p, p) (a conv kernel, as in timm's `patch_embed.proj.weight`) or (D, C·p·p).
        bias: (D,) or None.

    Returns:
        (B, N, D) tokens.
    """
    matrix = weight.reshape(weight.shape[0], -1)
    if matrix.shape[1] != patches.shape[-1]:
        raise ValueError(f"weight takes {matrix.shape[1]} values per patch, patches have {patches.shape[-1]}")
    return nn.functional.linear(patches, matrix, bias)


def patch_embedding_filters(model: nn.Module) -> torch.Tensor:
    """The learned patch-embedding filters of a timm ViT / MLP-Mixer: (D, C, p, p), a detached copy."""
    proj = getattr(getattr(model, "patch_embed", None), "proj", None)
    if not isinstance(proj, nn.Conv2d):
        raise ValueError(f"{type(model).__name__} has no convolutional patch_embed.proj")
    return proj.weight.detach().clone()


def filter_principal_components(
    filters: torch.Tensor, count: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of the embedding filters (as in the ViT paper's filter figure).

    The D filters are treated as D points in C·p·p dimensions, centred; the components are the right
    singular vectors, strongest first.

    Args:
        filters: (D, C, p, p); count: how many components (default all, at most min(D, C·p·p)).

    Returns:
        (components (k, C, p, p) float64 unit-norm, explained variance fraction (k,) float64).
    """
    if filters.ndim != 4:
        raise ValueError(f"filters must be (D, C, p, p), got {tuple(filters.shape)}")
    flat = filters.reshape(filters.shape[0], -1).double()
    if not torch.isfinite(flat).all():
        raise ValueError("filters contain NaN or inf")
    centred = flat - flat.mean(dim=0, keepdim=True)
    _, singular_values, basis = torch.linalg.svd(centred, full_matrices=False)
    variance = singular_values**2
    count = len(singular_values) if count is None else min(count, len(singular_values))
    components = basis[:count].reshape(count, *filters.shape[1:])
    return components, variance[:count] / variance.sum()


def position_embeddings(model: nn.Module) -> torch.Tensor:
    """The position embeddings of a timm ViT's patch tokens (prefix tokens' entries dropped): (N, D)."""
    table = getattr(model, "pos_embed", None)
    if table is None:
        raise ValueError(f"{type(model).__name__} has no absolute position embedding")
    table = table.detach()[0]
    if not getattr(model, "no_embed_class", False):
        table = table[model.num_prefix_tokens :]
    return table.clone()


def position_embedding_similarity(embeddings: torch.Tensor, grid_size: int | None = None) -> torch.Tensor:
    """Cosine similarity between the position embedding of every patch and those of all other patches.

    Args:
        embeddings: (N, D) one embedding per patch, raster order, N = grid_size².
        grid_size: patches per side; inferred when None.

    Returns:
        (g, g, g, g) float64: [i, j] is the (g, g) similarity map of the patch in row i, column j.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got {tuple(embeddings.shape)}")
    count = embeddings.shape[0]
    grid_size = math.isqrt(count) if grid_size is None else grid_size
    if grid_size * grid_size != count:
        raise ValueError(f"{count} embeddings do not form a square grid")
    vectors = embeddings.double()
    lengths = vectors.norm(dim=1)
    if (lengths == 0).any():
        raise ValueError("a position embedding is all zeros: its cosine similarity is undefined")
    unit = vectors / lengths[:, None]
    return (unit @ unit.T).reshape(grid_size, grid_size, grid_size, grid_size)


def sincos_1d(count: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The original Transformer's 1D sin-cos position embeddings for `count` positions: (count, dim)
    float64. Used on raster-ordered patches they know a patch's index but not its row and column."""
    if dim % 2:
        raise ValueError("dim must be even")
    frequencies = 1.0 / temperature ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(count, dtype=torch.float64)[:, None] * frequencies[None]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(count, dim)


# --------------------------------------------------------------------------------------------- paper scale


def paper_scale(
    name: str = "vit_base_patch16_224.augreg_in21k", *, pretrained: bool = True
) -> dict[str, object]:
    """Chapter 3 at paper scale: the patch-embedding filters and position embeddings of a timm ViT.

    Args:
        name: timm name with weights tag (default ViT-B/16 pretrained on ImageNet-21k).
        pretrained: download the public weights (online only); False gives random weights (tests).

    Returns:
        {"name", "filters": (D, C, p, p), "positions": (grid², D)} on the CPU.
    """
    from . import zoo

    model, _ = zoo.load_timm(name, pretrained=pretrained)
    return {
        "name": name,
        "filters": patch_embedding_filters(model).cpu(),
        "positions": position_embeddings(model).cpu(),
    }
