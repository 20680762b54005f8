"""Deprecated: chapter 5's measures moved to the modules named for their concept.

# shim until the chapters move; remove after.

    structure.model_cka                     → cka.model_cka
    structure.mean_off_diagonal, submatrix, best_matches, correspondence, paper_scale, PAPER_MODELS
                                            → comparisons.*
    structure.layers_for, FAMILY_CHOICES, stage_of, relative_depth
                                            → activations.*
    structure.stage_boundaries(names)       → activations.boundaries(names, "stage")
    structure.paper_scale_model, ResizeNormalize → zoo.*
"""

from __future__ import annotations

from collections.abc import Sequence

from .activations import FAMILY_CHOICES, boundaries, layers_for, relative_depth, stage_of
from .cka import model_cka
from .comparisons import (
    PAPER_MODELS,
    best_matches,
    correspondence,
    mean_off_diagonal,
    paper_scale,
    submatrix,
)
from .zoo import ResizeNormalize, paper_scale_model

__all__ = [
    "FAMILY_CHOICES",
    "PAPER_MODELS",
    "ResizeNormalize",
    "best_matches",
    "correspondence",
    "layers_for",
    "mean_off_diagonal",
    "model_cka",
    "paper_scale",
    "paper_scale_model",
    "relative_depth",
    "stage_boundaries",
    "stage_of",
    "submatrix",
]


def stage_boundaries(names: Sequence[str]) -> list[int]:
    """Deprecated: `activations.boundaries(names, "stage")`."""
    return boundaries(names, "stage")
