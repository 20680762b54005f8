"""Self-attention written out: scaled dot-product attention, multi-head attention, and what positions add.

`scaled_dot_product_attention` and `multi_head_attention` are deliberately short so the book can show their
source; they compute exactly what timm's `Attention` module and `torch.nn.functional.
scaled_dot_product_attention` compute (the tests check both). The permutation helpers show numerically that
attention without position information cannot tell where a token sits: permuting the input tokens only
permutes the output tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "attention_entropy",
    "class_probabilities",
    "multi_head_attention",
    "patch_tokens",
    "permutation_equivariance_error",
    "random_attention_weights",
    "scaled_dot_product_attention",
    "timm_multi_head_attention",
    "vit_encoder",
]


def scaled_dot_product_attention(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / √d) V: every query takes a weighted average of the values, weighted by how well
    it matches each key.

    Args:
        queries: (..., T, d); keys: (..., S, d); values: (..., S, d_v).

    Returns:
        (output (..., T, d_v), attention weights (..., T, S) with rows summing to 1).
    """
    scores = queries @ keys.transpose(-2, -1) / math.sqrt(queries.shape[-1])  # (..., T, S)
    weights = scores.softmax(dim=-1)
    return weights @ values, weights


def multi_head_attention(
    tokens: torch.Tensor,
    qkv_weight: torch.Tensor,
    qkv_bias: torch.Tensor | None,
    proj_weight: torch.Tensor,
    proj_bias: torch.Tensor | None,
    num_heads: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head self-attention: project tokens to queries, keys and values, split them into heads,
    attend within each head, concatenate the heads and project back.

    Args:
        tokens: (B, T, D).
        qkv_weight: (3·D, D) rows [queries; keys; values], heads contiguous inside each; qkv_bias: (3·D,).
        proj_weight: (D, D); proj_bias: (D,).
        num_heads: H, dividing D.

    Returns:
        (output (B, T, D), attention weights (B, H, T, T)).
    """
    batch, length, dim = tokens.shape
    qkv = nn.functional.linear(tokens, qkv_weight, qkv_bias)  # (B, T, 3·D)
    qkv = qkv.reshape(batch, length, 3, num_heads, dim // num_heads).permute(2, 0, 3, 1, 4)
    heads, weights = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, H, T, D/H), (B, H, T, T)
    merged = heads.transpose(1, 2).reshape(batch, length, dim)  # heads side by side again
    return nn.functional.linear(merged, proj_weight, proj_bias), weights


def timm_multi_head_attention(module: nn.Module, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`multi_head_attention` with the weights of a timm `Attention` module (no q/k norm, no gate).

    Args:
        module: e.g. `vit.blocks[0].attn`.
        tokens: (B, T, D), the module's input (the block's normalised tokens).

    Returns:
        (output (B, T, D), attention weights (B, H, T, T)), equal to what `module` computes.
    """
    if not isinstance(module.q_norm, nn.Identity) or not isinstance(module.k_norm, nn.Identity):
        raise NotImplementedError("attention with q/k normalisation is not written out here")
    scale_norm = getattr(module, "norm", nn.Identity())
    if getattr(module, "gate", None) is not None or not isinstance(scale_norm, nn.Identity):
        raise NotImplementedError("gated or scale-normalised attention is not written out here")
    if tokens.ndim != 3 or tokens.shape[-1] != module.qkv.in_features:
        raise ValueError(f"tokens must be (B, T, {module.qkv.in_features}), got {tuple(tokens.shape)}")
    return multi_head_attention(
        tokens, module.qkv.weight, module.qkv.bias, module.proj.weight, module.proj.bias, module.num_heads
    )


def random_attention_weights(
    num_tokens: int, head_dim: int, scaled: bool = True, seed: int = 0
) -> torch.Tensor:
    """Attention weights of random unit-variance queries and keys, with or without the 1/√d scaling.

    Args:
        num_tokens: T; head_dim: d; scaled: divide the scores by √d; seed: generator seed.

    Returns:
        (T, T) float64 weights, rows summing to 1.
    """
    if num_tokens < 1 or head_dim < 1:
        raise ValueError("num_tokens and head_dim must be positive")
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(num_tokens, head_dim, generator=generator, dtype=torch.float64)
    keys = torch.randn(num_tokens, head_dim, generator=generator, dtype=torch.float64)
    scores = queries @ keys.T
    if scaled:
        scores = scores / math.sqrt(head_dim)
    return scores.softmax(dim=-1)


def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of attention weights (..., T) -> (...): log T for uniform attention,
    0 for attention on a single token."""
    weights = weights.double()
    return -(torch.where(weights > 0, weights * weights.log(), torch.zeros_like(weights))).sum(-1)


def permutation_equivariance_error(
    function: Callable[[torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    permutation: torch.Tensor,
    num_prefix_tokens: int = 0,
) -> float:
    """Largest difference between f(permuted tokens) and the permuted f(tokens).

    0 (up to rounding) means f is permutation-equivariant: shuffling the tokens only shuffles the result.
    Prefix tokens (e.g. CLS) of f's output stay in place and are compared unpermuted.

    Args:
        function: maps (B, N, D) tokens to (B, num_prefix_tokens + N, D') outputs.
        tokens: (B, N, D) input tokens (without prefix tokens).
        permutation: (N,) a permutation of range(N).
        num_prefix_tokens: tokens that `function` prepends to its output.

    Returns:
        max |f(tokens[:, π]) − f(tokens)[:, π]| over all entries.
    """
    if tokens.ndim != 3:
        raise ValueError(f"tokens must be (B, N, D), got {tuple(tokens.shape)}")
    if sorted(permutation.tolist()) != list(range(tokens.shape[1])):
        raise ValueError(f"permutation must reorder range({tokens.shape[1]})")
    outputs = function(tokens)
    permuted_outputs = function(tokens[:, permutation])
    expected = torch.cat(
        [outputs[:, :num_prefix_tokens], outputs[:, num_prefix_tokens:][:, permutation]], dim=1
    )
    return (permuted_outputs - expected).abs().max().item()


def patch_tokens(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The patch embeddings of a timm ViT before position embeddings and prefix tokens.

    Args:
        model: a timm VisionTransformer; images: (B, C, H, W) as the model expects.

    Returns:
        (B, N, D) one token per patch, raster order.
    """
    tokens = model.patch_embed(images)
    return tokens.flatten(1, 2) if tokens.ndim == 4 else tokens  # NHWC output when flatten=False


def vit_encoder(model: nn.Module, tokens: torch.Tensor, positions: bool = True) -> torch.Tensor:
    """A timm ViT's encoder applied to given patch tokens, with or without its position embeddings.

    The prefix tokens (CLS, registers) are prepended as in the model's own forward pass; with
    `positions=False` no position embedding is added to any token, which is the experiment: the
    encoder alone has no way to know where a patch came from.

    Args:
        model: a timm VisionTransformer with a learned or fixed absolute `pos_embed`.
        tokens: (B, N, D) patch tokens (e.g. from `patch_tokens`), N equal to the model's patch count.
        positions: add the model's position embeddings.

    Returns:
        (B, prefix + N, D) final-norm output tokens.
    """
    if model.pos_embed is None or getattr(model, "dynamic_img_size", False):
        raise NotImplementedError("needs a ViT with a fixed-size absolute position embedding")
    prefix = [p.expand(len(tokens), -1, -1) for p in (model.cls_token, model.reg_token) if p is not None]
    table = model.pos_embed if positions else torch.zeros_like(model.pos_embed)
    if model.no_embed_class:
        sequence = torch.cat([*prefix, tokens + table], dim=1)
    else:
        sequence = torch.cat([*prefix, tokens], dim=1) + table
    return model.norm(model.blocks(model.norm_pre(sequence)))


def class_probabilities(model: nn.Module, images: torch.Tensor, positions: bool = True) -> torch.Tensor:
    """Softmax class probabilities (B, classes) of a timm ViT, with or without its position embeddings."""
    with torch.inference_mode():
        features = vit_encoder(model, patch_tokens(model, images), positions=positions)
        return model.forward_head(features).softmax(dim=-1)
