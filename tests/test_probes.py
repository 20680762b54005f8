"""Closed-form ridge probes: agreement with least squares, separable data, invariances, feature read-outs."""

from __future__ import annotations

import pytest
import torch

from seelike import activations, probes, zoo
from seelike.probes import (
    fit_linear_probe,
    layer_features,
    pm1_targets,
    pooled_features,
    probe_accuracy,
    probe_layers,
)


def ridge_by_lstsq(features: torch.Tensor, labels: torch.Tensor, l2: float, classes: int):
    """Ridge with an unpenalised bias as one least-squares problem: [X 1; √λ I 0] [W; b] ≈ [Y; 0]."""
    n, d = features.shape
    x = features.double()
    top = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    bottom = torch.cat(
        [l2**0.5 * torch.eye(d, dtype=torch.float64), torch.zeros(d, 1, dtype=torch.float64)], dim=1
    )
    targets = torch.cat([pm1_targets(labels, classes), torch.zeros(d, classes, dtype=torch.float64)])
    solution = torch.linalg.lstsq(torch.cat([top, bottom]), targets, driver="gelsd").solution
    return solution[:d], solution[d]


@pytest.mark.parametrize(
    "n, d, l2",
    [(40, 6, 0.0), (40, 6, 0.7), (12, 30, 0.3), (30, 30, 2.0)],  # primal unpenalised, primal, dual, square
)
def test_closed_form_equals_lstsq(n, d, l2):
    generator = torch.Generator().manual_seed(n + d)
    features = torch.randn(n, d, generator=generator) * 3 + 1
    labels = torch.randint(0, 4, (n,), generator=generator)
    probe = fit_linear_probe(features, labels, l2, num_classes=4)
    weight, bias = ridge_by_lstsq(features, labels, l2, 4)
    torch.testing.assert_close(probe.weight, weight, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(probe.bias, bias, rtol=1e-9, atol=1e-10)
    assert probe.weight.dtype == torch.float64


def test_batched_fit_equals_one_fit_per_index():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(5, 20, 8, generator=generator)
    labels = torch.randint(0, 3, (20,), generator=generator)
    batched = fit_linear_probe(features, labels, 0.5, relative=True)
    for index in range(5):
        single = fit_linear_probe(features[index], labels, 0.5, relative=True, num_classes=3)
        torch.testing.assert_close(batched.weight[index], single.weight, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(batched.bias[index], single.bias, rtol=1e-10, atol=1e-12)


def test_unpenalised_dual_interpolates_the_training_targets():
    """Fewer examples than features and no ridge: the (minimum-norm) solution fits ±1 targets exactly."""
    generator = torch.Generator().manual_seed(2)
    features, labels = torch.randn(10, 40, generator=generator), torch.arange(10) % 3
    probe = fit_linear_probe(features, labels, 0.0)
    torch.testing.assert_close(probe.scores(features), pm1_targets(labels, 3), rtol=0, atol=1e-9)


def test_separable_toy_set_is_probed_perfectly():
    generator = torch.Generator().manual_seed(3)
    centres = torch.randn(5, 16, generator=generator) * 10

    def draw(n: int):
        labels = torch.arange(n) % 5
        return centres[labels] + torch.randn(n, 16, generator=generator), labels

    train_x, train_y = draw(50)
    test_x, test_y = draw(200)
    probe = fit_linear_probe(train_x, train_y, 1e-3, relative=True)
    assert probe_accuracy(probe, test_x, test_y).item() == 1.0
    assert probe_accuracy(probe, train_x, train_y).item() == 1.0


def test_relative_penalty_is_scale_and_shift_invariant():
    """Scaling features (relative ridge) or shifting them (unpenalised bias) leaves the scores unchanged."""
    generator = torch.Generator().manual_seed(4)
    features, labels = (
        torch.randn(30, 12, generator=generator),
        torch.randint(0, 4, (30,), generator=generator),
    )
    features, test = features.double(), torch.randn(9, 12, generator=generator, dtype=torch.float64)
    reference = fit_linear_probe(features, labels, 0.1, relative=True).scores(test)
    scaled = fit_linear_probe(features * 250.0, labels, 0.1, relative=True).scores(test * 250.0)
    shift = torch.randn(12, generator=generator, dtype=torch.float64) * 5
    shifted = fit_linear_probe(features + shift, labels, 0.1, relative=True).scores(test + shift)
    torch.testing.assert_close(scaled, reference, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(shifted, reference, rtol=1e-8, atol=1e-10)


def test_a_larger_ridge_shrinks_the_weights():
    generator = torch.Generator().manual_seed(5)
    features, labels = (
        torch.randn(30, 12, generator=generator),
        torch.randint(0, 4, (30,), generator=generator),
    )
    norms = [fit_linear_probe(features, labels, l2).weight.norm().item() for l2 in (0.0, 1.0, 10.0, 100.0)]
    assert norms == sorted(norms, reverse=True)


def test_targets_and_bad_input():
    assert pm1_targets(torch.tensor([0, 2]), 3).tolist() == [[1, -1, -1], [-1, -1, 1]]
    with pytest.raises(ValueError, match="labels must lie"):
        pm1_targets(torch.tensor([3]), 3)
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_probe(torch.full((4, 2), float("nan")), torch.arange(4) % 2, 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        fit_linear_probe(torch.randn(4, 2), torch.arange(4) % 2, -1.0)
    with pytest.raises(ValueError, match="labels must be"):
        fit_linear_probe(torch.randn(4, 2), torch.arange(5) % 2, 1.0)
    constant = fit_linear_probe(torch.ones(6, 2), torch.tensor([0, 0, 0, 0, 1, 2]), 1.0, relative=True)
    assert constant.weight.abs().max() == 0 and constant.predict(torch.randn(3, 2)).tolist() == [0, 0, 0]
    mixed = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(7))
    mixed[1] = 0.0  # one constant read-out among informative ones (e.g. a dead corner token)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    probes = fit_linear_probe(mixed, labels, 0.1, relative=True)
    assert probes.weight[1].abs().max() == 0 and probes.weight[0].abs().max() > 0
    torch.testing.assert_close(
        probes.weight[2], fit_linear_probe(mixed[2], labels, 0.1, relative=True).weight
    )


def test_pooled_readouts():
    tokens = torch.randn(3, 5, 2)
    with_cls = pooled_features(tokens, 1)
    torch.testing.assert_close(with_cls["cls"], tokens[:, 0])
    torch.testing.assert_close(with_cls["gap"], tokens.mean(1))
    torch.testing.assert_close(with_cls["gap_no_cls"], tokens[:, 1:].mean(1))
    assert with_cls["token"].shape == (4, 3, 2)
    assert set(pooled_features(tokens, 0)) == {"gap", "token"}


@torch.no_grad()
def test_vit_layer_features_are_the_block_outputs():
    model = zoo.build("vit").eval()
    images = torch.rand(3, 1, 28, 28)
    names, features, prefix = layer_features(model, images, batch_size=2)
    assert names == [f"blocks.{i}" for i in range(6)] and prefix == 1
    x = model._pos_embed(model.patch_embed(images))
    for block, captured in zip(model.blocks, features, strict=True):
        x = block(x)
        torch.testing.assert_close(captured, x)


@torch.no_grad()
def test_resnet_layer_features_are_pooled_to_the_final_grid():
    model = zoo.build("resnet").eval()
    images = torch.rand(3, 1, 28, 28)
    names, features, prefix = layer_features(model, images)
    assert names[0] == "layer1.0" and names[-1] == "layer4.1" and prefix == 0
    final = model.forward_features(images)  # (3, 128, 4, 4)
    assert all(f.shape[:2] == (3, 16) for f in features)
    torch.testing.assert_close(features[-1], final.flatten(2).transpose(1, 2))
    stage1 = model.layer1(model.act1(model.bn1(model.conv1(images))))  # (3, 16, 28, 28): 7×7 cells
    cell = stage1[:, :, 7:14, 0:7].mean(dim=(2, 3))  # grid position (row 1, column 0) → raster index 4
    torch.testing.assert_close(features[1][:, 4], cell, rtol=1e-5, atol=1e-6)


def test_probe_layers_shapes_and_range():
    model = zoo.build("vit").eval()
    generator = torch.Generator().manual_seed(6)
    images, labels = torch.rand(24, 1, 28, 28, generator=generator), torch.arange(24) % 3
    result = probe_layers(model, images[:16], labels[:16], images[16:], labels[16:], per_token=True)
    assert result["layers"] == [f"blocks.{i}" for i in range(6)]
    assert set(result) == {"layers", "depth", "cls", "gap", "gap_no_cls", "token"}
    assert result["token"].shape == (6, 49) and result["cls"].shape == (6,)
    for key in ("cls", "gap", "gap_no_cls", "token"):
        assert ((result[key] >= 0) & (result[key] <= 1)).all()


def test_probe_view_draws_the_chosen_token():
    from seelike import widgets

    results = {
        "vit": {"cls": torch.linspace(0.2, 0.9, 6), "token": torch.rand(6, 49)},
        "resnet": {"gap": torch.linspace(0.3, 0.8, 8), "token": torch.rand(8, 16)},
    }
    view = widgets.probe_explorer(results)
    before = widgets.figure_signature(view.figure)
    view.controls["token"].value = (6, 6)
    assert widgets.figure_signature(view.figure) != before
    labels = [line.get_label() for line in view.figure.axes[1].lines]
    assert "token (3, 3)" in labels  # the 7×7 corner maps to the 4×4 corner
    vit_token_line = next(line for line in view.figure.axes[0].lines if line.get_label() == "token (6, 6)")
    torch.testing.assert_close(
        torch.tensor(vit_token_line.get_ydata()), results["vit"]["token"][:, 48].double()
    )


# ------------------------------------------------------------------------------------------- pooled in hooks


@pytest.fixture(scope="module")
def tiny_vit():
    return zoo.build("vit", seed=0).eval()


@pytest.fixture(scope="module")
def probe_data(fashion_test):
    test_images, test_labels = fashion_test
    train = slice(0, 120)
    held_out = slice(1000, 1100)
    return test_images[train], test_labels[train], test_images[held_out], test_labels[held_out]


def test_pooled_probes_match_token_probes_for_a_vit(tiny_vit, probe_data):
    """The read-outs pooled in the hooks give the same accuracies as those pooled from the stored tokens."""
    result = probes.probe_layers(tiny_vit, *probe_data, l2=0.1)
    reference = probes.probe_layers(tiny_vit, *probe_data, l2=0.1, per_token=True)
    assert result["layers"] == reference["layers"] == activations.layer_names(tiny_vit, "blocks")
    torch.testing.assert_close(result["depth"], activations.block_depth(6))
    for readout in ("cls", "gap"):
        torch.testing.assert_close(result[readout], reference[readout], atol=0, rtol=0)
    assert set(result) == {"layers", "depth", "cls", "gap"}


def test_pooled_probes_of_a_resnet_use_global_average_pooling(probe_data):
    model = zoo.build("resnet", seed=0).eval()
    train_x, train_y, test_x, test_y = probe_data
    result = probes.probe_layers(model, train_x, train_y, test_x, test_y, l2=0.1)
    assert "cls" not in result and len(result["gap"]) == len(result["layers"]) == 8
    name = result["layers"][2]  # independent: store the feature map, average it, fit one probe
    train = activations.collect(model, [name], train_x)[name].double().mean(dim=(2, 3))
    test = activations.collect(model, [name], test_x)[name].double().mean(dim=(2, 3))
    probe = probes.fit_linear_probe(train.float(), train_y, 0.1, num_classes=10, relative=True)
    assert result["gap"][2].item() == pytest.approx(float(probes.probe_accuracy(probe, test.float(), test_y)))


def test_pooled_probes_of_a_gap_vit_have_no_cls(probe_data):
    model = zoo.build("vit-gap", seed=0).eval()
    result = probes.probe_layers(model, *probe_data)
    assert "cls" not in result and result["gap"].shape == (6,)
    assert bool(((result["gap"] >= 0) & (result["gap"] <= 1)).all())


def test_probe_layers_rejects_mismatched_labels(tiny_vit, probe_data):
    train_x, train_y, test_x, test_y = probe_data
    with pytest.raises(ValueError, match="same length"):
        probes.probe_layers(tiny_vit, train_x, train_y[:-1], test_x, test_y)


def test_readout_curve_own_follows_the_model():
    with_cls = {"cls": torch.tensor([0.5, 0.75]), "gap": torch.tensor([0.25, 0.5])}
    without = {"gap": torch.tensor([0.3, 0.7])}
    curve, used = probes.readout_curve(with_cls)
    assert used == "cls" and curve.tolist() == [0.5, 0.75]
    assert probes.readout_curve(without)[1] == "gap"
    assert probes.readout_curve(with_cls, "gap")[0].tolist() == [0.25, 0.5]
    with pytest.raises(KeyError, match="no 'cls'"):
        probes.readout_curve(without, "cls")
    with pytest.raises(ValueError, match="readout"):
        probes.readout_curve(with_cls, "token")
