"""Token ↔ input-patch CKA maps: a model that copies its input localizes perfectly; invariances; an
independent per-pair formula; patch order; ResNet grids."""

from __future__ import annotations

import math

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from seelike import zoo
from seelike.localization import (
    input_patches,
    localization,
    own_position_fraction,
    resnet_stage_positions,
    spatial_tokens,
    token_patch_cka,
)


def unbiased_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA with the unbiased HSIC of Song et al. 2012, written out term by term (float64)."""

    def hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        n = len(k)
        k, l = k.clone(), l.clone()
        k.fill_diagonal_(0)
        l.fill_diagonal_(0)
        ones = torch.ones(n, dtype=torch.float64)
        trace = torch.trace(k @ l)
        middle = (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
        last = 2.0 / (n - 2) * (ones @ k @ l @ ones)
        return (trace + middle - last) / (n * (n - 3))

    k, l = x.double() @ x.double().T, y.double() @ y.double().T
    return float(hsic(k, l) / torch.sqrt(hsic(k, k) * hsic(l, l)))


def copying_vit(patch: int = 4, size: int = 28) -> VisionTransformer:
    """A timm ViT whose final-block token i is exactly input patch i plus a fixed position vector: the patch
    embedding is the identity on the patch's pixels and the one block adds nothing (zeroed output layers)."""
    dim = patch * patch
    model = VisionTransformer(
        img_size=size, patch_size=patch, in_chans=1, num_classes=10, embed_dim=dim, depth=1, num_heads=1
    )
    with torch.no_grad():
        model.patch_embed.proj.weight.copy_(torch.eye(dim).reshape(dim, 1, patch, patch))
        model.patch_embed.proj.bias.zero_()
        model.pos_embed.normal_(
            generator=torch.Generator().manual_seed(0)
        )  # constant per token: CKA ignores it
        for layer in (model.blocks[0].attn.proj, model.blocks[0].mlp.fc2):
            layer.weight.zero_()
            layer.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def noise_images() -> torch.Tensor:
    return torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_a_model_whose_tokens_are_its_patches_peaks_on_the_diagonal(noise_images):
    model = copying_vit()
    tokens, grid = spatial_tokens(model, noise_images)
    assert grid == 7 and tokens.shape == (64, 49, 16)
    torch.testing.assert_close(
        tokens - tokens[:1], input_patches(noise_images, 7) - input_patches(noise_images[:1], 7)
    )
    result = localization(model, noise_images, batch_size=32)
    cka_map = result["map"]
    assert cka_map.shape == (49, 49) and result["grid"] == 7
    assert (cka_map.argmax(dim=1) == torch.arange(49)).all()
    torch.testing.assert_close(cka_map.diagonal(), torch.ones(49, dtype=torch.float64), rtol=0, atol=1e-6)
    assert result["own_fraction"] == 1.0 and result["own_fraction_interior"] == 1.0
    off_diagonal = cka_map[~torch.eye(49, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 0.3  # independent noise patches: near zero


def test_matches_an_independent_per_pair_formula():
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randn(20, 4, 6, generator=generator)
    patches = tokens[:, [1, 0, 3, 2], :3] + 0.5 * torch.randn(20, 4, 3, generator=generator)
    cka_map = token_patch_cka(tokens, patches, batch_size=None)
    expected = torch.tensor([[unbiased_cka(tokens[:, i], patches[:, j]) for j in range(4)] for i in range(4)])
    torch.testing.assert_close(cka_map, expected.double(), rtol=1e-5, atol=1e-6)
    assert own_position_fraction(cka_map) == 0.0  # every token was built from a swapped neighbour
    assert cka_map.argmax(dim=1).tolist() == [1, 0, 3, 2]


def test_invariances_and_symmetry():
    generator = torch.Generator().manual_seed(3)
    tokens, patches = torch.randn(40, 5, 8, generator=generator), torch.randn(40, 5, 4, generator=generator)
    reference = token_patch_cka(tokens, patches, batch_size=20)
    rotation = torch.linalg.qr(torch.randn(8, 8, generator=generator, dtype=torch.float64)).Q.float()
    transformed = 3.0 * tokens @ rotation + torch.randn(8, generator=generator)  # rotate, scale, shift
    torch.testing.assert_close(
        token_patch_cka(transformed, patches, batch_size=20), reference, rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        token_patch_cka(patches, tokens, batch_size=20), reference.T, rtol=1e-6, atol=1e-7
    )
    order = torch.tensor([4, 2, 0, 1, 3])
    permuted = token_patch_cka(tokens[:, order], patches, batch_size=20)
    torch.testing.assert_close(permuted, reference[order], rtol=1e-6, atol=1e-7)


def test_input_patches_are_in_raster_order():
    images = torch.arange(2 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 3, 28, 28)
    patches = input_patches(images, 4)  # 7-pixel patches
    assert patches.shape == (2, 16, 3 * 49)
    torch.testing.assert_close(patches[1, 6], images[1, :, 7:14, 14:21].reshape(-1))  # row 1, column 2
    with pytest.raises(ValueError, match="does not tile"):
        input_patches(images, 5)


def test_own_position_fraction():
    assert own_position_fraction(torch.eye(3)) == 1.0
    assert own_position_fraction(torch.tensor([[0.1, 0.9], [0.2, 0.8]])) == 0.5
    with_nan = torch.tensor([[float("nan"), 0.5], [0.1, 0.2]])
    assert own_position_fraction(with_nan) == 0.5  # row 0: NaN ignored, peak off-diagonal; row 1 peaks at 1
    assert own_position_fraction(torch.full((2, 2), float("nan"))) == 0.0
    with pytest.raises(ValueError, match="square"):
        own_position_fraction(torch.zeros(2, 3))
    border_wrong = torch.eye(9)
    border_wrong[0] = torch.arange(9.0)  # corner token peaks at the far corner; the centre token is right
    assert own_position_fraction(border_wrong) == 8 / 9
    assert own_position_fraction(border_wrong, exclude_border=True) == 1.0  # only position 4 is interior
    border_wrong[4] = torch.arange(9.0)
    assert own_position_fraction(border_wrong, exclude_border=True) == 0.0
    with pytest.raises(ValueError, match="3×3"):
        own_position_fraction(torch.eye(4), exclude_border=True)


def test_resnet_positions_use_the_stage_grid(noise_images):
    model = zoo.build("resnet").eval()
    final, grid = resnet_stage_positions(model, noise_images[:8])
    assert grid == 4 and final.shape == (8, 16, 128)
    middle, grid3 = resnet_stage_positions(model, noise_images[:8], "layer3")
    assert grid3 == 7 and middle.shape == (8, 49, 64)
    with torch.no_grad():
        torch.testing.assert_close(final, model.forward_features(noise_images[:8]).flatten(2).transpose(1, 2))
    result = localization(model, noise_images[:16], batch_size=8)
    assert result["map"].shape == (16, 16) and result["grid"] == 4
    assert 0.0 <= result["own_fraction"] <= 1.0 and math.isfinite(float(result["map"].abs().max()))


def test_gap_vit_has_no_prefix_to_drop(noise_images):
    tokens, grid = spatial_tokens(zoo.build("vit-gap").eval(), noise_images[:4])
    assert grid == 7 and tokens.shape == (4, 49, 128)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least 4"):
        token_patch_cka(torch.randn(3, 2, 2), torch.randn(3, 2, 2))
    with pytest.raises(ValueError, match="differ"):
        token_patch_cka(torch.randn(8, 2, 2), torch.randn(8, 3, 2))
    with pytest.raises(ValueError, match="NaN"):
        token_patch_cka(torch.full((8, 2, 2), float("nan")), torch.randn(8, 2, 2))
    with pytest.raises(ValueError, match="too small"):
        token_patch_cka(torch.randn(10, 2, 2), torch.randn(10, 2, 2), batch_size=3)


def test_explorer_redraws_for_each_position():
    from seelike import figures, widgets

    generator = torch.Generator().manual_seed(4)
    maps = {"vit": torch.rand(49, 49, generator=generator), "resnet": torch.rand(16, 16, generator=generator)}
    maps["resnet"][0] = float("nan")  # a constant corner patch: drawn, not a crash
    view = widgets.localization_explorer(maps, {"vit": 0.5, "resnet": 0.25})
    before = widgets.figure_signature(view.figure)
    view.controls["row"].value = 0
    assert widgets.figure_signature(view.figure) != before
    titles = [ax.get_title() for ax in view.figure.axes if ax.get_title()]
    assert titles[0].startswith("vit: token (0, 3) of 7×7") and titles[1].startswith(
        "resnet: token (0, 2) of 4×4"
    )
    mosaic = figures.localization_mosaic(maps)
    assert widgets.figure_signature(mosaic)
