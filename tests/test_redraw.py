"""The live views' fast redraw (`seelike.figures.redraw`): a figure with the laid-out figure's decorations
gets the pixels a full layout gives; one with smaller decorations keeps the layout and stays legible; one
with larger decorations is laid out in full."""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
import test_figure_legibility as synthetic
import torch
from PIL import Image
from test_figure_legibility import CASES, _cka, _distances, _resnet_names, _vit_names

import seelike.figures as F
from seelike.figures import redraw
from seelike.figures.legibility import legibility_problems
from seelike.figures.style import png_bundle
from seelike.widgets.live import LiveFigure, figure_signature


def _figures(name: str) -> list:
    """The case's figures, from the same random inputs every time."""
    synthetic.RNG = np.random.default_rng(0)
    torch.manual_seed(0)
    built = CASES[name]()
    return built if isinstance(built, list) else [built]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_same_figure_again_takes_its_layout_and_draws_the_same_pixels(name):
    # the laid-out figure's pixels are those of its first draw: constrained layout is not idempotent (a
    # second draw moves the axes by a fraction of a pixel), so "as a full layout draws it" means one draw
    for laid_out, again in zip(_figures(name), _figures(name), strict=True):
        pixels = figure_signature(laid_out)  # one draw, with constrained layout
        key = redraw.layout_key(laid_out)
        assert key is not None, f"{name}: no layout key"
        assert redraw.reuse_layout(laid_out, again, key)
        assert figure_signature(again) == pixels


def _heatmap(scale: float = 1.0, title: str = "CKA", names=None):
    synthetic.RNG = np.random.default_rng(0)
    names = names or _vit_names()
    return F.cka_heatmap(_cka(len(names), 17) * scale, names, _resnet_names(), title=title)


def _distance(block, title):
    synthetic.RNG = np.random.default_rng(0)
    return F.mean_distance_by_head(_distances(), uniform=14.4, highlight_block=block, title=title)


@pytest.mark.parametrize(
    "make",
    [
        lambda k: _heatmap(scale=1 - 0.1 * k, title=f"CKA, seed {k}"),  # new values, another title
        lambda k: _distance(block=k, title=f"block {k} highlighted"),  # other colours, longer title
    ],
)
def test_a_redraw_that_changes_only_what_layout_ignores_reuses_it_exactly(make):
    laid_out = make(0)
    laid_out.canvas.draw()
    key = redraw.layout_key(laid_out)
    for k in (1, 3):
        figure = make(k)
        assert redraw.reuse_layout(laid_out, figure, key)
        assert figure_signature(figure) == figure_signature(make(k))  # as a full layout draws it


@pytest.mark.parametrize(
    ("change", "reusable"),
    [
        (lambda: _heatmap(names=[f"a longer name {n}" for n in _vit_names()]), False),  # wider tick labels
        (lambda: _heatmap(title="CKA\nover two lines"), False),  # a taller title
        (lambda: _heatmap(scale=2.0), True),  # values the colour scale clips: the same decorations
    ],
    ids=["tick labels", "title height", "values"],
)
def test_a_redraw_whose_decorations_grow_is_laid_out_in_full(change, reusable):
    laid_out = _heatmap()
    laid_out.canvas.draw()
    figure = change()
    assert redraw.reuse_layout(laid_out, figure) == reusable
    assert figure_signature(figure) == figure_signature(change())  # as a full layout draws it


def test_a_redraw_whose_decorations_shrink_keeps_the_layout_and_stays_legible():
    long_names = [f"{n}.out" for n in _vit_names()]
    laid_out = _heatmap(names=long_names)
    laid_out.canvas.draw()
    figure = _heatmap()  # shorter tick labels: they fit the margins the long ones needed
    assert redraw.reuse_layout(laid_out, figure)
    figure.canvas.draw()
    for old, new in zip(laid_out.axes, figure.axes, strict=True):
        assert old.get_position().bounds == new.get_position().bounds  # the axes stay where they were
    assert legibility_problems(figure) == []
    # and growing back is refused: the long labels do not fit the short ones' layout
    short = _heatmap()
    short.canvas.draw()
    assert not redraw.reuse_layout(short, _heatmap(names=long_names))


def test_layout_fits_only_inside_the_laid_out_boxes():
    old = redraw.Layout(structure=("grid",), sizes=(10.0, None, None), boxes=((0, 0, 100, 50), None))
    assert redraw.Layout(("grid",), (10.0, None, None), ((0, 0, 100, 50), None)).fits(old)
    assert redraw.Layout(("grid",), (9.0, None, None), ((1, 2, 99, 50), None)).fits(old)
    assert not redraw.Layout(("grid",), (11.0, None, None), ((0, 0, 100, 50), None)).fits(old)  # taller
    assert not redraw.Layout(("grid",), (10.0, None, None), ((-1, 0, 100, 50), None)).fits(old)  # wider
    assert not redraw.Layout(("grid",), (10.0, None, None), ((0, 0, 100, 51), None)).fits(old)
    assert not redraw.Layout(("grid",), (10.0, 3.0, None), ((0, 0, 100, 50), None)).fits(old)  # a new label
    assert not redraw.Layout(("grid",), (10.0, None, None), ((0, 0, 100, 50), (0, 0, 1, 1))).fits(old)
    assert not redraw.Layout(("other grid",), (10.0, None, None), ((0, 0, 100, 50), None)).fits(old)


def test_render_png_matches_the_book_png_in_size_and_alt_text():
    figure = _heatmap(title="a heatmap")
    book_png, book_size = png_bundle(figure)
    png, size = redraw.render_png(_heatmap(title="a heatmap"))
    assert abs(size["width"] - book_size["width"]) <= 8 and abs(size["height"] - book_size["height"]) <= 8
    image = Image.open(io.BytesIO(png))
    assert image.text["Title"] == "a heatmap"
    assert abs(image.size[0] - 2 * size["width"]) <= 1 and abs(image.size[1] - 2 * size["height"]) <= 1
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels[:4] == 255).all() and (pixels[-4:] == 255).all()  # a white margin, not cut ink
    assert (pixels != 255).any(axis=2).any(axis=0).sum() > 0.8 * pixels.shape[1]  # cropped to the ink


def test_a_live_figure_redraw_reuses_the_layout_and_shows_what_a_full_layout_shows():
    def draw(block):
        return _distance(block, title=f"block {block}")

    view = LiveFigure(draw, block=widgets.IntSlider(value=0, min=0, max=5))
    view.controls["block"].value = 2
    assert view.layout_reused is True
    assert figure_signature(view.figure) == figure_signature(draw(2))
    png = view.output.outputs[0]["data"]["image/png"]
    assert png and view.output.outputs[0]["metadata"]["image/png"]["width"] > 600


def test_another_size_or_grid_is_laid_out_in_full():
    laid_out = _heatmap()
    laid_out.canvas.draw()
    assert redraw.layout_key(laid_out) is not None
    resized = _heatmap()
    resized.set_size_inches(6.0, 4.4)
    assert not redraw.reuse_layout(laid_out, resized)
    no_colour_bar = F.cka_heatmap(_cka(38, 17), _vit_names(), _resnet_names(), title="CKA", colorbar=False)
    assert not redraw.reuse_layout(laid_out, no_colour_bar)
    two_panels = F.cka_heatmaps(
        [dict(matrix=_cka(38, 17), names_x=_vit_names(), names_y=_resnet_names())] * 2
    )
    assert not redraw.reuse_layout(laid_out, two_panels)


def test_pooled_canvases_share_a_renderer_and_render_their_own_pixels():
    first, second, plain = _heatmap(title="first"), _heatmap(title="second"), _heatmap(title="first")
    redraw.PooledCanvas(first), redraw.PooledCanvas(second)
    assert first.canvas.get_renderer() is second.canvas.get_renderer()  # text metrics cached across figures
    png_second, _ = redraw.render_png(second)
    png_first, _ = redraw.render_png(first)  # drawn after the other: its own pixels, not the other's
    assert png_first == redraw.render_png(plain)[0] != png_second
    assert len(redraw.PooledCanvas._pool) <= redraw.PooledCanvas.POOL_SIZE
