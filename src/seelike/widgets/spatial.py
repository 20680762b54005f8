"""Live views for chapter 7 over `seelike.figures.spatial`: pick a token position, the tokens shown, a
skip-ablated model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import torch

from .. import figures
from .live import LiveFigure

__all__ = ["localization_explorer", "noskip_explorer", "probe_explorer", "skip_ratio_explorer"]


def _position_sliders(reference_grid: int, position: tuple[int, int]) -> dict[str, widgets.IntSlider]:
    return {
        name: widgets.IntSlider(value=value, min=0, max=reference_grid - 1, description=name)
        for name, value in zip(("row", "column"), position, strict=True)
    }


def localization_explorer(
    maps: Mapping[str, torch.Tensor],
    own_fractions: Mapping[str, float] | None = None,
    reference_grid: int = 7,
    position: tuple[int, int] = (3, 3),
) -> LiveFigure:
    """Figs 9/10 live: sliders pick a token position (row, column on the ViT's grid); every model's CKA map
    between that final-block token and each input patch is redrawn.

    Args:
        maps: model name → (P, P) token × patch CKA (from `localization.token_patch_cka`).
        own_fractions: model name → fraction of positions peaking at their own patch.
        reference_grid: the grid the sliders move on.
        position: the starting (row, column).
    """
    return LiveFigure(
        lambda row, column: figures.localization_maps(maps, (row, column), reference_grid, own_fractions),
        **_position_sliders(reference_grid, position),
    )


def skip_ratio_explorer(
    ratio: torch.Tensor,
    sublayers: Sequence[str],
    num_prefix_tokens: int,
    averages: Mapping[str, torch.Tensor],
    resnet_average: torch.Tensor | None = None,
    tokens_shown: int = 12,
    title: str | None = None,
) -> LiveFigure:
    """Fig 7 live: a slider sets how many tokens (CLS first) the norm-ratio heatmaps show.

    Args: as `figures.skip_norm_ratios`.
    """
    tokens = ratio.shape[-1]
    return LiveFigure(
        lambda tokens_shown: figures.skip_norm_ratios(
            ratio, sublayers, num_prefix_tokens, averages, resnet_average, tokens_shown, title
        ),
        tokens_shown=widgets.IntSlider(
            value=min(tokens_shown, tokens), min=min(2, tokens), max=tokens, description="tokens"
        ),
    )


def probe_explorer(
    results: Mapping[str, Mapping[str, torch.Tensor]], reference_grid: int = 7, chance: float | None = 0.1
) -> LiveFigure:
    """Fig 11 live: a menu picks the single-token probe drawn: the mean over positions, or one position
    (row, column on the ViT's grid, mapped to each model's own grid).

    Args:
        results: model name → `probes.probe_layers(..., per_token=True)` result.
        reference_grid: the grid the positions refer to.
        chance: chance accuracy.
    """
    options = [("mean over positions", "mean")] + [
        (f"token ({r}, {c})", (r, c)) for r in range(reference_grid) for c in range(reference_grid)
    ]
    return LiveFigure(
        lambda token: figures.probe_accuracy_curves(results, token, reference_grid, chance=chance),
        token=widgets.Dropdown(options=options, value="mean", description="token"),
    )


def noskip_explorer(
    matrices: Mapping[str, torch.Tensor],
    layer_names: Sequence[str] | None = None,
    accuracies: Mapping[str, float] | None = None,
    removed_blocks: Mapping[str, int | None] | None = None,
    baseline: str = "vit",
) -> LiveFigure:
    """Fig 8 live: a menu picks which skip-ablated model is drawn beside the baseline (or all of them).

    Args:
        matrices: model name → (L, L) within-model CKA, the baseline included.
        layer_names, accuracies, removed_blocks: as `figures.noskip_cka_heatmaps`.
        baseline: the model always shown first.
    """
    if baseline not in matrices:
        raise ValueError(f"baseline {baseline!r} is not among the matrices {list(matrices)}")
    others = [name for name in matrices if name != baseline]

    def draw(shown: str):
        names = [baseline, *(others if shown == "all" else [shown])]
        chosen = {name: matrices[name] for name in names}
        return figures.noskip_cka_heatmaps(chosen, layer_names, accuracies, removed_blocks)

    return LiveFigure(
        draw, shown=widgets.Dropdown(options=["all", *others], value="all", description="beside")
    )
