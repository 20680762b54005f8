"""Skip-connection norm ratio: agreement with a hand-run forward pass, zeroed branches, scaling laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seelike import skips, zoo
from seelike.skips import skip_norm_ratio


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(6, 1, 28, 28, generator=generator)


def vit(name: str = "vit") -> torch.nn.Module:
    model = zoo.build(name).eval()
    with torch.no_grad():  # a non-zero CLS token, so CLS ratios are not 0 / x at block 0
        if model.cls_token is not None:
            model.cls_token.normal_(generator=torch.Generator().manual_seed(1))
    return model


def resnet(live: bool = True) -> torch.nn.Module:
    """The zoo ResNet (timm zero-initialises each last BN scale; live=True makes branches non-zero)."""
    model = zoo.build("resnet").eval()
    if live:
        generator = torch.Generator().manual_seed(2)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5, generator=generator)
                    module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model


@torch.no_grad()
def manual_vit_norms(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over images of ‖z‖ and ‖f(z)‖ per block, sublayer and token, by running timm's pieces by hand."""
    x = model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(images))))
    streams, branches = [], []
    for block in model.blocks:
        f1 = block.drop_path1(block.ls1(block.attn(block.norm1(x))))
        z2 = x + f1
        f2 = block.drop_path2(block.ls2(block.mlp(block.norm2(z2))))
        streams.append(torch.stack([x.norm(dim=-1).mean(0), z2.norm(dim=-1).mean(0)]))
        branches.append(torch.stack([f1.norm(dim=-1).mean(0), f2.norm(dim=-1).mean(0)]))
        x = z2 + f2
    return torch.stack(streams).double(), torch.stack(branches).double()


def test_vit_norms_match_a_hand_run_forward(images):
    model = vit()
    stats = skip_norm_ratio(model, images, batch_size=4)  # two batches: sums must combine correctly
    stream, branch = manual_vit_norms(model, images)
    assert stats.stream_norm.shape == (6, 2, 50) and stats.sublayers == ("attention", "mlp")
    torch.testing.assert_close(stats.stream_norm, stream, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats.branch_norm, branch, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stats.ratio, stream / branch, rtol=1e-5, atol=0)
    assert stats.num_prefix_tokens == 1 and stats.has_skip.all() and stats.num_images == 6
    assert ((stats.cosine >= -1) & (stats.cosine <= 1)).all()
    cosines = stats.cosines()
    assert set(cosines) == set(stats.averages()) == {"attention", "mlp", "attention-cls", "mlp-cls"}
    torch.testing.assert_close(cosines["mlp"], stats.cosine[:, 1, 1:].mean(-1))
    torch.testing.assert_close(cosines["attention-cls"], stats.cosine[:, 0, 0])


def test_zeroed_vit_branch_gives_inf_ratio_and_nan_cosine(images):
    model = vit()
    with torch.no_grad():
        model.blocks[2].attn.proj.weight.zero_()
        model.blocks[2].attn.proj.bias.zero_()
    stats = skip_norm_ratio(model, images)
    assert torch.isinf(stats.ratio[2, 0]).all()
    assert torch.isnan(stats.cosine[2, 0]).all()
    others = torch.ones(6, 2, dtype=torch.bool)
    others[2, 0] = False
    assert torch.isfinite(stats.ratio[others]).all()
    averages = stats.averages()
    assert math.isinf(averages["attention"][2]) and math.isinf(averages["attention-cls"][2])
    assert torch.isfinite(averages["mlp"]).all()


def test_scaling_a_branch_divides_its_ratio(images):
    """f(z) → c·f(z) at one sublayer (attention output projection ×c) divides its ratio by c, leaves its
    cosine and everything upstream unchanged."""
    model = vit()
    before = skip_norm_ratio(model, images)
    with torch.no_grad():
        model.blocks[3].attn.proj.weight.mul_(3.0)
        model.blocks[3].attn.proj.bias.mul_(3.0)
    after = skip_norm_ratio(model, images)
    torch.testing.assert_close(after.ratio[3, 0], before.ratio[3, 0] / 3.0, rtol=1e-5, atol=0)
    torch.testing.assert_close(after.cosine[3, 0], before.cosine[3, 0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(after.ratio[:3], before.ratio[:3], rtol=1e-6, atol=0)


def test_gap_vit_has_no_cls_entries(images):
    stats = skip_norm_ratio(vit("vit-gap"), images)
    assert stats.num_prefix_tokens == 0 and stats.ratio.shape == (6, 2, 49)
    assert set(stats.averages()) == {"attention", "mlp"}


def test_noskip_blocks_are_flagged(images):
    stats = skip_norm_ratio(vit("vit-noskip-3"), images)
    assert stats.has_skip.tolist() == [True, True, True, False, True, True]


@torch.no_grad()
def test_resnet_matches_shortcut_and_branch_by_hand(images):
    model = resnet()
    stats = skip_norm_ratio(model, images, batch_size=5)
    assert stats.sublayers == ("block",) and stats.stream_norm.shape == (8, 1, 1)
    x = model.act1(model.bn1(model.conv1(images)))  # the stem (conv1's pre-hook normalises the images)
    for index, block in enumerate([*model.layer1, *model.layer2, *model.layer3, *model.layer4]):
        shortcut = x if block.downsample is None else block.downsample(x)
        branch = block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))
        z_norm, f_norm = shortcut.norm(dim=1), branch.norm(dim=1)  # per position, over channels
        cosine = (shortcut * branch).sum(dim=1) / (z_norm * f_norm)
        expected = torch.tensor([z_norm.mean(), f_norm.mean(), cosine.mean()], dtype=torch.float64)
        measured = torch.stack(
            [stats.stream_norm[index, 0, 0], stats.branch_norm[index, 0, 0], stats.cosine[index, 0, 0]]
        )
        torch.testing.assert_close(measured, expected, rtol=1e-4, atol=1e-6)
        x = block(x)


def test_resnet_zero_initialised_branches_are_infinite_not_a_crash(images):
    """timm zero-initialises every block's last BN scale: each branch outputs exactly zero."""
    stats = skip_norm_ratio(resnet(live=False), images)
    assert torch.isinf(stats.ratio).all() and torch.isnan(stats.cosine).all()
    assert torch.isinf(stats.averages()["block"]).all()


def test_bad_input_is_rejected():
    model = vit()
    with pytest.raises(ValueError, match="non-empty"):
        skip_norm_ratio(model, torch.rand(0, 1, 28, 28))
    with pytest.raises(ValueError, match="NaN"):
        skip_norm_ratio(model, torch.full((2, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="no residual blocks"):
        skip_norm_ratio(torch.nn.Conv2d(1, 2, 3), torch.rand(2, 1, 28, 28))


def test_figure_marks_infinite_ratios(images):
    from seelike import figures, widgets

    model = vit()
    with torch.no_grad():
        model.blocks[1].mlp.fc2.weight.zero_()
        model.blocks[1].mlp.fc2.bias.zero_()
    stats = skip_norm_ratio(model, images)
    view = widgets.skip_ratio_explorer(
        stats.ratio, stats.sublayers, stats.num_prefix_tokens, stats.averages()
    )
    mlp_panel = view.figure.axes[1]
    assert sum(text.get_text() == "∞" for text in mlp_panel.texts) == 12  # one per token shown
    before = widgets.figure_signature(view.figure)
    view.controls["tokens_shown"].value = 20
    assert widgets.figure_signature(view.figure) != before
    assert sum(text.get_text() == "∞" for text in view.figure.axes[1].texts) == 20
    assert any(text.get_text() == "∞" for text in view.figure.axes[2].texts)  # the averages panel
    assert figures.skip_norm_ratios  # re-exported


def test_noskip_view_frames_the_removed_block():
    from seelike import widgets

    names = ["stem"] + [f"blocks.{b}.{part}" for b in range(3) for part in ("norm1", "attn")] + ["norm"]
    matrices = {name: torch.eye(len(names)) for name in ("vit", "vit-noskip-1", "vit-noskip-2")}
    removed = {"vit": None, "vit-noskip-1": 1, "vit-noskip-2": 2}
    view = widgets.noskip_explorer(matrices, names, {"vit": 0.9, "vit-noskip-1": 0.8}, removed)
    assert len([ax for ax in view.figure.axes if ax.get_title()]) == 3
    view.controls["shown"].value = "vit-noskip-1"
    panels = [ax for ax in view.figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["vit  (test acc. 90.0%)", "vit-noskip-1  (test acc. 80.0%)"]
    vertical = [line.get_xdata() for line in panels[1].lines if line.get_linestyle() == "--"]
    dashed = sorted({x[0] for x in vertical if x[0] == x[1]})
    assert dashed == [3, 5]  # blocks.1 spans layers 3 and 4


# --------------------------------------------------------------------------------------------- ResNet stream
# (moved from tests/test_gradients.py with `gradients.residual_branch_norms`, now `skips.resnet_branch_norms`)


def test_timm_resnet_blocks_start_as_identities(fashion_test):
    """timm zero-initialises the last BatchNorm of every branch: f(x) = 0, the ratio is infinite."""
    result = skips.resnet_branch_norms(zoo.build("resnet").eval(), fashion_test[0][:8])
    assert np.all(result["branch"] == 0) and np.all(result["skip"] > 0)
    assert np.all(np.isinf(result["ratio"]))


def test_residual_branch_norms_match_a_manual_block_computation(fashion_test):
    model = zoo.build("resnet").eval()
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():  # a non-trivial network: random BatchNorm scales and statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data = torch.rand(module.num_features, generator=generator) + 0.5
            module.running_mean = torch.randn(module.num_features, generator=generator) * 0.1
    images = fashion_test[0][:32]
    result = skips.resnet_branch_norms(model, images, batch_size=16)
    assert result["blocks"] == [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)]
    captured = {}
    block = model.layer2[0]  # changes shape: the skip is the 1x1 projection
    handle = block.register_forward_pre_hook(lambda module, args: captured.setdefault("x", args[0]))
    with torch.no_grad():
        model(images)
        handle.remove()
        x = captured["x"]
        branch = block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x)))))
        skip = block.downsample(x)
    index = result["blocks"].index("layer2.0")
    assert result["skip"][index] == pytest.approx(skip.double().norm(dim=1).mean().item(), rel=1e-5)
    assert result["branch"][index] == pytest.approx(branch.double().norm(dim=1).mean().item(), rel=1e-5)
    np.testing.assert_allclose(result["ratio"], result["skip"] / result["branch"])


def test_residual_branch_norms_refuse_a_plain_network(fashion_test):
    with pytest.raises(ValueError, match="no skip connection"):
        skips.resnet_branch_norms(zoo.build("plainnet").eval(), fashion_test[0][:4])


def test_trained_resnet_branches_are_switched_on(fashion_test):
    """After training no branch is zero any more: every ratio is finite (skipped until resnet is trained)."""
    if "resnet" not in zoo.read_manifest()["models"]:
        pytest.skip("zoo resnet not trained yet: python -m seelike.train resnet")
    result = skips.resnet_branch_norms(zoo.load("resnet", seed=0), fashion_test[0][:64])
    assert np.all(result["branch"] > 0) and np.all(np.isfinite(result["ratio"]))


@torch.inference_mode()
def _old_residual_branch_norms(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> dict:
    """The former `gradients.residual_branch_norms`, verbatim in substance: its own hooks and block list."""
    from timm.models.resnet import BasicBlock, Bottleneck

    blocks = [
        (name, m, m.bn2 if isinstance(m, BasicBlock) else m.bn3)
        for name, m in model.named_modules()
        if isinstance(m, (BasicBlock, Bottleneck))
    ]
    skip_sums = torch.zeros(len(blocks), dtype=torch.float64)
    branch_sums = torch.zeros(len(blocks), dtype=torch.float64)
    counts = torch.zeros(len(blocks), dtype=torch.float64)
    handles = []
    for index, (_, block, last_norm) in enumerate(blocks):

        def on_input(module, args, index=index):
            shortcut = args[0] if module.downsample is None else module.downsample(args[0])
            norms = shortcut.double().norm(dim=1).flatten()
            skip_sums[index] += norms.sum()
            counts[index] += norms.numel()

        def on_branch(module, args, output, index=index):
            branch_sums[index] += output.double().norm(dim=1).flatten().sum()

        handles += [block.register_forward_pre_hook(on_input), last_norm.register_forward_hook(on_branch)]
    try:
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])
    finally:
        for handle in handles:
            handle.remove()
    skip, branch = (skip_sums / counts).numpy(), (branch_sums / counts).numpy()
    return {"blocks": [name for name, _, _ in blocks], "skip": skip, "branch": branch, "ratio": skip / branch}


@pytest.mark.parametrize("timm_name", ["zoo", "resnet18", "resnet50"])
def test_resnet_branch_norms_agree_with_the_old_gradients_path_and_skip_norm_ratio(images, timm_name):
    """The one implementation (skip_norm_ratio's hooks through `capture`) gives what the former
    `gradients.residual_branch_norms` (its own block detection and hooks) gave, on Basic and Bottleneck."""
    import timm

    if timm_name == "zoo":
        model, x = resnet(live=True), images
    else:
        model = timm.create_model(timm_name, pretrained=False, num_classes=10).eval()
        generator = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.5, 1.5, generator=generator)
        x = torch.rand(3, 3, 64, 64, generator=generator)
    old = _old_residual_branch_norms(model, x, batch_size=2)
    new = skips.resnet_branch_norms(model, x, batch_size=2)
    assert new["blocks"] == old["blocks"]
    np.testing.assert_allclose(new["skip"], old["skip"], rtol=1e-6)
    np.testing.assert_allclose(new["branch"], old["branch"], rtol=1e-6)
    np.testing.assert_allclose(new["ratio"], old["ratio"], rtol=1e-6)
    stats = skip_norm_ratio(model, x)
    np.testing.assert_allclose(stats.averages()["block"].numpy(), old["ratio"], rtol=1e-6)


def test_median_ratios_take_the_median_over_images_of_each_images_ratio():
    """Three images with known norms: the per-image ratio is the ratio of token-mean norms; the median is
    taken over images (not the ratio of image-mean norms), separately for the CLS token."""
    from seelike.skips import SkipNormStats

    # (N=3, L=1, S=1, T=3): token 0 is CLS, tokens 1-2 spatial
    stream = torch.tensor(
        [[[[2.0, 4.0, 8.0]]], [[[3.0, 1.0, 1.0]]], [[[6.0, 30.0, 30.0]]]], dtype=torch.float64
    )
    branch = torch.tensor(
        [[[[1.0, 2.0, 2.0]]], [[[1.0, 1.0, 1.0]]], [[[1.0, 1.0, 1.0]]]], dtype=torch.float64
    )
    stats = SkipNormStats(["blocks.0"], ("attention",), stream.mean(0), branch.mean(0),
                          torch.zeros(1, 1, 3), 1, torch.tensor([True]), 3, stream, branch)  # fmt: skip
    medians = stats.median_ratios()
    assert medians["attention"].tolist() == [3.0]  # per image 6/2, 1/1, 30/1 -> median 3
    assert medians["attention-cls"].tolist() == [3.0]  # per image 2, 3, 6 -> median 3
    assert stats.averages()["attention"].item() == pytest.approx((74 / 6) / (4 / 3))  # ratio of means: 9.25
    with pytest.raises(ValueError, match="no per-image norms"):
        SkipNormStats(["b"], ("block",), stream.mean(0), branch.mean(0), torch.zeros(1, 1, 3), 0,
                      torch.tensor([True]), 3).median_ratios()  # fmt: skip


def test_per_image_norms_average_to_the_stored_means():
    from seelike import zoo

    torch.manual_seed(0)
    images = torch.rand(10, 1, 28, 28)
    stats = skips.skip_norm_ratio(zoo.build("vit", 0).eval(), images, batch_size=4)
    assert stats.image_stream_norm.shape == (10, *stats.stream_norm.shape)
    torch.testing.assert_close(stats.image_stream_norm.mean(0), stats.stream_norm)
    torch.testing.assert_close(stats.image_branch_norm.mean(0), stats.branch_norm)
