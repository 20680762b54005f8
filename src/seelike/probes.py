"""Linear probes: how linearly decodable the class is from a layer's representation, every probe of the
book, in one function (`probe_layers`): by block and read-out, on read-outs pooled inside the capture hooks
(CLS, GAP; affordable at paper scale) or, with `per_token`, on every token stored (each token alone too).

A probe is ridge regression onto ±1 one-hot targets (+1 for the true class, −1 elsewhere), solved in closed
form, as in the paper; the predicted class is the largest output. Probes are fitted per layer on several
read-outs of the tokens: the CLS token, the global average of the tokens (GAP, with and without CLS) and each
spatial token on its own. ResNet feature maps are average-pooled to the final stage's grid, so their
"tokens" are comparable positions at every depth.

The solve is float64. With N examples and D features it uses the primal normal equations (a D×D system)
when D ≤ N and the dual (an N×N system, W = X̃ᵀα) otherwise, so few-shot probes on wide layers stay cheap.
Every function takes leading batch dimensions, so one call fits a probe per token position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import activations, zoo
from .cache import memoize

__all__ = [
    "LinearProbe",
    "pm1_targets",
    "fit_linear_probe",
    "probe_accuracy",
    "layer_features",
    "pooled_features",
    "PAPER_PROBE_MODELS",
    "READOUTS",
    "paper_scale",
    "probe_layers",
    "readout_curve",
]


@dataclass
class LinearProbe:
    """A fitted linear read-out: scores = features @ weight + bias.

    Attributes:
        weight: (..., D, C) float64.
        bias: (..., C) float64.
        l2: the ridge penalty used (per leading index, after any relative scaling), shape (...).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    l2: torch.Tensor

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """(..., N, D) features → (..., N, C) class scores (float64)."""
        _check_features(features)
        if features.shape[-1] != self.weight.shape[-2]:
            raise ValueError(f"probe has {self.weight.shape[-2]} inputs, features have {features.shape[-1]}")
        return features.double() @ self.weight + self.bias.unsqueeze(-2)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """(..., N, D) features → (..., N) predicted class indices."""
        return self.scores(features).argmax(dim=-1)


def _check_features(features: torch.Tensor) -> None:
    if features.ndim < 2:
        raise ValueError(f"features must be (..., N, D), got shape {tuple(features.shape)}")
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or inf")


def pm1_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N,) integer labels → (N, C) float64 targets: +1 at the label, −1 elsewhere."""
    if labels.ndim != 1:
        raise ValueError(f"labels must be (N,), got shape {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return 2.0 * F.one_hot(labels.long(), num_classes).double() - 1.0


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    l2: float,
    *,
    num_classes: int | None = None,
    relative: bool = False,
) -> LinearProbe:
    """Closed-form ridge regression onto ±1 one-hot targets, with an unpenalised bias.

    Minimises ‖X W + 1 bᵀ − Y‖² + λ‖W‖² in float64: features and targets are centred (which fits the bias
    exactly), then W = (X̃ᵀX̃ + λI)⁻¹ X̃ᵀỸ if D ≤ N (primal) or W = X̃ᵀ(X̃X̃ᵀ + λI)⁻¹Ỹ otherwise (dual), via
    Cholesky. Where λ = 0 and the system is singular (always so in the dual, and for constant features with a
    relative penalty) the minimum-norm least-squares solution is returned (W = 0 for constant features).

    Args:
        features: (..., N, D); leading dimensions fit independent probes (e.g. one per token position).
        labels: (N,) integer classes, shared by every leading index.
        l2: the ridge penalty λ ≥ 0.
        num_classes: C; default labels.max() + 1.
        relative: if True, λ = l2 · ‖X̃‖²_F / D (l2 times the mean per-feature sum of squares), which makes
            the penalty independent of the features' scale.

    Returns:
        LinearProbe with weight (..., D, C) and bias (..., C).
    """
    _check_features(features)
    n, d = features.shape[-2:]
    if labels.shape != (n,):
        raise ValueError(
            f"labels must be ({n},) to match features {tuple(features.shape)}, got {tuple(labels.shape)}"
        )
    if n < 2:
        raise ValueError("a probe needs at least 2 examples")
    if not l2 >= 0:
        raise ValueError(f"l2 must be a non-negative number, got {l2}")
    classes = int(labels.max()) + 1 if num_classes is None else num_classes
    targets = pm1_targets(labels, classes)  # (N, C)
    x = features.double()
    x_mean = x.mean(dim=-2, keepdim=True)
    y_mean = targets.mean(dim=0, keepdim=True)
    x_centred, y_centred = x - x_mean, targets - y_mean
    penalty = torch.full(x.shape[:-2], float(l2), dtype=torch.float64)
    if relative:
        penalty = penalty * x_centred.square().sum(dim=(-2, -1)) / d
    eye_scale = penalty[..., None, None]
    if d <= n:  # primal: (D, D) system
        system = x_centred.mT @ x_centred + eye_scale * torch.eye(d, dtype=torch.float64)
        right = x_centred.mT @ y_centred
    else:  # dual: (N, N) system, W = X̃ᵀ α
        system = x_centred @ x_centred.mT + eye_scale * torch.eye(n, dtype=torch.float64)
        right = y_centred.expand(*x.shape[:-2], n, classes)
    factor, info = torch.linalg.cholesky_ex(system)
    # (...): where the penalty is zero and the system is singular; the unpenalised dual always is (rank
    # ≤ N − 1 after centring), even when rounding lets its Cholesky factorisation succeed
    singular = (info != 0) | ((penalty == 0) & (d > n))
    if bool((singular & (penalty > 0)).any()):
        raise ValueError("the ridge system is not positive definite although l2 > 0 (non-finite features?)")
    solution = torch.cholesky_solve(right, factor)
    weight = solution if d <= n else x_centred.mT @ solution
    if bool(singular.any()):  # λ = 0 and singular normal equations: the minimum-norm least-squares solution
        flat_weight = weight.reshape(-1, d, classes).clone()
        flat_x = x_centred.reshape(-1, n, d)
        for index in singular.reshape(-1).nonzero().flatten().tolist():
            flat_weight[index] = torch.linalg.lstsq(flat_x[index], y_centred, driver="gelsd").solution
        weight = flat_weight.reshape(weight.shape)
    bias = (y_mean - x_mean @ weight).squeeze(-2)
    return LinearProbe(weight=weight, bias=bias, l2=penalty)


def probe_accuracy(probe: LinearProbe, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of examples whose largest probe score is their label.

    Args:
        probe: a fitted probe with leading shape (...).
        features: (..., N, D) held-out features.
        labels: (N,) classes.

    Returns:
        (...) float64 accuracies in [0, 1] (a 0-d tensor for a single probe).
    """
    if labels.ndim != 1 or labels.shape[0] != features.shape[-2]:
        raise ValueError(f"labels {tuple(labels.shape)} do not match features {tuple(features.shape)}")
    return (probe.predict(features) == labels).double().mean(dim=-1)


# --------------------------------------------------------------------------------------------- features


def layer_features(
    model: nn.Module, images: torch.Tensor, batch_size: int = 256, progress: bool = False
) -> tuple[list[str], list[torch.Tensor], int]:
    """Every residual block's output as tokens (through `activations.collect`).

    ViT: the output of each `blocks.i`, (N, T, D) with prefix tokens (CLS) first. ResNet: the output of each
    `layerS.U`, average-pooled to the last unit's grid g×g and flattened in raster order, (N, g², C).

    Args:
        model: a timm VisionTransformer or ResNet in eval mode.
        images: (N, C, H, W) as the model takes them.
        batch_size: images per forward pass.
        progress: show a progress bar.

    Returns:
        (layer names, one float32 (N, T, D) tensor per layer, number of prefix tokens).
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got {tuple(images.shape)}")
    family = activations.architecture(model)
    if family not in ("vit", "resnet"):
        raise ValueError(f"probe features support timm ViTs and ResNets, not {family!r} models")
    names = activations.layer_names(model, "blocks")
    reduce = None
    if family == "resnet":  # pool every unit to the final grid (read from one image)
        final = activations.collect(model, names[-1:], images[:1])[names[-1]]
        grid = tuple(final.shape[-2:])

        def reduce(name: str, activation: torch.Tensor) -> torch.Tensor:
            return F.adaptive_avg_pool2d(activation, grid).flatten(2).transpose(1, 2)

    stored = activations.collect(
        model, names, images, batch_size=batch_size, reduce=reduce, progress=progress
    )
    prefix = int(getattr(model, "num_prefix_tokens", 0)) if family == "vit" else 0
    return names, [stored[name].float() for name in names], prefix


def pooled_features(tokens: torch.Tensor, num_prefix_tokens: int) -> dict[str, torch.Tensor]:
    """The read-outs a probe is fitted on.

    Args:
        tokens: (N, T, D), prefix tokens first.
        num_prefix_tokens: 1 for a CLS ViT, 0 for GAP ViTs and ResNets.

    Returns:
        "gap": mean over all T tokens (N, D); "token": the spatial tokens as (P, N, D), one probe each;
        with a CLS token also "cls": (N, D) and "gap_no_cls": mean over the spatial tokens (N, D).
    """
    if tokens.ndim != 3 or tokens.shape[1] <= num_prefix_tokens:
        raise ValueError(f"tokens must be (N, T, D) with T > {num_prefix_tokens}, got {tuple(tokens.shape)}")
    spatial = tokens[:, num_prefix_tokens:]
    result = {"gap": tokens.mean(dim=1), "token": spatial.transpose(0, 1)}
    if num_prefix_tokens:
        result["cls"] = tokens[:, 0]
        result["gap_no_cls"] = spatial.mean(dim=1)
    return result


@memoize(ignore=("progress",))
def probe_layers(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    l2: float = 1e-2,
    *,
    per_token: bool = False,
    relative: bool = True,
    batch_size: int = 256,
    progress: bool = False,
) -> dict[str, object]:
    """Linear-probe test accuracy at every residual block, for every read-out (Figs 11 and 13).

    By default each block's output is pooled inside the capture hook (`pooled_features`: ViTs give the CLS
    token when they have one and GAP, the mean over all tokens; ResNets give GAP, the mean over the feature
    map), so only (N, D) per layer is stored, which keeps paper-scale models affordable. With `per_token`
    every token is stored (`layer_features`) and probed alone as well. The probes are the same either way:
    the pooled read-outs give the same accuracies. Cached (`seelike.cache.memoize`).

    Args:
        model: a timm ViT (CLS or GAP), ResNet or ResNetV2 (not with `per_token`) in eval mode.
        train_images, train_labels: (N, C, H, W) and (N,) to fit the probes.
        test_images, test_labels: held-out images and labels to score them.
        l2: ridge penalty (relative to the features' scale when `relative`, see `fit_linear_probe`).
        per_token: also probe each spatial token alone and the mean over the spatial tokens.
        relative: scale-free penalty.
        batch_size: images per forward pass.
        progress: show progress bars.

    Returns:
        {"layers": block names, "depth": (L,) `activations.block_depth`, "gap": (L,) float64 accuracies,
        "cls": (L,) for models with a CLS token; with `per_token` also "token": (L, P), each spatial token's
        own probe, and with a CLS token "gap_no_cls": (L,)}.
    """
    if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise ValueError("images and labels must have the same length")
    if per_token:
        names, train_tokens, prefix = layer_features(model, train_images, batch_size, progress)
        _, test_tokens, _ = layer_features(model, test_images, batch_size, progress)
        train = [pooled_features(layer, prefix) for layer in train_tokens]
        test = [pooled_features(layer, prefix) for layer in test_tokens]
    else:
        names, train, test = _pooled_readouts(model, train_images, test_images, batch_size, progress)
    curves = _probe_curves(train, test, train_labels, test_labels, l2, relative, progress)
    return {"layers": names, "depth": activations.block_depth(len(names)), **curves}


def _probe_curves(
    train: list[dict[str, torch.Tensor]],
    test: list[dict[str, torch.Tensor]],
    train_labels: torch.Tensor,
    test_labels: torch.Tensor,
    l2: float,
    relative: bool,
    progress: bool,
) -> dict[str, torch.Tensor]:
    """Fit a probe per layer and read-out on `train` and score it on `test`: read-out → (L, ...) float64."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    curves: dict[str, list[torch.Tensor]] = {}
    for train_readouts, test_readouts in tqdm(
        list(zip(train, test, strict=True)), desc="probes", disable=not progress, leave=False
    ):
        for kind, train_x in train_readouts.items():
            probe = fit_linear_probe(train_x, train_labels, l2, num_classes=num_classes, relative=relative)
            curves.setdefault(kind, []).append(probe_accuracy(probe, test_readouts[kind], test_labels))
    return {kind: torch.stack(values) for kind, values in curves.items()}


# --------------------------------------------------------------------------------------------- read-outs

READOUTS = ("own", "cls", "gap")


def _pool(family: str, num_prefix_tokens: int):
    """reduce(name, activation) → (n, R, D) pooled read-outs: ViT [CLS, mean of all tokens], or [mean of the
    tokens] without CLS; ResNet [global average over the feature map]."""

    def reduce(name: str, activation: torch.Tensor) -> torch.Tensor:
        if family == "resnet" or family == "resnetv2":
            return activation.float().mean(dim=(2, 3))[:, None]
        tokens = activation.float()
        if tokens.ndim != 3:
            raise ValueError(f"layer {name!r} gave shape {tuple(tokens.shape)}, expected (n, tokens, dim)")
        readouts = pooled_features(tokens, num_prefix_tokens)
        if num_prefix_tokens:
            return torch.stack([readouts["cls"], readouts["gap"]], dim=1)
        return readouts["gap"][:, None]

    return reduce


def _pooled_readouts(
    model: nn.Module, train_images: torch.Tensor, test_images: torch.Tensor, batch_size: int, progress: bool
) -> tuple[list[str], list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]]:
    """Block names and, per block, the read-outs {"cls"?, "gap": (N, D)} of both image sets, pooled in the
    capture hooks (`_pool`)."""
    family = activations.architecture(model)
    prefix = 0
    if family == "vit":
        prefix = int(getattr(model, "num_prefix_tokens", 0))
        if prefix > 1:
            raise ValueError(f"models with {prefix} prefix tokens (registers) are not supported")
    names = activations.layer_names(model, "blocks")
    settings = {"batch_size": batch_size, "reduce": _pool(family, prefix), "progress": progress}
    readouts = ["cls", "gap"] if prefix else ["gap"]

    def split(images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        stored = activations.collect(model, names, images, **settings)
        return [{r: stored[name][:, position] for position, r in enumerate(readouts)} for name in names]

    return names, split(train_images), split(test_images)


def readout_curve(result: dict[str, object], readout: str = "own") -> tuple[torch.Tensor, str]:
    """One read-out's accuracy curve from a `probe_layers` result.

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
            itself (`zoo.paper_scale_model`). Default (online): 50 CIFAR-10 training images per class
            and the first 500 test images.
        models: {"label": timm name} (default `PAPER_PROBE_MODELS`: ViT-B/32 on ImageNet-1k and -21k).
        pretrained: download the public weights (online only); False gives random weights (tests).
        device: default CUDA when available, else the CPU.
        batch_size, progress: as in `probe_layers`.

    Returns:
        {label: `probe_layers` result}.
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
        model = zoo.paper_scale_model(name, pretrained=pretrained, device=device)
        results[label] = probe_layers(model, *train, *test, batch_size=batch_size, progress=progress)
    return results
