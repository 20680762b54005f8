"""Chapter 8 measures: same-layer CKA and layer selection (comparisons), block depth, pooled probes
(probes), local heads (attention)."""

from __future__ import annotations

import copy

import pytest
import torch

from seelike import activations, attention, cka, comparisons, probes, zoo


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))


@pytest.fixture(scope="module")
def tiny_vit():
    return zoo.build("vit", seed=0).eval()


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(3)
    return torch.rand(64, 1, 28, 28, generator=generator)


# --------------------------------------------------------------------------------------------- same-layer


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


def test_same_layer_cka_of_identical_weights_is_one(tiny_vit, images):
    twin = copy.deepcopy(tiny_vit)  # another object: the cross-model path, not the within-model shortcut
    values, names = comparisons.same_layer_cka(tiny_vit, twin, images, batch_size=32)
    assert names == activations.layer_names(tiny_vit)
    torch.testing.assert_close(values, torch.ones_like(values), atol=1e-6, rtol=0)


def test_same_layer_cka_stays_one_upstream_of_a_change(tiny_vit, images):
    """Perturbing block 3 leaves every layer before it identical (CKA 1) and changes the layers after it."""
    changed = copy.deepcopy(tiny_vit)
    with torch.no_grad():
        changed.blocks[3].mlp.fc1.weight.normal_(generator=torch.Generator().manual_seed(1))
    layers = activations.layer_names(tiny_vit, "blocks")
    values, names = comparisons.same_layer_cka(tiny_vit, changed, images, layers, batch_size=32)
    assert names == layers
    torch.testing.assert_close(values[:3], torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0)
    assert bool((values[3:] < 0.999).all())


def test_same_layer_cka_equals_full_batch_linear_cka(tiny_vit, images):
    """One minibatch holding every image: the engine's value is the unbiased linear CKA of the activations."""
    other = zoo.build("vit", seed=1).eval()
    layers = ["blocks.0", "blocks.4.mlp.act"]
    values, _ = comparisons.same_layer_cka(tiny_vit, other, images, layers, batch_size=len(images))
    stored_a = activations.collect(tiny_vit, layers, images)
    stored_b = activations.collect(other, layers, images)
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


@pytest.mark.parametrize("n", [1, 6, 8])
def test_normalised_depth(n):
    depth = activations.block_depth(n)
    assert depth.shape == (n,) and depth[-1] == 1.0
    torch.testing.assert_close(depth.diff(), torch.full((n - 1,), 1.0 / n, dtype=torch.float64))
    with pytest.raises(ValueError):
        activations.block_depth(0)


# --------------------------------------------------------------------------------------------- probes


@pytest.fixture(scope="module")
def probe_data(fashion_test):
    test_images, test_labels = fashion_test
    train = slice(0, 120)
    held_out = slice(1000, 1100)
    return test_images[train], test_labels[train], test_images[held_out], test_labels[held_out]


def test_probe_by_depth_matches_token_probes_for_a_vit(tiny_vit, probe_data):
    """The pooled read-outs give the same accuracies as `probes.probe_layers` on the stored tokens."""
    result = probes.probe_by_depth(tiny_vit, *probe_data, l2=0.1)
    reference = probes.probe_layers(tiny_vit, *probe_data, l2=0.1)
    assert result["layers"] == reference["layers"] == activations.layer_names(tiny_vit, "blocks")
    torch.testing.assert_close(result["depth"], activations.block_depth(6))
    for readout in ("cls", "gap"):
        torch.testing.assert_close(result[readout], reference[readout], atol=0, rtol=0)
    assert set(result) == {"layers", "depth", "cls", "gap"}


def test_probe_by_depth_resnet_uses_global_average_pooling(probe_data):
    model = zoo.build("resnet", seed=0).eval()
    train_x, train_y, test_x, test_y = probe_data
    result = probes.probe_by_depth(model, train_x, train_y, test_x, test_y, l2=0.1)
    assert "cls" not in result and len(result["gap"]) == len(result["layers"]) == 8
    name = result["layers"][2]  # independent: store the feature map, average it, fit one probe
    train = activations.collect(model, [name], train_x)[name].double().mean(dim=(2, 3))
    test = activations.collect(model, [name], test_x)[name].double().mean(dim=(2, 3))
    probe = probes.fit_linear_probe(train.float(), train_y, 0.1, num_classes=10, relative=True)
    assert result["gap"][2].item() == pytest.approx(float(probes.probe_accuracy(probe, test.float(), test_y)))


def test_probe_by_depth_gap_vit_has_no_cls(probe_data):
    model = zoo.build("vit-gap", seed=0).eval()
    result = probes.probe_by_depth(model, *probe_data)
    assert "cls" not in result and result["gap"].shape == (6,)
    assert bool(((result["gap"] >= 0) & (result["gap"] <= 1)).all())


def test_probe_by_depth_rejects_mismatched_labels(tiny_vit, probe_data):
    train_x, train_y, test_x, test_y = probe_data
    with pytest.raises(ValueError, match="same length"):
        probes.probe_by_depth(tiny_vit, train_x, train_y[:-1], test_x, test_y)


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


# --------------------------------------------------------------------------------------------- local heads


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


def test_fractions_name_zoo_models():
    for name, fraction in comparisons.FRACTIONS.items():
        assert zoo.spec(name).data_fraction == fraction
