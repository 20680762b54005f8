"""Mean attention distance: how far, in pixels, each attention head looks (Figs 3 and 4 of the paper)."""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from .activations import attention_probabilities


def patch_distances(grid_size: int, patch_size: float) -> torch.Tensor:
    """Euclidean distance in pixels between the centres of every pair of patches, (grid², grid²) float64."""
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size
    return torch.cdist(centres, centres)


def mean_attention_distance(
    attn: torch.Tensor,
    patch_size: float,
    grid_size: int | None = None,
    num_prefix_tokens: int = 1,
    renormalize: bool = True,
) -> torch.Tensor:
    """Mean attention distance per head.

    For each head: the distance between the query patch's centre and each key patch's centre, weighted by
    the attention probability, summed over keys, then averaged over query patches and images. Prefix tokens
    (CLS, registers) are dropped as queries and as keys. With `renormalize=True` (default) each query's
    remaining weights are rescaled to sum to 1, so the measure says where *among the patches* a head looks
    and uniform attention gives exactly the mean pairwise patch distance. With `renormalize=False` the weight
    a query puts on prefix tokens simply counts as distance 0 (the convention of the keras.io example).

    Args:
        attn: (B, H, T, T) attention probabilities, T = num_prefix_tokens + grid_size².
        patch_size: patch side in pixels.
        grid_size: patches per side; inferred from T when None.
        num_prefix_tokens: leading non-spatial tokens.
        renormalize: rescale the spatial weights of each query to sum to 1.

    Returns:
        (H,) float64 mean distance in pixels.
    """
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attn must have shape (B, H, T, T), got {tuple(attn.shape)}")
    n_patches = attn.shape[-1] - num_prefix_tokens
    if grid_size is None:
        grid_size = math.isqrt(n_patches)
    if grid_size * grid_size != n_patches:
        raise ValueError(f"{attn.shape[-1]} tokens minus {num_prefix_tokens} prefix is not a square grid")
    spatial = attn[..., num_prefix_tokens:, num_prefix_tokens:].double()
    if renormalize:
        spatial = spatial / spatial.sum(-1, keepdim=True)
    distances = patch_distances(grid_size, patch_size).to(spatial.device)
    return (spatial * distances).sum(-1).mean(dim=(0, 2))


def uniform_attention_distance(grid_size: int, patch_size: float) -> float:
    """Mean attention distance of uniform attention: the mean distance between two patch centres."""
    return patch_distances(grid_size, patch_size).mean().item()


def dataset_mean_attention_distance(
    model: nn.Module,
    images: torch.Tensor,
    patch_size: float,
    batch_size: int = 250,
    num_prefix_tokens: int | None = None,
    renormalize: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """Mean attention distance of every head of every attention layer, averaged over `images`.

    Args:
        model: a timm ViT.
        images: (N, C, H, W) as the model expects.
        patch_size: patch side in pixels.
        num_prefix_tokens: defaults to the model's own `num_prefix_tokens` (1 with CLS, 0 for GAP models).

    Returns:
        (layers, heads) float64 distances in pixels.
    """
    if num_prefix_tokens is None:
        num_prefix_tokens = getattr(model, "num_prefix_tokens", 1)
    total, count = None, 0
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="attention distance", disable=not progress):
        batch = images[start : start + batch_size]
        per_layer = torch.stack([
            mean_attention_distance(a, patch_size, num_prefix_tokens=num_prefix_tokens, renormalize=renormalize)
            for a in attention_probabilities(model, batch)
        ])  # fmt: skip
        total = per_layer * len(batch) if total is None else total + per_layer * len(batch)
        count += len(batch)
    return total / count
