"""Chapter 8's measures: how a model trained on less data differs from the full-data model (Figs 12, 13).

- `same_layer_values` / `same_layer_cka`: CKA between a layer of one model and *the same layer* of another
  model of identical architecture (the diagonal of their cross-model CKA matrix, matched by layer name).
- `select_layers`: keep the entries of a per-layer curve whose names belong to a set (a layer family).
- `normalised_depth`: layer i of L → (i + 1) / L, so models of different depths share one axis (Fig 13).
- `probe_by_depth`: closed-form linear-probe accuracy on pooled read-outs (CLS token, average of the tokens)
  at every residual block; the activations are pooled inside the capture hooks, so only (N, D) per layer is
  stored, which keeps paper-scale models affordable.
- `readout_curve`: a model's probe curve for one read-out ("own" picks the CLS token when the model has one,
  else the average pool).
- `local_heads_per_block`: how many heads of each block are local (chapter 6's threshold).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from . import activations, attention, probes, structure

__all__ = [
    "paper_scale",
    "FRACTIONS",
    "READOUTS",
    "local_heads_per_block",
    "normalised_depth",
    "probe_by_depth",
    "readout_curve",
    "same_layer_cka",
    "same_layer_values",
    "select_layers",
]

# The zoo's data-fraction ViTs (fraction of the Fashion-MNIST training set) and the full-data reference.
FRACTIONS: dict[str, float] = {"vit-data3": 0.03, "vit-data10": 0.10, "vit-data30": 0.30, "vit": 1.0}
READOUTS = ("own", "cls", "gap")


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

    One pass of minibatch CKA over the images gives every layer pair (`structure.model_cka`, cached on
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
    names = list(layers) if layers is not None else activations.layer_names(model_a)
    if not names:
        raise ValueError("no layers to compare")
    matrix, names_a, names_b = structure.model_cka(
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


def normalised_depth(n_layers: int) -> torch.Tensor:
    """Layer positions as fractions of depth: layer i of L (counting from 0) → (i + 1) / L.

    The last layer sits at 1 for every model, so curves of models with 6 and with 8 blocks share an axis.

    Returns:
        (L,) float64 in (0, 1].
    """
    if n_layers < 1:
        raise ValueError(f"need at least one layer, got {n_layers}")
    return torch.arange(1, n_layers + 1, dtype=torch.float64) / n_layers


def _pool(family: str, num_prefix_tokens: int):
    """reduce(name, activation) → (n, R, D) pooled read-outs: ViT [CLS, mean of all tokens], or [mean of the
    tokens] without CLS; ResNet [global average over the feature map]."""

    def reduce(name: str, activation: torch.Tensor) -> torch.Tensor:
        if family == "resnet" or family == "resnetv2":
            return activation.float().mean(dim=(2, 3))[:, None]
        tokens = activation.float()
        if tokens.ndim != 3:
            raise ValueError(f"layer {name!r} gave shape {tuple(tokens.shape)}, expected (n, tokens, dim)")
        gap = tokens.mean(dim=1)
        if num_prefix_tokens:
            return torch.stack([tokens[:, 0], gap], dim=1)
        return gap[:, None]

    return reduce


def probe_by_depth(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    l2: float = 1e-2,
    *,
    relative: bool = True,
    batch_size: int = 256,
    progress: bool = False,
) -> dict[str, object]:
    """Linear-probe test accuracy at every residual block, on pooled read-outs (Fig 13).

    Each block's output is pooled inside the capture hook: ViTs give the CLS token (when they have one) and
    GAP, the mean over all tokens; ResNets give GAP, the mean over the feature map. A closed-form ridge probe
    (`probes.fit_linear_probe`, ±1 targets, float64) is fitted per block and read-out on the training images
    and scored on the test images.

    Args:
        model: a timm ViT (CLS or GAP), ResNet or ResNetV2 in eval mode.
        train_images, train_labels: (N, C, H, W) and (N,) to fit the probes.
        test_images, test_labels: held-out images and labels.
        l2: ridge penalty (relative to the features' scale when `relative`, see `probes.fit_linear_probe`).
        relative: scale-free penalty.
        batch_size: images per forward pass.
        progress: progress bars.

    Returns:
        {"layers": block names, "depth": (L,) normalised depth, "gap": (L,) float64 accuracies, and
        "cls": (L,) for models with a CLS token}.
    """
    if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise ValueError("images and labels must have the same length")
    family = activations.architecture(model)
    if family == "mixer":
        prefix = 0
    elif family == "vit":
        prefix = int(getattr(model, "num_prefix_tokens", 0))
        if prefix > 1:
            raise ValueError(f"models with {prefix} prefix tokens (registers) are not supported")
    else:
        prefix = 0
    names = activations.layer_names(model, "blocks")
    reduce = _pool(family, prefix)
    settings = {"batch_size": batch_size, "reduce": reduce, "progress": progress}
    train = activations.collect(model, names, train_images, **settings)
    test = activations.collect(model, names, test_images, **settings)
    readouts = ["cls", "gap"] if prefix else ["gap"]
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    curves: dict[str, list[float]] = {r: [] for r in readouts}
    for name in tqdm(names, desc="probes", disable=not progress, leave=False):
        for position, readout in enumerate(readouts):
            probe = probes.fit_linear_probe(
                train[name][:, position], train_labels, l2, num_classes=num_classes, relative=relative
            )
            curves[readout].append(float(probes.probe_accuracy(probe, test[name][:, position], test_labels)))
    result: dict[str, object] = {"layers": names, "depth": normalised_depth(len(names))}
    result.update({r: torch.tensor(v, dtype=torch.float64) for r, v in curves.items()})
    return result


def readout_curve(result: dict[str, object], readout: str = "own") -> tuple[torch.Tensor, str]:
    """One read-out's accuracy curve from a `probe_by_depth` (or `probes.probe_layers`) result.

    Args:
        result: {"cls"?, "gap", ...: (L,) accuracies}.
        readout: "cls", "gap", or "own": the model's own classifier input (CLS when present, else GAP).

    Returns:
        ((L,) float64 accuracies, the read-out used).
    """
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    used = ("cls" if "cls" in result else "gap") if readout == "own" else readout
    if used not in result:
        raise KeyError(
            f"this result has no {used!r} read-out (it has {sorted(k for k in result if k in READOUTS)})"
        )
    return torch.as_tensor(result[used], dtype=torch.float64), used


def local_heads_per_block(
    distances: torch.Tensor, grid_size: int, patch_size: float, fraction: float = 0.6
) -> torch.Tensor:
    """Number of local heads in each block: mean attention distance ≤ `fraction` × uniform attention's.

    Args:
        distances: (blocks, heads) mean attention distances in pixels
            (`attention.dataset_mean_attention_distance`).
        grid_size, patch_size: the model's patch grid.
        fraction: the threshold, as in chapter 6 (`attention.local_head_mask`).

    Returns:
        (blocks,) int64 counts.
    """
    if not bool(torch.isfinite(torch.as_tensor(distances)).all()):
        raise ValueError("distances contain NaN or inf")
    mask = attention.local_head_mask(torch.as_tensor(distances), grid_size, patch_size, fraction, blocks=None)
    return mask.sum(dim=1).to(torch.int64)


# --------------------------------------------------------------------------------------------- paper scale

PAPER_PROBE_MODELS = {
    "ViT-B/32, ImageNet-1k": "vit_base_patch32_224.augreg_in1k",
    "ViT-B/32, ImageNet-21k": "vit_base_patch32_224.augreg_in21k",
}


def paper_scale(
    train: tuple[torch.Tensor, torch.Tensor] | None = None,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    models: dict[str, str] | None = None,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, dict[str, object]]:
    """Chapter 8 at paper scale (Fig 13): linear probes by depth of timm ViTs trained on more or less data.

    Args:
        train, test: (images (N, 3, H, W) in [0, 1], labels); each model resizes and normalises the images
            itself (`structure.paper_scale_model`). Default (online): 50 CIFAR-10 training images per class
            and the first 500 test images.
        models: {"label": timm name} (default `PAPER_PROBE_MODELS`: ViT-B/32 on ImageNet-1k and -21k).
        pretrained: download the public weights (online only); False gives random weights (tests).
        device: default CUDA when available, else the CPU.
        batch_size, progress: as in `probe_by_depth`.

    Returns:
        {label: `probe_by_depth` result}.
    """
    from . import data

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if train is None:
        images, labels = data.cifar10("train")
        pick = data.nested_subset(labels, 0.01, seed=0)  # 500 images, 50 per class
        train = images[pick], labels[pick]
    if test is None:
        images, labels = data.cifar10("test")
        test = images[:500], labels[:500]
    results = {}
    for label, name in (models or PAPER_PROBE_MODELS).items():
        model = structure.paper_scale_model(name, pretrained=pretrained, device=device)
        results[label] = probe_by_depth(model, *train, *test, batch_size=batch_size, progress=progress)
    return results
