"""Patch tokenization: patchify / unpatchify, the patch embedding, filters and position embeddings."""

import math

import pytest
import torch
import torch.nn.functional as F

from seelike import patches, zoo


@pytest.mark.parametrize("size", [(28, 28), (12, 18), (224, 224)])
def test_patchify_unpatchify_round_trip_for_every_dividing_patch_size(size):
    height, width = size
    images = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    common = [p for p in patches.divisors(height) if width % p == 0]
    for patch_size in common:
        tokens = patches.patchify(images, patch_size)
        assert tokens.shape == (2, (height // patch_size) * (width // patch_size), 3 * patch_size**2)
        assert torch.equal(patches.unpatchify(tokens, patch_size, size), images)
        assert torch.equal(patches.patchify(patches.unpatchify(tokens, patch_size, size), patch_size), tokens)


@pytest.mark.parametrize("patch_size", [1, 2, 4, 7, 14, 28])
def test_patchify_matches_unfold(patch_size):
    """torch's unfold lists the same patches in the same (channel, row, column) order."""
    images = torch.rand(2, 3, 28, 28, generator=torch.Generator().manual_seed(1))
    expected = F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)
    assert torch.equal(patches.patchify(images, patch_size), expected)


def test_patch_embedding_is_a_strided_convolution():
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 32, 32, generator=generator)
    weight, bias = torch.randn(10, 3, 8, 8, generator=generator), torch.randn(10, generator=generator)
    tokens = patches.embed_patches(patches.patchify(images, 8), weight, bias)
    convolved = F.conv2d(images, weight, bias, stride=8).flatten(2).transpose(1, 2)
    torch.testing.assert_close(tokens, convolved, atol=1e-5, rtol=1e-5)


def test_zoo_vit_patch_embedding_equals_patchify_and_project(fashion_test):
    vit = zoo.build("vit").eval()
    images = fashion_test[0][:4]
    with torch.no_grad():
        expected = vit.patch_embed(images)  # includes the model's own input normalisation
        normalised = (images - zoo.FASHION_MNIST_MEAN) / zoo.FASHION_MNIST_STD
        tokens = patches.embed_patches(
            patches.patchify(normalised, 4), patches.patch_embedding_filters(vit), vit.patch_embed.proj.bias
        )
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=1e-5)


def test_patch_count_and_divisors():
    assert patches.divisors(28) == [1, 2, 4, 7, 14, 28]
    assert patches.patch_count(28, 4) == (7, 7)
    assert patches.patch_count((224, 224), 16) == (14, 14)
    with pytest.raises(ValueError, match="does not divide"):
        patches.patch_count(28, 5)
    with pytest.raises(ValueError, match="does not divide"):
        patches.patchify(torch.zeros(1, 1, 28, 28), 3)


def test_shuffle_patches_moves_whole_patches():
    images = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    permutation = torch.tensor([3, 0, 2, 1])
    shuffled = patches.shuffle_patches(images, 4, permutation)
    assert torch.equal(shuffled[..., :4, :4], images[..., 4:, 4:])  # patch 0 of the result is patch 3
    assert torch.equal(shuffled[..., :4, 4:], images[..., :4, :4])
    inverse = torch.argsort(permutation)
    assert torch.equal(patches.shuffle_patches(shuffled, 4, inverse), images)


def test_position_similarity_of_the_zoo_vit():
    """Fixed 2D sin-cos embeddings: each position is most similar to itself, similarity is symmetric and
    falls with distance along a row (over the first few patches: sin-cos similarity ripples further out)."""
    vit = zoo.build("vit-localinit")  # the zoo ViT with fixed sin-cos positions
    embeddings = patches.position_embeddings(vit)
    torch.testing.assert_close(embeddings, zoo.sincos_2d(7, 128).to(embeddings.dtype))
    similarity = patches.position_embedding_similarity(embeddings)
    assert similarity.shape == (7, 7, 7, 7)
    flat = similarity.reshape(49, 49)
    torch.testing.assert_close(flat.diagonal(), torch.ones(49, dtype=torch.float64))
    torch.testing.assert_close(flat, flat.T)
    assert (flat.argmax(dim=1) == torch.arange(49)).all()
    row = similarity[3, 0, 3]  # the patch at row 3, column 0, compared along its own row
    assert (row[:4] > row[1:5]).all() and row[1] > row[6]


def test_position_similarity_errors():
    with pytest.raises(ValueError, match="square"):
        patches.position_embedding_similarity(torch.randn(10, 4))
    with pytest.raises(ValueError, match="zeros"):
        patches.position_embedding_similarity(torch.zeros(4, 4))


def test_sincos_1d_formula():
    table = patches.sincos_1d(50, 16)
    position, i = 7, 3
    assert table[position, 2 * i].item() == pytest.approx(math.sin(position / 10000 ** (2 * i / 16)))
    assert table[position, 2 * i + 1].item() == pytest.approx(math.cos(position / 10000 ** (2 * i / 16)))


def test_sincos_2d_formula_and_row_column_structure():
    """Patch (r, c) of a g×g grid gets [sin(c·ω), cos(c·ω), sin(r·ω), cos(r·ω)], ω_k = T^(−k/(D/4 − 1))."""
    grid, dim = 7, 16
    table = patches.sincos_2d(grid, dim)
    assert table.shape == (grid * grid, dim) and table.dtype == torch.float64
    quarter = dim // 4
    for r, c in ((0, 0), (2, 5), (6, 3)):
        for k in range(quarter):
            omega = 10000.0 ** (-k / (quarter - 1))
            expected = [math.sin(c * omega), math.cos(c * omega), math.sin(r * omega), math.cos(r * omega)]
            got = [table[r * grid + c, k + j * quarter].item() for j in range(4)]
            assert got == pytest.approx(expected, abs=1e-12)
    grid_view = table.reshape(grid, grid, dim)
    # same column: identical first half; same row: identical second half; every position distinct
    assert torch.equal(grid_view[:, 3, : dim // 2], grid_view[:1, 3, : dim // 2].expand(grid, -1))
    assert torch.equal(grid_view[4, :, dim // 2 :], grid_view[4, :1, dim // 2 :].expand(grid, -1))
    assert torch.cdist(table, table).add(torch.eye(grid * grid, dtype=torch.float64)).min() > 1e-3
    # one implementation: the zoo's fixed position embeddings (vit-localinit) are built by this function
    assert patches.sincos_2d is zoo.sincos_2d
    with pytest.raises(ValueError, match="multiple of 4"):
        patches.sincos_2d(7, 18)


def test_filter_principal_components():
    generator = torch.Generator().manual_seed(4)
    direction = torch.randn(1, 2, 3, 3, generator=generator)
    direction = direction / direction.norm()
    # filters spread mostly along one direction, a little along others, around a non-zero mean
    filters = 5.0 * torch.randn(40, 1, 1, 1, generator=generator) * direction
    filters = filters + 0.01 * torch.randn(40, 2, 3, 3, generator=generator) + 3.0
    components, explained = patches.filter_principal_components(filters, count=5)
    assert components.shape == (5, 2, 3, 3)
    flat = components.reshape(5, -1)
    torch.testing.assert_close(flat @ flat.T, torch.eye(5, dtype=torch.float64))
    assert abs((flat[0] * direction.flatten().double()).sum().item()) > 0.999
    assert explained[0] > 0.99 and (explained[:-1] >= explained[1:]).all()
    full = patches.filter_principal_components(filters)[1]
    assert full.sum().item() == pytest.approx(1.0)
