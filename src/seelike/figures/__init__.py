"""One pure function per figure: results in, matplotlib figure out. Nothing here computes a measure.

Submodules group the figures by chapter (each lists its functions in `__all__`); everything is re-exported
here, so `seelike.figures.cka_heatmap` works whatever file it lives in. Figures are built with
`new_figure` (no pyplot), so calling one never displays or leaks anything, and each figure function draws
in the book's style (`style.STYLE`, applied per figure by `@styled`): importing this package changes no
global matplotlib state. `style` holds the figure standard (sizes for the book's column, dpi, smallest
font); `legibility.legibility_problems` checks a figure against it.
"""

from .basics import *  # noqa: F403  chapters 1-3
from .cka import *  # noqa: F403  chapter 5 and the CKA heatmap
from .cka_intro import *  # noqa: F403  chapter 4
from .data import *  # noqa: F403  chapter 0
from .evidence import *  # noqa: F403  per-seed evidence beside the paper's figures
from .locality import *  # noqa: F403  chapter 6
from .scale import *  # noqa: F403  chapter 8
from .spatial import *  # noqa: F403  chapter 7
from .structure import *  # noqa: F403  chapter 5
from .style import apply_style, new_figure  # noqa: F401  (re-exported)
