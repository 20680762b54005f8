"""Attention rollout (Abnar & Zuidema 2020): how much each input token feeds each token after several blocks.

A single attention map says where one block looks, but block l attends to tokens that are already mixtures
of earlier tokens. Rollout follows the mixing through the stack: each block's attention, averaged over
heads, is combined with the identity to account for the skip connection around it,
Ã_l = (1 − α) A_l + α I, and the blocks are chained by matrix products, R_l = Ã_l Ã_{l−1} ⋯ Ã_1.
Row t of R_l is then a probability distribution over the input tokens that token t draws on after l blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["HEAD_FUSIONS", "attention_rollout", "fuse_heads"]

HEAD_FUSIONS = ("mean", "max", "min")


def fuse_heads(attention: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """Combine the heads of one block's attention (B, H, T, T) into one (B, T, T) map.

    "mean" keeps rows summing to 1; "max" and "min" (variants Abnar & Zuidema also tried) do not, so they
    are renormalised row by row.
    """
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f"attention must be (B, H, T, T), got {tuple(attention.shape)}")
    if fusion == "mean":
        return attention.mean(dim=1)
    if fusion == "max":
        fused = attention.amax(dim=1)
    elif fusion == "min":
        fused = attention.amin(dim=1)
    else:
        raise ValueError(f"fusion must be one of {HEAD_FUSIONS}, got {fusion!r}")
    totals = fused.sum(dim=-1, keepdim=True)
    if (totals == 0).any():
        raise ValueError(f"a row of the {fusion}-fused attention is all zeros; it cannot be renormalised")
    return fused / totals


def attention_rollout(
    attentions: Sequence[torch.Tensor], fusion: str = "mean", residual_weight: float = 0.5
) -> list[torch.Tensor]:
    """Attention rollout after each block.

    Args:
        attentions: per block, attention probabilities (B, H, T, T) (e.g. from
            `seelike.activations.attention_probabilities`), first block first.
        fusion: how heads are combined ("mean", "max", "min"); see `fuse_heads`.
        residual_weight: α, the weight of the identity standing for the skip connection (0.5 in the paper
            that introduced rollout; 0 chains the raw attention maps).

    Returns:
        one (B, T, T) float64 tensor per block: R_l = Ã_l ⋯ Ã_1, rows summing to 1.
    """
    if len(attentions) == 0:
        raise ValueError("need the attention of at least one block")
    if not 0.0 <= residual_weight <= 1.0:
        raise ValueError(f"residual_weight must be in [0, 1], got {residual_weight}")
    rollouts: list[torch.Tensor] = []
    current = None
    for block, attention in enumerate(attentions):
        if not torch.isfinite(attention).all():
            raise ValueError(f"block {block}'s attention contains NaN or inf")
        fused = fuse_heads(attention.double(), fusion)
        identity = torch.eye(fused.shape[-1], dtype=torch.float64, device=fused.device)
        mixed = (1.0 - residual_weight) * fused + residual_weight * identity
        current = mixed if current is None else mixed @ current
        rollouts.append(current)
    return rollouts
