"""The menu over precomputed per-seed curve figures."""

from __future__ import annotations

import pytest
from conftest import assert_each_control_redraws

from seelike.widgets import evidence as views


def families() -> dict:
    x = [0, 1, 2]
    return {
        "blocks": {"x": x, "curves": {"3%": [[0.9, 0.8, 0.7]], "30%": [[0.9, 0.85, 0.8], [0.95, 0.9, 0.8]]}},
        "attn": {"x": x, "curves": {"3%": [[0.5, 0.4, 0.3]]}, "baselines": {"untrained": [0.4, 0.3, 0.2]}},
    }


def test_curves_view_switches_between_precomputed_figures():
    view = views.curves_view(families())
    assert [line.get_label() for line in view.figure.axes[0].get_lines()][0].startswith("3% (1 seed)")
    assert_each_control_redraws(view, {"view": "attn"})
    assert "untrained" in [line.get_label() for line in view.figure.axes[0].get_lines()]


def test_curves_view_rejects_an_unknown_first_view_and_no_views():
    with pytest.raises(ValueError, match="not among the views"):
        views.curves_view(families(), shown="mlp")
    with pytest.raises(ValueError, match="no views"):
        views.curves_view({})
