"""Plain torch reference for the fused attention-distance kernel: queries in chunks, bounded memory."""

from __future__ import annotations

import math

import torch


def patch_coordinates(grid_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(row, col) of every patch in raster order, (grid², 2) float64."""
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], dim=1).to(device=device, dtype=torch.float64)


def check_qk(
    q: torch.Tensor, k: torch.Tensor, grid_size: int, num_prefix_tokens: int, patch_size: float
) -> tuple[int, int, int, int]:
    """Validate the inputs shared by the kernel and the reference.

    Returns:
        (B, H, T, D).
    """
    if q.ndim != 4 or k.shape != q.shape:
        raise ValueError(
            f"q and k must both have shape (B, H, T, D); got {tuple(q.shape)} and {tuple(k.shape)}"
        )
    if grid_size < 1 or num_prefix_tokens < 0:
        raise ValueError(
            f"need grid_size >= 1 and num_prefix_tokens >= 0, got {grid_size}, {num_prefix_tokens}"
        )
    batch, heads, tokens, dim = q.shape
    if tokens != num_prefix_tokens + grid_size * grid_size:
        raise ValueError(
            f"{tokens} tokens do not match {num_prefix_tokens} prefix tokens + a {grid_size}x{grid_size} grid"
        )
    if not (patch_size > 0 and math.isfinite(patch_size)):
        raise ValueError(f"patch_size must be a positive number, got {patch_size}")
    if not (torch.isfinite(q).all() and torch.isfinite(k).all()):
        raise ValueError("q or k contains NaN or inf")
    return batch, heads, tokens, dim


def mean_attention_distance_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    patch_size: float,
    grid_size: int,
    num_prefix_tokens: int = 1,
    scale: float | None = None,
    renormalize: bool = True,
    max_chunk_elements: int = 1 << 20,
) -> torch.Tensor:
    """Per-query mean attention distance from queries and keys, without ever holding all T×T scores.

    Queries are processed in chunks of C rows, C chosen so that one chunk's scores hold at most
    `max_chunk_elements` numbers (at least one query per chunk): extra memory is O(B·H·C·T), flat in T
    until C reaches 1, instead of the O(B·H·T²) of materialising the attention matrix. Scores, softmax and
    the weighted distance are computed in float64.

    Args:
        q, k: (B, H, T, D) queries and keys (after any q/k norm, before the scale).
        patch_size: patch side in pixels.
        grid_size: patches per side; T = num_prefix_tokens + grid_size².
        num_prefix_tokens: leading non-spatial tokens (CLS, registers); never used as queries.
        scale: multiplies q·k; defaults to D**-0.5.
        renormalize: True: the softmax runs over the spatial keys only (the attention given to the patches,
            rescaled to sum to 1). False: the softmax runs over all keys and weight on prefix keys counts as
            distance 0.
        max_chunk_elements: bound on B·H·C·T for one chunk of scores.

    Returns:
        (B, H, grid²) float64: for each image, head and spatial query, Σ_key p(key) · distance(query, key).
    """
    batch, heads, tokens, dim = check_qk(q, k, grid_size, num_prefix_tokens, patch_size)
    scale = dim**-0.5 if scale is None else scale
    n_patches = grid_size * grid_size
    coords = patch_coordinates(grid_size, q.device)
    keys = k.to(torch.float64)
    first_key = num_prefix_tokens if renormalize else 0
    chunk = max(1, max_chunk_elements // (batch * heads * tokens))
    out = torch.empty(batch, heads, n_patches, dtype=torch.float64, device=q.device)
    for start in range(0, n_patches, chunk):
        stop = min(start + chunk, n_patches)
        queries = q[:, :, num_prefix_tokens + start : num_prefix_tokens + stop].to(torch.float64)
        scores = (queries * scale) @ keys[:, :, first_key:].transpose(-2, -1)  # (B, H, C, T - first_key)
        probs = scores.softmax(dim=-1)
        distances = torch.cdist(coords[start:stop], coords) * patch_size  # (C, grid²)
        spatial = probs[..., num_prefix_tokens - first_key :]  # prefix keys (if kept) have distance 0
        out[:, :, start:stop] = (spatial * distances).sum(-1)
        del scores, probs, spatial
    return out
