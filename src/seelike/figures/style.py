"""The book's shared plotting style."""

from __future__ import annotations

import matplotlib

matplotlib.use(matplotlib.get_backend())  # keep whatever backend the session chose (inline, Agg)


def apply_style() -> None:
    import seaborn as sns

    sns.set_theme(context="notebook", style="white", font_scale=0.9)
    matplotlib.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "figure.autolayout": False})


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.0, 4.0), **subplot_kw):
    """A figure and its axes without pyplot: figures stay pure (no global state, never shown twice).

    Returns:
        (Figure, Axes or array of Axes), as `plt.subplots` would.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    axes = figure.subplots(nrows, ncols, **subplot_kw)
    return figure, axes
