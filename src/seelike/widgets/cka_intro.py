"""Live views for chapter 4 (comparing representations with CKA): each reruns a `seelike.cka_intro`
experiment for the chosen controls and draws it with `seelike.figures.cka_intro`."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch

from .. import cka_intro as experiments
from ..figures import cka_intro as figures
from .live import LiveFigure

__all__ = ["float32_view", "hsic_bias_view", "invariance_view", "minibatch_view"]

CONDITION_NUMBERS = (1, 2, 5, 10, 30, 100, 1000)
BIAS_NS = (8, 16, 32, 64, 128, 256, 512, 1024)
OFFSETS = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0)


def _kernel_control(value: str = "linear") -> widgets.ToggleButtons:
    return widgets.ToggleButtons(options=list(experiments.KERNELS), value=value, description="kernel")


def invariance_view(
    kernel: str = "linear", examples: int = 512, features: int = 64, seed: int = 0
) -> LiveFigure:
    """CKA after orthogonal, scaling, translation, per-feature and general linear maps; controls: kernel and
    number of examples."""

    def draw(kernel: str, examples: int):
        table = experiments.cka_after_transforms(examples, features, kernel, seed)
        sweep = experiments.cka_vs_condition_number(CONDITION_NUMBERS, examples, features, kernel, seed)
        return figures.cka_invariances(table, sweep, kernel)

    return LiveFigure(
        draw,
        kernel=_kernel_control(kernel),
        examples=widgets.Dropdown(options=[64, 128, 256, 512, 1024], value=examples, description="examples"),
    )


def hsic_bias_view(
    kernel: str = "linear", features: int = 512, repeats: int = 4, ns: Sequence[int] = BIAS_NS, seed: int = 0
) -> LiveFigure:
    """Biased vs unbiased CKA of independent representations against n; controls: kernel and number of
    features. Results are cached on disk, so revisiting a setting is instant."""

    def draw(kernel: str, features: int):
        result = experiments.independent_cka_vs_n(ns, features, repeats, kernel, seed, cache=True)
        return figures.hsic_bias(result, features, kernel)

    return LiveFigure(
        draw,
        kernel=_kernel_control(kernel),
        features=widgets.Dropdown(options=[16, 64, 128, 512, 2048], value=features, description="features"),
    )


def minibatch_view(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_sizes: Sequence[int] = (16, 32, 64, 128, 256, 512),
    examples: int | None = None,
    title: str | None = None,
    seed: int = 0,
) -> LiveFigure:
    """Minibatch CKA against minibatch size for two layers' activations; control: number of examples used.

    Args:
        x, y: (N, ...) activations of two layers for the same N examples.
        batch_sizes: the minibatch sizes on the horizontal axis.
        examples: initial number of examples (default: all N).
        title: what x and y are, for the figure title.
        seed: shuffling seed.
    """
    total = len(x)
    options = sorted({n for n in (256, 512, 1024, 2048, 4096, total) if max(batch_sizes) <= n <= total})
    if not options:
        raise ValueError(
            f"need at least {max(batch_sizes)} examples for batch size {max(batch_sizes)}, got {total}"
        )

    def draw(examples: int):
        result = experiments.minibatch_size_effect(x[:examples], y[:examples], batch_sizes, seed, cache=True)
        return figures.minibatch_effect(result, examples, title)

    return LiveFigure(
        draw,
        examples=widgets.Dropdown(options=options, value=examples or options[-1], description="examples"),
    )


def float32_view(
    x: torch.Tensor,
    y: torch.Tensor,
    scale: float = 1.0,
    batch_size: int = 256,
    offsets: Sequence[float] = OFFSETS,
) -> LiveFigure:
    """CKA of offset activations by a naive float32 formula, float64, and seelike's engine; controls: the
    scale applied to the activations and the minibatch size (number of examples in the Gram matrices).

    Args:
        x, y: (N, ...) activations of two layers for the same N examples.
        scale: initial scale factor.
        batch_size: initial number of examples (≤ N).
        offsets: the offsets on the horizontal axis.
    """
    sizes = sorted({n for n in (64, 128, 256, 512, 1024) if n <= len(x)} | {min(batch_size, len(x))})

    def draw(scale: float, batch_size: int):
        result = experiments.offset_failure(x[:batch_size], y[:batch_size], offsets, scale)
        return figures.float32_failure(result, scale)

    return LiveFigure(
        draw,
        scale=widgets.Dropdown(options=[1.0, 0.1, 0.01, 0.001], value=scale, description="scale"),
        batch_size=widgets.Dropdown(options=sizes, value=min(batch_size, len(x)), description="minibatch"),
    )
