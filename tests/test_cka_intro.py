"""Chapter 4: seelike.cka_intro (experiments on CKA itself) and seelike.figures.cka_intro."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from seelike import cka, cka_intro
from seelike import figures as F


def correlated_pair(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two related representations: y is a noisy nonlinear function of x."""
    x = cka_intro.random_representation(n, 48, seed, decay=0.5)
    mixing = torch.randn(48, 24, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    y = torch.tanh(x @ mixing) + 0.5 * cka_intro.random_representation(n, 24, seed + 2)
    return x, y


# --------------------------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_invariant_transforms_give_one_and_general_maps_do_not(kernel):
    table = cka_intro.cka_after_transforms(n=128, features=32, kernel=kernel)
    assert list(table) == list(cka_intro.TRANSFORMS)
    for name in ("orthogonal rotation", "isotropic scaling ×0.001", "translation +30"):
        assert table[name] == pytest.approx(1.0, abs=1e-10), name
    for name in ("per-feature scaling", "invertible linear map"):
        assert table[name] < 0.97, name


def test_condition_number_sweep_starts_at_one_and_falls():
    sweep = cka_intro.cka_vs_condition_number([1, 3, 30, 1000], n=128, features=32)
    values = sweep["cka"]
    assert values[0].item() == pytest.approx(1.0, abs=1e-10)
    assert bool((values[1:] < values[:-1]).all()) and values[-1] < 0.9
    with pytest.raises(ValueError, match=">= 1"):
        cka_intro.cka_vs_condition_number([0.5])


def test_random_representation_shapes_and_seeds():
    a = cka_intro.random_representation(10, 5, seed=3, decay=1.0)
    assert a.shape == (10, 5) and a.dtype == torch.float64
    torch.testing.assert_close(a, cka_intro.random_representation(10, 5, seed=3, decay=1.0))
    assert not torch.equal(a, cka_intro.random_representation(10, 5, seed=4, decay=1.0))
    # decay = 1: feature variances fall like 1/j² along a random orthonormal basis, so the spectrum decays
    big = cka_intro.random_representation(4000, 5, seed=0, decay=1.0)
    eigenvalues = torch.linalg.eigvalsh(big.T @ big / 4000).flip(0)
    torch.testing.assert_close(eigenvalues, torch.arange(1, 6, dtype=torch.float64) ** -2.0, rtol=0.1, atol=0)


# --------------------------------------------------------------------------------------------- estimator bias


def test_biased_cka_of_independent_data_is_high_at_small_n_unbiased_is_not():
    result = cka_intro.independent_cka_vs_n([8, 32, 512], features=256, repeats=4)
    biased, unbiased = result["biased"].mean(0), result["unbiased"].mean(0)
    assert biased[0] > 0.9, "many features, few examples: biased CKA near 1 for independent data"
    assert bool((biased[1:] < biased[:-1]).all())
    assert unbiased.abs().max() < 0.15 and abs(unbiased[-1]) < 0.01
    assert bool((result["biased"] > result["unbiased"]).all())


def test_bias_experiment_matches_the_engine_and_checks_input():
    result = cka_intro.independent_cka_vs_n([16], features=8, repeats=1, seed=5)
    x = cka_intro.random_representation(16, 8, 2 * 5)
    y = cka_intro.random_representation(16, 8, 2 * 5 + 1)
    assert result["biased"][0, 0].item() == pytest.approx(cka.linear_cka(x, y, unbiased=False), abs=1e-12)
    assert result["unbiased"][0, 0].item() == pytest.approx(cka.linear_cka(x, y, unbiased=True), abs=1e-12)
    with pytest.raises(ValueError, match="n >= 4"):
        cka_intro.independent_cka_vs_n([3, 8])
    with pytest.raises(ValueError, match="kernel"):
        cka_intro.independent_cka_vs_n([8], kernel="cosine")


# --------------------------------------------------------------------------------------------- minibatches


def test_minibatch_estimator_one_batch_equals_full_data_and_is_stable_across_sizes():
    x, y = correlated_pair(256)
    result = cka_intro.minibatch_size_effect(x, y, [16, 64, 256])
    full = result["full_unbiased"].item()
    assert result["minibatch"][-1].item() == pytest.approx(full, abs=1e-9)  # one batch of all 256
    assert result["mean_unbiased"][-1].item() == pytest.approx(full, abs=1e-9)
    assert result["mean_biased"][-1].item() == pytest.approx(result["full_biased"].item(), abs=1e-9)
    assert (result["minibatch"] - full).abs().max() < 0.05
    # averaging per-batch *biased* CKA over small batches overestimates
    assert result["mean_biased"][0] > result["full_biased"] + 0.05


def test_minibatch_effect_rejects_bad_input():
    x, y = correlated_pair(32)
    with pytest.raises(ValueError, match="same examples"):
        cka_intro.minibatch_size_effect(x, y[:16], [8])
    with pytest.raises(ValueError, match="at least 4"):
        cka_intro.minibatch_size_effect(x, y, [2])


# --------------------------------------------------------------------------------------------- float32


def test_naive_formula_agrees_in_float64_and_fails_in_float32_with_an_offset():
    x, y = correlated_pair(128)
    reference = cka.linear_cka(x, y, unbiased=False)
    assert cka_intro.naive_gram_cka(x, y, torch.float64) == pytest.approx(reference, abs=1e-12)
    result = cka_intro.offset_failure(x, y, [0.0, 30.0], scale=1e-3)
    # the references are float64 CKA of the float32-rounded inputs: at offset 0 that rounding is harmless
    assert result["reference"][0].item() == pytest.approx(reference, abs=1e-6)
    assert abs(result["naive_float64"] - result["reference"]).max() < 1e-6  # float64 cancels ~1e-7 here
    assert abs(result["naive_float32"][1] - result["reference"][1]) > 0.1, (
        "float32 centring after the Gram fails"
    )
    assert (result["minibatch_cka"] - result["reference_unbiased"]).abs().max() < 1e-6
    with_cache = cka_intro.offset_failure(x, y, [0.0], scale=1.0)
    assert with_cache["naive_float32"][0].item() == pytest.approx(with_cache["reference"][0].item(), abs=1e-5)


# --------------------------------------------------------------------------------------------- figures


def test_invariance_figure_has_one_bar_per_transform_and_the_sweep():
    table = cka_intro.cka_after_transforms(n=64, features=16)
    sweep = cka_intro.cka_vs_condition_number([1, 10], n=64, features=16)
    figure = F.cka_invariances(table, sweep)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert len(figure.axes[0].patches) == len(table)
    np.testing.assert_allclose(figure.axes[1].lines[0].get_ydata(), sweep["cka"].numpy())
    assert len(F.cka_invariances(table).axes) == 1


def test_bias_minibatch_and_float32_figures_draw_their_data():
    bias = cka_intro.independent_cka_vs_n([8, 16], features=8, repeats=2)
    figure = F.hsic_bias(bias, features=8)
    means = [line.get_ydata() for line in figure.axes[0].lines if len(line.get_xdata()) == 2]
    np.testing.assert_allclose(means[0], bias["biased"].mean(0).numpy())
    np.testing.assert_allclose(means[1], bias["unbiased"].mean(0).numpy())
    x, y = correlated_pair(64)
    figure = F.minibatch_effect(cka_intro.minibatch_size_effect(x, y, [16, 64]), n=64)
    assert len(figure.axes[0].lines) == 5
    figure = F.float32_failure(cka_intro.offset_failure(x, y, [0.0, 30.0]), scale=1.0)
    assert len(figure.axes[0].lines) == 5


def test_gram_matrices_figure_outlines_classes_and_checks_shapes():
    x, y = correlated_pair(12)
    labels = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    grams = {"x": cka.centred_gram(x), "y": cka.centred_gram(y)}
    figure = F.gram_matrices(grams, labels, ["a", "b", "c"], {"y": 0.5})
    assert len(figure.axes) == 2 and "CKA with x: 0.50" in figure.axes[1].get_title()
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one size"):
        F.gram_matrices({"x": torch.eye(3), "y": torch.eye(4)})
