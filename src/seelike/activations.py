"""Named layers and activation capture for timm ViT, ResNet/ResNetV2 and MLP-Mixer models.

- `layer_names(model, family)`: stable names of the representations compared by every measure (table
  below), `resolve_layers` / `model_layers` for the hooked module behind each name.
- `capture(model, layers, images, consumer)`: forward hooks hand each minibatch's activations to a consumer
  (e.g. a Gram-matrix reduction) so nothing is stored; `collect` stores them when that is wanted.
- `cka_matrix`: end-to-end minibatch CKA between two models' layers (implemented in `seelike.cka`).
- `attention_probabilities` / `iterate_attention`: softmax attention maps per block.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "FAMILIES",
    "Layer",
    "architecture",
    "attention_modules",
    "attention_probabilities",
    "block_boundaries",
    "capture",
    "cka_matrix",
    "collect",
    "iterate_attention",
    "layer_hooks",
    "layer_names",
    "minibatches",
    "model_device",
    "model_layers",
    "resolve_layers",
]


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every timm attention layer (modules with `fused_attn` and `attn_drop`), in order."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "fused_attn") and hasattr(m, "attn_drop")]


@torch.inference_mode()
def attention_probabilities(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Attention probabilities of every attention layer for one batch.

    Fused attention is switched off for the call (and restored), so timm computes the softmax explicitly
    and hands it to `attn_drop`, where a forward hook reads it. Nothing in timm is edited.

    Args:
        model: a timm model with attention (ViT, DeiT, ...).
        images: (B, C, H, W) as the model expects.

    Returns:
        one tensor (B, heads, T, T) per attention layer, rows summing to 1.
    """
    modules = attention_modules(model)
    if not modules:
        raise ValueError(f"{type(model).__name__} has no timm attention layers")
    captured: list[torch.Tensor] = []
    fused = [m.fused_attn for _, m in modules]
    handles = [
        m.attn_drop.register_forward_hook(lambda mod, inp, out: captured.append(out)) for _, m in modules
    ]
    try:
        for _, module in modules:
            module.fused_attn = False
        model(images)
    finally:
        for handle in handles:
            handle.remove()
        for (_, module), was_fused in zip(modules, fused, strict=True):
            module.fused_attn = was_fused
    return captured


def iterate_attention(
    model: nn.Module, images: torch.Tensor, batch_size: int = 250
) -> Iterator[list[torch.Tensor]]:
    """`attention_probabilities` for consecutive batches of `images`."""
    for start in range(0, len(images), batch_size):
        yield attention_probabilities(model, images[start : start + batch_size])


# ============================================================================================ named layers
#
# Stable layer names, shared by every measure and figure. Each name is a timm module path whose *output* is
# the representation, except two that are not a module output:
#   "stem"              the representation entering the first block (ViT: patch tokens + position embeddings
#                       + CLS, i.e. the input of `blocks.0`; ResNet: the output of the stem max-pool
#                       (`maxpool`); ResNetV2 and Mixer: the output of their `stem` module).
#   "blocks.i.resid1"   the residual stream after the first sublayer of block i (ViT: x + attention branch;
#                       Mixer: x + token-mixing branch). It is read, for free, as the *input* of
#                       `blocks.i.norm2`, which is exactly that sum in timm's pre-norm blocks (in a block
#                       without skip connections it is the attention branch alone).
# Per family, in forward order (kind in brackets; `layer_names(model, family)` selects kinds):
#   ViT:       stem; per block  blocks.i.norm1 [norm], blocks.i.attn [attn] (attention output after its
#              projection), blocks.i.resid1 [resid], blocks.i.norm2 [norm], blocks.i.mlp.act [mlp] (MLP
#              hidden activation), blocks.i [block]; then norm / fc_norm [final] when they are real layers.
#   ResNet:    stem; per residual unit  layerS.U.act1 (, layerS.U.act2) [inner] (post-ReLU output of the
#              unit's inner convs), layerS.U [block] (the unit output, after the skip and the last ReLU).
#   ResNetV2:  stem; per unit  stages.S.blocks.U.norm2, .norm3 [inner] (pre-activated outputs of the inner
#              convs), stages.S.blocks.U [block]; then norm [final].
#   MLP-Mixer: stem; per block  blocks.i.norm1 [norm], blocks.i.mlp_tokens.act [mlp], blocks.i.resid1
#              [resid], blocks.i.norm2 [norm], blocks.i.mlp_channels.act [mlp], blocks.i [block];
#              then norm [final].
# Any other module path of the model is also accepted as a layer name (its output).

KINDS = ("stem", "norm", "attn", "resid", "mlp", "inner", "block", "final", "module")
FAMILIES: dict[str, tuple[str, ...]] = {
    "all": KINDS,
    "blocks": ("block",),
    "norms": ("norm",),
    "mlp": ("mlp",),
    "attn": ("attn",),
    "resid": ("resid",),
    "inner": ("inner",),
    "stem": ("stem",),
    "final": ("final",),
}


@dataclass(frozen=True)
class Layer:
    """One named representation of a model.

    Attributes:
        name: the stable name (e.g. "blocks.3.resid1", "layer2.1").
        module: the timm module path that is hooked.
        hook: "output" (forward hook) or "input" (forward pre-hook, first positional argument).
        kind: "stem", "norm", "attn", "resid", "mlp", "inner", "block", "final" or "module".
        block: index of the block / residual unit it belongs to, in forward order (None for stem/final).
    """

    name: str
    module: str
    hook: str = "output"
    kind: str = "module"
    block: int | None = None


def _is_real(module: nn.Module | None) -> bool:
    return module is not None and not isinstance(module, nn.Identity)


def _vit_like_layers(model: nn.Module) -> list[Layer]:
    layers = [Layer("stem", "blocks.0", "input", "stem")]
    for i, block in enumerate(model.blocks):
        p = f"blocks.{i}"
        mixer = hasattr(block, "mlp_tokens")
        layers.append(Layer(f"{p}.norm1", f"{p}.norm1", kind="norm", block=i))
        if mixer:
            if hasattr(block.mlp_tokens, "act"):
                layers.append(Layer(f"{p}.mlp_tokens.act", f"{p}.mlp_tokens.act", kind="mlp", block=i))
        else:
            layers.append(Layer(f"{p}.attn", f"{p}.attn", kind="attn", block=i))
        layers.append(Layer(f"{p}.resid1", f"{p}.norm2", "input", "resid", i))
        layers.append(Layer(f"{p}.norm2", f"{p}.norm2", kind="norm", block=i))
        mlp_path = "mlp_channels" if mixer else "mlp"
        if hasattr(getattr(block, mlp_path), "act"):
            layers.append(Layer(f"{p}.{mlp_path}.act", f"{p}.{mlp_path}.act", kind="mlp", block=i))
        layers.append(Layer(p, p, kind="block", block=i))
    if hasattr(model, "stem") and not hasattr(model, "patch_embed"):  # Mixer: stem is its patch embedding
        layers[0] = Layer("stem", "stem", "output", "stem")
    for final in ("norm", "fc_norm"):
        if _is_real(getattr(model, final, None)):
            layers.append(Layer(final, final, kind="final"))
    return layers


def _resnet_layers(model: nn.Module) -> list[Layer]:
    layers = [Layer("stem", "maxpool", kind="stem")]
    unit_index = 0
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        if not hasattr(model, stage):
            continue
        for u, unit in enumerate(getattr(model, stage)):
            p = f"{stage}.{u}"
            acts = sorted(n for n, _ in unit.named_children() if n.startswith("act") and n[3:].isdigit())
            for act in acts[:-1]:  # the last activation follows the skip: it is the unit output
                layers.append(Layer(f"{p}.{act}", f"{p}.{act}", kind="inner", block=unit_index))
            layers.append(Layer(p, p, kind="block", block=unit_index))
            unit_index += 1
    return layers


def _resnetv2_layers(model: nn.Module) -> list[Layer]:
    layers = [Layer("stem", "stem", kind="stem")]
    unit_index = 0
    for s, stage in enumerate(model.stages):
        for u, unit in enumerate(stage.blocks):
            p = f"stages.{s}.blocks.{u}"
            norms = sorted(n for n, _ in unit.named_children() if n.startswith("norm") and n[4:].isdigit())
            # Pre-activation units: normK (K ≥ 2) activates conv K−1's output. Post-activation units: every
            # norm but the last (which precedes the skip).
            inner = norms[1:] if type(unit).__name__.startswith("PreAct") else norms[:-1]
            for norm in inner:
                layers.append(Layer(f"{p}.{norm}", f"{p}.{norm}", kind="inner", block=unit_index))
            layers.append(Layer(p, p, kind="block", block=unit_index))
            unit_index += 1
    if _is_real(getattr(model, "norm", None)):
        layers.append(Layer("norm", "norm", kind="final"))
    return layers


def architecture(model: nn.Module) -> str:
    """The layer-naming family of a model: "vit", "mixer", "resnet" or "resnetv2" (ValueError otherwise)."""
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.Sequential) and len(blocks) > 0:
        first = blocks[0]
        if all(hasattr(first, a) for a in ("norm1", "mlp_tokens", "norm2", "mlp_channels")):
            return "mixer"
        if all(hasattr(first, a) for a in ("norm1", "attn", "norm2", "mlp")):
            return "vit"
    if hasattr(model, "layer1") and hasattr(model, "maxpool"):
        return "resnet"
    if (
        hasattr(model, "stages")
        and hasattr(model, "stem")
        and all(hasattr(s, "blocks") for s in model.stages)
    ):
        return "resnetv2"
    raise ValueError(
        f"no layer naming for {type(model).__name__}: supported are timm VisionTransformer, ResNet, ResNetV2 "
        "and MlpMixer. Pass module paths (model.named_modules()) as layer names instead."
    )


def model_layers(model: nn.Module) -> list[Layer]:
    """Every named representation of a timm ViT / ResNet / ResNetV2 / MLP-Mixer, in forward order."""
    family = architecture(model)
    if family in ("vit", "mixer"):
        return _vit_like_layers(model)
    if family == "resnet":
        return _resnet_layers(model)
    return _resnetv2_layers(model)


def layer_names(model: nn.Module, family: str | Sequence[str] = "all") -> list[str]:
    """Stable layer names of `model`, in forward order, optionally restricted to families.

    Args:
        model: a timm ViT, ResNet, ResNetV2 or MLP-Mixer.
        family: "all" (default), "blocks" (block / residual-unit outputs), "norms", "mlp" (MLP hidden
            activations), "attn" (attention outputs), "resid" (residual stream after attention / token
            mixing), "inner" (ResNet inner conv activations), "stem", "final"; or a list of these.

    Returns:
        list of names (see the table at the top of this section).
    """
    families = [family] if isinstance(family, str) else list(family)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown layer family {unknown}; known: {', '.join(FAMILIES)}")
    kinds = {kind for f in families for kind in FAMILIES[f]}
    return [layer.name for layer in model_layers(model) if layer.kind in kinds]


def resolve_layers(model: nn.Module, names: Sequence[str]) -> list[Layer]:
    """The `Layer` of each name: a stable name from `model_layers`, or any module path (its output).

    Raises:
        KeyError naming the unknown layers and a few valid names.
    """
    if isinstance(names, str):
        names = [names]
    try:
        catalog = {layer.name: layer for layer in model_layers(model)}
    except ValueError:
        catalog = {}
    modules = dict(model.named_modules())
    resolved, unknown = [], []
    for name in names:
        if name in catalog:
            resolved.append(catalog[name])
        elif name in modules and name != "":
            resolved.append(Layer(name, name))
        else:
            unknown.append(name)
    if unknown:
        examples = ", ".join(list(catalog)[:4] or list(modules)[1:5])
        raise KeyError(f"unknown layer(s) {unknown} in {type(model).__name__} (e.g. {examples}, ...)")
    return resolved


def block_boundaries(names: Sequence[str]) -> list[int]:
    """Positions in `names` where a new block or residual unit starts (for heatmap grid lines).

    A name's block is its "blocks.i" / "layerS.U" / "stages.S.blocks.U" prefix; names without one (stem,
    final norms) count as their own group.
    """
    keys = []
    for name in names:
        parts = name.split(".")
        if parts[0] == "blocks" and len(parts) > 1:
            keys.append(".".join(parts[:2]))
        elif parts[0].startswith("layer") and len(parts) > 1:
            keys.append(".".join(parts[:2]))
        elif parts[0] == "stages" and len(parts) > 3:
            keys.append(".".join(parts[:4]))
        else:
            keys.append(name)
    return [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]


# ============================================================================================ capture


@contextlib.contextmanager
def layer_hooks(
    model: nn.Module, layers: Sequence[str | Layer], callback: Callable[[str, torch.Tensor], None]
) -> Iterator[list[Layer]]:
    """Hooks that call `callback(name, activation)` each time a named layer runs, removed on exit.

    The activation is the live tensor of the forward pass: use it inside the callback (e.g. reduce it to a
    Gram matrix); clone it to keep it, since later in-place ops (ReLU(inplace=True)) may change it.

    Yields:
        the resolved `Layer`s.
    """
    if isinstance(layers, str):
        layers = [layers]
    resolved = [layer if isinstance(layer, Layer) else resolve_layers(model, [layer])[0] for layer in layers]
    modules = dict(model.named_modules())
    handles = []

    def tensor_of(name: str, value) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"layer {name!r} produced a {type(value).__name__}, not a tensor")
        return value

    try:
        for layer in resolved:
            module = modules[layer.module]
            if layer.hook == "input":
                handles.append(
                    module.register_forward_pre_hook(
                        lambda mod, args, name=layer.name: callback(name, tensor_of(name, args[0]))
                    )
                )
            else:
                handles.append(
                    module.register_forward_hook(
                        lambda mod, args, out, name=layer.name: callback(name, tensor_of(name, out))
                    )
                )
        yield resolved
    finally:
        for handle in handles:
            handle.remove()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model without either."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _first_tensor(item) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, (list, tuple)) and item and isinstance(item[0], torch.Tensor):
        return item[0]
    if isinstance(item, dict):
        for key in ("image", "images", "pixel_values", "x"):
            if isinstance(item.get(key), torch.Tensor):
                return item[key]
    raise TypeError(f"cannot find images in a minibatch of type {type(item).__name__}")


def minibatches(images_or_loader, batch_size: int = 256, min_size: int = 1) -> Iterator[torch.Tensor]:
    """Image minibatches from a tensor or an iterable of batches.

    - A tensor of N images is cut into ceil(N / batch_size) near-equal minibatches (sizes differ by at most
      one, none exceeds batch_size), so there is no short last minibatch.
    - An iterable (DataLoader, list, generator) yields tensors, or tuples/lists whose first element holds
      the images (labels are ignored). If its last minibatch has fewer than `min_size` images, it is merged
      into the minibatch before it (the two pass through the model together).

    Args:
        images_or_loader: (N, C, H, W) tensor or iterable of minibatches.
        batch_size: the largest minibatch for tensor input.
        min_size: the smallest acceptable minibatch (4 for the unbiased CKA estimator).

    Yields:
        (n, C, H, W) tensors on their original device.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    if isinstance(images_or_loader, torch.Tensor):
        n = len(images_or_loader)
        if n < min_size:
            raise ValueError(f"{n} images: at least {min_size} are needed")
        yield from torch.tensor_split(images_or_loader, math.ceil(n / batch_size))
        return
    previous: torch.Tensor | None = None
    current: torch.Tensor | None = None
    for item in images_or_loader:
        batch = _first_tensor(item)
        if previous is not None:
            yield previous
        previous, current = current, batch
    if current is None:
        raise ValueError("no minibatches: the loader is empty")
    if len(current) < min_size:
        if previous is None:
            raise ValueError(f"only {len(current)} images: at least {min_size} are needed")
        yield torch.cat([previous, current.to(previous.device)])
        return
    if previous is not None:
        yield previous
    yield current


def _count(images_or_loader, batch_size: int) -> int | None:
    if isinstance(images_or_loader, torch.Tensor):
        return math.ceil(len(images_or_loader) / batch_size)
    try:
        return len(images_or_loader)
    except TypeError:
        return None


def _warn_if_training(model: nn.Module) -> None:
    if model.training:
        warnings.warn(
            f"{type(model).__name__} is in training mode (dropout, batch statistics): call .eval() first",
            stacklevel=3,
        )


def capture(
    model: nn.Module,
    layers: Sequence[str],
    images_or_loader,
    consumer: Callable[[str, torch.Tensor], None],
    *,
    batch_size: int = 256,
    progress: bool = True,
    on_batch_end: Callable[[int, torch.Tensor], None] | None = None,
    min_batch: int = 1,
) -> int:
    """Run `model` over all images and hand every named layer's activations to `consumer`, batch by batch.

    Nothing is stored: `consumer(name, activation)` is called inside the forward hook, as soon as the layer
    has run, with the live (n, ...) tensor of the current minibatch (clone it to keep it). Runs under
    `torch.inference_mode()`; images are moved to the model's device.

    Args:
        model: the network (put it in eval mode first).
        layers: layer names (`layer_names`) or module paths.
        images_or_loader: (N, C, H, W) tensor or an iterable of minibatches (see `minibatches`).
        consumer: called as consumer(layer name, activation) for every layer and minibatch.
        batch_size: the largest minibatch for tensor input.
        progress: tqdm progress bar over minibatches.
        on_batch_end: called as on_batch_end(batch index, images) after each minibatch's forward pass.
        min_batch: the smallest minibatch (a smaller last one is merged into the previous one).

    Returns:
        the number of images processed.
    """
    _warn_if_training(model)
    device = model_device(model)
    seen = 0
    with torch.inference_mode(), layer_hooks(model, layers, consumer):
        batches = minibatches(images_or_loader, batch_size, min_batch)
        for index, images in enumerate(
            tqdm(batches, total=_count(images_or_loader, batch_size), disable=not progress, desc="capture")
        ):
            images = images.to(device, non_blocking=True)
            model(images)
            if on_batch_end is not None:
                on_batch_end(index, images)
            seen += len(images)
    return seen


def collect(
    model: nn.Module,
    layers: Sequence[str],
    images_or_loader,
    *,
    batch_size: int = 256,
    reduce: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Activations of named layers for all images, stored (use `capture` to avoid storing them).

    Args:
        model, layers, images_or_loader, batch_size, progress: as in `capture`.
        reduce: optional reduce(name, activation) applied per minibatch before storing (e.g. pooling).
        device: where the stored activations go.

    Returns:
        layer name → (N, ...) tensor (ordinary tensors, usable with autograd).
    """
    store: dict[str, list[torch.Tensor]] = {}

    def keep(name: str, activation: torch.Tensor) -> None:
        value = reduce(name, activation) if reduce is not None else activation
        store.setdefault(name, []).append(value.detach().to(device, copy=True))

    capture(model, layers, images_or_loader, keep, batch_size=batch_size, progress=progress)
    names = [layer.name for layer in resolve_layers(model, layers)]
    return {name: torch.cat(store[name]) for name in names}


def cka_matrix(
    model_a: nn.Module,
    model_b: nn.Module | None,
    images_or_loader,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    progress: bool = True,
):
    """Minibatch linear CKA between layers of two models (or of one model); see `seelike.cka.cka_matrix`.

    This convenience alias lives here because activation capture is where readers look for it; the
    implementation is in the measures layer (`seelike.cka`), imported on call.
    """
    from .cka import cka_matrix as _cka_matrix

    return _cka_matrix(
        model_a, model_b, images_or_loader, layers_a, layers_b, batch_size=batch_size, progress=progress
    )
