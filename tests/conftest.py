"""Shared test set-up: a headless plotting backend, small deterministic data, and widget-test helpers."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def fashion_test():
    from seelike import data

    return data.fashion_mnist("test")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A result cache of the test's own (`SEELIKE_CACHE` in tmp_path), so no test reads another's results.
    Modules that want it for every test: `pytestmark = pytest.mark.usefixtures("private_cache")`."""
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))
    return tmp_path


# --------------------------------------------------------------------------------------------- widgets


def assert_each_control_redraws(view, changes: dict) -> None:
    """Set each control of a `LiveFigure` in turn to a new value; each change must give a visibly different
    figure (shared by the widget tests: `from conftest import assert_each_control_redraws`)."""
    from seelike.widgets import LiveFigure, figure_signature

    assert isinstance(view, LiveFigure) and set(changes) == set(view.controls)
    assert view.default_png.startswith(b"\x89PNG")
    for name, value in changes.items():
        before = figure_signature(view.figure)
        assert view.controls[name].value != value, f"{name}: pick a value different from the default"
        view.controls[name].value = value
        assert figure_signature(view.figure) != before, f"changing {name} did not change the figure"
