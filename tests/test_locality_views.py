"""Chapter 6 figures and live views: what they draw is what the measures computed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.colors import LogNorm

from seelike import figures, widgets, zoo
from seelike.attention import dataset_mean_attention_distance
from seelike.receptive_field import resnet_erf_points, vit_erf_points
from seelike.widgets import figure_signature

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def small_set():
    torch.manual_seed(0)
    images = torch.rand(24, 1, 28, 28)
    labels = torch.arange(24) % 3
    return images, labels, ("a", "b", "c")


def sorted_lines(ax) -> list[np.ndarray]:
    return [line.get_ydata() for line in ax.get_lines() if line.get_marker() == "o"]


def test_mean_distance_by_head_draws_the_sorted_distances():
    distances = torch.tensor([[9.0, 2.0, 14.0], [12.0, 13.0, 11.0]])
    figure = figures.mean_distance_by_head(distances, uniform=14.4)
    left, right = figure.axes[:2]
    lines = sorted_lines(left)
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0], [2.0, 9.0, 14.0])
    np.testing.assert_allclose(lines[1], [11.0, 12.0, 13.0])
    assert sum(len(c.get_offsets()) for c in right.collections) == 6  # one dot per head
    highlighted = figures.mean_distance_by_head(distances, uniform=14.4, highlight_block=1)
    assert figure_signature(highlighted) != figure_signature(figure)
    with pytest.raises(ValueError, match="blocks, heads"):
        figures.mean_distance_by_head(torch.rand(3))


def test_mean_distance_by_data_and_cka_curves_validate():
    values = {"a": torch.rand(4, 3), "b": torch.rand(4, 3)}
    figure = figures.mean_distance_by_data(values, 1.0, blocks=(0, 1), local_counts={"a": 2})
    assert len(sorted_lines(figure.axes[0])) == 2  # only the requested blocks
    with pytest.raises(ValueError):
        figures.mean_distance_by_data({})
    with pytest.raises(ValueError, match="shape"):
        figures.head_subset_cka_curves(torch.rand(3), torch.rand(3, 2), ["x"])


def test_receptive_field_grid_normalises_each_map():
    maps = {"row": {"a": torch.rand(5, 5) * 7, "b": torch.rand(5, 5)}, "other": {"c": torch.rand(5, 5)}}
    figure = figures.receptive_field_grid(maps, {"row": 2})
    images = [ax.get_images()[0].get_array() for ax in figure.axes if ax.get_images()]
    assert len(images) == 3
    for image in images:
        assert image.max() == pytest.approx(1.0)
    logarithmic = figures.receptive_field_grid(maps, log_decades=2.0)
    norms = [ax.get_images()[0].norm for ax in logarithmic.axes if ax.get_images()]
    assert all(isinstance(n, LogNorm) and n.vmin == pytest.approx(0.01 * n.vmax) for n in norms)


def test_mean_distance_view_redraws_and_uses_the_chosen_images(small_set):
    images, labels, names = small_set
    vit = zoo.build("vit").eval()
    view = widgets.mean_distance_view({"vit": vit}, images, labels, names, batch_size=8)
    before = figure_signature(view.figure)
    view.controls["block"].value = 2
    assert figure_signature(view.figure) != before
    view.controls["images"].value = "b"
    expected = dataset_mean_attention_distance(vit, images[labels == 1], 4)
    lines = sorted_lines(view.figure.axes[0])
    np.testing.assert_allclose(lines[0], expected[0].sort().values.numpy(), rtol=1e-6)


def test_data_scale_and_head_subset_views(small_set):
    images, labels, names = small_set
    vit, resnet = zoo.build("vit").eval(), zoo.build("resnet").eval()
    view = widgets.data_scale_distance_view({"x": vit, "y": vit}, images, labels, names, batch_size=12)
    before = figure_signature(view.figure)
    view.controls["blocks"].value = (5,)
    assert figure_signature(view.figure) != before
    distances = dataset_mean_attention_distance(vit, images, 4)
    cka_view = widgets.head_subset_cka_view(vit, resnet, images, ["act1"], distances, batch_size=12)
    before = figure_signature(cka_view.figure)
    cka_view.controls["size"].value = 1
    assert figure_signature(cka_view.figure) != before
    heads = vit.blocks[0].attn.num_heads
    assert len(cka_view.figure.axes[0].get_lines()[0].get_xdata()) == heads  # one single-head subset per head


def test_receptive_field_views_follow_the_model(small_set):
    images, _, _ = small_set
    vit, resnet = zoo.build("vit").eval(), zoo.build("resnet").eval()
    points = {"vit": vit_erf_points(vit), "resnet": resnet_erf_points(resnet)}
    detail = widgets.receptive_field_view({"vit": vit, "resnet": resnet}, points, images, {"vit": 4}, count=4)
    detail.controls["model"].value = "resnet"
    assert detail.controls["layer"].value == "stem"
    assert "resnet stem" in detail.figure.axes[0].get_title()
    rows = {"v": {"ViT": {"b0": "blocks.0.attn"}}, "w": {"ViT": {"b0": "blocks.0"}}}
    grid = widgets.receptive_field_grid_view({"ViT": vit}, rows, images, counts=(4, 8))
    before = figure_signature(grid.figure)
    grid.controls["view"].value = "w"
    assert figure_signature(grid.figure) != before


def test_views_read_the_measures_that_claims_cached(small_set, monkeypatch):
    """The chapter measures through `claims` first; the views' default calls must hit the same cached
    results (no `precomputed=` hand-off): after the claims' calls, a model whose forward pass raises still
    draws."""
    from seelike import claims

    images, labels, names = small_set
    vit, resnet = zoo.build("vit").eval(), zoo.build("resnet").eval()
    distances, _ = claims.head_distances(vit, images)
    pair = claims.head_subset_result(vit, resnet, images, images)

    def no_forward(*args, **kwargs):
        raise AssertionError("the view recomputed a cached measure")

    for module in (vit, resnet):
        monkeypatch.setattr(module, "forward", no_forward)
    view = widgets.mean_distance_view({"vit": vit}, images, labels, names)
    drawn = sorted(sorted_lines(view.figure.axes[0])[0].tolist())
    np.testing.assert_allclose(drawn, sorted(distances[0].tolist()))
    cka_view = widgets.head_subset_cka_view(vit, resnet, images, pair["layers"], distances, claims.CKA_BATCH)
    np.testing.assert_allclose(cka_view.figure.axes[0].get_lines()[0].get_ydata(), pair["cka"][:, 0])
