"""The book's model zoo (small timm models trained on Fashion-MNIST) and paper-scale timm models.

Every zoo model is a plain timm model (`VisionTransformer`, `ResNet`, `MlpMixer`), so layer names such as
`blocks.3.norm1` or `layer2.1` are timm's own. Each model normalises its input itself (a pre-hook on its
first layer), so it takes images exactly as `seelike.data` returns them: float in [0, 1].
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import REPO_ROOT, sha256_file

ZOO_DIR = REPO_ROOT / "data" / "zoo"
MANIFEST = ZOO_DIR / "manifest.json"
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530

PAPER_MODELS = (
    "vit_base_patch32_224.augreg_in21k",
    "vit_base_patch16_224.augreg_in21k",
    "vit_large_patch16_224.augreg_in21k",
    "vit_huge_patch14_224.orig_in21k",
    "resnetv2_50x1_bit.goog_in21k",
    "resnetv2_152x2_bit.goog_in21k",
    "mixer_b16_224.goog_in21k",
)


@dataclass(frozen=True)
class ModelSpec:
    """How to build and train one zoo entry (the seed is not part of it: every entry has several).

    Attributes:
        family: "vit", "resnet" or "mixer".
        arch: keyword arguments for the timm constructor.
        data_fraction: fraction of the training split (nested, class-balanced subsets).
        classes: train (and validate) on these classes only; () for all ten.
        epochs: passes over the *full* training split's worth of steps (so every fraction gets equal steps).
        no_skip_blocks: ViT blocks whose skip connections are removed.
        plain: ResNet without any skip connection.
        sincos_pos: fixed 2D sin-cos position embeddings instead of learned ones.
        local_init_heads: per block, how many heads start local (mimetic-style q/k init), blocks 0..k.
        local_init_strength: scale of that initialisation.
        lr, weight_decay, batch_size, warmup_epochs, label_smoothing: optimiser settings.
        max_shift: augmentation's random shift in pixels (0: horizontal flips only).
        teacher: zoo entry to distil from (DeiT-style, no distillation token); "" for none.
        teacher_seed: which seed of the teacher.
        distill_weight, distill_mode, distill_temperature: loss = (1 - w) * CE(labels) + w * distillation,
            "hard" (teacher's top class) or "soft" (KL at the temperature).
        init_from: zoo entry whose checkpoint of the same seed initialises the model (fine-tuning), or "".
    """

    family: str
    arch: dict[str, Any] = field(default_factory=dict)
    data_fraction: float = 1.0
    classes: tuple[int, ...] = ()
    epochs: float = 6
    no_skip_blocks: tuple[int, ...] = ()
    plain: bool = False
    sincos_pos: bool = False
    local_init_heads: tuple[int, ...] = ()
    local_init_strength: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 128
    warmup_epochs: float = 0.5
    label_smoothing: float = 0.0
    max_shift: int = 2
    teacher: str = ""
    teacher_seed: int = 0
    distill_weight: float = 0.5
    distill_mode: str = "hard"
    distill_temperature: float = 1.0
    init_from: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The architectures are fixed before any training run; the recipes are chosen on the validation split by
# tools/recipe_search.py (every run tried is in data/zoo/recipe_log.md) and then frozen for the family.
VIT_ARCH = dict(
    img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=128, depth=6, num_heads=8, mlp_ratio=2.0
)
RESNET_ARCH = dict(
    layers=(2, 2, 2, 2),
    channels=(16, 32, 64, 128),
    stem_type="deep",
    stem_width=8,
    in_chans=1,
    num_classes=10,
)
MIXER_ARCH = dict(
    img_size=28, patch_size=4, in_chans=1, num_classes=10, num_blocks=6, embed_dim=128, mlp_ratio=(0.5, 2.0)
)
VIT_RECIPE = dict(epochs=10, lr=1e-3, weight_decay=0.05, warmup_epochs=0.5, label_smoothing=0.1, max_shift=0)
RESNET_RECIPE = dict(
    epochs=6, lr=1e-2, weight_decay=0.05, warmup_epochs=0.5, label_smoothing=0.1, max_shift=0
)

FIRST_FIVE, LAST_FIVE = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
SPECS: dict[str, ModelSpec] = {
    # Main models: plain supervised training, learned position embeddings, no teacher.
    "resnet": ModelSpec("resnet", RESNET_ARCH, **RESNET_RECIPE),
    "vit": ModelSpec("vit", VIT_ARCH, **VIT_RECIPE),
    "vit-gap": ModelSpec("vit", {**VIT_ARCH, "class_token": False, "global_pool": "avg"}, **VIT_RECIPE),
    # timm zero-initialises each block's last BN scale (zero_init_last): a residual block then starts as the
    # identity, but a block without its skip would output zeros and nothing would train (off here).
    "plainnet": ModelSpec("resnet", {**RESNET_ARCH, "zero_init_last": False}, plain=True, **RESNET_RECIPE),
    "mixer": ModelSpec("mixer", MIXER_ARCH, **VIT_RECIPE),
    **{
        f"vit-data{percent}": ModelSpec("vit", VIT_ARCH, data_fraction=percent / 100, **VIT_RECIPE)
        for percent in (3, 10, 30)
    },
    **{f"vit-noskip-{k}": ModelSpec("vit", VIT_ARCH, no_skip_blocks=(k,), **VIT_RECIPE) for k in (1, 3, 5)},
    # Interventions, used only where the book asks what a small ViT needs to learn local heads.
    "vit-localinit": ModelSpec(
        "vit", VIT_ARCH, sincos_pos=True, local_init_heads=(4, 4), local_init_strength=6.0, **VIT_RECIPE
    ),
    "vit-distilled": ModelSpec("vit", VIT_ARCH, teacher="resnet", teacher_seed=0, **VIT_RECIPE),
    # The fine-tuning pair: a ViT trained on classes 0-4, then the same weights trained on classes 5-9.
    "vit-pretrain04": ModelSpec("vit", VIT_ARCH, classes=FIRST_FIVE, **VIT_RECIPE),
    "vit-finetune59": ModelSpec(
        "vit",
        VIT_ARCH,
        classes=LAST_FIVE,
        init_from="vit-pretrain04",
        **{**VIT_RECIPE, "epochs": VIT_RECIPE["epochs"] / 4, "lr": VIT_RECIPE["lr"] / 2},
    ),  # fmt: skip
}
SEEDS: dict[str, tuple[int, ...]] = {
    "resnet": (0, 1, 2), "vit": (0, 1, 2), "vit-gap": (0, 1, 2), "plainnet": (0,), "mixer": (0,),
    **{name: (0, 1) for name in SPECS if name.startswith(("vit-data", "vit-noskip"))},
    "vit-localinit": (0, 1), "vit-distilled": (0, 1), "vit-pretrain04": (0, 1), "vit-finetune59": (0, 1),
}  # fmt: skip
# Train order: seed 0 of the main models first; a teacher (or a pretrained model) before its students.
TRAIN_ORDER = (
    "resnet", "vit", "vit-gap", "plainnet", "mixer", "vit-data3", "vit-data10", "vit-data30",
    "vit-noskip-1", "vit-noskip-3", "vit-noskip-5", "vit-localinit", "vit-distilled",
    "vit-pretrain04", "vit-finetune59",
)  # fmt: skip


def names() -> list[str]:
    """All zoo entries, in training order."""
    return list(TRAIN_ORDER)


def spec(name: str) -> ModelSpec:
    """The build-and-train configuration of a zoo entry."""
    if name not in SPECS:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(names())}")
    return SPECS[name]


def seeds(name: str) -> tuple[int, ...]:
    """The seeds the zoo trains of entry `name`."""
    spec(name)
    return SEEDS[name]


def runs() -> list[tuple[str, int]]:
    """Every (entry, seed) of the zoo in training order: seed 0 of every entry first, then seed 1, ..."""
    most = max(len(s) for s in SEEDS.values())
    return [(name, SEEDS[name][i]) for i in range(most) for name in TRAIN_ORDER if i < len(SEEDS[name])]


# --------------------------------------------------------------------------------------------- building


class InputNormalizer:
    """Forward pre-hook that maps images in [0, 1] to zero-mean, unit-variance inputs."""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = mean, std

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        return ((args[0] - self.mean) / self.std, *args[1:])


def _first_layer(model: nn.Module) -> nn.Module:
    for attr in ("patch_embed", "stem", "conv1"):
        if hasattr(model, attr):
            return getattr(model, attr)
    raise ValueError(f"no known first layer on {type(model).__name__}")


def attach_normalizer(model: nn.Module, mean: float = FASHION_MNIST_MEAN, std: float = FASHION_MNIST_STD):
    """Make `model` accept images in [0, 1]: normalise at its first layer (works for forward and
    forward_intermediates alike). Returns the model."""
    _first_layer(model).register_forward_pre_hook(InputNormalizer(mean, std))
    return model


def sincos_2d(grid_size: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2D sin-cos position embeddings of a square grid of patches (MoCo v3 and big_vision's form).

    The first half of the coordinates encodes the patch's column, the second half its row, each as sines and
    cosines at `dim // 4` frequencies ω_k = temperature^(−k / (dim/4 − 1)), k = 0 … dim/4 − 1: for the patch
    in row r, column c the embedding is [sin(c·ω), cos(c·ω), sin(r·ω), cos(r·ω)]. Two patches of the same
    column therefore share the first half exactly, two patches of the same row the second half.

    Args:
        grid_size: g, patches per side.
        dim: embedding width D, a multiple of 4 (and at least 8, so that there are two frequencies).
        temperature: the longest wavelength's scale.

    Returns:
        (g², D) float64, one row per patch in raster order (row r, column c at index r·g + c).
    """
    if dim % 4 or dim < 8:
        raise ValueError(f"dim must be a multiple of 4 and at least 8, got {dim}")
    quarter = dim // 4
    frequencies = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64) / (quarter - 1))
    index = torch.arange(grid_size, dtype=torch.float64)
    rows, columns = torch.meshgrid(index, index, indexing="ij")
    x = columns.flatten()[:, None] * frequencies[None]
    y = rows.flatten()[:, None] * frequencies[None]
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=1)


def local_attention_init(block: nn.Module, heads: int, strength: float, generator: torch.Generator) -> None:
    """Mimetic-style initialisation (Trockman & Kolter 2023) of the first `heads` heads of a timm ViT block.

    Sets W_q = W_k = sqrt(strength) · U for a random orthonormal U per head, so q_i·k_j ∝ x_i·x_j: a token
    attends to tokens with similar embeddings, which with 2D sin-cos positions are its spatial neighbours.
    The other heads keep timm's random initialisation. Training is free to undo either choice.
    """
    attn = block.attn
    dim = attn.qkv.in_features
    head_dim = dim // attn.num_heads
    with torch.no_grad():
        weight = attn.qkv.weight  # (3·dim, dim): rows [q; k; v], heads contiguous inside each
        for head in range(heads):
            basis = torch.linalg.qr(torch.randn(dim, head_dim, generator=generator)).Q.T  # (head_dim, dim)
            rows = slice(head * head_dim, (head + 1) * head_dim)
            weight[rows] = math.sqrt(strength) * basis
            weight[dim + head * head_dim : dim + (head + 1) * head_dim] = math.sqrt(strength) * basis
        if attn.qkv.bias is not None:
            attn.qkv.bias[: 2 * dim].zero_()


class NoSkipBlockMixin:
    """A timm ViT block without its two skip connections: x → attn(norm1 x) → mlp(norm2 ·)."""

    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        x = self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal)))
        return self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class PlainBasicBlockMixin:
    """A timm ResNet BasicBlock without its skip connection."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.aa(self.act1(self.drop_block(self.bn1(self.conv1(x)))))
        x = self.bn2(self.conv2(x))
        if self.se is not None:
            x = self.se(x)
        if self.drop_path is not None:
            x = self.drop_path(x)
        return self.act2(x)


def _swap_class(module: nn.Module, mixin: type) -> None:
    """Give `module` the forward of `mixin`, keeping its parameters and names (so state_dicts match)."""
    module.__class__ = type(f"{mixin.__name__[:-5]}{type(module).__name__}", (mixin, type(module)), {})


def set_attention_fused(model: nn.Module, fused: bool) -> nn.Module:
    """Switch every timm attention module of `model` between fused SDPA (fast) and explicit softmax
    (its probabilities pass through `attn_drop`, where hooks and `AttentionExtract` read them)."""
    for module in model.modules():
        if hasattr(module, "fused_attn") and hasattr(module, "attn_drop"):
            module.fused_attn = fused
    return model


def build(name_or_spec: str | ModelSpec, seed: int = 0) -> nn.Module:
    """A freshly initialised zoo model (random weights), normaliser attached, in train mode.

    The initialisation is a function of the spec and the seed alone, so `build(name, seed=s)` is the
    untrained network that seed `s` of the entry started from. Attention is built explicit (not fused) so
    its probabilities can be read by hooks; `set_attention_fused` switches it.

    Args:
        name_or_spec: a zoo entry or a `ModelSpec`.
        seed: the training seed.
    Returns:
        the timm model; it takes float images (N, 1, 28, 28) in [0, 1].
    """
    model_spec = spec(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if model_spec.family == "vit":
        from timm.models.vision_transformer import VisionTransformer

        model = VisionTransformer(**model_spec.arch)
        set_attention_fused(model, False)
        if model_spec.sincos_pos:
            grid = model_spec.arch["img_size"] // model_spec.arch["patch_size"]
            prefix = model.pos_embed.shape[1] - grid * grid
            table = torch.zeros_like(model.pos_embed)
            table[0, prefix:] = sincos_2d(grid, model.pos_embed.shape[-1]).to(table.dtype)
            model.pos_embed.data.copy_(table)
            model.pos_embed.requires_grad_(False)
        for block_index, heads in enumerate(model_spec.local_init_heads):
            local_attention_init(model.blocks[block_index], heads, model_spec.local_init_strength, generator)
        for block_index in model_spec.no_skip_blocks:
            _swap_class(model.blocks[block_index], NoSkipBlockMixin)
    elif model_spec.family == "resnet":
        from timm.models.resnet import BasicBlock, ResNet

        arch = dict(model_spec.arch)
        in_chans = arch.pop("in_chans")
        model = ResNet(block=BasicBlock, in_chans=in_chans, **arch)
        # A 28×28 input needs a gentle stem: one 3×3 conv at stride 1, no max-pool (timm's is stride 4).
        width = model.bn1.num_features  # timm sets the stem width to 2 × stem_width for deep stems
        model.conv1 = nn.Conv2d(in_chans, width, 3, padding=1, bias=False)
        model.maxpool = nn.Identity()
        if model_spec.plain:
            for module in model.modules():
                if isinstance(module, BasicBlock):
                    _swap_class(module, PlainBasicBlockMixin)
    elif model_spec.family == "mixer":
        from timm.models.mlp_mixer import MlpMixer

        model = MlpMixer(**model_spec.arch)
    else:
        raise ValueError(f"unknown family {model_spec.family!r}")
    return attach_normalizer(model)


# --------------------------------------------------------------------------------------------- loading
# Checkpoints: data/zoo/<name>-seed<k>.safetensors, listed in data/zoo/manifest.json as
# {"models": {name: {"<seed>": entry}}}.


class CheckpointError(RuntimeError):
    """A zoo checkpoint is missing or does not match its manifest entry."""


def read_manifest() -> dict[str, Any]:
    """The zoo's manifest: {"models": {name: {seed as str: entry}}}."""
    if not MANIFEST.is_file():
        return {"models": {}}
    return json.loads(MANIFEST.read_text())


def checkpoint_path(name: str, seed: int = 0) -> Path:
    """Where the weights of `name`, seed `seed`, live."""
    return ZOO_DIR / f"{name}-seed{seed}.safetensors"


def rebuild_command(name: str, seed: int = 0) -> str:
    """The command that makes the checkpoint of `name`, seed `seed`, again."""
    return f"python -m seelike.train {name} --seed {seed}"


def trained(name: str) -> tuple[int, ...]:
    """The seeds of `name` that have a manifest entry, in order."""
    return tuple(sorted(int(s) for s in read_manifest()["models"].get(name, {})))


def manifest_entry(name: str, seed: int = 0) -> dict[str, Any]:
    """The manifest record of a trained entry (accuracies, steps, wall time, training curve, command...).

    Args:
        name: a zoo entry.
        seed: which seed.
    """
    spec(name)  # an unknown name fails here
    entry = read_manifest()["models"].get(name, {}).get(str(seed))
    if entry is None:
        raise CheckpointError(
            f"{name!r} seed {seed} has no manifest entry. Rebuild it: {rebuild_command(name, seed)}"
        )
    return entry


def _display_path(path: Path) -> str:
    """`path` relative to the repository when it lies inside it, else absolute."""
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def verify(name: str, seed: int = 0) -> Path:
    """Check that the checkpoint of `name`/`seed` exists and matches its manifest's sha256.

    Returns:
        its path.
    Raises:
        CheckpointError: missing, without manifest entry, or corrupted, with the command that rebuilds it.
    """
    path = checkpoint_path(name, seed)
    try:
        entry = manifest_entry(name, seed)
    except CheckpointError:
        entry = None
    if not path.is_file() or entry is None:
        raise CheckpointError(
            f"zoo checkpoint {_display_path(path)} is missing (or has no manifest entry). "
            f"Rebuild it: {rebuild_command(name, seed)}"
        )
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"zoo checkpoint {_display_path(path)} is corrupted: sha256 {digest[:12]}… does not match the "
            f"manifest's {entry['sha256'][:12]}…. Restore it (git checkout {_display_path(path)}) "
            f"or rebuild it: {rebuild_command(name, seed)}"
        )
    return path


def load(name: str, seed: int = 0, device: str | torch.device = "cpu") -> nn.Module:
    """A trained zoo model in eval mode, weights checked against the manifest's sha256.

    Args:
        name: a zoo entry (see `names()`).
        seed: which trained seed (see `trained(name)`).
        device: where to put the model.

    Returns:
        the timm model; it takes float images (N, 1, 28, 28) in [0, 1].
    """
    from safetensors.torch import load_file

    spec(name)  # an unknown name fails here, before any file is looked for
    path = verify(name, seed)
    model = build(name, seed)
    state = {key: value.float() for key, value in load_file(str(path)).items()}
    model.load_state_dict(state)
    return model.eval().to(device)


# --------------------------------------------------------------------------------------------- paper scale


def load_timm(name: str, pretrained: bool = True, device: str | torch.device = "cpu"):
    """A paper-scale timm model and its preprocessing.

    Args:
        name: a timm model name with pretrained tag, e.g. "vit_base_patch16_224.augreg_in21k".
        pretrained: download the public weights (needs internet; Colab has it).
        device: where to build the model; "meta" builds the structure only (no memory, no weights).

    Returns:
        (model in eval mode with explicit attention, transform for PIL images from timm's data config).
    """
    import timm

    if name.split(".")[0] not in timm.list_models():
        raise KeyError(f"timm has no model {name!r}")
    on_meta = str(device) == "meta"
    try:
        model = timm.create_model(
            name, pretrained=pretrained and not on_meta, device="meta" if on_meta else None
        )
    except Exception as error:  # hub download failures surface as many exception types
        if not pretrained:
            raise
        raise RuntimeError(
            f"could not download the weights of {name!r} ({type(error).__name__}: {error}). "
            "Paper-scale models "
            "need internet access (run this chapter in Colab), or pretrained=False for random weights."
        ) from error
    set_attention_fused(model, False)  # this model only: timm's global default stays as the user set it
    config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**config)
    return model.eval() if on_meta else model.eval().to(device), transform


class ResizeNormalize:
    """Forward pre-hook: resize images to the model's input size, then normalise them per channel.

    Lets a paper-scale model take small images in [0, 1] (e.g. CIFAR-10's 32×32) as they are, so the images
    stay small in memory and in cache keys; each minibatch is resized only as it enters the model.
    """

    def __init__(self, size: int, mean, std):
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
    """THE paper-scale loader of every chapter: a timm model that, like the zoo's, takes images in [0, 1] of
    any size and prepares them itself (resize to its input size, then its pretrained mean/std normalisation,
    in a pre-hook on its first layer).

    Args:
        name: timm name with weights tag, e.g. "vit_base_patch16_224.augreg_in21k".
        pretrained: download the public weights (online only); False gives random weights.
        device: where to put the model.
        input_size: side of the square input (default: the model's pretrained config, e.g. 224).

    Returns:
        the model in eval mode, explicit attention (see `load_timm`).
    """
    import timm

    model, _ = load_timm(name, pretrained=pretrained, device=device)
    config = timm.data.resolve_data_config({}, model=model)
    size = input_size or config["input_size"][-1]
    first = next(getattr(model, attr) for attr in ("patch_embed", "stem", "conv1") if hasattr(model, attr))
    first.register_forward_pre_hook(ResizeNormalize(size, config["mean"], config["std"]))
    return model.eval()


def is_online(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers (paper-scale cells run only then)."""
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False
