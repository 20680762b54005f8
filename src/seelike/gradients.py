"""Why skip connections help: gradient norms per layer in deep plain vs residual networks, and a tiny trainer
(the residual-stream view of a trained ResNet, ‖skip‖ vs ‖f(x)‖ per block, is `skips.resnet_branch_norms`).

The toy networks here are stacks of equal-width fully connected layers on flattened 28×28 images, so a
56-layer network trains for a few hundred steps in seconds on a CPU. Layer l computes

    f_l(x) = W_l · relu(norm_l(x))            (pre-activation order, as in ResNet v2)

and the network either chains these (plain: x_{l+1} = f_l(x_l)) or adds them to a running stream
(residual: x_{l+1} = x_l + f_l(x_l)). Nothing else differs, so any difference in how the two train comes
from the skip connections alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "ARCHITECTURES",
    "torch_threads",
    "DeepMLP",
    "compare_gradient_norms",
    "gradient_norm_ratio",
    "layer_gradient_norms",
    "train_deep_net",
    "training_runs",
]

ARCHITECTURES = ("plain", "residual")
NORMALIZATIONS = ("batch", "none")


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch threads (None: leave the setting alone), restoring it afterwards.

    The toy networks multiply matrices of a few thousand entries: splitting them over threads costs more
    than it saves, and on a busy machine it can make them ten times slower.
    """
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class DeepMLP(nn.Module):
    """`depth` equal-width fully connected layers on flattened images, with or without skip connections.

    Args:
        depth: number of hidden layers (the layers whose gradients are measured), >= 1.
        residual: add each layer's output to the stream (x + f(x)) instead of replacing it (f(x)).
        width: features per hidden layer.
        normalization: "batch" (BatchNorm before each ReLU, as in ResNets) or "none".
        in_features: input size after flattening (784 for 28×28 grey images).
        num_classes: output size.
        seed: initialisation seed (PyTorch's default initialisation, drawn from this seed).
    """

    def __init__(
        self,
        depth: int,
        residual: bool,
        width: int = 64,
        normalization: str = "batch",
        in_features: int = 784,
        num_classes: int = 10,
        seed: int = 0,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.residual = residual
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            self.stem = nn.Linear(in_features, width)
            self.norms = nn.ModuleList(
                nn.BatchNorm1d(width) if normalization == "batch" else nn.Identity() for _ in range(depth)
            )
            self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
            self.head = nn.Linear(width, num_classes)
        finally:
            torch.random.set_rng_state(generator_state)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) for images (B, ...) flattened to (B, in_features)."""
        stream = self.stem(images.flatten(1))
        for norm, layer in zip(self.norms, self.layers, strict=True):
            branch = layer(F.relu(norm(stream)))
            stream = stream + branch if self.residual else branch
        return self.head(F.relu(stream))


def layer_gradient_norms(model: DeepMLP, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Frobenius norm of ∂loss/∂W_l for every hidden layer, on one batch (cross-entropy, batch mean).

    The model is left in the mode it was in (train mode uses batch statistics, as during training); its
    parameter gradients are cleared afterwards.

    Args:
        model: a `DeepMLP`.
        images: (B, 1, 28, 28) or (B, 784), converted to the model's dtype.
        labels: (B,) int64.

    Returns:
        (depth,) float64 gradient norms, first hidden layer first.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    dtype = model.stem.weight.dtype
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(images.to(dtype)), labels)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()}: the network's outputs overflowed")
    weights = [layer.weight for layer in model.layers]
    gradients = torch.autograd.grad(loss, weights)
    return np.array([g.double().norm().item() for g in gradients])


def gradient_norm_ratio(norms: np.ndarray) -> float:
    """How much larger the gradient is at the first hidden layer than at the last: norms[0] / norms[-1].

    1 means the gradient reaches the first layer at the strength it has at the top; far above 1 it
    explodes on its way down, far below 1 it vanishes.
    """
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim != 1 or len(norms) < 1:
        raise ValueError(f"norms must be a non-empty 1-D array, got shape {norms.shape}")
    if not np.isfinite(norms).all():
        raise ValueError("norms contain NaN or inf")
    if norms[-1] == 0:
        raise ValueError("the last layer's gradient is exactly zero: the ratio is undefined")
    return float(norms[0] / norms[-1])


def _flat_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, steps: int, seed: int):
    """`steps` random minibatches (sampled with a seeded generator; reproducible)."""
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(0, len(images), (batch_size,), generator=generator)
        yield images[index], labels[index]


def train_deep_net(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    *,
    lr: float = 0.05,
    momentum: float = 0.9,
    batch_size: int = 128,
    seed: int = 0,
    record_every: int = 1,
    progress: bool = False,
    threads: int | None = 1,
) -> dict[str, list[float]]:
    """Train `model` in place with SGD + momentum on random minibatches: the book's tiny trainer.

    Args:
        model: any classifier taking `images` rows (e.g. a `DeepMLP`); trained in train mode.
        images: (N, ...) training images; labels: (N,) int64.
        steps: optimisation steps (>= 0).
        lr, momentum: SGD settings (the same for every layer and architecture).
        batch_size: examples per step; seed: minibatch sampling seed.
        record_every: record the training loss every this many steps.
        progress: show a tqdm bar.
        threads: torch threads while training (None: unchanged); see `torch_threads`.

    Returns:
        {"step": [...], "loss": [...]}: the minibatch loss after each recorded step (the loss of the batch
        the step was computed on). A diverged run (non-finite loss) stops early; its last loss is inf.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    dtype = next(model.parameters()).dtype
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    history: dict[str, list[float]] = {"step": [], "loss": []}
    batches = _flat_batches(images, labels, batch_size, steps, seed)
    with torch_threads(threads):
        for step, (batch_images, batch_labels) in enumerate(
            tqdm(batches, total=steps, disable=not progress), 1
        ):
            loss = F.cross_entropy(model(batch_images.to(dtype)), batch_labels)
            if not torch.isfinite(loss):
                history["step"].append(step)
                history["loss"].append(math.inf)
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % record_every == 0 or step == steps:
                history["step"].append(step)
                history["loss"].append(loss.item())
    return history


def compare_gradient_norms(
    images: torch.Tensor,
    labels: torch.Tensor,
    depth: int,
    steps: int = 20,
    *,
    width: int = 64,
    normalization: str = "batch",
    lr: float = 0.05,
    batch_size: int = 128,
    seed: int = 0,
    threads: int | None = 1,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-layer gradient norms of a plain and a residual `DeepMLP` (same initial weights), at
    initialisation and after `steps` SGD steps. Computed in float64 so tiny gradients do not underflow.

    Args:
        images: (N, 1, 28, 28) training images; the first `batch_size` form the fixed measuring batch.
        labels: (N,) int64.
        depth: hidden layers; steps: SGD steps before the second measurement.
        width, normalization: see `DeepMLP`; lr, batch_size, seed, threads: see `train_deep_net`.

    Returns:
        {"plain": {"init": (depth,), "trained": (depth,)}, "residual": {...}}, float64 arrays.

    Raises:
        FloatingPointError: when a network diverges during the `steps` (its gradients are then undefined).
    """
    measure_images, measure_labels = images[:batch_size], labels[:batch_size]
    result: dict[str, dict[str, np.ndarray]] = {}
    with torch_threads(threads):
        for architecture in ARCHITECTURES:
            model = DeepMLP(depth, architecture == "residual", width, normalization, seed=seed).double()
            model.train()
            init = layer_gradient_norms(model, measure_images, measure_labels)
            history = train_deep_net(
                model, images, labels, steps, lr=lr, batch_size=batch_size, seed=seed, threads=None
            )
            if history["loss"] and not math.isfinite(history["loss"][-1]):
                raise FloatingPointError(
                    f"the {architecture} network (depth {depth}) diverged at step {history['step'][-1]}; "
                    "lower the learning rate"
                )
            trained = layer_gradient_norms(model, measure_images, measure_labels)
            result[architecture] = {"init": init, "trained": trained}
    return result


def training_runs(
    images: torch.Tensor,
    labels: torch.Tensor,
    depth: int,
    steps: int = 200,
    *,
    width: int = 64,
    normalization: str = "batch",
    lr: float = 0.05,
    batch_size: int = 128,
    seed: int = 0,
    record_every: int = 5,
    progress: bool = False,
    threads: int | None = 1,
) -> dict[str, dict[str, list[float]]]:
    """Train a plain and a residual `DeepMLP` side by side (float32, same seed, same batches).

    Arguments as for `compare_gradient_norms` and `train_deep_net`.

    Returns:
        {"plain": {"step": [...], "loss": [...]}, "residual": {...}} as from `train_deep_net`.
    """
    runs = {}
    for architecture in ARCHITECTURES:
        model = DeepMLP(depth, architecture == "residual", width, normalization, seed=seed)
        runs[architecture] = train_deep_net(
            model, images, labels, steps, lr=lr, batch_size=batch_size, seed=seed,
            record_every=record_every, progress=progress, threads=threads,
        )  # fmt: skip
    return runs
