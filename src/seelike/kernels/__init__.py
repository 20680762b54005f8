"""Fused kernels and their torch references, with a dispatch that picks the kernel on CUDA.

`mean_attention_distance_from_qk` gives the per-query mean attention distance straight from queries and
keys. On CUDA (with Triton installed) it runs the fused Triton kernel, which never stores the T×T attention
matrix (memory O(B·H·T)); elsewhere it runs the chunked torch reference (memory bounded by the chunk).
"""

from __future__ import annotations

import importlib.util

import torch

from .reference import mean_attention_distance_reference, patch_coordinates

__all__ = [
    "mean_attention_distance_from_qk",
    "mean_attention_distance_reference",
    "patch_coordinates",
    "triton_available",
]


def triton_available() -> bool:
    """Whether Triton is importable (the kernel also needs a CUDA device, or TRITON_INTERPRET=1)."""
    return importlib.util.find_spec("triton") is not None


def mean_attention_distance_from_qk(
    q: torch.Tensor,
    k: torch.Tensor,
    patch_size: float,
    grid_size: int,
    num_prefix_tokens: int = 1,
    scale: float | None = None,
    renormalize: bool = True,
    backend: str = "auto",
) -> torch.Tensor:
    """Per-query mean attention distance from queries and keys (see `mean_attention_distance_reference`).

    Args:
        q, k: (B, H, T, D) queries and keys, T = num_prefix_tokens + grid_size².
        patch_size: patch side in pixels.
        grid_size: patches per side.
        num_prefix_tokens: leading non-spatial tokens (CLS).
        scale: multiplies q·k; defaults to D**-0.5.
        renormalize: softmax over spatial keys only (True) or over all keys, prefix at distance 0 (False).
        backend: "auto" (Triton kernel on CUDA, reference elsewhere), "triton" or "reference".

    Returns:
        (B, H, grid²) distances in pixels: float32 from the kernel, float64 from the reference.
    """
    if backend not in ("auto", "triton", "reference"):
        raise ValueError(f"backend must be 'auto', 'triton' or 'reference', got {backend!r}")
    if backend == "auto":
        backend = "triton" if q.is_cuda and triton_available() else "reference"
    if backend == "triton":
        from .triton_attention_distance import mean_attention_distance_triton

        return mean_attention_distance_triton(
            q, k, patch_size, grid_size, num_prefix_tokens, scale, renormalize
        )
    return mean_attention_distance_reference(
        q, k, patch_size, grid_size, num_prefix_tokens, scale, renormalize
    )
