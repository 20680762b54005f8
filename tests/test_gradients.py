"""Gradient norms of deep plain vs residual networks and the tiny trainer (ResNet residual-stream norms:
tests/test_skips.py)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seelike import gradients
from seelike.gradients import DeepMLP


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(512, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (512,), generator=generator)
    return images, labels


def test_plain_and_residual_start_from_the_same_weights():
    plain, residual = DeepMLP(6, residual=False, seed=3), DeepMLP(6, residual=True, seed=3)
    for (name, a), (_, b) in zip(plain.state_dict().items(), residual.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(DeepMLP(6, False, seed=4).layers[0].weight, plain.layers[0].weight)


def test_layer_gradient_norms_match_backward(batch):
    images, labels = batch
    model = DeepMLP(5, residual=True, width=16).double()
    norms = gradients.layer_gradient_norms(model, images[:64], labels[:64])
    F.cross_entropy(model(images[:64].double()), labels[:64]).backward()
    expected = [layer.weight.grad.norm().item() for layer in model.layers]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)


def test_zero_branches_pass_the_gradient_unchanged_to_every_layer(batch):
    """With every W_l = 0 the residual stream is stem(x) at every depth, so each layer sees the same input
    and the same upstream gradient: all layer gradients are equal (ratio exactly 1). The plain network
    with zero weights passes no gradient to any layer."""
    images, labels = batch
    residual, plain = DeepMLP(12, True, width=16).double(), DeepMLP(12, False, width=16).double()
    for model in (residual, plain):
        with torch.no_grad():
            for layer in model.layers:
                layer.weight.zero_()
                layer.bias.zero_()
    norms = gradients.layer_gradient_norms(residual, images[:64], labels[:64])
    np.testing.assert_allclose(norms, norms[0], rtol=1e-12)
    assert gradients.gradient_norm_ratio(norms) == pytest.approx(1.0, abs=1e-12)
    plain_norms = gradients.layer_gradient_norms(plain, images[:64], labels[:64])
    assert np.all(plain_norms == 0)


def test_gradient_norm_ratio_at_init_deep_plain_vs_residual(batch):
    """At initialisation a deep plain BatchNorm network's gradient grows layer by layer towards the input
    (the first layer gets hundreds of times the last one's); with skip connections it stays within a
    small factor. Without normalisation (PyTorch's default init shrinks signals) the plain network's
    gradient vanishes instead, and the residual one still carries it."""
    images, labels = batch
    ratios = {}
    for normalization in ("batch", "none"):
        for residual in (False, True):
            model = DeepMLP(32, residual, normalization=normalization).double().train()
            norms = gradients.layer_gradient_norms(model, images[:128], labels[:128])
            ratios[normalization, residual] = gradients.gradient_norm_ratio(norms)
    assert ratios["batch", False] > 50
    assert 0.5 < ratios["batch", True] < 20
    assert ratios["batch", False] > 10 * ratios["batch", True]
    assert ratios["none", False] < 1e-5
    assert 0.2 < ratios["none", True] < 5


def test_gradient_norm_ratio_errors():
    assert gradients.gradient_norm_ratio(np.array([4.0, 2.0])) == 2.0
    with pytest.raises(ValueError, match="zero"):
        gradients.gradient_norm_ratio(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        gradients.gradient_norm_ratio(np.array([np.nan, 1.0]))


def test_deep_mlp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        DeepMLP(0, True)
    with pytest.raises(ValueError, match="normalization"):
        DeepMLP(3, True, normalization="layer")


def test_trainer_is_deterministic_and_learns(batch):
    images, labels = batch
    labels = (images.flatten(1).mean(1) > images.flatten(1).mean()).long()  # a learnable rule
    runs = [
        gradients.train_deep_net(DeepMLP(3, True, width=16), images, labels, 60, seed=1) for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert runs[0]["step"] == list(range(1, 61))
    assert np.mean(runs[0]["loss"][-10:]) < 0.8 * np.mean(runs[0]["loss"][:10])


def test_trainer_restores_thread_count(batch):
    before = torch.get_num_threads()
    gradients.train_deep_net(DeepMLP(2, True, width=8), *batch, 2, threads=1)
    assert torch.get_num_threads() == before


def test_compare_gradient_norms_shapes_and_same_start(batch):
    result = gradients.compare_gradient_norms(*batch, depth=6, steps=3, width=16, batch_size=32)
    assert set(result) == {"plain", "residual"}
    for architecture in result.values():
        assert architecture["init"].shape == architecture["trained"].shape == (6,)
        assert not np.array_equal(architecture["init"], architecture["trained"])
    # zero steps: "trained" is the initial network again
    still = gradients.compare_gradient_norms(*batch, depth=4, steps=0, width=16, batch_size=32)
    np.testing.assert_array_equal(still["plain"]["init"], still["plain"]["trained"])


def test_training_runs_record_both_architectures(batch):
    runs = gradients.training_runs(*batch, depth=3, steps=20, width=16, record_every=5)
    for run in runs.values():
        assert run["step"] == [5, 10, 15, 20]
        assert all(np.isfinite(run["loss"]))
