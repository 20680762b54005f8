"""Figures of chapters 1-3: skip connections, self-attention, patch tokenization.

Each function takes results (arrays computed by `seelike.gradients`, `.selfattention`, `.rollout`,
`.patches`) and returns a matplotlib Figure; none of them computes a measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import COLUMN_WIDTH, SMALL, column_size, integer_ticks, new_figure, panel_size, styled, to_numpy

__all__ = [
    "attention_map_figure",
    "attention_scaling_figure",
    "gradient_norms_figure",
    "patch_filters_figure",
    "patchify_figure",
    "position_similarity_figure",
    "residual_stream_figure",
    "rollout_figure",
    "shuffled_patches_figure",
    "training_curves_figure",
    "training_loss_figure",
]

ARCHITECTURE_COLORS = {"plain": "#d55e00", "residual": "#0072b2"}
MODEL_COLORS = {"plainnet": "#d55e00", "resnet": "#0072b2"}


def _image_hw(image) -> np.ndarray:
    """(C, H, W) or (H, W) in [0, 1] → (H, W) grey or (H, W, 3) colour, for imshow."""
    image = to_numpy(image)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
    return image


def _show_image(ax, image) -> None:
    pixels = _image_hw(image)
    ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------------------------- chapter 1


@styled
def gradient_norms_figure(norms: Mapping[str, Mapping[str, np.ndarray]], steps: int) -> Figure:
    """Per-layer gradient norms of a plain and a residual network, at initialisation and after training.

    Args:
        norms: from `seelike.gradients.compare_gradient_norms`: architecture → {"init", "trained"} →
            (depth,) gradient norms.
        steps: how many SGD steps separate the two measurements (for the title).
    """
    from ..gradients import gradient_norm_ratio

    figure, axes = new_figure(1, 2, figsize=column_size(3.3), sharey=True)
    depth = 0
    for ax, phase, title in zip(
        axes, ("init", "trained"), ("at initialisation", f"after {steps} SGD steps"), strict=True
    ):
        for architecture, phases in norms.items():
            values = np.asarray(phases[phase])
            depth = len(values)
            ratio = gradient_norm_ratio(values)
            color = ARCHITECTURE_COLORS.get(architecture)
            label = f"{architecture}: first / last = {ratio:.3g}"
            ax.plot(np.arange(1, depth + 1), values, marker="o", markersize=3, color=color, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = next to the input)")
        ax.set_title(title)
        ax.legend(frameon=False)
        integer_ticks(ax)
    axes[0].set_ylabel("gradient norm ‖∂loss / ∂W‖")
    figure.suptitle(f"Gradient reaching each of {depth} layers")
    return figure


def _moving_average(values: Sequence[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


@styled
def training_curves_figure(
    histories: Mapping[str, Mapping[str, list]], smoothing: int = 1, log_loss: bool = False
) -> Figure:
    """Training loss and per-epoch accuracy of zoo models against optimisation steps.

    Args:
        histories: model name → manifest "history" ({"step", "loss", "epoch_step"} and the accuracy after
            each epoch, "validation_accuracy" (the zoo's) or "test_accuracy"; the axis says which).
        smoothing: moving-average window over the recorded loss points (1: raw).
        log_loss: logarithmic loss axis.
    """
    figure, (loss_ax, accuracy_ax) = new_figure(1, 2, figsize=column_size(3.3))
    split = "validation" if all("validation_accuracy" in h for h in histories.values()) else "test"
    for name, history in histories.items():
        color = MODEL_COLORS.get(name)
        loss = _moving_average(history["loss"], smoothing)
        steps = np.asarray(history["step"])[len(history["step"]) - len(loss) :]
        loss_ax.plot(steps, loss, color=color, label=name)
        accuracy_ax.plot(
            history["epoch_step"], history[f"{split}_accuracy"], marker="o", color=color, label=name
        )
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss" + (f" ({smoothing}-point average)" if smoothing > 1 else ""))
    if log_loss:
        loss_ax.set_yscale("log")
    accuracy_ax.set_xlabel("step")
    accuracy_ax.set_ylabel(f"{split} accuracy")
    for ax in (loss_ax, accuracy_ax):
        ax.legend(frameon=False)
    figure.suptitle("Zoo training runs: the same network with and without skip connections")
    for ax in (loss_ax, accuracy_ax):
        integer_ticks(ax)
    return figure


@styled
def training_loss_figure(runs: Mapping[str, Mapping[str, list]], title: str = "") -> Figure:
    """Training loss of a short run per architecture.

    Args:
        runs: architecture → {"step": [...], "loss": [...]} (from `seelike.gradients.training_runs`).
        title: figure title.
    """
    figure, ax = new_figure(1, 1, figsize=(6.0, 3.4))
    for architecture, run in runs.items():
        loss = np.asarray(run["loss"], dtype=np.float64)
        finite = np.isfinite(loss)
        ax.plot(np.asarray(run["step"])[finite], loss[finite], color=ARCHITECTURE_COLORS.get(architecture),
                label=architecture + ("" if finite.all() else " (diverged)"))  # fmt: skip
    ax.axhline(np.log(10), color="0.6", linestyle=":", linewidth=1)
    ax.text(0, np.log(10), " chance (ln 10)", va="bottom", fontsize=SMALL, color="0.4")
    ax.set_xlabel("step")
    integer_ticks(ax)
    ax.set_ylabel("training loss (minibatch)")
    ax.legend(frameon=False)
    ax.set_title(title)
    return figure


@styled
def residual_stream_figure(norms: Mapping, title: str = "") -> Figure:
    """Inside each residual block: the size of the skip (what the shortcut carries) vs the branch f(x).

    Args:
        norms: from `seelike.skips.resnet_branch_norms` ({"blocks", "skip", "branch", "ratio"}).
        title: figure title.
    """
    blocks = list(norms["blocks"])
    skip, branch, ratio = (np.asarray(norms[key], dtype=np.float64) for key in ("skip", "branch", "ratio"))
    positions = np.arange(len(blocks))
    figure, (norm_ax, ratio_ax) = new_figure(1, 2, figsize=column_size(3.5))
    norm_ax.bar(positions - 0.2, skip, width=0.4, color="#0072b2", label="skip  ‖x‖")
    norm_ax.bar(positions + 0.2, branch, width=0.4, color="#e69f00", label="branch  ‖f(x)‖")
    norm_ax.set_ylabel("mean norm per position")
    norm_ax.legend(frameon=False)
    finite = np.isfinite(ratio)
    ratio_ax.plot(positions[finite], ratio[finite], marker="o", color="0.2")
    ratio_ax.axhline(1, color="0.6", linestyle=":", linewidth=1)
    ratio_ax.set_ylim(0, max(2.0, 1.15 * ratio[finite].max()) if finite.any() else 2.0)
    if not finite.all():
        blocks_at_zero = ", ".join(blocks[i] for i in np.flatnonzero(~finite))
        ratio_ax.text(0.5, 0.5, f"f(x) = 0, ratio ∞:\n{blocks_at_zero}", transform=ratio_ax.transAxes,
                      ha="center", va="center", fontsize=SMALL, wrap=True)  # fmt: skip
    ratio_ax.set_ylabel("‖x‖ / ‖f(x)‖")
    for ax in (norm_ax, ratio_ax):
        ax.set_xticks(positions)
        ax.set_xticklabels(blocks, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_xlabel("block")
    figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------------------------- chapter 2


@styled
def attention_scaling_figure(
    scaled: np.ndarray, unscaled: np.ndarray, head_dim: int, scaled_entropy: float, unscaled_entropy: float
) -> Figure:
    """Attention weights of random queries and keys with and without the 1/√d scaling.

    Args:
        scaled, unscaled: (T, T) weights (e.g. `seelike.selfattention.random_attention_weights`).
        head_dim: d, for the title.
        scaled_entropy, unscaled_entropy: mean row entropy (nats) of each.
    """
    scaled, unscaled = to_numpy(scaled), to_numpy(unscaled)
    figure, axes = new_figure(1, 2, figsize=column_size(3.6))
    tokens = scaled.shape[0]
    for ax, weights, label, entropy in (
        (axes[0], scaled, "softmax(q·k / √d)", scaled_entropy),
        (axes[1], unscaled, "softmax(q·k)", unscaled_entropy),
    ):
        image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{label}\nmean row entropy {entropy:.2f} of max {np.log(tokens):.2f} nats")
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        integer_ticks(ax, "both")
    figure.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    figure.suptitle(f"{tokens} random queries and keys, d = {head_dim}")
    return figure


@styled
def shuffled_patches_figure(
    image,
    shuffled,
    probabilities: Mapping[str, tuple[np.ndarray, np.ndarray]],
    class_names: Sequence[str],
    label: int | None = None,
) -> Figure:
    """An image, the same image with its patches shuffled, and a classifier's output on both.

    Args:
        image, shuffled: (C, H, W) in [0, 1].
        probabilities: panel title → (probabilities on `image`, probabilities on `shuffled`), each (K,).
        class_names: K names.
        label: the true class, marked on the bars.
    """
    size = panel_size(len(probabilities), 2.6, 3.2, 2.6)
    figure, axes = new_figure(
        1, 2 + len(probabilities), figsize=size, width_ratios=[1, 1] + [2] * len(probabilities)
    )
    _show_image(axes[0], image)
    axes[0].set_title("image")
    _show_image(axes[1], shuffled)
    axes[1].set_title("patches shuffled")
    positions = np.arange(len(class_names))
    for ax, (title, (original, permuted)) in zip(axes[2:], probabilities.items(), strict=True):
        ax.bar(positions - 0.2, to_numpy(original), width=0.4, color="0.3", label="image")
        ax.bar(positions + 0.2, to_numpy(permuted), width=0.4, color="#cc79a7", label="shuffled")
        ax.set_xticks(positions)
        ax.set_xticklabels(class_names, rotation=60, ha="right", rotation_mode="anchor")
        if label is not None:
            ax.get_xticklabels()[label].set_fontweight("bold")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(frameon=False)
    axes[2].set_ylabel("class probability")
    return figure


def _patch_rectangle(ax, index: int, grid_size: int, patch_size: float, color: str = "#ff3333") -> None:
    row, col = divmod(index, grid_size)
    ax.add_patch(
        Rectangle((col * patch_size - 0.5, row * patch_size - 0.5), patch_size, patch_size,
                  fill=False, edgecolor=color, linewidth=2)
    )  # fmt: skip


def _overlay(ax, image, heat: np.ndarray, vmax: float | None = None):
    """Show `image` and, over it, a (g, g) map stretched to the image's extent."""
    pixels = _image_hw(image)
    height, width = pixels.shape[:2]
    ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    shown = ax.imshow(heat, cmap="inferno", alpha=0.65, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                      interpolation="nearest", vmin=0, vmax=vmax)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


@styled
def attention_map_figure(
    image, weights, query: int, patch_size: int, num_prefix_tokens: int = 1, title: str = ""
) -> Figure:
    """Where one query token looks: its attention weights over the patches, on top of the image.

    Args:
        image: (C, H, W) in [0, 1].
        weights: (T,) one row of an attention matrix, T = num_prefix_tokens + g².
        query: the query token's index (< num_prefix_tokens: a prefix token such as CLS).
        patch_size: pixels per patch side.
        num_prefix_tokens: leading non-patch tokens.
        title: figure title.
    """
    weights = to_numpy(weights).astype(np.float64)
    grid = int(round(np.sqrt(len(weights) - num_prefix_tokens)))
    heat = weights[num_prefix_tokens:].reshape(grid, grid)
    figure, (image_ax, map_ax) = new_figure(1, 2, figsize=(6.4, 3.3))  # within the column
    _show_image(image_ax, image)
    if query >= num_prefix_tokens:
        _patch_rectangle(image_ax, query - num_prefix_tokens, grid, patch_size)
        row, col = divmod(query - num_prefix_tokens, grid)
        image_ax.set_title(f"query: patch (row {row}, col {col})")
    else:
        image_ax.set_title("query: CLS token (no location)")
    shown = _overlay(map_ax, image, heat)
    if query >= num_prefix_tokens:
        _patch_rectangle(map_ax, query - num_prefix_tokens, grid, patch_size, color="#33ccff")
    prefix = weights[:num_prefix_tokens].sum()
    map_ax.set_title(f"attention to patches (to CLS: {prefix:.2f})")
    figure.colorbar(shown, ax=map_ax, shrink=0.8)
    figure.suptitle(title)
    return figure


@styled
def rollout_figure(
    image, attention_maps: Sequence[np.ndarray], rollout_maps: Sequence[np.ndarray], query_label: str = "CLS"
) -> Figure:
    """One query's attention in each block (top) and its attention rollout up to that block (bottom).

    Args:
        image: (C, H, W) in [0, 1].
        attention_maps, rollout_maps: per block, a (g, g) map over the patches.
        query_label: which query the maps belong to (for the titles).
    """
    blocks = len(attention_maps)
    figure, axes = new_figure(
        2, blocks + 1, figsize=(COLUMN_WIDTH, 0.5 + 2 * (COLUMN_WIDTH / (blocks + 1) + 0.25))
    )
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title("image")
    axes[1, 0].axis("off")
    for block in range(blocks):
        _overlay(axes[0, block + 1], image, to_numpy(attention_maps[block]))
        axes[0, block + 1].set_title(f"block {block}")
        _overlay(axes[1, block + 1], image, to_numpy(rollout_maps[block]))
        axes[1, block + 1].set_title(f"0–{block}" if blocks > 6 else f"rollout 0–{block}")
    axes[0, 1].set_ylabel("this block")
    axes[1, 1].set_ylabel("rollout")
    figure.suptitle(f"Where the {query_label} query draws from: one block (top), rolled out (bottom)")
    return figure


# --------------------------------------------------------------------------------------------- chapter 3


def _tile(blocks: np.ndarray, columns: int, gap: float = np.nan) -> np.ndarray:
    """Arrange (n, h, w[, 3]) images in rows of `columns` with one-pixel gaps (NaN: blank)."""
    count, height, width = blocks.shape[:3]
    rows = -(-count // columns)
    shape = (rows * (height + 1) - 1, columns * (width + 1) - 1, *blocks.shape[3:])
    canvas = np.full(shape, gap if blocks.ndim == 3 else 1.0)
    for index in range(count):
        row, col = divmod(index, columns)
        canvas[
            row * (height + 1) : row * (height + 1) + height, col * (width + 1) : col * (width + 1) + width
        ] = blocks[index]
    return canvas


@styled
def patchify_figure(image, patches, patch_size: int, embed_dim: int, max_tiles: int = 56) -> Figure:
    """An image cut into patches, the patches as a sequence, and the matrix a ViT projects.

    Args:
        image: (C, H, W) in [0, 1].
        patches: (N, C·p·p) the flattened patches in raster order (from `seelike.patches.patchify`).
        patch_size: p.
        embed_dim: D, the token width after projection (for the shape annotation).
        max_tiles: draw the whole sequence up to this many patches, else one grid row of it.
    """
    image, patches = to_numpy(image), to_numpy(patches)
    channels, height, width = image.shape
    rows, cols = height // patch_size, width // patch_size
    count = patches.shape[0]
    figure, axes = new_figure(1, 3, figsize=column_size(3.2), width_ratios=[1, 1.5, 1])
    _show_image(axes[0], image)
    for line in range(1, rows):
        axes[0].axhline(line * patch_size - 0.5, color="#ffcc00", linewidth=0.8)
    for line in range(1, cols):
        axes[0].axvline(line * patch_size - 0.5, color="#ffcc00", linewidth=0.8)
    grid = f"{rows}×{cols} patches of {patch_size}×{patch_size}"
    axes[0].set_title(f"image {channels}×{height}×{width}\n{grid}")
    if count <= max_tiles:  # the whole sequence
        chosen = np.arange(count)
        caption = f"the sequence: patches 0 … {count - 1}\nin raster order"
    else:  # one row of the grid (the middle one), in order
        row = rows // 2
        chosen = np.arange(row * cols, row * cols + min(cols, max_tiles))
        caption = f"patches {chosen[0]} … {chosen[-1]} of {count}\n(grid row {row}), in order"
    tiles = patches[chosen].reshape(len(chosen), channels, patch_size, patch_size)
    tiles = tiles[:, 0] if channels == 1 else np.transpose(tiles, (0, 2, 3, 1))
    lines = -(-len(chosen) // 14)  # at most 14 patches per line
    canvas = _tile(tiles, -(-len(chosen) // lines))
    axes[1].imshow(canvas, cmap="gray" if channels == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    axes[1].set_title(caption)
    axes[2].imshow(patches, aspect="auto", cmap="gray" if channels == 1 else "magma", interpolation="nearest")
    axes[2].set_xlabel(f"{patches.shape[1]} values per patch\n(C·p·p)")
    axes[2].set_ylabel(f"{count} patches")
    integer_ticks(axes[2], "both")
    axes[2].set_title(f"matrix ({count}, {patches.shape[1]}) × W\n→ tokens ({count}, {embed_dim})")
    figure.suptitle(f"{count} tokens from one image")
    return figure


@styled
def patch_filters_figure(
    filters, title: str = "", explained: Sequence[float] | None = None, columns: int = 16
) -> Figure:
    """Patch-embedding filters (or their principal components) as small images.

    Grey filters are drawn with a diverging colour map, each scaled to its own largest magnitude; colour
    filters are rescaled to [0, 1] each.

    Args:
        filters: (k, C, p, p).
        title: figure title.
        explained: (k,) variance fraction per component, shown in the title when given.
        columns: filters per row.
    """
    filters = to_numpy(filters).astype(np.float64)
    count, channels = filters.shape[:2]
    columns = min(columns, count)
    if channels == 1:
        scale = np.abs(filters).reshape(count, -1).max(axis=1)
        tiles = filters[:, 0] / np.where(scale > 0, scale, 1.0)[:, None, None]
        canvas, cmap, limits = _tile(tiles, columns), "RdBu_r", (-1, 1)
    else:
        flat = filters.reshape(count, -1)
        low, high = flat.min(axis=1), flat.max(axis=1)
        span = np.where(high > low, high - low, 1.0)
        tiles = (filters - low[:, None, None, None]) / span[:, None, None, None]
        canvas, cmap, limits = _tile(np.transpose(tiles, (0, 2, 3, 1)), columns), None, (0, 1)
    rows = -(-count // columns)
    figure, ax = new_figure(
        1, 1, figsize=(min(0.55 * columns, COLUMN_WIDTH), min(0.55, COLUMN_WIDTH / columns) * rows + 0.6)
    )
    ax.imshow(canvas, cmap=cmap, vmin=limits[0], vmax=limits[1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if explained is not None:
        explained = np.asarray(explained)
        title = f"{title} (first {count} explain {explained.sum():.0%} of the variance)"
    ax.set_title(title)
    return figure


@styled
def position_similarity_figure(
    similarity, title: str = "", highlight: tuple[int, int] | None = None
) -> Figure:
    """Cosine similarity of every patch's position embedding with all others, as a grid of maps.

    Args:
        similarity: (g, g, g, g) from `seelike.patches.position_embedding_similarity`; map [i, j] is drawn
            in row i, column j of the grid.
        title: figure title.
        highlight: (row, column) of one map to outline.
    """
    similarity = to_numpy(similarity).astype(np.float64)
    grid = similarity.shape[0]
    canvas = _tile(similarity.reshape(grid * grid, grid, grid), grid)
    size = min(COLUMN_WIDTH - 1.4, 2.0 + 0.42 * grid)
    figure, ax = new_figure(1, 1, figsize=(size + 1.4, size))
    shown = ax.imshow(canvas, cmap="viridis", vmin=np.nanmin(canvas), vmax=1, interpolation="nearest")
    ticks = np.arange(grid) * (grid + 1) + (grid - 1) / 2
    ax.set_xticks(ticks, [str(i) for i in range(grid)])
    ax.set_yticks(ticks, [str(i) for i in range(grid)])
    ax.set_xlabel("input patch column")
    ax.set_ylabel("input patch row")
    if highlight is not None:
        row, col = highlight
        ax.add_patch(Rectangle((col * (grid + 1) - 0.5, row * (grid + 1) - 0.5), grid, grid,
                               fill=False, edgecolor="#ff3333", linewidth=2))  # fmt: skip
    figure.colorbar(shown, ax=ax, shrink=0.7, label="cosine similarity")
    ax.set_title(title)
    return figure
