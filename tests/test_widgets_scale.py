"""Chapter 8's figures and live views: every control redraws, the figure changes, inputs are checked."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_each_control_redraws

from seelike.figures import scale as figures
from seelike.widgets import scale as views

LAYERS = ["stem", *[f"blocks.{b}{suffix}" for b in range(3) for suffix in (".norm1", ".mlp.act", "")], "norm"]
FAMILIES = {
    "all": LAYERS,
    "blocks": [n for n in LAYERS if n.count(".") == 1],
    "mlp": [n for n in LAYERS if n.endswith("mlp.act")],
}


def cka_curves() -> dict:
    depth = torch.linspace(0, 1, len(LAYERS), dtype=torch.float64)
    return {
        "3%": (1 - 0.6 * depth, LAYERS),
        "10%": (1 - 0.4 * depth, LAYERS),
        "30%": (1 - 0.2 * depth, LAYERS),
    }


def probe_results() -> dict:
    depth6 = torch.arange(1, 7, dtype=torch.float64) / 6
    depth8 = torch.arange(1, 9, dtype=torch.float64) / 8
    return {
        "3%": {"depth": depth6, "cls": 0.5 + 0.2 * depth6, "gap": 0.55 + 0.1 * depth6},
        "100%": {"depth": depth6, "cls": 0.6 + 0.3 * depth6, "gap": 0.7 + 0.2 * depth6},
        "resnet": {"depth": depth8, "gap": 0.4 + 0.5 * depth8},
    }


def line_count(figure) -> int:
    return sum(len(ax.get_lines()) for ax in figure.axes)


def test_same_layer_cka_view_models_and_family():
    view = views.same_layer_cka_view(cka_curves(), FAMILIES, family="all")
    assert line_count(view.figure) >= 3
    assert_each_control_redraws(view, {"models": ("3%", "30%"), "family": "mlp"})
    xs = view.figure.axes[0].get_lines()[0].get_xdata()
    assert len(xs) == len(FAMILIES["mlp"])  # the family selects the layers drawn


def test_same_layer_cka_view_empty_selection_draws_a_note():
    view = views.same_layer_cka_view(cka_curves(), FAMILIES)
    view.controls["models"].value = ()
    assert line_count(view.figure) == 0
    assert any("no model" in text.get_text() for text in view.figure.axes[0].texts)


def test_same_layer_cka_view_rejects_bad_choices():
    with pytest.raises(ValueError, match="family"):
        views.same_layer_cka_view(cka_curves(), FAMILIES, family="attn")
    with pytest.raises(ValueError, match="models"):
        views.same_layer_cka_view(cka_curves(), FAMILIES, models=["1%"])


def test_probe_depth_view_models_and_readout():
    view = views.probe_depth_view(probe_results())
    assert_each_control_redraws(view, {"models": ("3%", "resnet"), "readout": "gap"})


def test_probe_depth_view_cls_leaves_out_models_without_cls():
    view = views.probe_depth_view(probe_results(), readout="cls", chance=None)
    labels = [line.get_label() for line in view.figure.axes[0].get_lines()]
    assert labels == ["3%", "100%"]
    view.controls["readout"].value = "own"  # the ResNet comes back with its GAP curve, dashed
    lines = {line.get_label(): line for line in view.figure.axes[0].get_lines()}
    assert set(lines) == {"3%", "100%", "resnet"} and lines["resnet"].get_linestyle() == "--"
    torch.testing.assert_close(
        torch.tensor(lines["100%"].get_ydata()), probe_results()["100%"]["cls"], check_dtype=False
    )


def test_probe_depth_view_rejects_unknown_readout():
    with pytest.raises(ValueError, match="readout"):
        views.probe_depth_view(probe_results(), readout="token")


def test_same_layer_cka_curves_plots_the_values_and_checks_names():
    curves = cka_curves()
    figure = figures.same_layer_cka_curves(curves)
    for line, (values, _) in zip(figure.axes[0].get_lines(), curves.values(), strict=False):
        assert line.get_ydata().tolist() == pytest.approx(values.tolist())
    with pytest.raises(ValueError, match="same layers"):
        figures.same_layer_cka_curves({"a": (torch.ones(2), ["x", "y"]), "b": (torch.ones(2), ["x", "z"])})


def test_others_get_their_own_dashed_colours():
    curves = {
        label: (torch.tensor([0.5, 1.0]), torch.tensor([0.6, 0.7]))
        for label in ("init", "3%", "100%", "resnet")
    }
    figure = figures.probe_depth_curves(curves, others=("init", "resnet"))
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["init"].get_linestyle() == lines["resnet"].get_linestyle() == "--"
    assert lines["3%"].get_linestyle() == "-"
    colours = {label: lines[label].get_color() for label in curves}
    assert len(set(map(str, colours.values()))) == 4
    assert any(text.get_text() == "chance: 0.10" for text in figure.axes[0].texts)  # chance below the range


def test_probe_depth_curves_checks_shapes():
    with pytest.raises(ValueError, match="must be equal"):
        figures.probe_depth_curves({"a": (torch.ones(3), torch.ones(4))})


def test_local_heads_by_data_bars():
    counts = {"3%": torch.tensor([0, 0, 0]), "100%": torch.tensor([2, 1, 0])}
    figure = figures.local_heads_by_data(counts, heads=4)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == [0, 0, 0, 2, 1, 0]
    assert figure.axes[0].get_ylim()[1] == pytest.approx(4.3)
    hatched = figures.local_heads_by_data(counts, heads=4, others=("3%",))
    assert [patch.get_hatch() for patch in hatched.axes[0].patches] == ["//"] * 3 + [None] * 3
    with pytest.raises(ValueError, match="one length"):
        figures.local_heads_by_data({"a": torch.tensor([1, 2]), "b": torch.tensor([1])})


def test_local_heads_view_threshold_recounts():
    from seelike import attention

    uniform = attention.uniform_attention_distance(7, 4)
    distances = {
        "3%": torch.tensor([[0.5, 0.8, 1.0, 1.0], [0.9, 1.0, 1.0, 1.0]], dtype=torch.float64) * uniform,
        "100%": torch.tensor([[0.2, 0.5, 0.7, 1.0], [0.4, 1.0, 1.0, 1.0]], dtype=torch.float64) * uniform,
    }
    view = views.local_heads_view(distances, 7, 4)
    heights = [patch.get_height() for patch in view.figure.axes[0].patches]
    assert heights == [1, 0, 2, 1]  # at 0.6 × uniform
    assert_each_control_redraws(view, {"fraction": 0.85})
    heights = [patch.get_height() for patch in view.figure.axes[0].patches]
    assert heights == [2, 0, 3, 1]
