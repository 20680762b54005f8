"""LiveFigure under ipywidgets 7.7.1, Colab's stock version, in its own environment.

ipywidgets 7.7.1 (and the one package it needs that ours lacks, ipython_genutils) is installed once with
`pip install --target` into a git-ignored folder, `_build/peers/ipywidgets-7.7.1`, and put first on the
PYTHONPATH of a fresh interpreter; everything else (torch, matplotlib, ipykernel, seelike) is this
environment's. Installing needs PyPI once: without it the test is skipped, unless SEELIKE_REQUIRE_PEERS=1
(CI sets it), where it fails.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "_build" / "peers" / "ipywidgets-7.7.1"
REQUIREMENTS = ["ipywidgets==7.7.1", "ipython_genutils==0.2.0"]

pytestmark = pytest.mark.peers

PROBE = """
import base64, json
import ipywidgets
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure
from seelike.widgets import WIDGET_VIEW_MIME, LiveFigure, figure_signature


def draw(points):
    figure = Figure()
    figure.add_subplot().plot(range(points))
    return figure


view = LiveFigure(draw, points=ipywidgets.IntSlider(value=3, min=2, max=9))
data, _ = InteractiveShell.instance().display_formatter.format(view)
before = (figure_signature(view.figure), view.output.outputs[0]["data"]["image/png"])
view.controls["points"].value = 7
after = (figure_signature(view.figure), view.output.outputs[0]["data"]["image/png"])
print(json.dumps({
    "version": ipywidgets.__version__,
    "module": ipywidgets.__file__,
    "has_repr_mimebundle": hasattr(view.widget, "_repr_mimebundle_"),
    "mimes": sorted(data),
    "view": data.get(WIDGET_VIEW_MIME),
    "model_id": view.widget.model_id,
    "png_header": base64.b64decode(data["image/png"])[:8].hex(),
    "redrawn": before[0] != after[0] and before[1] != after[1],
}))
"""


def peer_environment() -> Path:
    """The folder holding ipywidgets 7.7.1, installed on first use."""
    if (PEER / "ipywidgets-7.7.1.dist-info").is_dir():
        return PEER
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--target", str(PEER), *REQUIREMENTS]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not (PEER / "ipywidgets-7.7.1.dist-info").is_dir():
        message = f"could not install {' '.join(REQUIREMENTS)}: {done.stderr.strip()[-500:]}"
        if os.environ.get("SEELIKE_REQUIRE_PEERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return PEER


def test_live_figure_under_ipywidgets_7_7_1():
    peer = peer_environment()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(peer), str(ROOT / "src")]), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["version"] == "7.7.1"
    assert Path(result["module"]).is_relative_to(peer)
    assert not result["has_repr_mimebundle"], "ipywidgets 7.7 widgets have no _repr_mimebundle_"
    assert result["mimes"] == ["application/vnd.jupyter.widget-view+json", "image/png", "text/plain"]
    assert result["view"] == {"version_major": 2, "version_minor": 0, "model_id": result["model_id"]}
    assert result["png_header"] == "89504e470d0a1a0a"  # a PNG file's signature
    assert result["redrawn"], "changing the control did not redraw the figure"


@pytest.mark.parametrize("has_repr_mimebundle", [True, False])
def test_widget_view_bundle_in_this_environment(has_repr_mimebundle, monkeypatch):
    """This environment's ipywidgets, and (method removed) the 7.x route built by hand, give the same view."""
    import ipywidgets

    from seelike.widgets import WIDGET_VIEW_MIME, widget_view_bundle

    box = ipywidgets.VBox([ipywidgets.IntSlider()])
    expected = {"version_major": 2, "version_minor": 0, "model_id": box.model_id}
    if not has_repr_mimebundle:
        for cls in type(box).__mro__:
            if "_repr_mimebundle_" in vars(cls):
                monkeypatch.delattr(cls, "_repr_mimebundle_")
    assert hasattr(box, "_repr_mimebundle_") == has_repr_mimebundle
    assert widget_view_bundle(box)[WIDGET_VIEW_MIME] == expected
