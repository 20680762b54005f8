"""Mean attention distance: how far, in pixels, each attention head looks (Figs 3 and 4 of the paper).

Two routes give the same numbers. From attention probabilities (`mean_attention_distance`, fed by
`attention_probabilities`): simple, but it holds every (B, H, T, T) matrix. From queries and keys
(`mean_attention_distance_qk`, `dataset_mean_attention_distance(..., method="qk")`): the softmax and the
weighted distance are fused (`seelike.kernels`: a Triton kernel on CUDA, a chunked torch reference
elsewhere), so the T×T matrix is never stored. Plus head sorting, local/global head counting (thresholds
`LOCAL_FRACTION`, `GLOBAL_FRACTION` of the uniform-attention distance, grid from the model), and per-head
attention outputs for head-subset comparisons (Fig 5). Every model runs through `activations.capture`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .activations import (
    Layer,
    attention_layers,
    attention_modules,
    capture,
    explicit_attention,
)
from .cache import memoize
from .cka import MinibatchCKA
from .kernels import mean_attention_distance_from_qk

__all__ = [
    "GLOBAL_FRACTION",
    "LOCAL_FRACTION",
    "paper_scale",
    "head_counts",
    "local_heads_per_block",
    "dataset_mean_attention_distance",
    "head_outputs",
    "head_subset_cka",
    "head_subsets",
    "local_head_mask",
    "mean_attention_distance",
    "mean_attention_distance_qk",
    "model_patch_geometry",
    "patch_distances",
    "queries_and_keys",
    "sort_heads",
    "subset_distances",
    "uniform_attention_distance",
]


# A head is local when its mean attention distance is at most LOCAL_FRACTION × the uniform-attention distance
# of its grid, global above GLOBAL_FRACTION × it (the chapters' and claims' thresholds).
LOCAL_FRACTION = 0.6
GLOBAL_FRACTION = 0.9


def patch_distances(grid_size: int, patch_size: float) -> torch.Tensor:
    """Euclidean distance in pixels between the centres of every pair of patches, (grid², grid²) float64."""
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size
    return torch.cdist(centres, centres)


def mean_attention_distance(
    attn: torch.Tensor,
    patch_size: float,
    grid_size: int | None = None,
    num_prefix_tokens: int = 1,
    renormalize: bool = True,
) -> torch.Tensor:
    """Mean attention distance per head.

    For each head: the distance between the query patch's centre and each key patch's centre, weighted by
    the attention probability, summed over keys, then averaged over query patches and images. Prefix tokens
    (CLS, registers) are dropped as queries and as keys. With `renormalize=True` (default) each query's
    remaining weights are rescaled to sum to 1, so the measure says where *among the patches* a head looks
    and uniform attention gives exactly the mean pairwise patch distance. With `renormalize=False` the weight
    a query puts on prefix tokens simply counts as distance 0 (the convention of the keras.io example).

    Args:
        attn: (B, H, T, T) attention probabilities, T = num_prefix_tokens + grid_size².
        patch_size: patch side in pixels.
        grid_size: patches per side; inferred from T when None.
        num_prefix_tokens: leading non-spatial tokens.
        renormalize: rescale the spatial weights of each query to sum to 1.

    Returns:
        (H,) float64 mean distance in pixels.
    """
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attn must have shape (B, H, T, T), got {tuple(attn.shape)}")
    if not torch.isfinite(attn).all():
        raise ValueError("attn contains NaN or inf")
    n_patches = attn.shape[-1] - num_prefix_tokens
    if grid_size is None:
        grid_size = math.isqrt(n_patches)
    if grid_size * grid_size != n_patches:
        raise ValueError(f"{attn.shape[-1]} tokens minus {num_prefix_tokens} prefix is not a square grid")
    spatial = attn[..., num_prefix_tokens:, num_prefix_tokens:].double()
    if renormalize:
        spatial = spatial / spatial.sum(-1, keepdim=True)
    distances = patch_distances(grid_size, patch_size).to(spatial.device)
    return (spatial * distances).sum(-1).mean(dim=(0, 2))


def uniform_attention_distance(grid_size: int, patch_size: float) -> float:
    """Mean attention distance of uniform attention: the mean distance between two patch centres."""
    return patch_distances(grid_size, patch_size).mean().item()


def model_patch_geometry(model: nn.Module) -> tuple[int, int, int]:
    """(patch_size, grid_size, num_prefix_tokens) of a timm ViT with square patches on a square grid."""
    embed = getattr(model, "patch_embed", None)
    if embed is None:
        raise ValueError(f"{type(model).__name__} has no patch_embed: not a timm ViT")
    patch, grid = tuple(embed.patch_size), tuple(embed.grid_size)
    if patch[0] != patch[1] or grid[0] != grid[1]:
        raise ValueError(f"need square patches on a square grid, got patch {patch} and grid {grid}")
    return patch[0], grid[0], getattr(model, "num_prefix_tokens", 1)


def _qk_layers(model: nn.Module) -> list[tuple[Layer, Layer, float]]:
    """(queries layer, keys layer, score scale) of every timm attention module: the outputs of its `q_norm`
    and `k_norm` (identity layers unless the model normalises q and k)."""
    modules = attention_modules(model)
    if not modules:
        raise ValueError(f"{type(model).__name__} has no timm attention layers")
    return [
        (Layer(f"{name}.q", f"{name}.q_norm"), Layer(f"{name}.k", f"{name}.k_norm"), float(module.scale))
        for name, module in modules
    ]


def queries_and_keys(
    model: nn.Module, images: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    """Queries, keys and score scale of every attention layer for one batch (through `capture`).

    Read with forward hooks on each timm attention module's `q_norm` and `k_norm` (identity layers unless the
    model normalises q and k), i.e. exactly the q and k that meet in the softmax. Works with fused attention
    on: the probabilities are never needed.

    Args:
        model: a timm ViT.
        images: (B, C, H, W) as the model expects.

    Returns:
        per attention layer, (q, k, scale) with q and k of shape (B, heads, T, head_dim).
    """
    layers = _qk_layers(model)
    captured: dict[str, torch.Tensor] = {}
    capture(
        model, [layer for q, k, _ in layers for layer in (q, k)], images, captured.__setitem__,
        batch_size=max(1, len(images)), progress=False,
    )  # fmt: skip
    return [(captured[q.name], captured[k.name], scale) for q, k, scale in layers]


def _capture_distances(
    model: nn.Module,
    images,
    patch_size: float,
    *,
    method: str,
    num_prefix_tokens: int,
    renormalize: bool,
    backend: str = "auto",
    batch_size: int,
    progress: bool,
) -> torch.Tensor:
    """(layers, heads) mean attention distance over all images: one `capture` pass, reduced per minibatch."""
    if method == "qk":
        _, grid_size, num_prefix_tokens = model_patch_geometry(model)
        layers = _qk_layers(model)
        hooked = [layer for q, k, _ in layers for layer in (q, k)]
        context = None
    else:
        grid_size = None
        layers = attention_layers(model)
        hooked, context = layers, explicit_attention
    stored: dict[str, torch.Tensor] = {}
    sums: list[torch.Tensor] = []

    def consume(name: str, activation: torch.Tensor) -> None:
        if method == "qk":
            stored[name] = activation
        else:  # reduce each attention matrix at once: only one (B, H, T, T) tensor is alive
            stored[name] = mean_attention_distance(
                activation, patch_size, num_prefix_tokens=num_prefix_tokens, renormalize=renormalize
            ) * len(activation)

    def add_minibatch(index: int, batch: torch.Tensor) -> None:
        if method == "qk":
            rows = [
                mean_attention_distance_from_qk(
                    stored[q.name], stored[k.name], patch_size, grid_size, num_prefix_tokens, scale=scale,
                    renormalize=renormalize, backend=backend,
                ).double().mean(dim=(0, 2)) * len(batch)
                for q, k, scale in layers
            ]  # fmt: skip
        else:
            rows = [stored[layer.name] for layer in layers]
        sums.append(torch.stack(rows))
        stored.clear()

    count = capture(
        model, hooked, images, consume, batch_size=batch_size, progress=progress, on_batch_end=add_minibatch,
        desc="attention distance", context=context,
    )  # fmt: skip
    total = sums[0]
    for rows in sums[1:]:
        total = total + rows
    return total / count


def mean_attention_distance_qk(
    model: nn.Module,
    images: torch.Tensor,
    patch_size: float | None = None,
    renormalize: bool = True,
    backend: str = "auto",
) -> torch.Tensor:
    """Mean attention distance of every head of every layer for one batch, without attention matrices.

    Args:
        model: a timm ViT.
        images: (B, C, H, W).
        patch_size: patch side in pixels; the model's own by default.
        renormalize: as in `mean_attention_distance`.
        backend: "auto" (Triton on CUDA, chunked torch reference elsewhere), "triton" or "reference".

    Returns:
        (layers, heads) float64 distances in pixels, averaged over the batch's images and query patches.
    """
    own_patch, _, prefix = model_patch_geometry(model)
    return _capture_distances(
        model, images, own_patch if patch_size is None else patch_size, method="qk", num_prefix_tokens=prefix,
        renormalize=renormalize, backend=backend, batch_size=max(1, len(images)), progress=False,
    )  # fmt: skip


@memoize(ignore=("progress",))
def dataset_mean_attention_distance(
    model: nn.Module,
    images: torch.Tensor,
    patch_size: float,
    batch_size: int = 250,
    num_prefix_tokens: int | None = None,
    renormalize: bool = True,
    progress: bool = False,
    method: str = "probabilities",
) -> torch.Tensor:
    """Mean attention distance of every head of every attention layer, averaged over `images` (cached).

    Args:
        model: a timm ViT.
        images: (N, C, H, W) as the model expects.
        patch_size: patch side in pixels.
        batch_size: images per forward pass.
        num_prefix_tokens: defaults to the model's own `num_prefix_tokens` (1 with CLS, 0 for GAP models).
        renormalize: rescale each query's weights on the patches to sum to 1 (see `mean_attention_distance`).
        progress: show a progress bar.
        method: "probabilities" (capture the (B, H, T, T) attention matrices) or "qk" (fused from queries and
            keys via `seelike.kernels`, never storing the matrices; the model's own prefix count is used).

    Returns:
        (layers, heads) float64 distances in pixels.
    """
    if method not in ("probabilities", "qk"):
        raise ValueError(f"method must be 'probabilities' or 'qk', got {method!r}")
    if len(images) == 0:
        raise ValueError("no images")
    if num_prefix_tokens is None:
        num_prefix_tokens = getattr(model, "num_prefix_tokens", 1)
    return _capture_distances(
        model, images, patch_size, method=method, num_prefix_tokens=num_prefix_tokens,
        renormalize=renormalize, batch_size=batch_size, progress=progress,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- heads


def sort_heads(distances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heads sorted within each block from most local (smallest distance) to most global.

    Args:
        distances: (layers, heads) mean attention distances.

    Returns:
        (sorted (layers, heads), order (layers, heads) int64), sorted[l, i] = distances[l, order[l, i]].
    """
    if distances.ndim != 2:
        raise ValueError(f"distances must have shape (layers, heads), got {tuple(distances.shape)}")
    values, order = torch.sort(distances, dim=1, stable=True)
    return values, order


def local_head_mask(
    distances: torch.Tensor,
    grid_size: int,
    patch_size: float,
    fraction: float = LOCAL_FRACTION,
    blocks: Sequence[int] | None = (0, 1),
) -> torch.Tensor:
    """Which heads are local: mean distance at most `fraction` × the uniform-attention distance.

    Uniform attention over the grid sets the scale (a head that looks everywhere equally), so the threshold
    means the same on any grid and patch size.

    Args:
        distances: (layers, heads) mean attention distances in pixels.
        grid_size, patch_size: the model's patch grid (for the uniform distance).
        fraction: threshold as a fraction of the uniform distance.
        blocks: the blocks considered (others are all False); None for every block.

    Returns:
        (layers, heads) bool.
    """
    if distances.ndim != 2:
        raise ValueError(f"distances must have shape (layers, heads), got {tuple(distances.shape)}")
    mask = distances <= fraction * uniform_attention_distance(grid_size, patch_size)
    if blocks is not None:
        keep = torch.zeros(distances.shape[0], dtype=torch.bool)
        keep[list(blocks)] = True
        mask &= keep[:, None].to(mask.device)
    return mask


def local_heads_per_block(
    distances: torch.Tensor, grid_size: int, patch_size: float, fraction: float = LOCAL_FRACTION
) -> torch.Tensor:
    """Number of local heads in each block (`local_head_mask` over every block).

    Args:
        distances: (blocks, heads) mean attention distances in pixels (`dataset_mean_attention_distance`).
        grid_size, patch_size: the model's patch grid (`model_patch_geometry`).
        fraction: the threshold, as a fraction of the uniform-attention distance.

    Returns:
        (blocks,) int64 counts.
    """
    if not bool(torch.isfinite(torch.as_tensor(distances)).all()):
        raise ValueError("distances contain NaN or inf")
    mask = local_head_mask(torch.as_tensor(distances), grid_size, patch_size, fraction, blocks=None)
    return mask.sum(dim=1).to(torch.int64)


def head_counts(
    model: nn.Module,
    distances: torch.Tensor,
    *,
    local: float = LOCAL_FRACTION,
    global_: float = GLOBAL_FRACTION,
) -> dict[str, torch.Tensor]:
    """Local and global heads per block of a timm ViT, the grid and patch size taken from the model.

    Args:
        model: the ViT the distances were measured on (`model_patch_geometry` gives its grid).
        distances: (blocks, heads) mean attention distances in pixels.
        local: a head is local at a mean distance ≤ local × the uniform-attention distance.
        global_: a head is global above global_ × the uniform-attention distance.

    Returns:
        {"local": (blocks,) int64, "global": (blocks,) int64, "uniform": 0-d float64 (px)}.
    """
    patch_size, grid_size, _ = model_patch_geometry(model)
    distances = torch.as_tensor(distances)
    uniform = uniform_attention_distance(grid_size, patch_size)
    return {
        "local": local_heads_per_block(distances, grid_size, patch_size, local),
        "global": (distances > global_ * uniform).sum(dim=1).to(torch.int64),
        "uniform": torch.tensor(uniform, dtype=torch.float64),
    }


def head_subsets(order: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """Contiguous windows of `size` heads taken along `order` (e.g. from most local to most global).

    Args:
        order: head indices, e.g. one row of `sort_heads(...)[1]`.
        size: heads per subset, 1 <= size <= len(order).

    Returns:
        len(order) - size + 1 tuples of head indices, in the order's direction.
    """
    order = [int(h) for h in order]
    if not 1 <= size <= len(order):
        raise ValueError(f"subset size must be between 1 and {len(order)}, got {size}")
    return [tuple(order[start : start + size]) for start in range(len(order) - size + 1)]


def _heads_layer(model: nn.Module, block: int) -> tuple[Layer, int]:
    """The `Layer` holding one block's per-head outputs (the input of its attention `norm`) and its heads."""
    modules = attention_modules(model)
    if not 0 <= block < len(modules):
        raise ValueError(f"block must be in [0, {len(modules)}), got {block}")
    name, module = modules[block]
    return Layer(f"{name}.heads", f"{name}.norm", "input", "attn", block), module.num_heads


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1], num_heads, x.shape[2] // num_heads)


def head_outputs(model: nn.Module, images: torch.Tensor, block: int = 0) -> torch.Tensor:
    """Each head's attention output (softmax(q·k)·v, before the projection) in one block, for one batch.

    Args:
        model: a timm ViT.
        images: (B, C, H, W).
        block: which attention layer (0 = the first).

    Returns:
        (B, T, heads, head_dim), prefix tokens first.
    """
    layer, num_heads = _heads_layer(model, block)
    captured: dict[str, torch.Tensor] = {}
    capture(model, [layer], images, captured.__setitem__, batch_size=max(1, len(images)), progress=False)
    return _split_heads(captured[layer.name], num_heads)


def subset_distances(distances: torch.Tensor, subsets: Sequence[Sequence[int]]) -> torch.Tensor:
    """Mean attention distance of each head subset: the average of its heads' distances.

    Args:
        distances: (heads,) one block's distances.
        subsets: head index tuples.

    Returns:
        (len(subsets),) float64.
    """
    if distances.ndim != 1:
        raise ValueError(f"distances must be one block's (heads,) vector, got {tuple(distances.shape)}")
    return torch.stack([distances.double()[list(subset)].mean() for subset in subsets])


@memoize(ignore=("progress",))
def head_subset_cka(
    vit: nn.Module,
    other: nn.Module,
    images: torch.Tensor,
    subsets: Sequence[Sequence[int]],
    other_layers: Sequence[str],
    block: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Linear CKA between the attention output of head subsets of one ViT block and layers of another model.

    A subset's representation is its heads' outputs softmax(q·k)·v (before the output projection mixes the
    heads) at every spatial token, flattened per image; prefix tokens (CLS) are left out, so both sides
    describe the image's positions. CKA uses the streaming minibatch estimator (`seelike.cka.MinibatchCKA`).
    Cached (`seelike.cache.memoize`).

    Args:
        vit: a timm ViT.
        other: the model compared with (e.g. the zoo ResNet).
        images: (N, C, H, W); split into near-equal minibatches of at most `batch_size` (each needs >= 4).
        subsets: head index tuples (e.g. `head_subsets(order, size)`).
        other_layers: module names in `other` (e.g. "act1", "layer1.0").
        block: the ViT block whose heads are used.
        batch_size: images per minibatch.
        progress: show a progress bar.

    Returns:
        (len(subsets), len(other_layers)) float64 CKA.
    """
    if not subsets or not other_layers:
        raise ValueError("need at least one head subset and one layer")
    prefix = getattr(vit, "num_prefix_tokens", 1)
    n_batches = max(1, math.ceil(len(images) / batch_size))
    if len(images) < 4 * n_batches:
        raise ValueError(f"{len(images)} images in {n_batches} minibatches: each needs at least 4")
    names = ["heads " + ",".join(map(str, s)) for s in subsets]
    other_layers = list(other_layers)
    engine = MinibatchCKA(len(subsets), len(other_layers), names_x=names, names_y=other_layers)
    heads_layer, num_heads = _heads_layer(vit, block)
    stored: dict[str, torch.Tensor] = {}

    def add_minibatch(index: int, batch: torch.Tensor) -> None:
        heads = _split_heads(stored[heads_layer.name], num_heads)[:, prefix:]  # (B, P, heads, head_dim)
        xs = [heads[:, :, list(subset)].flatten(1) for subset in subsets]
        engine.update(xs, [stored[name].flatten(1) for name in other_layers])
        stored.clear()

    capture(
        [vit, other], [[heads_layer], other_layers], images, [stored.__setitem__, stored.__setitem__],
        batch_size=batch_size, progress=progress, on_batch_end=add_minibatch, min_batch=4,
        desc="head-subset CKA", stop=True,  # the layers above the wanted ones need not run
    )  # fmt: skip
    return engine.compute()


# --------------------------------------------------------------------------------------------- paper scale


def paper_scale(
    name: str = "vit_base_patch16_224.augreg_in21k",
    images: torch.Tensor | None = None,
    *,
    pretrained: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, object]:
    """Chapter 6 at paper scale: the mean attention distance of every head of a timm ViT.

    The model comes from `zoo.paper_scale_model` (it normalises its input itself); queries and keys go
    through `mean_attention_distance_qk`: the Triton kernel on CUDA, the chunked reference elsewhere.

    Args:
        name: timm name with weights tag (default ViT-B/16 pretrained on ImageNet-21k).
        images: (N, 3, H, W) in [0, 1] at the model's input size; default scikit-image's bundled photos.
        pretrained: download the public weights (online only); False gives random weights (tests).
        device: default CUDA when available, else the CPU.

    Returns:
        {"distances": (layers, heads) float64 on the CPU, "uniform": the uniform-attention distance (px),
        "patch_size", "grid_size"}.
    """
    from . import data, zoo

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = zoo.paper_scale_model(name, pretrained=pretrained, device=device)  # normalises its input itself
    if images is None:
        images = torch.stack(list(data.sample_photos().values()))
    patch_size, grid_size, _ = model_patch_geometry(model)
    distances = mean_attention_distance_qk(model, images.to(device))
    return {
        "distances": distances.cpu(),
        "uniform": uniform_attention_distance(grid_size, patch_size),
        "patch_size": patch_size,
        "grid_size": grid_size,
    }
