"""Does a final-layer token still know where in the image it came from? Token ↔ input-patch CKA maps.

For a model whose last representation is a grid of positions (ViT tokens, a ResNet stage's feature map), cut
the input image into the same grid of non-overlapping patches. Across N images, compare the representation
at position i with the raw pixels of the input patch at position j by CKA: a (P, P) map whose row i shows
which parts of the image token i resembles. A model that keeps spatial information peaks on the diagonal.

All P × P pairs come from one `seelike.cka.MinibatchCKA` with the P token positions as its "layers" on one
side and the P input patches on the other: each position's Gram matrix is computed once per minibatch and
all pairs in one matmul; unbiased HSIC is summed over minibatches and normalised once.
"""

from __future__ import annotations

import torch
from torch import nn

from .activations import collect
from .cache import memoize
from .cka import MinibatchCKA
from .patches import patchify

__all__ = [
    "paper_scale",
    "input_patches",
    "localization",
    "own_position_fraction",
    "resnet_stage_positions",
    "spatial_tokens",
    "token_patch_cka",
    "vit_block_tokens",
]


def token_patch_cka(
    tokens: torch.Tensor, patches: torch.Tensor, batch_size: int | None = 256
) -> torch.Tensor:
    """CKA across images between the representation at each position and the input patch at each position.

    Args:
        tokens: (N, P, D) representation at each of P positions for N images.
        patches: (N, P, d) the input's patch at each position, pixels flattened (see `input_patches`).
        batch_size: images per minibatch (the N images are split into near-equal minibatches of at most this
            size, each ≥ 4); None for one batch of all N.

    Returns:
        (P, P) float64: entry (i, j) = linear CKA (unbiased HSIC) between token i and input patch j. A patch
        that is constant over all images has no variance to compare with: its column is NaN.
    """
    if tokens.ndim != 3 or patches.ndim != 3:
        raise ValueError(
            f"tokens and patches must be (N, P, D), got {tuple(tokens.shape)} and {tuple(patches.shape)}"
        )
    if tokens.shape[:2] != patches.shape[:2]:
        raise ValueError(
            f"tokens {tuple(tokens.shape)} and patches {tuple(patches.shape)} differ in images or positions"
        )
    n, positions = tokens.shape[:2]
    if n < 4:
        raise ValueError(f"CKA with unbiased HSIC needs at least 4 images, got {n}")
    for name, tensor in (("tokens", tokens), ("patches", patches)):
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} contain NaN or inf")
    chunks = 1 if batch_size is None else -(-n // batch_size)
    if n // chunks < 4:
        raise ValueError(f"minibatches of {n // chunks} images are too small for unbiased HSIC (need 4)")
    estimator = MinibatchCKA(
        positions,
        positions,
        names_x=[f"token {i}" for i in range(positions)],
        names_y=[f"input patch {j}" for j in range(positions)],
    )
    for index in torch.tensor_split(torch.arange(n), chunks):
        estimator.update(list(tokens[index].unbind(1)), list(patches[index].unbind(1)))
    return estimator.compute().double()


def own_position_fraction(cka_map: torch.Tensor, exclude_border: bool = False) -> float:
    """Fraction of token positions whose CKA map peaks at their own input patch (row i's maximum at j = i).

    Args:
        cka_map: (P, P) token × patch CKA.
        exclude_border: count only interior positions (not on the edge of the √P × √P grid); the peak is
            still searched over every patch.

    Returns:
        the fraction in [0, 1]. NaN entries (constant patches) are ignored; a row without any finite entry
        counts as not peaking.
    """
    if cka_map.ndim != 2 or cka_map.shape[0] != cka_map.shape[1]:
        raise ValueError(f"a localization map must be square (P, P), got {tuple(cka_map.shape)}")
    values = torch.where(torch.isnan(cka_map), torch.tensor(-torch.inf, dtype=cka_map.dtype), cka_map)
    finite_rows = torch.isfinite(values).any(dim=1)
    peaks = (values.argmax(dim=1) == torch.arange(len(values))) & finite_rows
    if exclude_border:
        grid = round(len(values) ** 0.5)
        if grid * grid != len(values) or grid < 3:
            raise ValueError(
                f"exclude_border needs a square grid of at least 3×3 positions, got P = {len(values)}"
            )
        rows, cols = torch.arange(len(values)) // grid, torch.arange(len(values)) % grid
        interior = (rows > 0) & (rows < grid - 1) & (cols > 0) & (cols < grid - 1)
        peaks = peaks[interior]
    return float(peaks.double().mean())


def input_patches(images: torch.Tensor, grid_size: int) -> torch.Tensor:
    """Cut images into a grid_size × grid_size grid of non-overlapping patches, raster order.

    Args:
        images: (N, C, H, W), H and W divisible by grid_size.
        grid_size: g.

    Returns:
        (N, g², C·(H/g)·(W/g)) float32.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height != width or height % grid_size:
        raise ValueError(f"a {grid_size}×{grid_size} grid does not tile {height}×{width} images exactly")
    return patchify(images.float(), height // grid_size)


def _module_outputs(
    model: nn.Module, layer: str, images: torch.Tensor, batch_size: int, progress: bool
) -> torch.Tensor:
    """The output of `layer` (a module path) for every image, float32 (through `activations.collect`)."""
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, C, H, W) batch, got {tuple(images.shape)}")
    return collect(model, [layer], images, batch_size=batch_size, progress=progress)[layer].float()


def vit_block_tokens(
    model: nn.Module, images: torch.Tensor, block: int = -1, batch_size: int = 256, progress: bool = False
) -> tuple[torch.Tensor, int]:
    """The spatial tokens at a ViT block's output (prefix tokens such as CLS removed).

    Args:
        model: a timm VisionTransformer (CLS or GAP) in eval mode.
        images: (N, C, H, W) as the model takes them.
        block: which block (default the final one).

    Returns:
        ((N, g², D) tokens in raster order, grid size g).
    """
    if not hasattr(model, "blocks") or not hasattr(model, "patch_embed"):
        raise ValueError(f"{type(model).__name__} is not a timm VisionTransformer")
    index = range(len(model.blocks))[block]
    tokens = _module_outputs(model, f"blocks.{index}", images, batch_size, progress)
    prefix = int(getattr(model, "num_prefix_tokens", 0))
    grid = tuple(model.patch_embed.grid_size)
    if grid[0] != grid[1] or tokens.shape[1] - prefix != grid[0] * grid[1]:
        raise ValueError(
            f"expected {prefix} prefix tokens and a square grid, got {grid} and {tokens.shape[1]}"
        )
    return tokens[:, prefix:], grid[0]


def resnet_stage_positions(
    model: nn.Module,
    images: torch.Tensor,
    layer: str = "layer4",
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[torch.Tensor, int]:
    """A ResNet feature map as tokens: all channels at each spatial position.

    Args:
        model: a timm ResNet in eval mode.
        images: (N, C, H, W).
        layer: a module name, e.g. "layer4" (the final stage) or "layer3.1".

    Returns:
        ((N, g², C) positions in raster order, grid size g).
    """
    if layer not in dict(model.named_modules()):
        raise ValueError(f"{type(model).__name__} has no module {layer!r}")
    features = _module_outputs(model, layer, images, batch_size, progress)
    if features.ndim != 4 or features.shape[-1] != features.shape[-2]:
        raise ValueError(f"{layer!r} does not output a square (N, C, g, g) map, got {tuple(features.shape)}")
    return features.flatten(2).transpose(1, 2), features.shape[-1]


def spatial_tokens(
    model: nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[torch.Tensor, int]:
    """Final-block ViT tokens, or a ResNet stage's positions (default "layer4"); see the functions above."""
    if hasattr(model, "blocks") and hasattr(model, "patch_embed"):
        block = -1 if layer is None else int(layer.split(".")[1])
        return vit_block_tokens(model, images, block, batch_size, progress)
    return resnet_stage_positions(model, images, layer or "layer4", batch_size, progress)


@memoize(ignore=("progress",))
def localization(
    model: nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> dict[str, object]:
    """Token ↔ input-patch CKA map of a model's final block (or `layer`), with its own-position fraction
    (cached, `seelike.cache.memoize`).

    Args:
        model: a timm ViT (final block, or `layer` = "blocks.i") or ResNet (`layer`, default "layer4").
        images: (N, C, H, W) images in the model's input range, N ≥ 4.
        batch_size: images per forward pass and per CKA minibatch.
        progress: show progress bars.

    Returns:
        {"map": (P, P) float64 CKA, "grid": g, "own_fraction": float, "own_fraction_interior": float
        (positions off the grid's edge; NaN for grids smaller than 3×3)}.
    """
    tokens, grid = spatial_tokens(model, images, layer, batch_size, progress)
    cka_map = token_patch_cka(tokens, input_patches(images, grid), batch_size)
    interior = own_position_fraction(cka_map, exclude_border=True) if grid >= 3 else float("nan")
    return {
        "map": cka_map,
        "grid": grid,
        "own_fraction": own_position_fraction(cka_map),
        "own_fraction_interior": interior,
    }


# --------------------------------------------------------------------------------------------- paper scale


def paper_scale(
    name: str = "vit_base_patch32_224.augreg_in21k",
    images: torch.Tensor | None = None,
    *,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    batch_size: int = 128,
    progress: bool = True,
) -> dict[str, object]:
    """Chapter 7 at paper scale (Fig 9): the localization map of a timm ViT's final block.

    Args:
        name: timm name with weights tag (default ViT-B/32 on ImageNet-21k: a 7×7 grid, as the zoo's ViT).
        images: (N, 3, H, W) in [0, 1], N ≥ 4, resized here to the model's input size; default the first 512
            CIFAR-10 test images (online).
        pretrained: download the public weights (online only); False gives random weights (tests).
        device: default CUDA when available, else the CPU.
        batch_size, progress: as in `localization`.

    Returns:
        `localization`'s result (its map on the CPU) plus "model" (normalising its input itself, see
        `zoo.paper_scale_model`) and "images" (the resized images, on the CPU), for more measures.
    """
    from . import data, zoo

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = zoo.paper_scale_model(name, pretrained=pretrained, device=device)
    if images is None:
        images = data.cifar10("test")[0][:512]
    size = model.patch_embed.img_size[-1]
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images, size=size, mode="bilinear", align_corners=False)
    result = localization(model, images, batch_size=batch_size, progress=progress)
    return {**result, "map": result["map"].cpu(), "model": model, "images": images}
