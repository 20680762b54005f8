"""Live views for chapter 8, the effect of data scale: same-layer CKA with the full-data model (Fig 12) for a
chosen set of models and layer family, and linear probes by depth (Fig 13) for a chosen set of models and
read-out. The measures are computed once by the chapter (cached on disk); the views only select and redraw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import torch

from .. import attention, comparisons, probes
from ..figures import scale as figures
from .live import LiveFigure

__all__ = ["local_heads_view", "probe_depth_view", "same_layer_cka_view"]

# layer family → what the title calls it ("blocks" → "block outputs", never "blocks layers")
FAMILY_TITLES = {
    "blocks": "block outputs", "all": "every layer", "norms": "layer norms", "attn": "attention outputs",
    "resid": "residual streams", "mlp": "MLP hidden layers",
}  # fmt: skip


def _initial(options: Sequence[str], chosen: Sequence[str] | None, what: str) -> tuple[str, ...]:
    if chosen is None:
        return tuple(options)
    unknown = [c for c in chosen if c not in options]
    if unknown:
        raise ValueError(f"{what} {unknown} not among {list(options)}")
    return tuple(chosen)


def same_layer_cka_view(
    curves: Mapping[str, tuple[torch.Tensor, Sequence[str]]],
    family_layers: Mapping[str, Sequence[str]],
    models: Sequence[str] | None = None,
    family: str = "blocks",
    reference: str = "vit",
    others: Sequence[str] = (),
) -> LiveFigure:
    """Fig 12, live: same-layer CKA with the reference model, for the selected models and layer family.

    Args:
        curves: label → ((L,) CKA over every layer, the L layer names), least to most training data
            (e.g. from `comparisons.same_layer_cka` with all layers).
        family_layers: family name → the layer names it holds (e.g. {"blocks": layer_names(vit, "blocks")}).
        models: labels selected at first (default: all).
        family: the family shown at first.
        reference: the model compared against (for the labels).
        others: labels outside the data-size series (e.g. the initialisation), drawn dashed.

    Returns:
        the LiveFigure; controls "models" (multiple selection) and "family".
    """
    labels = list(curves)
    if not labels:
        raise ValueError("no curves to show")
    if family not in family_layers:
        raise ValueError(f"family {family!r} not among {list(family_layers)}")

    def draw(models: tuple[str, ...], family: str):
        chosen = {
            label: comparisons.select_layers(*curves[label], family_layers[family])
            for label in labels
            if label in models
        }
        return figures.same_layer_cka_curves(
            chosen,
            reference=reference,
            others=others,
            title=f"Same-layer CKA with {reference}: {FAMILY_TITLES.get(family, family)}",
        )

    return LiveFigure(
        draw,
        models=widgets.SelectMultiple(
            options=labels,
            value=_initial(labels, models, "models"),
            rows=min(len(labels), 5),
            description="models",
        ),
        family=widgets.Dropdown(options=list(family_layers), value=family, description="layers"),
    )


def probe_depth_view(
    results: Mapping[str, Mapping[str, object]],
    models: Sequence[str] | None = None,
    readout: str = "own",
    others: Sequence[str] = ("resnet",),
    chance: float | None = 0.1,
) -> LiveFigure:
    """Fig 13, live: linear-probe accuracy against normalised depth for the selected models and read-out.

    Args:
        results: label → a `probes.probe_layers` result ({"depth", "gap", "cls"?}), least to most data;
            models without the chosen read-out (e.g. a ResNet has no CLS token) are left out of that view.
        models: labels selected at first (default: all).
        readout: "own" (each model's classifier input: CLS if it has one, else GAP), "cls" or "gap".
        others: labels outside the data-size series (e.g. the initialisation, a ResNet), drawn dashed.
        chance: chance accuracy line.

    Returns:
        the LiveFigure; controls "models" (multiple selection) and "readout".
    """
    labels = list(results)
    if not labels:
        raise ValueError("no results to show")
    if readout not in probes.READOUTS:
        raise ValueError(f"readout must be one of {probes.READOUTS}, got {readout!r}")
    titles = {
        "own": "each model's own read-out (CLS, or GAP)",
        "cls": "CLS token",
        "gap": "GAP (mean of tokens)",
    }

    def draw(models: tuple[str, ...], readout: str):
        chosen = {}
        for label in labels:
            result = results[label]
            if label not in models or (readout != "own" and readout not in result):
                continue
            chosen[label] = (result["depth"], probes.readout_curve(dict(result), readout)[0])
        return figures.probe_depth_curves(
            chosen, others=others, chance=chance, title=f"Linear probes by depth: {titles[readout]}"
        )

    return LiveFigure(
        draw,
        models=widgets.SelectMultiple(
            options=labels,
            value=_initial(labels, models, "models"),
            rows=min(len(labels), 6),
            description="models",
        ),
        readout=widgets.Dropdown(options=list(probes.READOUTS), value=readout, description="read-out"),
    )


def local_heads_view(
    distances: Mapping[str, torch.Tensor],
    grid_size: int,
    patch_size: float,
    fraction: float = 0.6,
    heads: int | None = None,
    others: Sequence[str] = (),
) -> LiveFigure:
    """Local heads per block for each model, live: move the threshold that makes a head "local".

    Args:
        distances: label → (blocks, heads) mean attention distances in pixels, least to most data.
        grid_size, patch_size: the models' patch grid (for the uniform-attention distance).
        fraction: initial threshold, as a fraction of the uniform-attention distance (chapter 6 uses 0.6).
        heads: heads per block (y-axis limit; default: the distance matrices' width).
        others: labels outside the data-size series (e.g. the initialisation), hatched.

    Returns:
        the LiveFigure; control "fraction".
    """
    if not distances:
        raise ValueError("no models to show")
    width = heads if heads is not None else int(next(iter(distances.values())).shape[1])

    def draw(fraction: float):
        counts = {
            label: attention.local_heads_per_block(values, grid_size, patch_size, fraction)
            for label, values in distances.items()
        }
        return figures.local_heads_by_data(
            counts,
            heads=width,
            others=others,
            title=f"Local heads per block (mean distance ≤ {fraction:.2f} × uniform)",
        )

    return LiveFigure(
        draw,
        fraction=widgets.FloatSlider(
            value=fraction, min=0.2, max=1.0, step=0.05, description="threshold", continuous_update=False
        ),
    )
