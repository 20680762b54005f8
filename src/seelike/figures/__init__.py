"""One pure function per figure: results in, matplotlib figure out. Nothing here computes a measure.

Submodules group the figures by chapter (each lists its functions in `__all__`); everything is re-exported
here, so `seelike.figures.cka_heatmap` works whatever file it lives in. Figures are built with
`new_figure` (no pyplot), so calling one never displays or leaks anything.
"""

from .style import apply_style, new_figure  # noqa: F401  (re-exported)

apply_style()

from .basics import *  # noqa: E402,F403  chapters 1-3
from .cka import *  # noqa: E402,F403  chapter 5 and the CKA heatmap
from .cka_intro import *  # noqa: E402,F403  chapter 4
from .data import *  # noqa: E402,F403  chapter 0
from .evidence import *  # noqa: E402,F403  per-seed evidence beside the paper's figures
from .locality import *  # noqa: E402,F403  chapter 6
from .scale import *  # noqa: E402,F403  chapter 8
from .spatial import *  # noqa: E402,F403  chapter 7
from .structure import *  # noqa: E402,F403  chapter 5
