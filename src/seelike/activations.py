"""Named layers and activation capture for timm ViT, ResNet/ResNetV2 and MLP-Mixer models.

- `layer_names(model, family)`: stable names of the representations compared by every measure (table
  below), `resolve_layers` / `model_layers` for the hooked module behind each name.
- `capture(model, layers, images, consumer)`: THE loop that runs a model for a measure (minibatches, device,
  minimum batch, eval-mode check, hooks, progress): forward hooks hand each minibatch's activations to a
  consumer (e.g. a Gram-matrix reduction) so nothing is stored; `collect` stores them when that is wanted.
  Every measure module (cka, attention, receptive_field, skips, localization, probes) runs models through it.
- `boundaries(names, level)`: where blocks or ResNet stages start in a list of layer names; `layers_for`:
  the families that comparisons offer (`FAMILY_CHOICES`).
- `attention_probabilities` / `iterate_attention`: softmax attention maps per block (through `capture`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
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
    "attention_layers",
    "attention_modules",
    "attention_probabilities",
    "FAMILY_CHOICES",
    "block_depth",
    "boundaries",
    "capture",
    "collect",
    "explicit_attention",
    "iterate_attention",
    "layer_hooks",
    "layer_names",
    "minibatches",
    "model_device",
    "model_layers",
    "layers_for",
    "relative_depth",
    "resolve_layers",
    "stage_of",
    "warn_if_training",
]


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every timm attention layer (modules with `fused_attn` and `attn_drop`), in order."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "fused_attn") and hasattr(m, "attn_drop")]


@contextlib.contextmanager
def explicit_attention(model: nn.Module) -> Iterator[None]:
    """Switch every timm attention layer of `model` to the explicit softmax inside the block (restored after).

    With fused attention off, timm computes the attention probabilities and hands them to `attn_drop`, where
    a forward hook can read them (`attention_layers`). Nothing in timm is edited.
    """
    modules = attention_modules(model)
    fused = [m.fused_attn for _, m in modules]
    try:
        for _, module in modules:
            module.fused_attn = False
        yield
    finally:
        for (_, module), was_fused in zip(modules, fused, strict=True):
            module.fused_attn = was_fused


def attention_layers(model: nn.Module) -> list[Layer]:
    """One `Layer` per timm attention module whose output is its attention probabilities (B, heads, T, T):
    the output of its `attn_drop`, read inside `explicit_attention`. Named "<attention path>.probabilities".
    """
    modules = attention_modules(model)
    if not modules:
        raise ValueError(f"{type(model).__name__} has no timm attention layers")
    return [Layer(f"{name}.probabilities", f"{name}.attn_drop", kind="attn") for name, _ in modules]


def attention_probabilities(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Attention probabilities of every attention layer for one batch (through `capture`).

    Args:
        model: a timm model with attention (ViT, DeiT, ...).
        images: (B, C, H, W) as the model expects.

    Returns:
        one tensor (B, heads, T, T) per attention layer, rows summing to 1.
    """
    layers = attention_layers(model)
    captured: dict[str, torch.Tensor] = {}
    capture(
        model, layers, images, lambda name, attn: captured.__setitem__(name, attn),
        batch_size=max(1, len(images)), progress=False, context=explicit_attention,
    )  # fmt: skip
    return [captured[layer.name] for layer in layers]


def iterate_attention(
    model: nn.Module, images: torch.Tensor, batch_size: int = 250
) -> Iterator[list[torch.Tensor]]:
    """`attention_probabilities` for each minibatch of `images` (see `minibatches`)."""
    for batch in minibatches(images, batch_size):
        yield attention_probabilities(model, batch)


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


# Layer families offered for comparisons (name shown → `layer_names` family per architecture). ResNets have
# no norm layers of their own kind and no MLP: their inner conv activations play the MLP hidden layer's role
# (the hidden representation of a residual branch); for "norms" they fall back to block outputs.
FAMILY_CHOICES: dict[str, dict[str, str | tuple[str, ...]]] = {
    "all": {"vit": "all", "mixer": "all", "resnet": "all", "resnetv2": "all"},
    "blocks": {"vit": "blocks", "mixer": "blocks", "resnet": "blocks", "resnetv2": "blocks"},
    "norms": {"vit": "norms", "mixer": "norms", "resnet": "blocks", "resnetv2": "blocks"},
    "mlp": {"vit": "mlp", "mixer": "mlp", "resnet": "inner", "resnetv2": "inner"},
}


def layers_for(model: nn.Module, family: str = "all") -> list[str]:
    """The model's layer names for one of the comparable families (see `FAMILY_CHOICES`).

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


_STAGE_PATTERNS = (re.compile(r"^(layer\d+)\."), re.compile(r"^(stages\.\d+)\."))
_BLOCK_PATTERNS = (
    re.compile(r"^(blocks\.[^.]+)"),
    re.compile(r"^(layer\d+\.[^.]+)"),
    re.compile(r"^(stages\.[^.]+\.[^.]+\.[^.]+)"),
)
LEVELS = ("block", "stage")


def _group(name: str, level: str) -> str | None:
    """The block ("blocks.3", "layer2.1", "stages.1.blocks.0") or stage ("layer2", "stages.1") of a layer
    name; None for a name outside every block / stage (stem, final norm)."""
    for pattern in _STAGE_PATTERNS if level == "stage" else _BLOCK_PATTERNS:
        match = pattern.match(name)
        if match:
            return match.group(1)
    return None


def stage_of(name: str) -> str:
    """The stage a ResNet layer belongs to ("layer2" for "layer2.1.act1", "stages.1" for ResNetV2), or the
    name itself for layers outside the stages (stem, final norm)."""
    return _group(name, "stage") or name


def boundaries(names: Sequence[str], level: str = "block") -> list[int]:
    """Positions in `names` where a new block (residual unit) or a new ResNet stage starts.

    Args:
        names: layer names in forward order, e.g. from `layer_names(model)`.
        level: "block": a name's block is its "blocks.i" / "layerS.U" / "stages.S.blocks.U" prefix, and names
            outside blocks (stem, final norms) count as their own group (heatmap grid lines); "stage": a
            ResNet stage ("layerS", "stages.S": the resolution halves, channels double), and a stem or final
            layer that borders a stage adds no boundary of its own.

    Returns:
        indices i such that names[i] starts a group different from the previous group's.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    result, last = [], None
    for index, name in enumerate(names):
        key = _group(name, level)
        if key is None:
            if level == "stage":
                continue
            key = name
        if last is not None and key != last:
            result.append(index)
        last = key
    return result


def relative_depth(indices: torch.Tensor | Sequence[int], n_layers: int) -> torch.Tensor:
    """Layer positions as fractions of depth, the one convention of seelike: position i of a list of n
    representations, from the first (0) to the last (1), is i / (n − 1) (float64).

    A list of block outputs has the input before it: `block_depth(L)` places block i at (i + 1) / L.
    """
    if n_layers < 2:
        raise ValueError(f"need at least 2 layers, got {n_layers}")
    return torch.as_tensor(indices, dtype=torch.float64) / (n_layers - 1)


def block_depth(n_blocks: int) -> torch.Tensor:
    """`relative_depth` of L block outputs counted from the input (depth 0): block i → (i + 1) / L.

    The last block sits at 1 for every model, so curves of models with 6 and with 8 blocks share an axis.

    Returns:
        (L,) float64 in (0, 1].
    """
    if n_blocks < 1:
        raise ValueError(f"need at least one layer, got {n_blocks}")
    return relative_depth(torch.arange(1, n_blocks + 1), n_blocks + 1)


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


def warn_if_training(model: nn.Module, stacklevel: int = 3) -> None:
    """Warn when `model` is in training mode (dropout, batch statistics): measures want eval mode."""
    if model.training:
        warnings.warn(
            f"{type(model).__name__} is in training mode (dropout, batch statistics): call .eval() first",
            stacklevel=stacklevel,
        )


class _StopForward(Exception):
    """Raised inside a hook once every wanted layer of the model has run (`capture(..., stop=True)`)."""


def capture(
    model: nn.Module | Sequence[nn.Module],
    layers: Sequence[str | Layer] | Sequence[Sequence[str | Layer]],
    images_or_loader,
    consumer: Callable[[str, torch.Tensor], None] | Sequence[Callable[[str, torch.Tensor], None]],
    *,
    batch_size: int = 256,
    progress: bool = True,
    on_batch_end: Callable[[int, torch.Tensor], None] | None = None,
    min_batch: int = 1,
    desc: str = "capture",
    grad: bool = False,
    stop: bool = False,
    context: Callable[[nn.Module], contextlib.AbstractContextManager] | None = None,
) -> int:
    """Run `model` over all images and hand every named layer's activations to `consumer`, batch by batch.

    THE loop of seelike that runs a model for a measure: minibatches (`minibatches`), device, eval-mode
    check, hooks (`layer_hooks`), progress bar. Nothing is stored: `consumer(name, activation)` is called
    inside the forward hook, as soon as the layer has run, with the live (n, ...) tensor of the current
    minibatch (clone it to keep it). Runs under `torch.inference_mode()` unless `grad`; images are moved to
    each model's device.

    Args:
        model: the network (put it in eval mode first), or a sequence of networks that each see every
            minibatch in turn (e.g. the two sides of a CKA comparison); then `layers` and `consumer` hold one
            entry per model.
        layers: layer names (`layer_names`), module paths or `Layer`s (a `Layer` may hook a module's input).
        images_or_loader: (N, C, H, W) tensor or an iterable of minibatches (see `minibatches`).
        consumer: called as consumer(layer name, activation) for every layer and minibatch.
        batch_size: the largest minibatch for tensor input.
        progress: tqdm progress bar over minibatches.
        on_batch_end: called as on_batch_end(batch index, images) after each minibatch's forward passes
            (images on the last model's device; with `grad`, the leaf tensor the gradients refer to).
        min_batch: the smallest minibatch (a smaller last one is merged into the previous one).
        desc: the progress bar's label.
        grad: run with autograd on and hand the hooks activations that depend on a fresh leaf copy of the
            images (`requires_grad=True`), e.g. for input gradients in `on_batch_end`.
        stop: end each forward pass as soon as every wanted layer of the model has run.
        context: context(model) → a context manager entered around the whole loop for each model (e.g.
            explicit attention so that the softmax is computed, see `explicit_attention`).

    Returns:
        the number of images processed.
    """
    if isinstance(model, nn.Module):
        models, layer_sets, consumers = [model], [layers], [consumer]
    else:
        models, layer_sets, consumers = list(model), list(layers), list(consumer)
        if not (len(models) == len(layer_sets) == len(consumers)) or not models:
            raise ValueError("with several models, give one layer list and one consumer per model")
    for each in models:
        warn_if_training(each, stacklevel=3)
    devices = [model_device(each) for each in models]
    seen = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.enable_grad() if grad else torch.inference_mode())
        remaining: list[set[str]] = []
        for each, wanted, consume in zip(models, layer_sets, consumers, strict=True):
            if context is not None:
                stack.enter_context(context(each))
            if isinstance(wanted, (str, Layer)):
                wanted = [wanted]
            names = {w.name if isinstance(w, Layer) else w for w in wanted}
            pending: set[str] = set()
            remaining.append(pending)

            def hook(name: str, activation: torch.Tensor, consume=consume, pending=pending) -> None:
                consume(name, activation)
                if stop:
                    pending.discard(name)
                    if not pending:
                        raise _StopForward

            stack.enter_context(layer_hooks(each, wanted, hook))
            pending.update(names)
        names_per_model = [set(p) for p in remaining]
        batches = minibatches(images_or_loader, batch_size, min_batch)
        for index, images in enumerate(
            tqdm(batches, total=_count(images_or_loader, batch_size), disable=not progress, desc=desc)
        ):
            for each, device, pending, names in zip(models, devices, remaining, names_per_model, strict=True):
                images = images.to(device, non_blocking=True)
                if grad:
                    images = images.detach().clone().requires_grad_(True)
                pending.clear()
                pending.update(names)
                try:
                    each(images)
                except _StopForward:
                    pass
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
