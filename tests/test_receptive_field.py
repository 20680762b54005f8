"""Effective receptive fields: exact supports and values of small known networks, the residual identity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seelike import zoo
from seelike.receptive_field import (
    centre_activation,
    effective_receptive_field,
    effective_receptive_fields,
    erf_extent,
    resnet_erf_points,
    vit_erf_points,
)


def support(erf: torch.Tensor) -> tuple[list[int], list[int]]:
    rows, cols = torch.nonzero(erf, as_tuple=True)
    return sorted(set(rows.tolist())), sorted(set(cols.tolist()))


@pytest.mark.parametrize("size, centre", [(9, 4), (8, 3)])
def test_single_conv_erf_is_exactly_its_3x3_support(size, centre):
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 5, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(5, 2, 3, 3) + 0.1)  # no zero weight, no cancellation
    model = nn.Sequential(conv)
    erf = effective_receptive_field(model, torch.randn(6, 2, size, size), "0", batch_size=4)
    assert erf.shape == (size, size) and erf.dtype == torch.float64
    window = list(range(centre - 1, centre + 2))
    assert support(erf) == (window, window)
    assert torch.count_nonzero(erf) == 9
    # Closed form: a linear layer's gradient is its weight, the same for every image.
    expected = conv.weight.detach().double().sum(0).abs().sum(0)  # Σ_in |Σ_out w|
    torch.testing.assert_close(erf[centre - 1 : centre + 2, centre - 1 : centre + 2], expected)


def test_stacked_convs_grow_the_support():
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 1, 5, padding=2)
    )
    with torch.no_grad():
        for layer in model:
            layer.weight.copy_(torch.rand_like(layer.weight) + 0.1)
    images = torch.randn(2, 1, 15, 15)
    assert support(effective_receptive_field(model, images, "1")) == (list(range(5, 10)),) * 2  # 5x5
    assert support(effective_receptive_field(model, images, "2")) == (list(range(3, 12)),) * 2  # 9x9
    # `name:input` reads the module's input: the input of layer 1 is layer 0's output.
    torch.testing.assert_close(
        effective_receptive_field(model, images, "1:input"), effective_receptive_field(model, images, "0")
    )


@pytest.fixture(scope="module")
def vit():
    return zoo.build("vit").eval()


def test_vit_patch_embedding_erf_is_the_centre_patch(vit):
    erf = effective_receptive_field(vit, torch.rand(4, 1, 28, 28), "patch_embed", num_prefix_tokens=0)
    assert support(erf) == (list(range(12, 16)),) * 2  # token (3, 3) of the 7x7 grid of 4-pixel patches


def test_vit_residual_adds_only_the_centre_patch(vit):
    """x + attn(x): the skip path depends on the centre patch alone, so outside it both ERFs are equal."""
    torch.manual_seed(0)
    images = torch.rand(5, 1, 28, 28)
    maps = effective_receptive_fields(
        vit, images, {k: vit_erf_points(vit)[k] for k in ("blocks.0.attn", "blocks.0.attn+residual")}
    )
    before, after = maps["blocks.0.attn"], maps["blocks.0.attn+residual"]
    assert torch.count_nonzero(before) == 28 * 28  # attention reaches every patch at once
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[12:16, 12:16] = False
    torch.testing.assert_close(after[outside], before[outside], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(after[~outside], before[~outside])


def test_batching_does_not_change_the_erf(vit):
    images = torch.rand(7, 1, 28, 28)
    whole = effective_receptive_field(vit, images, "blocks.1", batch_size=7)
    split = effective_receptive_field(vit, images, "blocks.1", batch_size=3)
    torch.testing.assert_close(split, whole, rtol=1e-10, atol=1e-12)


def test_resnet_points_and_supports():
    model = zoo.build("resnet").eval()
    points = resnet_erf_points(model)
    assert list(points)[:3] == ["stem", "layer1.0", "layer1.1"] and len(points) == 9
    images = torch.rand(4, 1, 28, 28)
    stem = effective_receptive_field(model, images, points["stem"])
    rows, cols = support(stem)
    assert set(rows) <= {12, 13, 14} and set(cols) <= {12, 13, 14} and stem.sum() > 0  # 3x3 stem conv
    rows, cols = support(effective_receptive_field(model, images, points["layer1.0"]))
    assert set(rows) <= set(range(10, 17)) and set(cols) <= set(range(10, 17))  # + two 3x3 convs: 7x7


def test_point_names_and_errors(vit):
    points = vit_erf_points(vit)
    assert len(points) == 4 * 6 and points["blocks.2.attn+residual"] == "blocks.2.norm2:input"
    images = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="no module"):
        effective_receptive_field(vit, images, "blocks.9")
    with pytest.raises(ValueError, match="point"):
        effective_receptive_field(vit, images, "blocks.1:middle")
    with pytest.raises(ValueError, match="NaN"):
        effective_receptive_field(vit, images * float("nan"), "blocks.1")
    with pytest.raises(ValueError, match="square"):
        centre_activation(torch.rand(2, 11, 4), num_prefix_tokens=1)
    with pytest.raises(ValueError, match="ViT"):
        vit_erf_points(nn.Linear(2, 2))


def test_erf_extent():
    delta = torch.zeros(9, 9, dtype=torch.float64)
    delta[4, 4] = 1
    assert erf_extent(delta) == 0.0
    plus = delta.clone()
    plus[3, 4] = plus[5, 4] = plus[4, 3] = plus[4, 5] = (
        1  # centre + 4 neighbours: half the mass needs radius 1
    )
    assert erf_extent(plus, mass=0.5) == 1.0
    assert erf_extent(plus, mass=0.1) == 0.0
    with pytest.raises(ValueError):
        erf_extent(torch.zeros(3, 3))
