"""The `seelike` command: the book's computations without a notebook, writing files instead of widgets.

    seelike reproduce --figures 1,2 --out figures     the paper's figures as PNG (book scale: offline, CPU)
    seelike cka vit resnet --images 256 --out cka.npz  CKA between two models: a table, the matrix, a heatmap
    seelike zoo list                                   the trained zoo: accuracy, checkpoint present
    seelike zoo verify                                 every checkpoint's sha256 against the manifest
    seelike train vit --threads 1                      train zoo entries (as `python -m seelike.train`)

Every figure is made by the same package calls as the chapter that shows it: the memoized measures and the
`seelike.claims` functions the chapter calls, with its arguments (the seeded zoo, the first
`claims.CKA_IMAGES`, `claims.DISTANCE_IMAGES`, ... test images), so `reproduce` after a book build reads the
chapters' cached results (`seelike.cache.memoize`; nothing here builds a cache key). Bad input ends with one
line on stderr and exit code 2; a missing checkpoint, a checksum mismatch or no internet for paper scale with
code 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, zoo

# --------------------------------------------------------------------------------------------- errors


class CliError(Exception):
    """A failure reported as one line on stderr; `code` 2 for bad input, 1 for everything else."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line (no usage block): `seelike cka: error: ... (see --help)`."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _writable(path: Path, folder: bool = False) -> Path:
    """`path` (a file, or a folder), after checking that it can be written: its folder is created if needed
    and a probe file written and removed there.

    Raises:
        CliError (code 2) naming the path and the reason.
    """
    path = path.expanduser()
    try:
        directory = path if folder else path.parent
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".seelike-probe-"):
            pass
    except OSError as error:
        raise CliError(f"cannot write --out {path}: {error.strerror or error}") from None
    if not folder and path.is_dir():
        raise CliError(f"cannot write --out {path}: it is a folder")
    return path


def _device(name: str | None) -> str:
    """The torch device to use: `name`, or cuda when available; CliError when cuda is asked for and absent."""
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CliError("--device cuda: CUDA is not available on this machine (torch sees no GPU)")
    return name


def _count(text: str) -> int:
    """argparse type for an image count: an integer of at least 4 (the unbiased CKA estimator's minimum)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 4:
        raise argparse.ArgumentTypeError(
            f"need at least 4 images (the unbiased CKA estimator's minimum), got {value}"
        )
    return value


def _int_list(text: str) -> list[int]:
    """argparse type for "1,2,5" or "1 2 5"."""
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None


# --------------------------------------------------------------------------------------------- scales


def _load(name: str, seed: int, device: str) -> nn.Module:
    """`zoo.load`, with an unknown name or seed as a one-line error (a missing checkpoint: code 1)."""
    try:
        return zoo.load(name, seed=seed, device=device)
    except KeyError as error:
        raise CliError(str(error.args[0] if error.args else error), code=1) from None


PAPER_MODELS = {  # the paper-scale model behind each zoo role (chapter 5's paper-scale cell)
    "vit": "vit_base_patch16_224.augreg_in21k",
    "resnet": "resnetv2_50x1_bit.goog_in21k",
}
PAPER_LABELS = {"vit": "ViT-B/16", "resnet": "ResNet50x1"}
DATA_LABELS = {"vit-data3": "3%", "vit-data10": "10%", "vit-data30": "30%", "vit": "100%"}


class Scale:
    """The models, images and settings of one scale; each figure asks it for what it needs.

    Book scale: the seeded zoo on Fashion-MNIST (offline), read as the chapters read it: the first test
    images (`claims.CKA_IMAGES`, `claims.DISTANCE_IMAGES`, ... of them), seed 0 for the figures of one
    model, every trained seed for the figures drawn over seeds (Figs 12 and 13). Paper scale: timm's public
    ImageNet-21k models on CIFAR-10 (online), block outputs and 256 images on a CPU, all layers and 1,024
    images on a GPU (`comparisons.paper_scale`).

    Args:
        name: "book" or "paper".
        device: torch device for the models.
        seed: zoo seed (book scale): every figure of this seed only; None: as the chapters (seed 0, and
            every trained seed where a figure shows the spread over seeds).
        images: images per measurement instead of each figure's own count (None: as in the book); another
            count reads and writes other cache entries than the chapters'.
    """

    pretrained = True  # paper scale downloads the public weights (tests build random ones)

    def __init__(self, name: str, device: str, seed: int | None = None, images: int | None = None):
        self.name, self.device, self.seed, self.override = name, device, seed, images
        self.main_seed = 0 if seed is None else seed
        self._models: dict[tuple[str, int], nn.Module] = {}
        self._data: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._paper: dict[str, Any] | None = None
        self._structure: dict[str, dict] | None = None
        self.default_images = 1024 if device == "cuda" else 256  # paper scale (comparisons.paper_scale's)

    def count(self, default: int) -> int:
        """How many images a measurement uses: the `--images` override, else the book's count (book) or
        256 on a CPU, 1,024 on a GPU (paper)."""
        return self.override or (default if self.name == "book" else self.default_images)

    def dataset(self, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of the scale's data set: Fashion-MNIST (book) or CIFAR-10 (paper)."""
        if split not in self._data:
            from . import data

            self._data[split] = data.fashion_mnist(split) if self.name == "book" else data.cifar10(split)
        return self._data[split]

    def images(self, default: int) -> torch.Tensor:
        """The first `count(default)` test images, as the chapters take them."""
        return self.dataset()[0][: self.count(default)]

    def model(self, role: str, seed: int | None = None) -> nn.Module:
        """A model in eval mode: the zoo entry `role` of `seed` (default: this scale's seed; book), or the
        paper's model in that role (paper)."""
        seed = self.main_seed if seed is None else seed
        if (role, seed) not in self._models:
            if self.name == "book":
                self._models[role, seed] = _load(role, seed, self.device)
            else:
                self._models[role, seed] = zoo.paper_scale_model(
                    PAPER_MODELS[role], pretrained=self.pretrained, device=self.device
                )
        return self._models[role, seed]

    def untrained(self, role: str, seed: int | None = None) -> nn.Module:
        """The untrained network that the zoo entry `role` of `seed` started from, in eval mode."""
        return zoo.build(role, self.main_seed if seed is None else seed).eval()

    def entry(self, role: str) -> dict[str, Any]:
        """The manifest record of the zoo entry `role` of this scale's seed."""
        return zoo.manifest_entry(role, self.main_seed)

    def seeds(self, name: str) -> list[int]:
        """The seeds of `name` that a figure over seeds shows: every trained one, or this scale's seed."""
        return [s for s in zoo.trained(name) if self.seed is None or s == self.seed]

    def has(self, name: str) -> bool:
        """Whether the zoo entry `name` is trained for this scale's seed."""
        return self.main_seed in zoo.trained(name)

    def label(self, role: str) -> str:
        """The name a figure shows for a model role."""
        return {"vit": "ViT", "resnet": "ResNet"}[role] if self.name == "book" else PAPER_LABELS[role]

    def paper(self) -> dict[str, Any]:
        """Chapter 5's paper-scale call, `comparisons.paper_scale`, once per scale (Figs 1 and 2)."""
        if self._paper is None:
            from . import comparisons

            models = {PAPER_LABELS[role]: PAPER_MODELS[role] for role in ("vit", "resnet")}
            self._paper = comparisons.paper_scale(
                self.images(self.default_images), models=models, pretrained=self.pretrained,
                device=self.device, progress=True,
            )  # fmt: skip
        return self._paper

    def structure(self) -> dict[str, dict]:
        """Chapter 5's matrices, `claims.structure_matrices` of every trained vit and resnet seed on the
        first `claims.CKA_IMAGES` test images (one `joint_cka`: the chapter's cached result), once per
        scale."""
        if self._structure is None:
            from . import claims

            seeds = {role: list(zoo.trained(role)) for role in ("vit", "resnet")}
            for role, trained in seeds.items():
                if self.main_seed not in trained:
                    raise CliError(
                        f"{role} seed {self.main_seed} is not trained "
                        f"(trained: {trained or 'none'}; {zoo.rebuild_command(role, self.main_seed)})",
                        code=1,
                    )
            self._structure = claims.structure_matrices(
                seeds["vit"], seeds["resnet"], self.images(claims.CKA_IMAGES)
            )
        return self._structure


# --------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class FigureSpec:
    """One paper figure: what it shows, the chapter it comes from and how `reproduce` draws it."""

    number: int
    title: str
    chapter: str
    draw: Callable[[Scale], Any]
    paper: bool = False  # also at paper scale


FIGURES: dict[int, FigureSpec] = {}


def _figure(number: int, title: str, chapter: str, paper: bool = False):
    def register(draw: Callable[[Scale], Any]) -> Callable[[Scale], Any]:
        FIGURES[number] = FigureSpec(number, title, chapter, draw, paper)
        return draw

    return register


@_figure(1, "within-model CKA heatmaps of ViT and ResNet", "05_structure", paper=True)
def figure_1(scale: Scale):
    from . import comparisons, figures

    if scale.name == "paper":
        results = {label: (matrix, names) for label, (matrix, names, _) in scale.paper()["within"].items()}
        subtitles = {
            label: f"mean off-diagonal CKA {comparisons.mean_off_diagonal(matrix):.2f}"
            for label, (matrix, _) in results.items()
        }
        return figures.within_model_heatmaps(results, subtitles)
    within, seed = scale.structure()["within"], scale.main_seed
    results = {scale.label(role): within[(role, seed)] for role in ("vit", "resnet")}
    subtitles = {
        label: f"seed {seed}, trained: U = {comparisons.mean_off_diagonal(matrix):.2f}"
        for label, (matrix, _) in results.items()
    }
    return figures.within_model_heatmaps(results, subtitles)


@_figure(2, "CKA between ViT and ResNet layers, best-match path", "05_structure", paper=True)
def figure_2(scale: Scale):
    from . import comparisons, figures

    vit, resnet = scale.label("vit"), scale.label("resnet")
    if scale.name == "paper":
        (matrix, names_vit, names_resnet), match = scale.paper()["cross"], scale.paper()["match"]
        title = f"CKA between {vit} and {resnet} layers"
    else:
        seed = scale.main_seed
        matrix, names_vit, names_resnet = scale.structure()["cross"][(seed, seed)]
        match = comparisons.correspondence(matrix, names_vit, names_resnet)
        title = f"CKA between {vit} and {resnet} layers (seed {seed} and seed {seed})"
    return figures.cross_model_heatmap(
        matrix, names_vit, names_resnet, match["best_vit_index"], model_x=vit, model_y=resnet, title=title
    )


@_figure(3, "mean attention distance of every head", "06_local_global")
def figure_3(scale: Scale):
    from . import claims, figures

    images = scale.images(claims.DISTANCE_IMAGES)
    distances, uniform = claims.head_distances(scale.model("vit"), images)
    title = f"vit seed {scale.main_seed}: mean attention distance ({len(images)} images)"
    return figures.mean_distance_by_head(distances, uniform, title=title)


@_figure(4, "mean attention distance by training-set size", "06_local_global")
def figure_4(scale: Scale):
    from . import claims, figures

    images = scale.images(claims.DISTANCE_IMAGES)
    names = [name for name in claims.FRACTIONS if scale.has(name)]
    if not names:
        raise CliError(f"Fig 4: no ViT of seed {scale.main_seed} is trained", code=1)
    values, counts, uniform = {}, {}, None
    for name in names:
        title = f"{claims.FRACTIONS[name]:.0%} of the data"
        values[title], uniform = claims.head_distances(scale.model(name), images)
        counts[title] = claims.head_counts(values[title], uniform)["local_low"]  # C4's L(f)
    title = f"mean attention distance by training-set size (seed {scale.main_seed})"
    return figures.mean_distance_by_data(values, uniform, None, counts, 0.6, title=title)


@_figure(5, "CKA of head subsets with early ResNet layers", "06_local_global")
def figure_5(scale: Scale):
    from . import claims, figures

    result = claims.head_subset_result(
        scale.model("vit"), scale.model("resnet"), scale.images(claims.CKA_IMAGES),
        scale.images(claims.DISTANCE_IMAGES),
    )  # fmt: skip
    labels = ["h" + "+".join(map(str, subset)) for subset in result["subsets"]]
    return figures.head_subset_cka_curves(
        result["distance"], result["cka"], result["layers"], labels,
        title=f"block 0 heads, {claims.HEAD_SUBSET_SIZE} per subset (local → global) vs ResNet",
    )  # fmt: skip


@_figure(6, "effective receptive fields", "06_local_global")
def figure_6(scale: Scale):
    from . import attention, claims, figures, receptive_field

    vit, resnet = scale.model("vit"), scale.model("resnet")
    images = scale.images(claims.ERF_IMAGES)
    vit_points = receptive_field.vit_erf_points(vit)
    points = {
        "ResNet": (resnet, receptive_field.resnet_erf_points(resnet)),
        "ViT": (vit, {f"block {b}": vit_points[f"blocks.{b}.attn+residual"] for b in range(len(vit.blocks))}),
    }
    rows = {
        title: receptive_field.effective_receptive_fields(model, images, chosen, progress=True)
        for title, (model, chosen) in points.items()
    }
    patch_size = attention.model_patch_geometry(vit)[0]
    title = f"effective receptive fields (ViT attention after residual; {len(images)} images)"
    return figures.receptive_field_grid(rows, {"ViT": patch_size}, title=title)


@_figure(7, "skip-connection norm ratios", "07_spatial")
def figure_7(scale: Scale):
    from . import claims, figures, skips

    images = scale.images(claims.SKIP_IMAGES)
    vit = skips.skip_norm_ratio(scale.model("vit"), images, progress=True)
    resnet = skips.skip_norm_ratio(scale.model("resnet"), images, progress=True)
    return figures.skip_norm_ratios(
        vit.ratio, vit.sublayers, vit.num_prefix_tokens, vit.averages(), resnet.averages()["block"],
        title=f"vit seed {scale.main_seed}: skip-connection norm ratio",
    )  # fmt: skip


@_figure(8, "within-model CKA without one block's skip connections", "07_spatial")
def figure_8(scale: Scale):
    from . import claims, figures
    from .cka import model_cka

    images = scale.images(claims.CKA_IMAGES)
    names = ("vit", *claims.NOSKIP.values())  # the intact vit: the same recipe and steps as the no-skip ones
    within = {
        name: model_cka(scale.model(name), None, images, batch_size=claims.CKA_BATCH, progress=True)
        for name in names
    }
    accuracies = {name: scale.entry(name)["test_accuracy"] for name in names}
    removed = {name: (zoo.spec(name).no_skip_blocks or (None,))[0] for name in names}
    matrices = {name: matrix for name, (matrix, _, _) in within.items()}
    return figures.noskip_cka_heatmaps(matrices, within["vit"][1], accuracies, removed)


def _localization(scale: Scale, located: dict[str, tuple[str, str | None]]):
    from . import claims, figures

    images = scale.images(claims.CKA_IMAGES)
    results = {
        label: claims.localization_result(scale.model(name), images, layer)
        for label, (name, layer) in tqdm(located.items(), desc="localization")
    }
    maps = {label: result["map"] for label, result in results.items()}
    return figures.localization_mosaic(
        maps, {label: result["own_fraction"] for label, result in results.items()}
    )


@_figure(9, "localization: ViT tokens and ResNet positions against input patches", "07_spatial")
def figure_9(scale: Scale):
    # the final blocks, and the ResNet stage whose grid matches the ViT's (chapter 7's LOCALIZED)
    located = {"vit": ("vit", None), "resnet": ("resnet", None), "resnet layer3": ("resnet", "layer3")}
    return _localization(scale, located)


@_figure(10, "localization: CLS-token ViT against global-average-pooling ViT", "07_spatial")
def figure_10(scale: Scale):
    return _localization(scale, {"vit": ("vit", None), "vit-gap": ("vit-gap", None)})


def _probe_inputs(scale: Scale, model: nn.Module):
    """The probes' float64 model and data with `--images` test images: `claims.probe_data()`'s training
    images (`claims.PROBE_SHOTS` per class) and its first test images."""
    import copy

    from . import claims

    train_x, train_y, test_x, test_y = claims.probe_data()
    stop = scale.override
    return copy.deepcopy(model).double(), train_x.double(), train_y, test_x[:stop].double(), test_y[:stop]


def _probe_layers(scale: Scale, model: nn.Module) -> dict:
    """Chapter 7's probes of `model`: `claims.probe_curves` (book), `probes.probe_layers` with
    `claims.PROBE_L2` on `--images` test images (an override)."""
    from . import claims, probes

    if scale.override is None:
        return claims.probe_curves(model)
    return probes.probe_layers(
        *_probe_inputs(scale, model), l2=claims.PROBE_L2, per_token=True, progress=True
    )


def _depth_probe(scale: Scale, model: nn.Module) -> np.ndarray:
    """Chapter 8's probe accuracy by depth of `model`'s own read-out: `claims.depth_probe` (book),
    `probes.probe_layers` with `claims.PROBE_L2` on `--images` test images (an override)."""
    from . import claims, probes

    if scale.override is None:
        return claims.depth_probe(model)["accuracy"]
    result = probes.probe_layers(*_probe_inputs(scale, model), l2=claims.PROBE_L2, progress=True)
    return probes.readout_curve(result, "own")[0].double().numpy()


@_figure(11, "linear probes per block: CLS, GAP and single tokens", "07_spatial")
def figure_11(scale: Scale):
    from . import figures

    results = {
        name: _probe_layers(scale, scale.model(name))
        for name in tqdm(("vit", "vit-gap", "resnet"), desc="probes")
    }
    return figures.probe_accuracy_curves(results)


@_figure(12, "same-layer CKA with the full-data ViT, by training-set size", "08_data_scale")
def figure_12(scale: Scale):
    from . import claims, figures

    seeds_of = {name: scale.seeds(name) for name in claims.FRACTIONS} | {"vit": list(zoo.trained("vit"))}
    result = claims.fraction_curves(seeds_of, scale.images(claims.CKA_IMAGES), "blocks")
    if not result["pairs"]:
        seed = "the same seed" if scale.seed is None else f"seed {scale.seed}"
        raise CliError(f"Fig 12 needs a trained vit-data3 and vit-data30 of {seed}", code=1)
    curves = {DATA_LABELS[name]: values for name, values in result["curves"].items()}
    if result["ceiling"]:
        curves["100% (another seed)"] = result["ceiling"]
    references = sorted({r for _, r in result["pairs"]})
    return figures.curves_with_spread(
        np.arange(len(result["init"][0])), curves, {"untrained network": np.mean(result["init"], axis=0)},
        xlabel="block", ylabel=f"CKA with vit (seed {', '.join(map(str, references))})", ylim=(0, 1.02),
        title="Fig 12: same-layer CKA with vit, block outputs",
    )  # fmt: skip


@_figure(13, "linear probes by normalised depth, by training-set size", "08_data_scale")
def figure_13(scale: Scale):
    from . import claims, figures

    curves = {
        DATA_LABELS[name]: [_depth_probe(scale, scale.model(name, seed)) for seed in scale.seeds(name)]
        for name in tqdm(claims.FRACTIONS, desc="probes")
        if scale.seeds(name)
    }
    untrained = [_depth_probe(scale, scale.untrained("vit", seed)) for seed in scale.seeds("vit")]
    if not untrained:
        raise CliError(f"Fig 13 needs a trained vit of seed {scale.main_seed}", code=1)
    count = len(untrained[0])
    depth = np.arange(count) / (count - 1) if count > 1 else np.zeros(1)  # block i of L at i / (L − 1)
    return figures.curves_with_spread(
        depth, curves, {"untrained vit": np.mean(untrained, axis=0)},
        xlabel="relative depth (block i / (L − 1))", ylabel="CLS probe test accuracy",
        title=f"Fig 13: {claims.PROBE_SHOTS}-shot linear probes by depth",
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- reproduce


def claims_of(numbers: Sequence[int]) -> list[str]:
    """The claims (C1..C14 of claims.md) that the paper's figures `numbers` show ("Figs 9, 10" → C9)."""
    from .claims import CLAIMS

    def shown(figure: str) -> set[int]:
        return {int(n) for n in re.findall(r"\d+", figure)} if figure.startswith("Fig") else set()

    return [claim for claim, (figure, _) in CLAIMS.items() if shown(figure) & set(numbers)]


def verdict_table(scale: str, which: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], str] | None:
    """The verdict on each of the paper's claims, from `seelike.claims.evaluate`: the one place `reproduce`
    asks for it.

    Args:
        scale: "book" or "paper".
        which: claim ids to judge (default all).

    Returns:
        (one JSON-ready dict per claim, the Markdown table), or None while `seelike.claims` has no `evaluate`.
    """
    from . import claims

    evaluate = getattr(claims, "evaluate", None)
    if evaluate is None:
        return None
    records = evaluate(scale=scale, claims=which)
    return [record.to_dict() for record in records], claims.markdown_table(records)


def _write_verdicts(table: tuple[list[dict[str, Any]], str], scale: str, out: Path) -> list[Path]:
    """Write a verdict table as verdicts.json and verdicts.md in `out`."""
    rows, markdown = table
    (out / "verdicts.json").write_text(
        json.dumps({"scale": scale, "claims": rows}, indent=2, default=str) + "\n"
    )
    (out / "verdicts.md").write_text(f"# The paper's claims at {scale} scale\n\n{markdown}\n")
    return [out / "verdicts.json", out / "verdicts.md"]


def _figure_numbers(text: str | None, scale: str, parser: argparse.ArgumentParser) -> list[int]:
    available = [n for n, spec in FIGURES.items() if scale == "book" or spec.paper]
    if text is None:
        return available
    try:
        numbers = _int_list(text)
    except argparse.ArgumentTypeError as error:
        parser.error(f"--figures: {error}")
    unknown = [n for n in numbers if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure number(s) {unknown}: the paper's figures are 1-{max(FIGURES)}")
    missing = [n for n in numbers if n not in available]
    if missing:
        parser.error(f"figure(s) {missing} exist at book scale only; at paper scale: {available}")
    return list(dict.fromkeys(numbers))


def reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`seelike reproduce`: each requested figure as PNG in --out, and a README.md saying what is there."""
    numbers = _figure_numbers(args.figures, args.scale, parser)
    out = _writable(Path(args.out), folder=True)
    seeds: list[int | None] = list(args.seeds) if args.seeds else [None]
    if args.seeds and args.scale == "paper":
        raise CliError(
            "--seeds applies to book scale only (paper-scale models have one set of public weights)"
        )
    device = _device(args.device or ("cpu" if args.scale == "book" else None))  # paper: cuda when present
    if args.scale == "paper" and not zoo.is_online():
        raise CliError(
            "--scale paper needs internet access (timm weights and CIFAR-10), and huggingface.co does not "
            "answer; run it online (e.g. on Colab), or use --scale book offline",
            code=1,
        )
    written = []
    jobs = [(number, seed) for seed in seeds for number in numbers]
    scales = {seed: Scale(args.scale, device, seed, args.images) for seed in seeds}  # models load once
    for number, seed in tqdm(jobs, desc="figures", unit="fig"):
        spec, scale = FIGURES[number], scales[seed]
        tqdm.write(f"Fig {number}: {spec.title} (book/{spec.chapter}.ipynb)")
        figure = spec.draw(scale)
        path = out / (f"fig{number:02d}.png" if seed is None else f"fig{number:02d}-seed{seed}.png")
        figure.savefig(path, dpi=120, bbox_inches="tight")
        written.append(path)
    every = args.figures is None  # all figures: every claim, the appendices' (Mixer, fine-tuning) included
    table = None if args.no_verdicts else verdict_table(args.scale, None if every else claims_of(numbers))
    if table is not None:
        written += _write_verdicts(table, args.scale, out)
    note = (
        "verdicts.json and verdicts.md hold the verdict on each of the paper's claims (seelike.claims)."
        if table is not None
        else "No verdict table: --no-verdicts."
        if args.no_verdicts
        else "The verdict table (verdicts.json, verdicts.md) is not written yet: it comes once "
        "`seelike.claims.evaluate` exists, which judges each of the paper's claims by fixed rules."
    )
    _write_readme(out, args, numbers, seeds, written, note)
    print(f"wrote {len(written)} file(s) to {out}:", ", ".join(path.name for path in written))
    print(note)
    return 0


def _write_readme(out: Path, args, numbers, seeds, written: list[Path], note: str) -> None:
    command = shlex.join(["seelike", *args.argv])
    lines = [
        "# seelike reproduce",
        "",
        f"Made by `{command}` (seelike {__version__}, torch {torch.__version__}), {args.scale} scale.",
        "",
        "| file | figure | chapter |",
        "|---|---|---|",
    ]
    for path in written:
        if path.name.startswith("fig"):
            spec = FIGURES[int(path.name[3:5])]
            lines.append(f"| {path.name} | Fig {spec.number}: {spec.title} | book/{spec.chapter}.ipynb |")
    lines += ["", note, ""]
    (out / "README.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------- cka


def _is_timm_name(name: str) -> bool:
    import timm

    return name.split(".")[0] in timm.list_models()


def _cka_model(name: str, seed: int, device: str) -> nn.Module:
    if name in _zoo_names():
        return _load(name, seed, device)
    return zoo.paper_scale_model(name, device=device)


def cka(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`seelike cka A B`: the CKA matrix between two models' layers, printed, saved and drawn."""
    from . import activations, data, figures
    from .cka import model_cka

    kinds = []
    for name in (args.model_a, args.model_b):
        if name in _zoo_names():
            kinds.append("zoo")
        elif _is_timm_name(name):
            kinds.append("timm")
        else:
            parser.error(
                f"unknown model {name!r}: neither a zoo entry ({', '.join(_zoo_names())}) nor a timm name"
            )
    if kinds[0] != kinds[1]:
        parser.error(
            "compare two zoo entries (Fashion-MNIST, 28x28 grey) or two timm models (colour), not one of each"
        )
    out = Path(args.out or f"cka_{args.model_a}_{args.model_b}.npz".replace("/", "-"))
    if out.suffix not in (".npz", ".csv"):
        parser.error(f"--out must end in .npz or .csv, got {out.name!r}")
    out = _writable(out)
    device = _device(args.device or "cpu")
    if kinds[0] == "timm" and not zoo.is_online():
        raise CliError(
            "timm models need internet access for their weights, and huggingface.co does not answer", 1
        )
    images = (data.fashion_mnist("test") if kinds[0] == "zoo" else data.cifar10("test"))[0]
    if args.images > len(images):
        parser.error(f"--images {args.images}: the test set has {len(images)} images")
    model_a = _cka_model(args.model_a, args.seed, device)
    model_b = model_a if args.model_b == args.model_a else _cka_model(args.model_b, args.seed, device)
    layers_a, layers_b = (
        activations.layers_for(model_a, args.layers),
        activations.layers_for(model_b, args.layers),
    )
    matrix, names_a, names_b = model_cka(
        model_a, None if model_b is model_a else model_b, images[: args.images], layers_a, layers_b,
        batch_size=args.batch_size, progress=True,
    )  # fmt: skip
    print(format_table(matrix, names_a, names_b, args.model_a, args.model_b))
    values = matrix.double().numpy()
    if out.suffix == ".npz":
        np.savez(out, matrix=values, names_a=np.array(names_a), names_b=np.array(names_b),
                 model_a=args.model_a, model_b=args.model_b, images=args.images)  # fmt: skip
    else:
        rows = [",".join([f"{args.model_a} \\ {args.model_b}", *names_b])]
        rows += [
            ",".join([name, *(f"{v:.6f}" for v in row)]) for name, row in zip(names_a, values, strict=True)
        ]
        out.write_text("\n".join(rows) + "\n")
    heatmap = out.with_suffix(".png")
    title = f"CKA: {args.model_a} vs {args.model_b} ({args.layers}, {args.images} images)"
    figure = figures.cka_heatmap(
        matrix,
        names_a,
        names_b,
        title=title,
        xlabel=f"{args.model_a} layers",
        ylabel=f"{args.model_b} layers",
    )
    figure.savefig(heatmap, dpi=120, bbox_inches="tight")
    print(f"wrote {out} and {heatmap}")
    return 0


def format_table(matrix: torch.Tensor, names_a: Sequence[str], names_b: Sequence[str], a: str, b: str) -> str:
    """A CKA matrix as text: one row per layer of model a, one column per layer of model b (numbered).

    Args:
        matrix: (len(names_a), len(names_b)) CKA.
        names_a, names_b: the layer names.
        a, b: the models' names.

    Returns:
        the table, with a legend of model b's column numbers under it.
    """
    width = max(len(a), *(len(name) for name in names_a))
    header = f"{a:<{width}} " + " ".join(f"{j:>5d}" for j in range(len(names_b)))
    lines = [f"CKA, rows: {a} layers, columns: {b} layers", header]
    for name, row in zip(names_a, matrix.tolist(), strict=True):
        lines.append(f"{name:<{width}} " + " ".join(f"{value:5.2f}" for value in row))
    lines.append(f"{b} columns: " + ", ".join(f"{j} {name}" for j, name in enumerate(names_b)))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- zoo, train


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _trained() -> list[tuple[str, int, dict[str, Any]]]:
    """Every checkpoint in the zoo's manifest: (name, seed, entry), in the zoo's order of names."""
    models = zoo.read_manifest().get("models", {})
    order = {name: index for index, name in enumerate(zoo.names())}
    rows = [(name, int(seed), entry) for name, seeds in models.items() for seed, entry in seeds.items()]
    return sorted(rows, key=lambda row: (order.get(row[0], len(order)), row[0], row[1]))


def _zoo_names() -> list[str]:
    """Every zoo entry that can be named."""
    return zoo.names()


def zoo_list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`seelike zoo list`: every trained checkpoint, its test accuracy and whether its file is here; then the
    zoo entries without any."""
    rows = _trained()
    print(f"{'model':14s} {'seed':>6s} {'test acc':>9s}  checkpoint")
    for name, seed, entry in rows:
        accuracy = f"{entry['test_accuracy']:.2%}" if "test_accuracy" in entry else "-"
        present = "present" if zoo.checkpoint_path(name, seed).is_file() else "missing"
        print(f"{name:14s} {seed:>6d} {accuracy:>9s}  {present}")
    for name in [n for n in zoo.names() if n not in {row[0] for row in rows}]:
        print(f"{name:14s} {'-':>6s} {'-':>9s}  no trained seed (seelike train {name})")
    return 0


def zoo_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`seelike zoo verify`: the sha256 of every checkpoint in the manifest; code 1 when any differs."""
    rows, problems = _trained(), []
    for name, seed, entry in tqdm(rows, desc="sha256", unit="checkpoint"):
        path, label = zoo.checkpoint_path(name, seed), f"{name} seed {seed}"
        if not path.is_file():
            problems.append(f"{label}: {path} is missing")
        elif _sha256(path) != entry.get("sha256"):
            problems.append(
                f"{label}: {path} does not match the manifest's sha256 (git checkout it, or retrain)"
            )
    if problems:
        print(f"{len(problems)} of {len(rows)} checkpoints failed:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"all {len(rows)} checkpoints match their manifest's sha256")
    return 0


def train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`seelike train NAME...`: hands the arguments to `seelike.train.main`."""
    unknown = [name for name in args.names if name not in zoo.names()]
    if unknown:
        parser.error(f"unknown zoo entry {', '.join(unknown)}; known: {', '.join(zoo.names())}")
    if not args.names and not args.all:
        parser.error("name at least one zoo entry, or pass --all")
    argv = list(args.names) + (["--all"] if args.all else []) + (["--force"] if args.force else [])
    if args.seed is not None:
        argv += ["--seed", *map(str, args.seed)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    from . import train as training

    training.main(argv)
    return 0


# --------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The `seelike` argument parser, one subcommand per task."""
    parser = _Parser(prog="seelike", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"seelike {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    figures = ", ".join(f"{n} {spec.title}" for n, spec in FIGURES.items())
    reproduce_parser = commands.add_parser(
        "reproduce",
        help="write the paper's figures as PNG files",
        description="Recompute the paper's figures as the book's chapters do and write each as figNN.png.",
        epilog=f"Figures: {figures}. Paper scale has figures "
        f"{', '.join(str(n) for n, s in FIGURES.items() if s.paper)}.",
    )
    reproduce_parser.add_argument(
        "--figures", help="comma-separated figure numbers (default: all at this scale)"
    )
    reproduce_parser.add_argument(
        "--scale", choices=("book", "paper"), default="book",
        help="book: the committed zoo on Fashion-MNIST, offline (default); paper: timm's ImageNet-21k models "
        "on CIFAR-10, online",
    )  # fmt: skip
    reproduce_parser.add_argument(
        "--device", choices=("cpu", "cuda"), help="default: cpu (book), cuda if any (paper)"
    )
    reproduce_parser.add_argument(
        "--seeds", type=_int_list, help="zoo seeds, e.g. 0,1,2: one set of figures each"
    )
    reproduce_parser.add_argument(
        "--images", type=_count, help="images per measurement (default: as in the book)"
    )
    reproduce_parser.add_argument(
        "--no-verdicts", action="store_true", help="figures only: skip judging the claims (seelike.claims)"
    )
    reproduce_parser.add_argument(
        "--out", required=True, help="folder for the PNG files (created if missing)"
    )
    reproduce_parser.set_defaults(run=reproduce)

    cka_parser = commands.add_parser(
        "cka",
        help="CKA matrix between the layers of two models",
        description="Minibatch linear CKA between every layer of model A and every layer of model B, printed "
        "as a table, saved as .npz or .csv (by the suffix of --out) with a heatmap PNG beside it.",
    )
    cka_parser.add_argument(
        "model_a", metavar="A", help=f"a zoo entry ({', '.join(zoo.names())}) or a timm name"
    )
    cka_parser.add_argument("model_b", metavar="B", help="the second model (the same as A: within-model CKA)")
    cka_parser.add_argument(
        "--layers",
        choices=("blocks", "all", "norms", "mlp"),
        default="blocks",
        help="which layers: block outputs (default), all named layers, norms or MLP hidden activations",
    )
    cka_parser.add_argument(
        "--images", type=_count, default=1024, help="test images (default 1024; at least 4)"
    )
    cka_parser.add_argument("--batch-size", type=_count, default=256, help="CKA minibatch size (default 256)")
    cka_parser.add_argument("--seed", type=int, default=0, help="zoo seed (default 0, as the chapters)")
    cka_parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cpu")
    cka_parser.add_argument(
        "--out", help="FILE.npz or FILE.csv (default cka_A_B.npz); the heatmap goes to FILE.png"
    )
    cka_parser.set_defaults(run=cka)

    zoo_parser = commands.add_parser(
        "zoo", help="the trained zoo", description="List or verify the trained zoo."
    )
    zoo_commands = zoo_parser.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    zoo_commands.add_parser(
        "list", help="entries, accuracy, checkpoint present", description="Every zoo entry with its accuracy."
    ).set_defaults(run=zoo_list)
    zoo_commands.add_parser(
        "verify", help="sha256 of every checkpoint against the manifest",
        description="Check every checkpoint's sha256 against data/zoo/manifest.json; exit 1 on any mismatch.",
    ).set_defaults(run=zoo_verify)  # fmt: skip

    train_parser = commands.add_parser(
        "train",
        help="train zoo entries",
        description="Train zoo entries (the same as python -m seelike.train).",
    )
    train_parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"zoo entries: {', '.join(zoo.names())}"
    )
    train_parser.add_argument("--all", action="store_true", help="every entry not yet in the manifest")
    train_parser.add_argument("--force", action="store_true", help="retrain entries already in the manifest")
    train_parser.add_argument("--seed", type=int, nargs="+", help="training seed(s)")
    train_parser.add_argument("--threads", type=int, help="torch threads")
    train_parser.set_defaults(run=train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `seelike` command.

    Args:
        argv: the arguments (default: sys.argv[1:]).

    Returns:
        the exit code: 0 on success, 2 for bad input, 1 for other failures (each reported in one line).
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    command_parser = _subparser(parser, argv)
    try:
        args = parser.parse_args(argv)
        args.argv = argv
        return args.run(args, command_parser)
    except SystemExit as exit:  # argparse: --help (0) and bad usage (2)
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except (CliError, zoo.CheckpointError) as error:
        print(f"{command_parser.prog}: error: {error}", file=sys.stderr)
        return getattr(error, "code", 1)


def _subparser(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of the subcommand named in `argv` (for its error messages)."""
    if parser._subparsers is None:  # argparse keeps its subparsers here
        return parser
    for action in parser._subparsers._group_actions:
        for word in argv:
            if word in action.choices:
                return _subparser(action.choices[word], argv[argv.index(word) + 1 :])
    return parser


if __name__ == "__main__":
    sys.exit(main())
