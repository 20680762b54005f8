"""seelike.comparisons (reading CKA matrices: uniformity, stages, best matches), cka.model_cka and figures."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from seelike import activations, cka, comparisons, zoo
from seelike import figures as F

pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def small_models():
    return zoo.build("vit").eval(), zoo.build("resnet").eval()


def images(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------------------------- layers, stages


def test_stage_boundaries_of_the_zoo_resnet_and_other_namings(small_models):
    vit, resnet = small_models
    names = activations.layer_names(resnet)
    boundaries = activations.boundaries(names, "stage")
    assert boundaries == [5, 9, 13]
    assert [names[b].split(".")[0] for b in boundaries] == ["layer2", "layer3", "layer4"]
    assert activations.boundaries(activations.layer_names(vit), "stage") == []
    v2 = [
        "stem",
        "stages.0.blocks.0.norm2",
        "stages.0.blocks.0",
        "stages.1.blocks.0.norm2",
        "stages.1.blocks.0",
        "norm",
    ]
    assert activations.boundaries(v2, "stage") == [3]
    assert activations.stage_of("layer3.1.act1") == "layer3" and activations.stage_of("stem") == "stem"


def test_layer_families(small_models):
    vit, resnet = small_models
    assert activations.layers_for(vit, "mlp") == [f"blocks.{i}.mlp.act" for i in range(6)]
    assert activations.layers_for(resnet, "mlp") == activations.layer_names(resnet, "inner")
    assert activations.layers_for(resnet, "norms") == activations.layer_names(resnet, "blocks")
    assert len(activations.layers_for(vit, "all")) == 38
    with pytest.raises(ValueError, match="family"):
        activations.layers_for(vit, "heads")


# --------------------------------------------------------------------------------------------- measures


def test_mean_off_diagonal_closed_form_and_errors():
    a = 0.3
    matrix = (1 - a) * torch.eye(5, dtype=torch.float64) + a
    assert comparisons.mean_off_diagonal(matrix) == pytest.approx(a, abs=1e-15)
    with pytest.raises(ValueError, match="square"):
        comparisons.mean_off_diagonal(torch.ones(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        comparisons.mean_off_diagonal(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def test_best_matches_and_relative_depth():
    matrix = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.1, 0.3]])
    assert comparisons.best_matches(matrix, dim=0).tolist() == [1, 0, 1]
    assert comparisons.best_matches(matrix, dim=1).tolist() == [1, 0]
    torch.testing.assert_close(
        activations.relative_depth([0, 2, 4], 5), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="dim"):
        comparisons.best_matches(matrix, dim=2)


def test_correspondence_counts_with_exact_boundaries():
    # 13 ViT layers (depth i/12), 8 ResNet layers; ResNet layer j's best ViT layer is chosen by hand.
    best = [
        0,
        3,
        1,
        4,
        3,
        7,
        8,
        12,
    ]  # lower half (j < 3.5): 0, 3, 1, 4 → 3 of 4 within depth 1/4 (3/12 = 1/4)
    matrix = torch.full((13, 8), 0.1, dtype=torch.float64)
    for j, i in enumerate(best):
        matrix[i, j] = 0.5 + 0.01 * j
    summary = comparisons.correspondence(matrix, [f"v{i}" for i in range(13)], [f"r{j}" for j in range(8)])
    assert summary["best_vit_index"].tolist() == best
    assert summary["lower_half_in_lowest_quarter"] == 0.75
    # upper half: 3 (≤ 1/4: no), 7 (7/12 = 1/4 + 1/3: yes), 8 (no), 12 (no)
    assert summary["upper_half_in_next_third"] == 0.25
    assert summary["top_third_vit_max_cka"] == pytest.approx(0.57)  # row 12 (depth 1 > 2/3), ResNet layer 7
    assert summary["lower_vit_max_cka"] == pytest.approx(0.56)  # row 8 = depth 2/3 is not in the top third
    assert summary["lower_half_median_depth"] == pytest.approx(np.median([0, 3, 1, 4]) / 12)
    with pytest.raises(ValueError, match="names"):
        comparisons.correspondence(matrix, ["v"], ["r"])


def test_model_cka_is_cached_and_equals_the_engine(small_models, tmp_path):
    vit, resnet = small_models
    forwards = {"vit": 0, "resnet": 0}
    handles = [
        vit.register_forward_hook(lambda *_: forwards.__setitem__("vit", forwards["vit"] + 1)),
        resnet.register_forward_hook(lambda *_: forwards.__setitem__("resnet", forwards["resnet"] + 1)),
    ]
    try:
        layers_a, layers_b = ["blocks.0", "blocks.5"], ["layer1.0", "layer4.1"]
        first = cka.model_cka(vit, resnet, images(), layers_a, layers_b, batch_size=8)
        assert forwards == {"vit": 2, "resnet": 2}  # 16 images in minibatches of 8
        second = cka.model_cka(vit, resnet, images(), layers_a, layers_b, batch_size=8)
        assert forwards == {"vit": 2, "resnet": 2}, "a cached comparison must not run the models"
        torch.testing.assert_close(first[0], second[0], rtol=0, atol=0)
        assert first[1:] == second[1:] == (layers_a, layers_b)
        direct = cka.cka_matrix(vit, resnet, images(), layers_a, layers_b, batch_size=8, progress=False)
        torch.testing.assert_close(first[0], direct[0], rtol=0, atol=0)
        cka.model_cka(vit, resnet, images(), layers_a, layers_b, batch_size=4)  # new setting: recomputed
        assert forwards == {"vit": 8, "resnet": 8}
        cka.model_cka(vit, resnet, images(), layers_a, layers_b, batch_size=8, use_cache=False)
        assert forwards == {"vit": 10, "resnet": 10}
    finally:
        for handle in handles:
            handle.remove()


def test_model_cka_within_one_model_is_symmetric_with_unit_diagonal(small_models):
    vit, _ = small_models
    matrix, names_a, names_b = cka.model_cka(
        vit, None, images(), ["blocks.0", "blocks.2", "norm"], batch_size=8
    )
    assert names_a == names_b == ["blocks.0", "blocks.2", "norm"]
    torch.testing.assert_close(matrix, matrix.T)
    torch.testing.assert_close(matrix.diagonal(), torch.ones(3, dtype=torch.float64))


# --------------------------------------------------------------------------------------------- figures


def white_lines(ax, orientation: str) -> list[float]:
    """Positions of the thick white stage lines drawn on a heatmap."""
    index = 0 if orientation == "v" else 1
    return sorted(
        float(np.asarray(line.get_xydata())[0, index])
        for line in ax.lines
        if line.get_color() == "white"
        and line.get_linewidth() > 1
        and len(set(np.asarray(line.get_xydata())[:, index])) == 1
    )


def test_within_model_heatmaps_mark_resnet_stages_only(small_models):
    vit, resnet = small_models
    names_v, names_r = activations.layer_names(vit)[:8], activations.layer_names(resnet)
    figure = F.within_model_heatmaps(
        {"ViT": (torch.eye(len(names_v)), names_v), "ResNet": (torch.eye(len(names_r)), names_r)},
        {"ResNet": "mean off-diagonal 0.00"},
    )
    ax_v, ax_r = figure.axes[0], figure.axes[1]
    assert white_lines(ax_v, "v") == []
    assert white_lines(ax_r, "v") == white_lines(ax_r, "h") == [5.0, 9.0, 13.0]
    assert "mean off-diagonal" in ax_r.get_title()


def test_cross_model_heatmap_draws_the_best_match_path():
    names_x, names_y = [f"blocks.{i}" for i in range(5)], ["stem", "layer1.0", "layer2.0", "layer3.0"]
    matrix = torch.rand(5, 4, generator=torch.Generator().manual_seed(0))
    matches = comparisons.best_matches(matrix, dim=0)
    figure = F.cross_model_heatmap(matrix, names_x, names_y, matches)
    ax = figure.axes[0]
    path = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(path) == 1
    np.testing.assert_allclose(path[0].get_xdata(), matches.numpy() + 0.5)
    np.testing.assert_allclose(path[0].get_ydata(), np.arange(4) + 0.5)
    assert white_lines(ax, "h") == [2.0, 3.0]
    with pytest.raises(ValueError, match="matches"):
        F.cross_model_heatmap(matrix, names_x, names_y, matches[:2])


def test_best_match_path_along_x_and_correspondence_plot():
    figure, ax = F.style.new_figure()
    F.best_match_path(ax, [2, 0, 1], along="x")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.5, 0.5, 1.5])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match="along"):
        F.best_match_path(ax, [0], along="z")
    matrix = torch.rand(9, 6, generator=torch.Generator().manual_seed(1))
    summary = comparisons.correspondence(matrix, [str(i) for i in range(9)], [str(j) for j in range(6)])
    figure = F.correspondence_plot(summary)
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), summary["best_vit_depth"].numpy())
    assert len(figure.axes[0].patches) == 2


def test_paper_scale_model_resizes_and_normalises_its_input_offline():
    model = zoo.paper_scale_model("vit_tiny_patch16_224", pretrained=False)
    assert not model.training and activations.architecture(model) == "vit"
    (hook,) = model.patch_embed._forward_pre_hooks.values()
    mean = torch.tensor(model.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.pretrained_cfg["std"]).view(1, 3, 1, 1)
    full = torch.rand(2, 3, 224, 224)
    torch.testing.assert_close(hook(model.patch_embed, (full,))[0], (full - mean) / std)
    small = torch.full((2, 3, 32, 32), 0.25)
    resized = hook(model.patch_embed, (small,))[0]
    assert resized.shape == (2, 3, 224, 224)
    torch.testing.assert_close(resized, ((torch.full_like(full, 0.25) - mean) / std))
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 1000)


def test_submatrix_selects_by_name():
    matrix = torch.arange(12.0).reshape(3, 4)
    out = comparisons.submatrix(matrix, ["a", "b", "c"], ["w", "x", "y", "z"], ["c", "a"], ["x", "z"])
    torch.testing.assert_close(out, torch.tensor([[9.0, 11.0], [1.0, 3.0]]))
    square = torch.arange(9.0).reshape(3, 3)
    torch.testing.assert_close(
        comparisons.submatrix(square, "abc", "abc", ["b", "c"]), torch.tensor([[4.0, 5.0], [7.0, 8.0]])
    )
    with pytest.raises(KeyError, match="'q'"):
        comparisons.submatrix(matrix, ["a", "b", "c"], ["w", "x", "y", "z"], ["q"], ["w"])


# --------------------------------------------------------------------------------------------- same-layer


@pytest.fixture(scope="module")
def tiny_vit():
    return zoo.build("vit", seed=0).eval()


@pytest.fixture(scope="module")
def random_images():
    generator = torch.Generator().manual_seed(3)
    return torch.rand(64, 1, 28, 28, generator=generator)


def test_same_layer_values_matches_names_not_positions():
    names_a = ["stem", "blocks.0", "blocks.1"]
    names_b = ["blocks.1", "extra", "stem", "blocks.0"]
    matrix = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    values, names = comparisons.same_layer_values(matrix, names_a, names_b)
    assert names == ["stem", "blocks.0", "blocks.1"]
    assert values.dtype == torch.float64
    assert values.tolist() == [matrix[0, 2].item(), matrix[1, 3].item(), matrix[2, 0].item()]
    picked, order = comparisons.same_layer_values(matrix, names_a, names_b, ["blocks.1", "stem"])
    assert order == ["blocks.1", "stem"] and picked.tolist() == [8.0, 2.0]


def test_same_layer_values_errors():
    matrix = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="does not match"):
        comparisons.same_layer_values(matrix, ["a"], ["a", "b"])
    with pytest.raises(ValueError, match="share no layer"):
        comparisons.same_layer_values(matrix, ["a", "b"], ["c", "d"])
    with pytest.raises(KeyError, match="not on both sides"):
        comparisons.same_layer_values(matrix, ["a", "b"], ["a", "c"], ["b"])
    with pytest.raises(ValueError, match="unique"):
        comparisons.same_layer_values(matrix, ["a", "a"], ["a", "b"])


def test_same_layer_cka_of_identical_weights_is_one(tiny_vit, random_images):
    twin = copy.deepcopy(tiny_vit)  # another object: the cross-model path, not the within-model shortcut
    values, names = comparisons.same_layer_cka(tiny_vit, twin, random_images, batch_size=32)
    assert names == activations.layer_names(tiny_vit)
    torch.testing.assert_close(values, torch.ones_like(values), atol=1e-6, rtol=0)


def test_same_layer_cka_stays_one_upstream_of_a_change(tiny_vit, random_images):
    """Perturbing block 3 leaves every layer before it identical (CKA 1) and changes the layers after it."""
    changed = copy.deepcopy(tiny_vit)
    with torch.no_grad():
        changed.blocks[3].mlp.fc1.weight.normal_(generator=torch.Generator().manual_seed(1))
    layers = activations.layer_names(tiny_vit, "blocks")
    values, names = comparisons.same_layer_cka(tiny_vit, changed, random_images, layers, batch_size=32)
    assert names == layers
    torch.testing.assert_close(values[:3], torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0)
    assert bool((values[3:] < 0.999).all())


def test_same_layer_cka_equals_full_batch_linear_cka(tiny_vit, random_images):
    """One minibatch holding every image: the engine's value is the unbiased linear CKA of the activations."""
    other = zoo.build("vit", seed=1).eval()
    layers = ["blocks.0", "blocks.4.mlp.act"]
    values, _ = comparisons.same_layer_cka(
        tiny_vit, other, random_images, layers, batch_size=len(random_images)
    )
    stored_a = activations.collect(tiny_vit, layers, random_images)
    stored_b = activations.collect(other, layers, random_images)
    for value, name in zip(values.tolist(), layers, strict=True):
        expected = cka.linear_cka(stored_a[name].double().flatten(1), stored_b[name].double().flatten(1))
        assert value == pytest.approx(expected, abs=1e-6)


def test_select_layers_keeps_order_and_rows():
    values = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    kept, names = comparisons.select_layers(values, ["x", "y", "z"], {"z", "x"})
    assert names == ["x", "z"] and kept.tolist() == [[0.0, 1.0], [4.0, 5.0]]
    with pytest.raises(ValueError, match="no layer"):
        comparisons.select_layers(values, ["x", "y", "z"], ["w"])
    with pytest.raises(ValueError, match="values for"):
        comparisons.select_layers(values, ["x", "y"], ["x"])


def test_fractions_name_zoo_models():
    for name, fraction in comparisons.FRACTIONS.items():
        assert zoo.spec(name).data_fraction == fraction
