"""`LiveFigure`: controls that redraw a figure, with a static default for the HTML book."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..figures.redraw import Layout, PooledCanvas, layout_key, render_png, reuse_layout
from ..figures.style import figure_title, png_bundle

__all__ = ["LiveFigure", "figure_png", "figure_signature", "figure_title", "widget_view_bundle"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
SLOW_REDRAW_S = 0.3  # a redraw slower than this says how long it took


def figure_png(figure: Figure) -> bytes:
    """The figure as the book shows it (`figures.style.png_bundle`: a 2× PNG whose `Title` text, the figure's
    title, is the HTML book's alt text)."""
    return png_bundle(figure)[0]


def figure_signature(figure: Figure) -> bytes:
    """The figure's rendered pixels (RGBA bytes): equal signatures mean visually identical figures."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return bytes(canvas.buffer_rgba())


class LiveFigure:
    """Controls plus a figure function, redrawn whenever a control changes.

    Args:
        draw: figure function; called as `draw(**values)` with one keyword per control, returns a Figure.
        controls: name → ipywidgets control (its `.value` is passed to `draw`).

    Attributes:
        figure: the figure for the current control values.
        controls: the controls, e.g. `view.controls["block"].value = 3` redraws.
    """

    def __init__(self, draw: Callable[..., Figure], **controls: widgets.ValueWidget):
        self.draw = draw
        self.controls = controls
        self.output = widgets.Output()
        self.figure: Figure = self._draw()
        self.default_png, self.default_size = png_bundle(self.figure)
        self._show(self.default_png, self.default_size)
        # the last figure laid out in full, and its layout key: a redraw whose decorations fit that
        # layout takes it instead of computing one (`figures.redraw.reuse_layout`)
        key = layout_key(self.figure)  # the default PNG's draw laid the figure out
        self._laid_out: tuple[Figure, Layout] | None = None if key is None else (self.figure, key)
        self.layout_reused: bool | None = None  # whether the last redraw took the laid-out figure's layout
        for control in controls.values():
            control.observe(self._on_change, names="value")
        # "redrawing…" while a redraw runs, then how long a slow one took (a measure computed the first
        # time; the cache makes the next one fast)
        self.status = widgets.Label("")
        self.last_redraw_s: float | None = None
        self.widget = widgets.VBox([widgets.HBox([*controls.values(), self.status]), self.output])

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def _draw(self) -> Figure:
        figure = self.draw(**self.values())
        plt.close(figure)  # in case `draw` used pyplot: shown through the Output widget only, never twice
        return figure

    def _show(self, png: bytes, size: dict[str, int]) -> None:
        # Set the Output widget's state instead of `with output: display(...)`: no display message goes
        # through the kernel, so notebook runners (nbclient's Output-widget hook, which then stalls until its
        # cell timeout, jupyter/nbclient#312) see none, and the figure is replaced in one update.
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(self.figure)},
                "metadata": {"image/png": size},  # the CSS size: a 2× PNG shows at the figure's size
            },
        )

    def _on_change(self, change: dict) -> None:
        self.status.value = "redrawing…"
        start = time.perf_counter()
        try:
            self.figure = self._draw()
            self._show(*self._render(self.figure))
        except Exception:
            self.status.value = "redraw failed (the error is below the notebook cell)"
            raise
        self.last_redraw_s = time.perf_counter() - start
        slow = self.last_redraw_s > SLOW_REDRAW_S
        self.status.value = f"redrawn in {self.last_redraw_s:.1f} s" if slow else ""

    def _render(self, figure: Figure) -> tuple[bytes, dict[str, int]]:
        """A redraw's PNG (`figures.redraw.render_png`: one draw), reusing the last full layout if it fits."""
        PooledCanvas(figure)  # text metrics from a renderer the view's earlier figures filled
        reused = False
        if self._laid_out is not None:
            laid_out, key = self._laid_out
            reused = reuse_layout(laid_out, figure, key)
        png = render_png(figure)
        if not reused:
            key = layout_key(figure)  # after the draw: the positions constrained layout chose
            self._laid_out = None if key is None else (figure, key)
        self.layout_reused = reused
        return png

    def _repr_mimebundle_(self, include=None, exclude=None) -> tuple[dict, dict]:
        bundle = dict(widget_view_bundle(self.widget, include=include, exclude=exclude))
        bundle["image/png"] = base64.b64encode(self.default_png).decode("ascii")
        bundle["text/plain"] = f"<LiveFigure: {', '.join(self.controls)}>"
        return bundle, {"image/png": self.default_size}


def widget_view_bundle(widget: widgets.Widget, include=None, exclude=None) -> dict:
    """The display bundle of an ipywidgets widget, under ipywidgets 8 and 7.7 alike.

    ipywidgets 8 widgets have `_repr_mimebundle_`. Those of 7.x (Colab's stock version) only have
    `_ipython_display_`, which publishes the same widget-view reference itself; here it is built the way 7.x
    builds it, and the widget is told it was displayed (its `on_displayed` callbacks run).
    """
    if hasattr(widget, "_repr_mimebundle_"):
        bundle = widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        return dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    bundle = {"text/plain": repr(widget)[:110]}
    if widget._view_name is not None:
        bundle[WIDGET_VIEW_MIME] = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
        if hasattr(widget, "_handle_displayed"):  # 7.x: run the widget's on_displayed callbacks
            widget._handle_displayed()
    return bundle
