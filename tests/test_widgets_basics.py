"""Every live view of chapters 1-3: changing a control redraws a different figure."""

import pytest
import torch

from seelike import data, patches, zoo
from seelike.widgets import basics as views
from seelike.widgets import figure_signature


def changes_figure(view, **values) -> bool:
    """Set the controls to `values` one after the other; True when every change altered the figure."""
    for name, value in values.items():
        before = figure_signature(view.figure)
        assert view.controls[name].value != value, f"{name} already {value}"
        view.controls[name].value = value
        assert view.values()[name] == value
        if figure_signature(view.figure) == before:
            return False
    return True


@pytest.fixture(scope="module")
def train_subset():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(256, 1, 28, 28, generator=generator)
    return images, torch.randint(0, 10, (256,), generator=generator)


@pytest.fixture(scope="module")
def vit():
    return zoo.build("vit").eval()


@pytest.fixture(scope="module")
def few_images(fashion_test):
    return fashion_test[0][:3], fashion_test[1][:3]


def test_gradient_norms_view(train_subset):
    view = views.gradient_norms_view(*train_subset, depth=4, steps=0)
    assert changes_figure(view, depth=8, steps=5)


def test_live_training_view(train_subset):
    view = views.live_training_view(*train_subset, depth=4, steps=50)
    assert changes_figure(view, depth=8, steps=100, lr=0.1)


def test_zoo_training_curves_view():
    history = {"step": list(range(25, 525, 25)), "loss": [2.0 / (1 + i) ** 0.5 for i in range(20)],
               "epoch_step": [250, 500], "test_accuracy": [0.7, 0.8]}  # fmt: skip
    view = views.zoo_training_curves_view({"resnet": history, "plainnet": history}, smoothing=1)
    assert changes_figure(view, smoothing=5, log_loss=True)


def test_residual_stream_view(fashion_test):
    trained_like = zoo.build("resnet").eval()
    for module in trained_like.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.fill_(1.0)
    view = views.residual_stream_view({"initialised": zoo.build("resnet").eval(), "other": trained_like},
                                      fashion_test[0][:16])  # fmt: skip
    assert changes_figure(view, model="other")


def test_attention_scaling_view():
    assert changes_figure(views.attention_scaling_view(head_dim=4), head_dim=256)


def test_shuffled_patches_view(vit, few_images):
    view = views.shuffled_patches_view(vit, *few_images, patch_size=4, class_names=data.FASHION_MNIST_CLASSES)
    assert changes_figure(view, image=1, seed=3)


def test_attention_map_view(vit, few_images):
    view = views.attention_map_view(vit, few_images[0], patch_size=4)
    assert changes_figure(view, image=2, block=3, head=1, query=0)


def test_rollout_view(vit, few_images):
    view = views.rollout_view(vit, few_images[0])
    assert changes_figure(view, image=1, fusion="max", residual_weight=0.0)


def test_patchify_view_switches_patch_sizes_with_the_image(few_images):
    photo = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    view = views.patchify_view(
        {"fashion": few_images[0][0], "photo": photo}, 128, {"fashion": 4, "photo": 16}
    )
    assert view.values() == {"image": "fashion", "patch_size": 4}
    assert changes_figure(view, patch_size=7)
    before = figure_signature(view.figure)
    view.controls["image"].value = "photo"
    assert view.values() == {"image": "photo", "patch_size": 16}
    assert 16 in view.controls["patch_size"].options and 5 not in view.controls["patch_size"].options
    assert figure_signature(view.figure) != before


def test_patch_filters_view(vit):
    view = views.patch_filters_view({"vit": patches.patch_embedding_filters(vit)}, count=8)
    assert changes_figure(view, show="principal components", count=16)


def test_position_similarity_view(vit):
    view = views.position_similarity_view(
        {"2D": patches.position_embeddings(vit), "1D": patches.sincos_1d(49, 128)}, highlight=(1, 1)
    )
    assert changes_figure(view, embedding="1D", row=4, column=5)
