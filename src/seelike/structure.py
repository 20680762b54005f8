"""Chapter 5's measures on CKA heatmaps: cached layer-by-layer CKA, within-model uniformity, stage boundaries,
and which layer of one model best matches each layer of another (the paper's Figs 1 and 2).

`model_cka` is `seelike.activations.cka_matrix` behind `seelike.cache.cached`: the key holds both models
(architecture and weights), the images, the layer names and the minibatch size, so repeating a comparison,
in a notebook rerun or a widget, loads it from disk without a forward pass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from torch import nn

from . import zoo
from .activations import architecture, cka_matrix, layer_names
from .cache import cached

__all__ = [
    "paper_scale",
    "FAMILY_CHOICES",
    "best_matches",
    "correspondence",
    "layers_for",
    "mean_off_diagonal",
    "model_cka",
    "ResizeNormalize",
    "paper_scale_model",
    "relative_depth",
    "stage_boundaries",
    "stage_of",
    "submatrix",
]

# Layer families offered by chapter 5 (name shown → `layer_names` family per architecture). ResNets have no
# norm layers of their own kind and no MLP: their inner conv activations play the MLP hidden layer's role
# (the hidden representation of a residual branch); for "norms" they fall back to block outputs.
FAMILY_CHOICES: dict[str, dict[str, str | tuple[str, ...]]] = {
    "all": {"vit": "all", "mixer": "all", "resnet": "all", "resnetv2": "all"},
    "blocks": {"vit": "blocks", "mixer": "blocks", "resnet": "blocks", "resnetv2": "blocks"},
    "norms": {"vit": "norms", "mixer": "norms", "resnet": "blocks", "resnetv2": "blocks"},
    "mlp": {"vit": "mlp", "mixer": "mlp", "resnet": "inner", "resnetv2": "inner"},
}


def layers_for(model: nn.Module, family: str = "all") -> list[str]:
    """The model's layer names for one of chapter 5's families (see `FAMILY_CHOICES`).

    Args:
        model: a timm ViT, MLP-Mixer, ResNet or ResNetV2.
        family: "all", "blocks" (block / residual-unit outputs), "norms" or "mlp" (MLP hidden activations;
            a ResNet's inner conv activations).

    Returns:
        layer names in forward order.
    """
    if family not in FAMILY_CHOICES:
        raise ValueError(f"family must be one of {list(FAMILY_CHOICES)}, got {family!r}")
    return layer_names(model, FAMILY_CHOICES[family][architecture(model)])


def model_cka(
    model_a: nn.Module,
    model_b: nn.Module | None,
    images: torch.Tensor,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[torch.Tensor, list[str], list[str]]:
    """Minibatch linear CKA between layers of two models (or one: model_b None), cached on disk.

    Args:
        model_a, model_b: models in eval mode; model_b None compares model_a with itself.
        images: (N, C, H, W) images, as the models take them.
        layers_a, layers_b: layer names (default: every named layer).
        batch_size: minibatch size of the estimator.
        use_cache: read and write the result cache (`seelike.cache`); False always recomputes.
        progress: progress bar over minibatches.

    Returns:
        (matrix (len(names_a), len(names_b)) float64, names_a, names_b).
    """
    layers_a = list(layers_a) if layers_a is not None else layer_names(model_a)
    if layers_b is None:
        layers_b = layers_a if model_b is None else layer_names(model_b)
    layers_b = list(layers_b)

    def compute() -> tuple[torch.Tensor, list[str], list[str]]:
        matrix, names_a, names_b = cka_matrix(
            model_a, model_b, images, layers_a, layers_b, batch_size=batch_size, progress=progress
        )
        return matrix, list(names_a), list(names_b)

    if not use_cache:
        return compute()
    key = ("structure.model_cka", model_a, model_b, images, layers_a, layers_b, {"batch_size": batch_size})
    matrix, names_a, names_b = cached(key, compute)
    return matrix, list(names_a), list(names_b)


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


def relative_depth(indices: torch.Tensor | Sequence[int], n_layers: int) -> torch.Tensor:
    """Layer positions as fractions of depth: index i of n layers → i / (n − 1), in [0, 1] (float64)."""
    if n_layers < 2:
        raise ValueError(f"need at least 2 layers, got {n_layers}")
    return torch.as_tensor(indices, dtype=torch.float64) / (n_layers - 1)


_STAGE_PATTERNS = (re.compile(r"^(layer\d+)\."), re.compile(r"^(stages\.\d+)\."))


def stage_of(name: str) -> str:
    """The stage a ResNet layer belongs to ("layer2" for "layer2.1.act1", "stages.1" for ResNetV2), or the
    name itself for layers outside the stages (stem, final norm)."""
    for pattern in _STAGE_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    return name


def stage_boundaries(names: Sequence[str]) -> list[int]:
    """Positions in `names` where a new ResNet stage begins (the resolution halves, channels double).

    Args:
        names: layer names in forward order, e.g. from `layer_names(resnet)`.

    Returns:
        indices i such that names[i] starts a stage different from names[i − 1]'s; a stem or final layer
        that borders a stage does not add a boundary of its own.
    """
    stages = [stage_of(name) for name in names]
    in_stage = [stage != name for stage, name in zip(stages, names, strict=True)]
    boundaries = []
    last_stage = None
    for index, (stage, staged) in enumerate(zip(stages, in_stage, strict=True)):
        if not staged:
            continue
        if last_stage is not None and stage != last_stage:
            boundaries.append(index)
        last_stage = stage
    return boundaries


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


# --------------------------------------------------------------------------------------------- paper scale


class ResizeNormalize:
    """Forward pre-hook: resize images to the model's input size, then normalise them per channel.

    Lets a paper-scale model take small images in [0, 1] (e.g. CIFAR-10's 32×32) as they are, so the images
    stay small in memory and in cache keys; each minibatch is resized only as it enters the model.
    """

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]):
        self.size = int(size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        images = args[0]
        if images.shape[-2:] != (self.size, self.size):
            images = torch.nn.functional.interpolate(
                images,
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
                antialias=self.size < images.shape[-1],
            )
        mean = torch.tensor(self.mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
        return ((images - mean) / std, *args[1:])


def paper_scale_model(
    name: str, pretrained: bool = True, device: str | torch.device = "cpu", input_size: int | None = None
) -> nn.Module:
    """A paper-scale timm model that, like the zoo's, takes images in [0, 1] of any size and prepares them
    itself (resize to its input size, then its pretrained mean/std normalisation, in a pre-hook).

    Args:
        name: timm name with weights tag, e.g. "vit_base_patch16_224.augreg_in21k".
        pretrained: download the public weights (online only); False gives random weights.
        device: where to put the model.
        input_size: side of the square input (default: the model's pretrained config, e.g. 224).

    Returns:
        the model in eval mode.
    """
    import timm

    model, _ = zoo.load_timm(name, pretrained=pretrained, device=device)
    config = timm.data.resolve_data_config({}, model=model)
    size = input_size or config["input_size"][-1]
    first = next(getattr(model, attr) for attr in ("patch_embed", "stem", "conv1") if hasattr(model, attr))
    first.register_forward_pre_hook(ResizeNormalize(size, config["mean"], config["std"]))
    return model.eval()


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
            `paper_scale_model`); default CIFAR-10 test images (online), 1,024 on CUDA, 256 on a CPU.
        models: {"label": timm name} of the ViT, then the ResNet (default `PAPER_MODELS`).
        family: layer family (`FAMILY_CHOICES`); default "all" on CUDA, "blocks" on a CPU.
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
    vit = paper_scale_model(vit_name, pretrained=pretrained, device=device)
    resnet = paper_scale_model(resnet_name, pretrained=pretrained, device=device)
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
