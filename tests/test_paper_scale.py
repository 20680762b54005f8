"""The paper-scale cells' functions, offline: timm models of the paper's architectures with random weights
(`pretrained=False`) and a few small stand-in images. Checks that each runs, that its results have the
paper's layers and shapes, that the chapters' figures and views build from them, and that none of it changes
timm's global fused-attention default. On CUDA (skipped elsewhere) the attention distances go through the
Triton kernel and the CKA Grams run with TF32 off.
"""

import contextlib

import pytest
import torch
from matplotlib.figure import Figure

from seelike import (
    activations,
    attention,
    cka,
    comparisons,
    figures,
    localization,
    patches,
    probes,
    skips,
    zoo,
)
from seelike.widgets import LiveFigure
from seelike.widgets import basics as basic_views

pytestmark = pytest.mark.paper_scale

VIT_B16 = "vit_base_patch16_224.augreg_in21k"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def fused_attention_default() -> bool:
    from timm.layers import use_fused_attn

    return use_fused_attn()


@pytest.fixture(autouse=True)
def _fused_attention_unchanged(monkeypatch, tmp_path):
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))  # random-weight results stay out of the user's cache
    before = fused_attention_default()
    yield
    assert fused_attention_default() == before, "timm's global fused-attention setting leaked"


def stand_ins(count: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_chapter3_filters_and_position_embeddings():
    result = patches.paper_scale(VIT_B16, pretrained=False)
    assert result["filters"].shape == (768, 3, 16, 16)
    assert result["positions"].shape == (196, 768)
    views = [
        basic_views.patch_filters_view({"ViT-B/16": result["filters"]}, count=32),
        basic_views.position_similarity_view({"ViT-B/16, learned": result["positions"]}, highlight=(3, 3)),
    ]
    assert all(isinstance(view, LiveFigure) and isinstance(view.figure, Figure) for view in views)


def test_chapter5_cka_layers_are_the_papers():
    result = comparisons.paper_scale(
        stand_ins(4, 32), family="all", pretrained=False, device="cpu", batch_size=4, use_cache=False,
        progress=False,
    )  # fmt: skip
    vit_label, resnet_label = result["labels"]
    _, vit_names, _ = result["within"][vit_label]
    expected = ["stem"]
    for block in range(12):
        expected += [f"blocks.{block}.{part}" for part in ("norm1", "attn", "resid1", "norm2", "mlp.act")]
        expected += [f"blocks.{block}"]
    assert vit_names == [*expected, "norm"]
    _, resnet_names, _ = result["within"][resnet_label]
    units = [f"stages.{stage}.blocks.{unit}" for stage, n in enumerate((3, 4, 6, 3)) for unit in range(n)]
    assert [name for name in resnet_names if name.count(".") == 3] == units  # BiT R50x1: every unit, in order
    assert resnet_names[0] == "stem" and resnet_names[-1] == "norm"
    cross, rows, columns = result["cross"]
    assert (rows, columns) == (vit_names, resnet_names) and cross.shape == (len(rows), len(columns))
    for matrix, names, _ in result["within"].values():
        assert matrix.device.type == "cpu" and matrix.shape == (len(names), len(names))
        assert torch.isfinite(matrix).all()
    heatmaps = {label: (matrix, names) for label, (matrix, names, _) in result["within"].items()}
    assert isinstance(figures.within_model_heatmaps(heatmaps), Figure)
    best = result["match"]["best_vit_index"]
    assert isinstance(
        figures.cross_model_heatmap(*result["cross"], best, model_x=vit_label, model_y=resnet_label), Figure
    )


def test_chapter5_cpu_default_is_block_outputs():
    vit = zoo.paper_scale_model(VIT_B16, pretrained=False)
    assert activations.layers_for(vit, "blocks") == [f"blocks.{block}" for block in range(12)]


@pytest.mark.parametrize("device", DEVICES)
def test_chapter6_attention_distances(device):
    result = attention.paper_scale(VIT_B16, stand_ins(2, 224), pretrained=False, device=device)
    distances = result["distances"]
    assert distances.shape == (12, 12) and distances.device.type == "cpu"
    assert (result["patch_size"], result["grid_size"]) == (16, 14)
    assert result["uniform"] == pytest.approx(attention.uniform_attention_distance(14, 16))
    # Random weights attend almost uniformly: every head near the uniform distance, none beyond the grid.
    assert (distances > 0).all() and (distances < 224 * 2**0.5).all()
    figure = figures.mean_distance_by_head(distances, result["uniform"], title="ViT-B/16, random weights")
    assert isinstance(figure, Figure)


def test_chapter7_localization_and_skip_ratios():
    result = localization.paper_scale(
        "vit_base_patch32_224.augreg_in21k", stand_ins(6, 32), pretrained=False, device="cpu", batch_size=6,
        progress=False,
    )  # fmt: skip
    assert (
        result["grid"] == 7 and result["map"].shape == (49, 49) and result["images"].shape == (6, 3, 224, 224)
    )
    assert 0 <= result["own_fraction"] <= 1
    stats = skips.skip_norm_ratio(result["model"], result["images"][:4], batch_size=4)
    averages = stats.averages()
    assert all(curve.shape == (12,) for curve in averages.values())
    label = "ViT-B/32"
    assert isinstance(
        figures.localization_mosaic({label: result["map"]}, {label: result["own_fraction"]}), Figure
    )
    figure = figures.skip_norm_ratios(
        stats.ratio, stats.sublayers, stats.num_prefix_tokens, averages, title=label
    )
    assert isinstance(figure, Figure)


def test_chapter8_probes_by_depth():
    labels = torch.arange(10)
    results = probes.paper_scale(
        (stand_ins(10, 32, seed=1), labels), (stand_ins(5, 32, seed=2), labels[:5]),
        pretrained=False, device="cpu", batch_size=10, progress=False,
    )  # fmt: skip
    assert list(results) == list(probes.PAPER_PROBE_MODELS)
    for result in results.values():
        assert result["layers"] == [f"blocks.{block}" for block in range(12)]
        assert result["cls"].shape == (12,) and ((0 <= result["cls"]) & (result["cls"] <= 1)).all()
    curves = {label: (result["depth"], result["cls"]) for label, result in results.items()}
    assert isinstance(figures.probe_depth_curves(curves, title="ViT-B/32, random weights"), Figure)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_paths_use_the_kernel_and_ieee_grams(monkeypatch):
    from seelike import kernels
    from seelike.kernels import triton_attention_distance

    calls = []
    original = triton_attention_distance.mean_attention_distance_triton

    def counting(q, *args, **kwargs):
        calls.append(q.device.type)
        return original(q, *args, **kwargs)

    monkeypatch.setattr(triton_attention_distance, "mean_attention_distance_triton", counting)
    assert kernels.triton_available()
    attention.paper_scale(VIT_B16, stand_ins(2, 224), pretrained=False, device="cuda")
    assert calls == ["cuda"] * 12

    entered = []
    ieee = cka._ieee_float32_matmul

    @contextlib.contextmanager
    def recording(device):
        with ieee(device):
            matmul = torch.backends.cuda.matmul
            precision = getattr(matmul, "fp32_precision", None) or ("tf32" if matmul.allow_tf32 else "ieee")
            entered.append((torch.device(device).type, precision))
            yield

    monkeypatch.setattr(cka, "_ieee_float32_matmul", recording)
    comparisons.paper_scale(
        stand_ins(8, 32), family="blocks", pretrained=False, device="cuda", batch_size=8, use_cache=False,
        progress=False,
    )  # fmt: skip
    assert entered and set(entered) == {("cuda", "ieee")}
