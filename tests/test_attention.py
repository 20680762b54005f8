"""Mean attention distance: closed forms, both renormalisation choices, the two computation routes, heads."""

from __future__ import annotations

import math

import pytest
import torch

from seelike import attention, zoo
from seelike.attention import (
    dataset_mean_attention_distance,
    head_outputs,
    head_subset_cka,
    head_subsets,
    local_head_mask,
    mean_attention_distance,
    mean_attention_distance_qk,
    model_patch_geometry,
    patch_distances,
    queries_and_keys,
    sort_heads,
    subset_distances,
    uniform_attention_distance,
)


def attention_with_cls(spatial: torch.Tensor, cls_weight: float) -> torch.Tensor:
    """(B, H, 1+P, 1+P) attention whose spatial queries give `cls_weight` to CLS and the rest as `spatial`."""
    batch, heads, patches, _ = spatial.shape
    attn = torch.zeros(batch, heads, patches + 1, patches + 1, dtype=torch.float64)
    attn[..., 0, :] = 1.0 / (patches + 1)
    attn[..., 1:, 0] = cls_weight
    attn[..., 1:, 1:] = (1 - cls_weight) * spatial
    return attn


def test_patch_distances_closed_form():
    d = patch_distances(3, 2.0)
    assert d.shape == (9, 9) and d.dtype == torch.float64
    assert d[0, 8].item() == pytest.approx(2 * 2 * math.sqrt(2))  # opposite corners
    assert d[4, 5].item() == 2.0
    torch.testing.assert_close(d, d.T)


def test_uniform_distance_closed_forms():
    # 2x2 grid, unit patches: from any corner, distances 0, 1, 1, sqrt(2).
    assert uniform_attention_distance(2, 1.0) == pytest.approx((2 + math.sqrt(2)) / 4)
    assert uniform_attention_distance(1, 16.0) == 0.0
    # The paper's sanity value: 14x14 grid of 16-pixel patches.
    assert uniform_attention_distance(14, 16.0) == pytest.approx(116.5, abs=0.05)
    # Distances scale with the patch size.
    assert uniform_attention_distance(7, 8.0) == pytest.approx(2 * uniform_attention_distance(7, 4.0))


@pytest.mark.parametrize("renormalize", [True, False])
def test_identity_attention_is_zero(renormalize):
    attn = torch.eye(1 + 49).expand(2, 3, 50, 50)
    assert torch.equal(
        mean_attention_distance(attn, 4.0, renormalize=renormalize), torch.zeros(3, dtype=torch.float64)
    )


def test_uniform_attention_gives_mean_pairwise_distance_both_ways():
    """Uniform over all 1+P tokens: renormalised → the uniform distance; raw → (P/(1+P)) of it."""
    attn = torch.full((2, 4, 50, 50), 1 / 50)
    uniform = uniform_attention_distance(7, 4.0)
    torch.testing.assert_close(
        mean_attention_distance(attn, 4.0), torch.full((4,), uniform, dtype=torch.float64)
    )
    raw = mean_attention_distance(attn, 4.0, renormalize=False)
    torch.testing.assert_close(raw, torch.full((4,), uniform * 49 / 50, dtype=torch.float64))


def test_renormalize_choices_differ_exactly_by_the_cls_share():
    torch.manual_seed(0)
    spatial = torch.rand(3, 2, 16, 16, dtype=torch.float64)
    spatial /= spatial.sum(-1, keepdim=True)
    attn = attention_with_cls(spatial, cls_weight=0.3)
    renormalised = mean_attention_distance(attn, 2.0)
    raw = mean_attention_distance(attn, 2.0, renormalize=False)
    torch.testing.assert_close(renormalised, mean_attention_distance(spatial, 2.0, num_prefix_tokens=0))
    torch.testing.assert_close(raw, 0.7 * renormalised)


def test_distance_per_head_and_invariances():
    """A head looking at the right neighbour gives exactly one patch (boundary patches look at themselves)."""
    patches = torch.arange(16)
    right = torch.where(patches % 4 < 3, patches + 1, patches)
    neighbour = torch.zeros(16, 16, dtype=torch.float64)
    neighbour[patches, right] = 1
    attn = torch.stack([torch.eye(16, dtype=torch.float64), neighbour])[None]  # heads: self, right neighbour
    distances = mean_attention_distance(attn, 5.0, num_prefix_tokens=0)
    torch.testing.assert_close(distances, torch.tensor([0.0, 5.0 * 12 / 16], dtype=torch.float64))
    # Averaging over images: a batch of repeats gives the same result; reversing heads reverses the output.
    torch.testing.assert_close(
        mean_attention_distance(attn.repeat(4, 1, 1, 1), 5.0, num_prefix_tokens=0), distances
    )
    torch.testing.assert_close(
        mean_attention_distance(attn.flip(1), 5.0, num_prefix_tokens=0), distances.flip(0)
    )


def test_mean_attention_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        mean_attention_distance(torch.rand(2, 50, 50), 4.0)
    with pytest.raises(ValueError, match="square"):
        mean_attention_distance(torch.rand(1, 1, 51, 51), 4.0)
    bad = torch.full((1, 1, 50, 50), 1 / 50)
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        mean_attention_distance(bad, 4.0)


@pytest.fixture(scope="module")
def vit_and_images():
    torch.manual_seed(0)
    return zoo.build("vit").eval(), torch.rand(12, 1, 28, 28)


@pytest.mark.parametrize("renormalize", [True, False])
def test_qk_route_matches_probability_route_on_a_zoo_vit(vit_and_images, renormalize):
    model, images = vit_and_images
    probabilities = dataset_mean_attention_distance(model, images, 4, batch_size=5, renormalize=renormalize)
    fused = dataset_mean_attention_distance(
        model, images, 4, batch_size=12, renormalize=renormalize, method="qk"
    )
    assert probabilities.shape == (6, model.blocks[0].attn.num_heads)
    torch.testing.assert_close(fused, probabilities, rtol=1e-5, atol=1e-5)
    one_batch = mean_attention_distance_qk(model, images, renormalize=renormalize)
    torch.testing.assert_close(one_batch, fused, rtol=1e-10, atol=1e-10)


def test_queries_and_keys_rebuild_the_attention(vit_and_images):
    from seelike.activations import attention_probabilities

    model, images = vit_and_images
    qk = queries_and_keys(model, images[:3])
    probabilities = attention_probabilities(model, images[:3])
    assert len(qk) == len(probabilities) == 6
    for (q, k, scale), attn in zip(qk, probabilities, strict=True):
        torch.testing.assert_close((q * scale @ k.transpose(-2, -1)).softmax(-1), attn)


def test_model_patch_geometry():
    assert model_patch_geometry(zoo.build("vit")) == (4, 7, 1)
    assert model_patch_geometry(zoo.build("vit-gap")) == (4, 7, 0)
    with pytest.raises(ValueError, match="patch_embed"):
        model_patch_geometry(torch.nn.Linear(2, 2))


def test_sort_heads_and_local_mask():
    distances = torch.tensor([[9.0, 2.0, 14.0, 5.0], [12.0, 13.0, 11.0, 10.0], [3.0, 3.0, 1.0, 2.0]])
    values, order = sort_heads(distances)
    assert torch.equal(values, distances.sort(1).values)
    assert torch.equal(torch.gather(distances, 1, order), values)
    assert order[0].tolist() == [1, 3, 0, 2]
    uniform = uniform_attention_distance(7, 4.0)  # 14.44; 0.6 of it is 8.66
    mask = local_head_mask(distances, 7, 4.0)
    assert mask.tolist() == [[False, True, False, True], [False] * 4, [False] * 4]  # block 2 not considered
    every_block = local_head_mask(distances, 7, 4.0, blocks=None)
    assert torch.equal(every_block, distances <= 0.6 * uniform)
    assert local_head_mask(distances, 7, 4.0, fraction=1.0).sum().item() == 8


def test_head_subsets():
    assert head_subsets([2, 0, 3, 1], 2) == [(2, 0), (0, 3), (3, 1)]
    assert head_subsets(torch.tensor([1, 0]), 1) == [(1,), (0,)]
    assert head_subsets([0, 1, 2], 3) == [(0, 1, 2)]
    with pytest.raises(ValueError):
        head_subsets([0, 1], 3)


def test_head_outputs_are_what_the_projection_mixes(vit_and_images):
    """proj(concatenated head outputs) must equal the attention sublayer's output, for every block tested."""
    model, images = vit_and_images
    for block in (0, 3):
        outputs = head_outputs(model, images[:4], block)
        heads = model.blocks[0].attn.num_heads
        assert outputs.shape == (4, 50, heads, 128 // heads)
        captured: dict[str, torch.Tensor] = {}
        attn = model.blocks[block].attn
        handle = attn.register_forward_hook(lambda m, i, out, store=captured: store.update(out=out))
        with torch.no_grad():
            model(images[:4])
            projected = attn.proj(outputs.flatten(2))
        handle.remove()
        torch.testing.assert_close(projected, captured["out"])


def test_subset_distances():
    distances = torch.tensor([4.0, 10.0, 1.0, 7.0])
    torch.testing.assert_close(
        subset_distances(distances, [(2, 0), (1,), (0, 1, 2, 3)]),
        torch.tensor([2.5, 10.0, 5.5], dtype=torch.float64),
    )


def test_head_subset_cka_matches_full_batch_cka(vit_and_images):
    from seelike.cka import linear_cka

    vit, _ = vit_and_images
    resnet = zoo.build("resnet").eval()
    torch.manual_seed(3)
    images = torch.rand(10, 1, 28, 28)
    subsets = [(0,), (2, 1), (1, 2)]
    cka = head_subset_cka(vit, resnet, images, subsets, ["act1", "layer1.0"], block=0, batch_size=10)
    assert cka.shape == (3, 2) and cka.dtype == torch.float64
    heads = head_outputs(vit, images, 0)[:, 1:]
    with torch.no_grad():
        stem = resnet.act1(resnet.bn1(resnet.conv1(images)))  # conv1 carries the input normaliser
    expected = linear_cka(heads[:, :, [0]].flatten(1), stem.flatten(1))
    assert cka[0, 0].item() == pytest.approx(expected, abs=1e-6)
    torch.testing.assert_close(cka[1], cka[2])  # the order of heads inside a subset does not matter
    with pytest.raises(ValueError, match="at least 4"):
        head_subset_cka(vit, resnet, images[:6], subsets, ["act1"], batch_size=3)


def test_local_heads_per_block_counts_below_the_threshold():
    uniform = attention.uniform_attention_distance(7, 4)
    threshold = 0.6 * uniform
    distances = torch.tensor(
        [[0.0, threshold, threshold + 1e-6, uniform], [1.0, 2.0, 3.0, 4.0], [uniform] * 4],
        dtype=torch.float64,
    )
    counts = attention.local_heads_per_block(distances, 7, 4)
    assert counts.dtype == torch.int64 and counts.tolist() == [2, 4, 0]
    assert attention.local_heads_per_block(distances, 7, 4, fraction=1.0).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="NaN"):
        attention.local_heads_per_block(torch.full((2, 2), float("nan")), 7, 4)
