"""Live views of chapters 4 and 5: every control redraws, and the figure changes with it."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_each_control_redraws

from seelike import cka_intro
from seelike.widgets import cka_intro as views4

pytestmark = pytest.mark.usefixtures("private_cache")


def activation_pair(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    x = cka_intro.random_representation(n, 32, 0, decay=0.5).float()
    y = torch.relu(x @ torch.randn(32, 16, generator=torch.Generator().manual_seed(1))) + 3.0
    return x, y


def test_invariance_view():
    assert_each_control_redraws(
        views4.invariance_view(examples=128, features=16), {"kernel": "rbf", "examples": 64}
    )


def test_hsic_bias_view_recomputes_and_caches(tmp_path):
    view = views4.hsic_bias_view(features=16, repeats=1, ns=(8, 16, 32))
    assert_each_control_redraws(view, {"kernel": "rbf", "features": 64})
    stored = len(list((tmp_path / "results").glob("*.pt")))
    assert stored == 3
    view.controls["features"].value = 16  # back to (rbf, 16), seen before: served from the cache
    assert len(list((tmp_path / "results").glob("*.pt"))) == stored


def test_minibatch_view():
    x, y = activation_pair(512)
    view = views4.minibatch_view(x, y, batch_sizes=(16, 64, 256))
    assert view.controls["examples"].options == (256, 512)
    assert_each_control_redraws(view, {"examples": 256})
    with pytest.raises(ValueError, match="at least 1024"):
        views4.minibatch_view(x, y, batch_sizes=(1024,))


def test_float32_view():
    x, y = activation_pair(128)
    view = views4.float32_view(x, y, batch_size=128, offsets=(0.0, 30.0))
    assert_each_control_redraws(view, {"scale": 0.001, "batch_size": 64})


# --------------------------------------------------------------------------------------------- chapter 5


def test_structure_view_every_control_and_cache(tmp_path):
    from seelike import zoo
    from seelike.widgets import cka as views5

    models = {"vit": zoo.build("vit").eval(), "resnet": zoo.build("resnet").eval()}
    images = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    view = views5.structure_view(models, images, family="blocks", example_options=(16, 32), batch_size=8)
    assert view.controls["examples"].value == 32 and view.controls["model_b"].value == "resnet"
    assert_each_control_redraws(
        view, {"model_a": "resnet", "model_b": "vit", "family": "mlp", "examples": 16}
    )
    stored = len(list((tmp_path / "results").glob("*.pt")))
    assert stored == 5
    view.controls["examples"].value = 32  # (resnet, vit, mlp, 32) was computed before: no new result
    assert len(list((tmp_path / "results").glob("*.pt"))) == stored
    with pytest.raises(ValueError, match="options"):
        views5.structure_view(models, images, examples=20, example_options=(16, 32))


def test_live_figure_output_shows_the_current_figure_only():
    import base64

    view = views4.invariance_view(examples=128, features=16)

    def shown() -> bytes:
        (output,) = view.output.outputs  # exactly one output: the figure, never an accumulation
        return base64.b64decode(output["data"]["image/png"])

    assert shown() == view.default_png
    view.controls["kernel"].value = "rbf"
    assert shown().startswith(b"\x89PNG") and shown() != view.default_png


def test_live_figure_says_when_it_redraws_and_how_long_a_slow_redraw_took(monkeypatch):
    import ipywidgets
    from matplotlib.figure import Figure

    from seelike.widgets import live

    seen = []

    def draw(size: int) -> Figure:
        seen.append(view.status.value if draws else None)
        draws.append(size)
        figure = Figure()
        figure.add_subplot().plot(range(size))
        return figure

    draws: list[int] = []
    view = None
    monkeypatch.setattr(live, "SLOW_REDRAW_S", float("inf"))  # no redraw counts as slow, however busy the CPU
    view = live.LiveFigure(draw, size=ipywidgets.IntSlider(value=3, min=1, max=9))
    assert view.status.value == "" and view.status in view.widget.children[0].children
    view.controls["size"].value = 4
    assert seen[-1] == "redrawing…" and view.status.value == "" and view.last_redraw_s > 0
    monkeypatch.setattr(live, "SLOW_REDRAW_S", -1.0)  # every redraw counts as slow
    view.controls["size"].value = 5
    assert view.status.value.startswith("redrawn in ") and view.status.value.endswith(" s")
