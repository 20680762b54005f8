"""Attention rollout (Abnar & Zuidema 2020)."""

import pytest
import torch

from seelike.rollout import attention_rollout, fuse_heads


def random_attention(batch=2, heads=3, tokens=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, heads, tokens, tokens, generator=generator).softmax(-1)


@pytest.mark.parametrize("residual_weight", [0.0, 0.3, 0.5, 1.0])
def test_rollout_of_identity_attention_is_the_identity(residual_weight):
    identity = torch.eye(6).expand(2, 4, 6, 6)
    for rollout in attention_rollout([identity] * 4, residual_weight=residual_weight):
        torch.testing.assert_close(rollout, torch.eye(6, dtype=torch.float64).expand(2, 6, 6))


def test_rollout_of_uniform_attention_without_residual_is_uniform():
    uniform = torch.full((1, 2, 7, 7), 1 / 7)
    rollout = attention_rollout([uniform, random_attention(1, 2, 7)], residual_weight=0.0)[-1]
    torch.testing.assert_close(rollout, torch.full((1, 7, 7), 1 / 7, dtype=torch.float64))


def test_rollout_is_the_product_of_mixed_maps():
    attentions = [random_attention(seed=s) for s in range(3)]
    rollouts = attention_rollout(attentions, residual_weight=0.5)
    identity = torch.eye(5, dtype=torch.float64)
    mixed = [0.5 * a.double().mean(1) + 0.5 * identity for a in attentions]
    torch.testing.assert_close(rollouts[0], mixed[0])
    torch.testing.assert_close(rollouts[2], mixed[2] @ mixed[1] @ mixed[0])
    for rollout in rollouts:  # each row: a distribution over input tokens
        assert (rollout >= 0).all()
        torch.testing.assert_close(rollout.sum(-1), torch.ones(2, 5, dtype=torch.float64))


def test_single_block_without_residual_is_the_head_mean():
    attention = random_attention()
    torch.testing.assert_close(
        attention_rollout([attention], residual_weight=0.0)[0], attention.double().mean(1)
    )


@pytest.mark.parametrize("fusion", ["max", "min"])
def test_max_and_min_fusion_are_renormalised(fusion):
    attention = random_attention()
    fused = fuse_heads(attention, fusion)
    raw = attention.amax(1) if fusion == "max" else attention.amin(1)
    torch.testing.assert_close(fused, raw / raw.sum(-1, keepdim=True))
    torch.testing.assert_close(fused.sum(-1), torch.ones(2, 5))


def test_rollout_errors():
    with pytest.raises(ValueError, match="at least one"):
        attention_rollout([])
    with pytest.raises(ValueError, match="residual_weight"):
        attention_rollout([random_attention()], residual_weight=1.5)
    with pytest.raises(ValueError, match="fusion"):
        attention_rollout([random_attention()], fusion="median")
    with pytest.raises(ValueError, match="NaN"):
        attention_rollout([torch.full((1, 1, 3, 3), float("nan"))])
    with pytest.raises(ValueError, match=r"\(B, H, T, T\)"):
        fuse_heads(torch.ones(3, 3))
