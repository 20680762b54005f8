"""Named layers and activation capture for timm ViT, ResNet/ResNetV2 and MLP-Mixer models."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every timm attention layer (modules with `fused_attn` and `attn_drop`), in order."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "fused_attn") and hasattr(m, "attn_drop")]


@torch.inference_mode()
def attention_probabilities(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Attention probabilities of every attention layer for one batch.

    Fused attention is switched off for the call (and restored), so timm computes the softmax explicitly
    and hands it to `attn_drop`, where a forward hook reads it. Nothing in timm is edited.

    Args:
        model: a timm model with attention (ViT, DeiT, ...).
        images: (B, C, H, W) as the model expects.

    Returns:
        one tensor (B, heads, T, T) per attention layer, rows summing to 1.
    """
    modules = attention_modules(model)
    if not modules:
        raise ValueError(f"{type(model).__name__} has no timm attention layers")
    captured: list[torch.Tensor] = []
    fused = [m.fused_attn for _, m in modules]
    handles = [m.attn_drop.register_forward_hook(lambda mod, inp, out: captured.append(out)) for _, m in modules]
    try:
        for _, module in modules:
            module.fused_attn = False
        model(images)
    finally:
        for handle in handles:
            handle.remove()
        for (_, module), was_fused in zip(modules, fused, strict=True):
            module.fused_attn = was_fused
    return captured


def iterate_attention(model: nn.Module, images: torch.Tensor, batch_size: int = 250) -> Iterator[list[torch.Tensor]]:
    """`attention_probabilities` for consecutive batches of `images`."""
    for start in range(0, len(images), batch_size):
        yield attention_probabilities(model, images[start : start + batch_size])
