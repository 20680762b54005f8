"""How much each residual branch changes the stream it is added to: the skip-connection norm ratio.

A residual sublayer computes z + f(z): z is the residual stream entering it (the skip path) and f(z) its
branch (attention or MLP in a ViT block, the two convolutions of a ResNet block). The ratio ‖z‖ / ‖f(z)‖
says how much the skip dominates: a large ratio means the sublayer barely changes the representation that
passes through it. The cosine similarity between z and f(z) says whether the branch adds along the stream or
across it. Everything is read with forward hooks (timm is not edited) and reduced inside the hooks, so no
activation is stored.

A branch whose output is exactly zero gives an infinite ratio (and an undefined cosine, NaN): both are
reported as they are, never clamped, so a dead branch is visible rather than hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .activations import Layer, capture

__all__ = ["SkipNormStats", "resnet_branch_norms", "residual_blocks", "skip_norm_ratio"]


@dataclass
class SkipNormStats:
    """Skip-path and branch norms of every residual sublayer of a model, averaged over images.

    Attributes:
        block_names: the residual blocks, in depth order (`blocks.3`, `layer2.1`), L of them.
        sublayers: the residual sublayers per block: ("attention", "mlp") for a ViT, ("block",) for a ResNet.
        stream_norm: (L, S, T) float64, mean over images of ‖z‖ (z: the stream entering the sublayer). For a
            ViT, T is the number of tokens (prefix tokens such as CLS first) and the norm is over channels;
            for a ResNet T = 1 and the norm is over channels at each position, averaged over positions.
        branch_norm: (L, S, T) float64, the same for the branch output f(z).
        cosine: (L, S, T) float64, mean over images (and positions) of cos(z, f(z)); NaN where f(z) = 0.
        num_prefix_tokens: how many of the T tokens are prefix tokens (CLS); 0 for ResNets and GAP ViTs.
        has_skip: (L,) bool; False for blocks whose skip connection was removed (z is then the input the
            branch reads, and nothing is added back).
        num_images: how many images the averages are over.
        image_stream_norm, image_branch_norm: (N, L, S, T) float64 per-image ‖z‖ and ‖f(z)‖ (what the
            means above average), for `median_ratios`.
    """

    block_names: list[str]
    sublayers: tuple[str, ...]
    stream_norm: torch.Tensor
    branch_norm: torch.Tensor
    cosine: torch.Tensor
    num_prefix_tokens: int
    has_skip: torch.Tensor
    num_images: int
    image_stream_norm: torch.Tensor | None = None
    image_branch_norm: torch.Tensor | None = None

    @property
    def ratio(self) -> torch.Tensor:
        """(L, S, T) ‖z‖ / ‖f(z)‖ per block, sublayer and token (mean norms over images); inf where the
        branch is zero."""
        return self.stream_norm / self.branch_norm

    def averages(self) -> dict[str, torch.Tensor]:
        """Per-block ratios, each an (L,) float64 tensor, as the ratio of the mean norms over tokens.

        Returns:
            ViT: {"attention", "mlp"} over the spatial tokens, plus {"attention-cls", "mlp-cls"} when the
            model has a CLS token. ResNet: {"block"}.
        """
        result = {}
        prefix = self.num_prefix_tokens
        spatial = slice(prefix, None)
        for index, sublayer in enumerate(self.sublayers):
            stream = self.stream_norm[:, index, spatial].mean(dim=-1)
            branch = self.branch_norm[:, index, spatial].mean(dim=-1)
            result[sublayer] = stream / branch
        if prefix:
            for index, sublayer in enumerate(self.sublayers):
                result[f"{sublayer}-cls"] = self.stream_norm[:, index, 0] / self.branch_norm[:, index, 0]
        return result

    def median_ratios(self) -> dict[str, torch.Tensor]:
        """Per-block ratios, each (L,) float64, as the median over images of each image's ratio
        (‖z‖ / ‖f(z)‖ with both norms averaged over the image's spatial tokens, or its CLS token alone):
        the summary claims.md fixes for Fig 7. Keys as in `averages()`."""
        if self.image_stream_norm is None or self.image_branch_norm is None:
            raise ValueError("no per-image norms: measure with skips.skip_norm_ratio")
        stream, branch, prefix = self.image_stream_norm, self.image_branch_norm, self.num_prefix_tokens
        result = {}
        for index, sublayer in enumerate(self.sublayers):
            ratio = stream[:, :, index, prefix:].mean(-1) / branch[:, :, index, prefix:].mean(-1)  # (N, L)
            result[sublayer] = ratio.median(dim=0).values
            if prefix:
                cls = stream[:, :, index, 0] / branch[:, :, index, 0]
                result[f"{sublayer}-cls"] = cls.median(dim=0).values
        return {
            key: result[key] for key in [*self.sublayers, *(f"{s}-cls" for s in self.sublayers if prefix)]
        }

    def cosines(self) -> dict[str, torch.Tensor]:
        """Per-block mean cos(z, f(z)), each (L,) float64, with the keys of `averages()`: the mean over the
        spatial tokens per sublayer, and the CLS token's own ("...-cls") when there is one. NaN where a
        branch is zero."""
        prefix = self.num_prefix_tokens
        result = {
            name: self.cosine[:, index, prefix:].mean(dim=-1) for index, name in enumerate(self.sublayers)
        }
        if prefix:
            result.update(
                {f"{name}-cls": self.cosine[:, index, 0] for index, name in enumerate(self.sublayers)}
            )
        return result


def _is_vit_block(module: nn.Module) -> bool:
    parts = ("norm1", "attn", "norm2", "mlp", "drop_path1", "drop_path2")
    return all(hasattr(module, name) for name in parts)


def _is_resnet_block(module: nn.Module) -> bool:
    return (
        hasattr(module, "conv1")
        and hasattr(module, "downsample")
        and hasattr(module, "act2")
        and (hasattr(module, "bn2"))
    )


def residual_blocks(model: nn.Module) -> tuple[str, list[tuple[str, nn.Module]]]:
    """The model's residual blocks in depth order.

    Returns:
        (family, [(name, block)]): family "vit" (timm VisionTransformer-style blocks with
        norm1/attn/norm2/mlp) or "resnet" (timm ResNet BasicBlock / Bottleneck).
    """
    vit_blocks = [(n, m) for n, m in model.named_modules() if _is_vit_block(m)]
    if vit_blocks:
        return "vit", vit_blocks
    resnet_blocks = [(n, m) for n, m in model.named_modules() if _is_resnet_block(m)]
    if resnet_blocks:
        return "resnet", resnet_blocks
    raise ValueError(
        f"{type(model).__name__} has no residual blocks this measure knows (timm ViT blocks with "
        "norm1/attn/norm2/mlp, or timm ResNet BasicBlock/Bottleneck)"
    )


def _has_skip(block: nn.Module) -> bool:
    """False for the zoo's skip-ablated blocks (classes built from a `NoSkip...` / `Plain...` mixin)."""
    return not any(cls.__name__.startswith(("NoSkip", "Plain")) for cls in type(block).__mro__)


def _branch_end(block: nn.Module) -> str:
    """The attribute of a ResNet block's last branch module (its output is f(z), just before the addition)."""
    for name in ("drop_path", "se"):
        if getattr(block, name, None) is not None:
            return name
    return "bn3" if hasattr(block, "bn3") else "bn2"


class _Accumulator:
    """Sums of ‖z‖, ‖f(z)‖ and cos(z, f(z)) for one sublayer, in float64, fed batch by batch."""

    def __init__(self, tokens_last: bool):
        self.tokens_last = tokens_last  # ViT (B, T, D): norm over D; ResNet (B, C, H, W): norm over C
        self.stream: torch.Tensor | None = None
        self.pending: torch.Tensor | None = None
        self.raw_input: torch.Tensor | None = None
        self.sums: list[torch.Tensor] | None = None
        self.per_image: list[tuple[torch.Tensor, torch.Tensor]] = []  # (B, T) norms of z and f(z) per batch

    def _reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.tokens_last:
            return tensor.double()  # (B, T, D)
        return tensor.double().flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, HW, C)

    def set_stream(self, z: torch.Tensor) -> None:
        self.raw_input = z
        self.pending = self._reduce(z)

    def add_branch(self, f: torch.Tensor) -> None:
        if self.pending is None:
            raise RuntimeError("branch output seen before its stream input; unexpected block structure")
        z, f = self.pending, self._reduce(f)
        self.pending = self.raw_input = None
        if z.shape != f.shape:
            raise RuntimeError(f"stream {tuple(z.shape)} and branch {tuple(f.shape)} shapes differ")
        z_norm, f_norm = z.norm(dim=-1), f.norm(dim=-1)  # (B, T)
        cosine = (z * f).sum(dim=-1) / (z_norm * f_norm)  # NaN where a norm is zero: undefined, reported
        if not self.tokens_last:  # ResNet: average over positions, one "token"
            z_norm, f_norm, cosine = (t.mean(dim=1, keepdim=True) for t in (z_norm, f_norm, cosine))
        batch = [z_norm.sum(0), f_norm.sum(0), cosine.sum(0)]
        self.per_image.append((z_norm.cpu(), f_norm.cpu()))
        self.sums = batch if self.sums is None else [a + b for a, b in zip(self.sums, batch, strict=True)]


def skip_norm_ratio(
    model: nn.Module, images: torch.Tensor, batch_size: int = 256, progress: bool = False
) -> SkipNormStats:
    """‖z‖ / ‖f(z)‖ and cos(z, f(z)) for every residual sublayer, per token (ViT) or per block (ResNet).

    For a timm ViT block x → x + attn(norm1 x) → (·) + mlp(norm2 ·), the attention sublayer has z = the block
    input and f(z) = the attention branch output; the MLP sublayer has z = the stream after the attention
    addition and f(z) = the MLP branch output. For a timm ResNet block, z is the shortcut (after its
    downsample, if any) and f(z) the convolution branch before the addition. The model runs through
    `activations.capture`; every tensor is reduced inside its hook.

    Args:
        model: a timm VisionTransformer (CLS or GAP) or ResNet, in eval mode, on any device.
        images: (N, C, H, W) images as the model takes them, N ≥ 1 (moved to the model's device per batch).
        batch_size: images per forward pass.
        progress: show a progress bar.

    Returns:
        SkipNormStats; `.ratio` is (L, S, T), `.averages()` gives per-block curves. A branch that outputs
        zero gives ratio inf and cosine NaN, reported as such.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got shape {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf")
    family, blocks = residual_blocks(model)
    sublayers = ("attention", "mlp") if family == "vit" else ("block",)
    accumulators = [[_Accumulator(tokens_last=family == "vit") for _ in sublayers] for _ in blocks]
    layers: list[Layer] = []
    handlers: dict[str, Callable[[torch.Tensor], None]] = {}

    def hook(layer: Layer, handler: Callable[[torch.Tensor], None]) -> None:
        layers.append(layer)
        handlers[layer.name] = handler

    def resnet_branch(acc: _Accumulator, block: nn.Module) -> Callable[[torch.Tensor], None]:
        def handle(output: torch.Tensor) -> None:
            if block.downsample is not None:  # the shortcut timm adds: the block input, downsampled
                acc.set_stream(block.downsample(acc.raw_input))
            acc.add_branch(output)  # reduced now, before timm's in-place `x += shortcut`

        return handle

    for (name, block), accs in zip(blocks, accumulators, strict=True):
        if family == "vit":
            attention, mlp = accs
            hook(Layer(f"{name}.attention.stream", f"{name}.norm1", "input"), attention.set_stream)
            hook(Layer(f"{name}.attention.branch", f"{name}.drop_path1"), attention.add_branch)
            hook(Layer(f"{name}.mlp.stream", f"{name}.norm2", "input"), mlp.set_stream)
            hook(Layer(f"{name}.mlp.branch", f"{name}.drop_path2"), mlp.add_branch)
        else:
            (acc,) = accs
            hook(Layer(f"{name}.stream", name, "input"), acc.set_stream)
            branch = f"{name}.{_branch_end(block)}"
            hook(Layer(f"{name}.branch", branch), resnet_branch(acc, block))
    capture(
        model, layers, images, lambda name, tensor: handlers[name](tensor),
        batch_size=batch_size, progress=progress, desc="skip norms",
    )  # fmt: skip
    num_tokens = {acc.sums[0].shape[0] for accs in accumulators for acc in accs if acc.sums is not None}
    if any(acc.sums is None for accs in accumulators for acc in accs):
        raise RuntimeError("some residual sublayers never ran; is the model a standard timm ViT/ResNet?")
    if len(num_tokens) != 1:
        raise RuntimeError(f"token counts differ between blocks: {sorted(num_tokens)}")
    stacked = [
        torch.stack([torch.stack([acc.sums[k] for acc in accs]) for accs in accumulators]).cpu() / len(images)
        for k in range(3)
    ]
    return SkipNormStats(
        block_names=[name for name, _ in blocks],
        sublayers=sublayers,
        stream_norm=stacked[0],
        branch_norm=stacked[1],
        cosine=stacked[2],
        num_prefix_tokens=int(getattr(model, "num_prefix_tokens", 0)) if family == "vit" else 0,
        has_skip=torch.tensor([_has_skip(block) for _, block in blocks]),
        num_images=len(images),
        image_stream_norm=_per_image(accumulators, 0),
        image_branch_norm=_per_image(accumulators, 1),
    )


def _per_image(accumulators: list[list[_Accumulator]], which: int) -> torch.Tensor:
    """(N, L, S, T) per-image norms (which = 0: the stream z, 1: the branch f(z))."""
    return torch.stack(
        [
            torch.stack([torch.cat([pair[which] for pair in acc.per_image]) for acc in accs], 1)
            for accs in accumulators
        ],
        1,
    )


def resnet_branch_norms(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> dict[str, Any]:
    """Inside every residual block out = relu(skip + f(x)): the sizes of the two summands (`skip_norm_ratio`).

    `skip` is what the shortcut adds (x itself, or its 1×1 projection in a block that changes shape) and
    f(x) the block's convolutional branch. Both are measured as the L2 norm of the channel vector at each
    spatial position, averaged over positions and images (float64 accumulation).

    Args:
        model: a timm ResNet with BasicBlock or Bottleneck blocks (e.g. the zoo `resnet`), in eval mode.
        images: (N, C, H, W) as the model expects.
        batch_size: images per forward pass.

    Returns:
        {"blocks": [names], "skip": (L,) float64, "branch": (L,) float64, "ratio": (L,) skip / branch, inf
        where the branch is exactly zero (timm initialises the last BatchNorm of each branch to zero, so an
        untrained timm ResNet's blocks are identities)}, numpy arrays.
    """
    family, blocks = residual_blocks(model)
    if family != "resnet":
        raise ValueError(f"{type(model).__name__} has no timm ResNet blocks")
    for name, block in blocks:
        if not _has_skip(block):
            raise ValueError(f"block {name} has no skip connection (a plain network): nothing to compare")
    stats = skip_norm_ratio(model, images, batch_size)
    skip = stats.stream_norm[:, 0, 0].numpy()
    branch = stats.branch_norm[:, 0, 0].numpy()
    ratio = np.full_like(skip, np.inf)  # a zero branch (e.g. timm's zero-initialised last BN) adds nothing
    np.divide(skip, branch, out=ratio, where=branch > 0)
    return {"blocks": stats.block_names, "skip": skip, "branch": branch, "ratio": ratio}
