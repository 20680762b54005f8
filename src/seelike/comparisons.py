"""Reading CKA matrices: within-model uniformity, submatrices, best matches and the depth correspondence
between two models (the paper's Figs 1 and 2), and the same-layer CKA of two models of one architecture
trained differently (Fig 12).

Everything here takes a computed matrix (`cka.model_cka`, cached) and its layer names; `same_layer_cka` and
`paper_scale` compute the matrices they read.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import torch
from torch import nn

from . import zoo
from .activations import layer_names, layers_for, relative_depth
from .cka import model_cka

__all__ = [
    "FRACTIONS",
    "PAPER_MODELS",
    "best_matches",
    "correspondence",
    "mean_off_diagonal",
    "paper_scale",
    "same_layer_cka",
    "same_layer_values",
    "select_layers",
    "submatrix",
]

# The zoo's data-fraction ViTs (fraction of the Fashion-MNIST training set) and the full-data reference.
FRACTIONS: dict[str, float] = {"vit-data3": 0.03, "vit-data10": 0.10, "vit-data30": 0.30, "vit": 1.0}


def mean_off_diagonal(matrix: torch.Tensor) -> float:
    """Mean CKA between distinct layers of one model: high for a uniform (ViT-like) structure.

    Args:
        matrix: (L, L) within-model CKA matrix, L ≥ 2.

    Returns:
        the mean of the L(L − 1) off-diagonal entries.
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise ValueError(f"need a square (L, L) matrix with L >= 2, got {tuple(matrix.shape)}")
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("the CKA matrix holds NaN/inf (a constant layer?): drop that layer first")
    n = matrix.shape[0]
    off = matrix.double().sum() - matrix.double().diagonal().sum()
    return float(off / (n * (n - 1)))


def submatrix(
    matrix: torch.Tensor,
    names_x: Sequence[str],
    names_y: Sequence[str],
    keep_x: Sequence[str],
    keep_y: Sequence[str] | None = None,
) -> torch.Tensor:
    """The rows named `keep_x` and columns named `keep_y` (default: `keep_x`) of a CKA matrix, in that order.

    Args:
        matrix: (len(names_x), len(names_y)) CKA.
        names_x, names_y: its row and column layer names.
        keep_x, keep_y: the layer names to keep.

    Returns:
        (len(keep_x), len(keep_y)) tensor.
    """
    keep_y = keep_x if keep_y is None else keep_y
    missing = [n for n in keep_x if n not in names_x] + [n for n in keep_y if n not in names_y]
    if missing:
        raise KeyError(f"layers not in the matrix: {missing}")
    rows = [list(names_x).index(n) for n in keep_x]
    cols = [list(names_y).index(n) for n in keep_y]
    return matrix[rows][:, cols]


def best_matches(matrix: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """For each layer along the *other* dimension, the index of its most similar layer along `dim`.

    Args:
        matrix: (La, Lb) cross-model CKA.
        dim: 0 → for every column j (a layer of model b), argmax over rows i (model a's layers), shape (Lb,);
            1 → for every row, argmax over columns, shape (La,).

    Returns:
        int64 indices (the first maximum on ties).
    """
    if matrix.ndim != 2 or dim not in (0, 1):
        raise ValueError(f"need a 2-D matrix and dim 0 or 1, got shape {tuple(matrix.shape)}, dim={dim}")
    if not bool(torch.isfinite(matrix).all()):
        raise ValueError("the CKA matrix holds NaN/inf (a constant layer?): drop that layer first")
    return matrix.argmax(dim=dim)


def correspondence(
    matrix: torch.Tensor, names_vit: Sequence[str], names_resnet: Sequence[str]
) -> dict[str, float | torch.Tensor]:
    """Checks Fig 2's reading on a ViT (rows) × ResNet (columns) CKA matrix.

    The paper reports: the lower half of ResNet layers is most similar to the lowest quarter of ViT layers;
    the upper half of ResNet layers to roughly the next third of ViT layers; the top third of ViT layers
    resembles no ResNet layer much.

    Args:
        matrix: (L_vit, L_resnet) CKA.
        names_vit, names_resnet: the row and column layer names.

    Returns:
        {"best_vit_index": (L_resnet,) argmax row per ResNet layer, "best_vit_depth": its relative depth,
        "resnet_depth": each ResNet layer's relative depth, "lower_half_in_lowest_quarter": fraction of the
        lower-half ResNet layers (depth < 1/2) whose best ViT layer lies in the lowest quarter (depth ≤ 1/4),
        "upper_half_in_next_third": fraction of upper-half ResNet layers whose best ViT layer lies in
        (0.25, 0.25 + 1/3], "lower_half_median_depth", "upper_half_median_depth": median best-match ViT
        depths, "top_third_vit_max_cka": largest CKA between any ViT layer of depth > 2/3 and any ResNet
        layer, "lower_vit_max_cka": the same for ViT layers of depth ≤ 2/3}.
    """
    n_vit, n_resnet = matrix.shape
    if (n_vit, n_resnet) != (len(names_vit), len(names_resnet)):
        raise ValueError(
            f"matrix {tuple(matrix.shape)} does not match {len(names_vit)} × {len(names_resnet)} names"
        )
    best = best_matches(matrix, dim=0)
    vit_last, resnet_last = n_vit - 1, n_resnet - 1
    resnet_index = torch.arange(n_resnet)
    vit_index = torch.arange(n_vit)
    # Depth comparisons in integers (i / last <= 1/4  <=>  4 i <= last), so no boundary is lost to rounding.
    lower = 2 * resnet_index < resnet_last  # relative depth < 1/2
    upper = ~lower
    in_lowest_quarter = 4 * best <= vit_last
    in_next_third = ~in_lowest_quarter & (12 * best <= 7 * vit_last)  # (1/4, 1/4 + 1/3]
    top = 3 * vit_index > 2 * vit_last  # relative depth > 2/3
    best_depth = relative_depth(best, n_vit)
    return {
        "best_vit_index": best,
        "best_vit_depth": best_depth,
        "resnet_depth": relative_depth(resnet_index, n_resnet),
        "lower_half_in_lowest_quarter": float(in_lowest_quarter[lower].double().mean()),
        "upper_half_in_next_third": float(in_next_third[upper].double().mean()),
        "lower_half_median_depth": float(best_depth[lower].quantile(0.5)),
        "upper_half_median_depth": float(best_depth[upper].quantile(0.5)),
        "top_third_vit_max_cka": float(matrix[top].max()) if bool(top.any()) else math.nan,
        "lower_vit_max_cka": float(matrix[~top].max()),
    }


def same_layer_values(
    matrix: torch.Tensor,
    names_a: Sequence[str],
    names_b: Sequence[str],
    layers: Sequence[str] | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """The entries of a cross-model matrix that pair a layer with the layer of the same name.

    Args:
        matrix: (La, Lb) values between the layers `names_a` of model a (rows) and `names_b` of model b.
        names_a, names_b: layer names along the rows and the columns.
        layers: the names wanted, in the order returned; default every name of `names_a` that is also in
            `names_b`, in the order of `names_a`.

    Returns:
        (values (L,) float64, names): values[k] = matrix[names_a.index(names[k]), names_b.index(names[k])].
    """
    if matrix.ndim != 2 or matrix.shape != (len(names_a), len(names_b)):
        raise ValueError(
            f"matrix {tuple(matrix.shape)} does not match {len(names_a)} row and {len(names_b)} column names"
        )
    rows = {name: i for i, name in enumerate(names_a)}
    columns = {name: j for j, name in enumerate(names_b)}
    if len(rows) != len(names_a) or len(columns) != len(names_b):
        raise ValueError("layer names must be unique along each side")
    if layers is None:
        names = [name for name in names_a if name in columns]
        if not names:
            raise ValueError("the two sides share no layer name (different architectures?)")
    else:
        names = list(layers)
        missing = [n for n in names if n not in rows or n not in columns]
        if missing:
            raise KeyError(f"layer(s) {missing} are not on both sides of the matrix")
    index_a = torch.tensor([rows[n] for n in names], dtype=torch.long)
    index_b = torch.tensor([columns[n] for n in names], dtype=torch.long)
    return matrix.double()[index_a, index_b], names


def same_layer_cka(
    model_a: nn.Module,
    model_b: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[torch.Tensor, list[str]]:
    """Linear CKA between each layer of `model_a` and the same-named layer of `model_b` (Fig 12).

    One pass of minibatch CKA over the images gives every layer pair (`cka.model_cka`, cached on
    disk); the same-name pairs are its diagonal. The two models must share their layer naming (same
    architecture, e.g. the same ViT trained on different data).

    Args:
        model_a, model_b: models in eval mode with the same layer names.
        images: (N, C, H, W) images both models take, N ≥ 4.
        layers: layer names (default: every named layer of `model_a`).
        batch_size: minibatch size of the CKA estimator.
        use_cache: read and write the on-disk result cache.
        progress: progress bar over minibatches.

    Returns:
        (values (L,) float64, names).
    """
    names = list(layers) if layers is not None else layer_names(model_a)
    if not names:
        raise ValueError("no layers to compare")
    matrix, names_a, names_b = model_cka(
        model_a, model_b, images, names, names, batch_size=batch_size, use_cache=use_cache, progress=progress
    )
    return same_layer_values(matrix, names_a, names_b, names)


def select_layers(
    values: torch.Tensor, names: Sequence[str], keep: Collection[str]
) -> tuple[torch.Tensor, list[str]]:
    """The entries of a per-layer curve whose layer name is in `keep` (order preserved).

    Args:
        values: (L, ...) one row per layer.
        names: the L layer names.
        keep: the names to keep, e.g. `activations.layer_names(model, "blocks")`.

    Returns:
        (values (L', ...), names) with L' ≥ 1.
    """
    if len(values) != len(names):
        raise ValueError(f"{len(values)} values for {len(names)} layer names")
    keep = set(keep)
    index = [i for i, name in enumerate(names) if name in keep]
    if not index:
        raise ValueError("no layer of the curve is in the selection")
    return values[torch.tensor(index, dtype=torch.long)], [names[i] for i in index]


# --------------------------------------------------------------------------------------------- paper scale

PAPER_MODELS = {"ViT-B/16": "vit_base_patch16_224.augreg_in21k", "ResNet50x1": "resnetv2_50x1_bit.goog_in21k"}


def paper_scale(
    images: torch.Tensor | None = None,
    *,
    models: dict[str, str] | None = None,
    family: str | None = None,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 128,
    use_cache: bool = True,
    progress: bool = True,
) -> dict[str, object]:
    """Chapter 5 at paper scale (Figs 1 and 2): CKA within a timm ViT and a timm ResNet, and between them.

    Args:
        images: (N, 3, H, W) in [0, 1], any size (each model resizes and normalises them itself, see
            `zoo.paper_scale_model`); default CIFAR-10 test images (online), 1,024 on CUDA, 256 on a CPU.
        models: {"label": timm name} of the ViT, then the ResNet (default `PAPER_MODELS`).
        family: layer family (`activations.FAMILY_CHOICES`); default "all" on CUDA, "blocks" on a CPU.
        pretrained: download the public weights (online only); False gives random weights (tests).
        device: default CUDA when available, else the CPU. On CUDA the Grams are float32 with TF32 off.
        batch_size, use_cache, progress: as in `model_cka`.

    Returns:
        {"within": {label: (matrix, names, names)}, "cross": (matrix, vit names, resnet names),
        "match": `correspondence` of the cross matrix, "labels": (vit label, resnet label)}; matrices on the
        CPU.
    """
    from . import data

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = torch.device(device).type == "cuda"
    family = family or ("all" if on_gpu else "blocks")
    if images is None:
        images = data.cifar10("test")[0][: 1024 if on_gpu else 256]
    (vit_label, vit_name), (resnet_label, resnet_name) = (models or PAPER_MODELS).items()
    vit = zoo.paper_scale_model(vit_name, pretrained=pretrained, device=device)
    resnet = zoo.paper_scale_model(resnet_name, pretrained=pretrained, device=device)
    layers = {vit_label: layers_for(vit, family), resnet_label: layers_for(resnet, family)}
    settings = {"batch_size": batch_size, "use_cache": use_cache, "progress": progress}

    def on_cpu(
        result: tuple[torch.Tensor, list[str], list[str]],
    ) -> tuple[torch.Tensor, list[str], list[str]]:
        matrix, names_a, names_b = result
        return matrix.cpu(), names_a, names_b

    within = {
        label: on_cpu(model_cka(model, None, images, layers[label], **settings))
        for label, model in ((vit_label, vit), (resnet_label, resnet))
    }
    cross = on_cpu(model_cka(vit, resnet, images, layers[vit_label], layers[resnet_label], **settings))
    return {
        "within": within,
        "cross": cross,
        "match": correspondence(*cross),
        "labels": (vit_label, resnet_label),
    }
