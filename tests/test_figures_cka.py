"""Tests of seelike.figures.cka: heatmap orientation, ticks, block lines, errors."""

import math

import numpy as np
import pytest
import torch

from seelike.figures import cka as fig

NAMES_X = ["stem", "blocks.0.norm1", "blocks.0", "blocks.1.norm1", "blocks.1"]
NAMES_Y = ["stem", "layer1.0.act1", "layer1.0"]


def _matrix() -> torch.Tensor:
    matrix = torch.zeros(5, 3, dtype=torch.float64)
    matrix[3, 0] = 0.9  # X layer 3, Y layer 0
    return matrix


def test_heatmap_orientation_x_layers_along_horizontal_y_layers_bottom_up():
    figure = fig.cka_heatmap(_matrix(), NAMES_X, NAMES_Y, title="t")
    ax = figure.axes[0]
    drawn = np.asarray(ax.collections[0].get_array()).reshape(3, 5)  # rows: Y layers, columns: X layers
    assert drawn[0, 3] == pytest.approx(0.9) and drawn.sum() == pytest.approx(0.9)
    bottom, top = ax.get_ylim()
    assert bottom < top  # Y layer 0 at the bottom
    assert ax.get_title() == "t" and ax.get_xlabel() == "layers"
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES_X  # few layers: every name


def test_block_ticks_and_boundaries():
    positions, labels = fig.layer_ticks(NAMES_X, "blocks")
    assert labels == ["stem", "0", "1"] and positions == [0.5, 2.5, 4.5]
    assert fig.layer_ticks(NAMES_Y, "blocks")[1] == ["stem", "1.0"]
    figure = fig.cka_heatmap(_matrix(), NAMES_X, NAMES_Y, boundaries=True)
    vertical = [
        line.get_xdata()[0] for line in figure.axes[0].lines if line.get_xdata()[0] == line.get_xdata()[1]
    ]
    assert sorted(vertical) == [1, 3]  # block 0 starts at layer 1, block 1 at layer 3
    with pytest.raises(ValueError, match="tick mode"):
        fig.layer_ticks(NAMES_X, "every")


def test_heatmap_accepts_numpy_and_nan_and_checks_shapes():
    matrix = _matrix().numpy().copy()
    matrix[0, 0] = math.nan
    fig.cka_heatmap(matrix, NAMES_X, NAMES_Y)
    with pytest.raises(ValueError, match="does not match"):
        fig.cka_heatmap(matrix, NAMES_Y, NAMES_X)


def test_heatmaps_panels_share_one_colour_bar_per_row():
    panel = {"matrix": _matrix(), "names_x": NAMES_X, "names_y": NAMES_Y}
    figure = fig.cka_heatmaps([panel, {**panel, "title": "second"}], ticks="blocks")
    heatmap_axes = [ax for ax in figure.axes if ax.collections and ax.get_label() != "<colorbar>"]
    assert len(heatmap_axes) == 2 and heatmap_axes[1].get_title() == "second"
    assert len(figure.axes) == 3  # two heatmaps + one colour bar
