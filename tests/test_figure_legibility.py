"""Every public figure function meets the book's figure standard (`seelike.figures.style`) as shown.

`CASES` holds, for every name in the `__all__` of every figure module, a builder that calls it on small
synthetic inputs shaped like the book's (the zoo's 38-layer ViT and 17-layer ResNet, 6 blocks of 8 heads, a
7×7 grid of 4-pixel patches). Each figure is drawn and measured by `legibility_problems` at the size the book
shows it: no text under 9 CSS px, no overlapping tick labels, no title over other text, no text across the
figure's edge, no legend crossed by a curve, no 2.5 on an axis of blocks. A new figure function without a
case here fails `test_every_figure_function_has_a_case`.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import seelike.figures as F
from seelike.figures import legibility, style

INFRASTRUCTURE = {"style", "legibility", "redraw"}  # the standard and the live redraw path, not figures
RNG = np.random.default_rng(0)
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
BLOCKS, HEADS, GRID, PATCH = 6, 8, 7, 4


def _vit_names(blocks: int = BLOCKS) -> list[str]:
    inner = ["norm1", "attn", "resid1", "norm2", "mlp.act"]
    return (
        ["stem"]
        + [n for b in range(blocks) for n in [*(f"blocks.{b}.{i}" for i in inner), f"blocks.{b}"]]
        + ["norm"]
    )


def _resnet_names() -> list[str]:
    return ["stem"] + [
        n for s in range(1, 5) for b in range(2) for n in (f"layer{s}.{b}.act1", f"layer{s}.{b}")
    ]


def _cka(nx: int, ny: int | None = None) -> torch.Tensor:
    ny = nx if ny is None else ny
    x, y = np.linspace(0, 1, nx)[:, None], np.linspace(0, 1, ny)[None, :]
    return torch.tensor(np.clip(1 - np.abs(x - y) + 0.05 * RNG.standard_normal((nx, ny)), 0, 1))


def _image(channels: int = 1, size: int = 28) -> torch.Tensor:
    return torch.tensor(RNG.random((channels, size, size)), dtype=torch.float32)


def _map(grid: int = GRID) -> np.ndarray:
    return RNG.random((grid, grid))


def _distances(blocks: int = BLOCKS, heads: int = HEADS) -> torch.Tensor:
    return torch.tensor(RNG.uniform(2, 14, (blocks, heads)))


def _localization(grid: int) -> torch.Tensor:
    p = grid * grid
    return torch.tensor(0.2 * RNG.random((p, p)) + 0.6 * np.eye(p))


def _probe_result(grid: int = GRID, blocks: int = BLOCKS) -> dict[str, torch.Tensor]:
    rising = torch.linspace(0.5, 0.9, blocks)
    return {
        "cls": rising,
        "gap": rising + 0.02,
        "gap_no_cls": rising + 0.01,
        "token": rising[:, None] - torch.tensor(0.1 * RNG.random((blocks, grid * grid))),
    }


def _series(n: int = 4) -> list[str]:
    return ["3%", "10%", "30%", "100%"][:n]


# --------------------------------------------------------------------------------------------- cases
# name → builder returning one figure or a list of figures (several views of one function).


def _layer_ticks() -> list[Figure]:  # drawn through the heatmap it labels, in every mode
    return [
        F.cka_heatmap(_cka(38), _vit_names(), _vit_names(), ticks=mode, title=f"ticks={mode}")
        for mode in ("auto", "blocks", "index")
    ] + [F.cka_heatmap(_cka(8), _resnet_names()[2::2], _resnet_names()[2::2], ticks="names")]


def _best_match_path() -> Figure:
    figure = F.cka_heatmap(_cka(38, 17), _vit_names(), _resnet_names())
    F.best_match_path(figure.axes[0], np.linspace(0, 30, 17).astype(int), label="best ViT layer")
    return figure


def _training_history(offset: float) -> dict[str, list]:
    steps = list(range(0, 4000, 50))
    return {
        "step": steps,
        "loss": list(2.3 * np.exp(-np.asarray(steps) / 1500) + offset),
        "epoch_step": [400 * e for e in range(1, 11)],
        "test_accuracy": list(np.linspace(0.6, 0.9, 10) - offset),
    }


CASES = {
    # chapters 1-3
    "gradient_norms_figure": lambda: F.gradient_norms_figure(
        {
            arch: {"init": np.geomspace(1e-6, 1, 20) * k, "trained": np.geomspace(1e-4, 1, 20) * k}
            for arch, k in (("plain", 1.0), ("residual", 0.5))
        },
        steps=200,
    ),  # fmt: skip
    "training_curves_figure": lambda: [
        F.training_curves_figure(
            {"plainnet": _training_history(0.1), "resnet": _training_history(0.0)}, smoothing=5
        ),
        F.training_curves_figure({"resnet": _training_history(0.0)}, log_loss=True),
    ],
    "training_loss_figure": lambda: F.training_loss_figure(
        {
            "plain": {"step": list(range(100)), "loss": list(np.linspace(2.3, 2.2, 100))},
            "residual": {"step": list(range(100)), "loss": list(np.linspace(2.3, 0.4, 100))},
        },
        title="20 layers, SGD lr 0.1, batch 128",
    ),  # fmt: skip
    "residual_stream_figure": lambda: F.residual_stream_figure(
        {
            "blocks": [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)],
            "skip": RNG.uniform(1, 5, 8),
            "branch": RNG.uniform(0.2, 2, 8),
            "ratio": RNG.uniform(1, 8, 8),
        },
        title="resnet: the two summands of every block",
    ),  # fmt: skip
    "attention_scaling_figure": lambda: F.attention_scaling_figure(
        RNG.dirichlet(np.ones(16), 16), RNG.dirichlet(np.ones(16) * 0.05, 16), 64, 2.6, 0.4
    ),
    "shuffled_patches_figure": lambda: F.shuffled_patches_figure(
        _image(),
        _image(),
        {
            "ResNet": (RNG.dirichlet(np.ones(10)), RNG.dirichlet(np.ones(10))),
            "ViT": (RNG.dirichlet(np.ones(10)), RNG.dirichlet(np.ones(10))),
        },
        CLASSES,
        label=3,
    ),  # fmt: skip
    "attention_map_figure": lambda: [
        F.attention_map_figure(
            _image(), RNG.dirichlet(np.ones(50)), query=17, patch_size=PATCH, title="block 2, head 3"
        ),
        F.attention_map_figure(
            _image(), RNG.dirichlet(np.ones(50)), query=0, patch_size=PATCH, title="block 0, head 0"
        ),
    ],
    "rollout_figure": lambda: F.rollout_figure(
        _image(), [_map() for _ in range(BLOCKS)], [_map() for _ in range(BLOCKS)]
    ),
    "patchify_figure": lambda: [
        F.patchify_figure(_image(), torch.rand(49, 16), PATCH, 128),
        F.patchify_figure(_image(3, 32), torch.rand(64, 48), PATCH, 128, max_tiles=8),
    ],
    "patch_filters_figure": lambda: [
        F.patch_filters_figure(
            torch.randn(32, 1, PATCH, PATCH), "vit: principal components", RNG.dirichlet(np.ones(32))[:32]
        ),
        F.patch_filters_figure(torch.randn(64, 3, 16, 16), "ViT-B/16 filters"),
    ],
    "position_similarity_figure": lambda: [
        F.position_similarity_figure(
            RNG.uniform(-0.5, 1, (GRID,) * 4), "vit: position embeddings", highlight=(2, 3)
        ),
        F.position_similarity_figure(RNG.uniform(-0.5, 1, (14,) * 4), "ViT-B/16: position embeddings"),
    ],
    # chapter 4
    "gram_matrices": lambda: F.gram_matrices(
        {name: torch.randn(60, 60) for name in ("pixels", "ViT blocks.1", "ResNet layer2.1")},
        torch.arange(10).repeat_interleave(6),
        CLASSES,
        {"ViT blocks.1": 0.41, "ResNet layer2.1": 0.62},
    ),  # fmt: skip
    "cka_invariances": lambda: [
        F.cka_invariances(
            {
                "orthogonal rotation": 1.0,
                "isotropic scaling": 1.0,
                "anisotropic scaling": 0.83,
                "invertible linear map": 0.71,
                "permuting features": 1.0,
                "adding a constant": 1.0,
            },  # fmt: skip
            {"condition_number": torch.logspace(0, 3, 8), "cka": torch.linspace(1, 0.3, 8)},
        ),
        F.cka_invariances({"orthogonal rotation": 1.0, "anisotropic scaling": 0.9}, kernel="rbf"),
    ],
    "hsic_bias": lambda: F.hsic_bias(
        {
            "n": torch.tensor([16, 32, 64, 128, 256, 512, 1024]),
            "biased": torch.rand(4, 7) * 0.6,
            "unbiased": torch.randn(4, 7) * 0.02,
        },
        features=512,
    ),  # fmt: skip
    "minibatch_effect": lambda: F.minibatch_effect(
        {
            "batch_size": torch.tensor([8, 16, 32, 64, 128, 256, 512]),
            "full_unbiased": 0.62,
            "full_biased": 0.7,
            "minibatch": torch.full((7,), 0.62),
            "mean_unbiased": torch.linspace(0.5, 0.62, 7),
            "mean_biased": torch.linspace(0.95, 0.71, 7),
        },
        n=1024,
        title="ViT blocks.1 vs ResNet layer2.1",
    ),  # fmt: skip
    "float32_failure": lambda: F.float32_failure(
        {
            "offset": torch.tensor([0, 1, 10, 100, 1e3, 1e4, 1e5]),
            "reference": torch.full((7,), 0.6),
            "reference_unbiased": torch.full((7,), 0.55),
            "naive_float64": torch.full((7,), 0.6),
            "naive_float32": torch.tensor([0.6, 0.6, 0.6, 0.58, 0.3, 0.9, 0.1]),
            "minibatch_cka": torch.full((7,), 0.55),
        },
        scale=1.0,
    ),  # fmt: skip
    # chapter 5
    "cka_heatmap": lambda: [
        F.cka_heatmap(_cka(38), _vit_names(), _vit_names(), title="ViT", boundaries=True),
        F.cka_heatmap(_cka(17), _resnet_names(), _resnet_names(), title="ResNet"),
        F.cka_heatmap(
            _cka(38, 17), _vit_names(), _resnet_names(), xlabel="ViT layers", ylabel="ResNet layers"
        ),
    ],
    "cka_heatmaps": lambda: [
        F.cka_heatmaps(
            [
                {"matrix": _cka(38), "names_x": _vit_names(), "names_y": _vit_names(), "title": "ViT"},
                {
                    "matrix": _cka(17),
                    "names_x": _resnet_names(),
                    "names_y": _resnet_names(),
                    "title": "ResNet",
                },
            ],
            ticks="blocks",
        ),  # fmt: skip
        F.cka_heatmaps(
            [{"matrix": _cka(6), "names_x": _vit_names()[6::6][:6], "names_y": _vit_names()[6::6][:6]}] * 3,
            ncols=2,
        ),  # fmt: skip
    ],
    "layer_ticks": _layer_ticks,
    "within_model_heatmaps": lambda: [
        F.within_model_heatmaps(
            {"ViT": (_cka(38), _vit_names()), "ResNet": (_cka(17), _resnet_names())},
            {"ViT": "mean off-diagonal CKA 0.52", "ResNet": "mean off-diagonal CKA 0.71"},
        ),  # fmt: skip
        F.within_model_heatmaps(
            {
                "ViT": (_cka(38), _vit_names()),
                "Mixer": (_cka(38), _vit_names()),
                "ResNet": (_cka(17), _resnet_names()),
            }
        ),  # fmt: skip
        F.within_model_heatmaps({"Mixer": (_cka(38), _vit_names())}, {"Mixer": "mean off-diagonal CKA 0.5"}),
    ],
    "best_match_path": _best_match_path,
    "cross_model_heatmap": lambda: F.cross_model_heatmap(
        _cka(38, 17),
        _vit_names(),
        _resnet_names(),
        np.linspace(0, 30, 17).astype(int),
        title="vit vs resnet: all layers, 512 images",
    ),  # fmt: skip
    "correspondence_plot": lambda: F.correspondence_plot(
        {
            "resnet_depth": np.linspace(0, 1, 17),
            "best_vit_depth": np.linspace(0, 0.7, 17) ** 1.3,
            "lower_half_in_lowest_quarter": 0.875,
            "upper_half_in_next_third": 0.625,
        }
    ),  # fmt: skip
    # evidence beside the paper's figures
    "seed_spread": lambda: F.seed_spread(
        {
            "ViT": [0.5, 0.52, 0.49],
            "ResNet": [0.7, 0.72, 0.69],
            "ViT\nblock outputs": [0.6, 0.61, 0.63],
            "ResNet\nblock outputs": [0.8, 0.79, 0.82],
        },
        {"ViT": {"untrained": 0.9}, "ResNet": {"untrained": 0.95}},
        ylabel="mean off-diagonal CKA (U)",
        title="Uniformity per seed: all layers (C1) and block outputs only",
    ),  # fmt: skip
    "curves_with_spread": lambda: F.curves_with_spread(
        np.arange(BLOCKS),
        {"ViT": RNG.uniform(0.5, 1, (3, BLOCKS)), "ResNet": RNG.uniform(0.3, 0.8, (3, BLOCKS))},
        {"untrained": np.full(BLOCKS, 0.2)},
        xlabel="block",
        ylabel="CKA",
        title="per-seed curves",
    ),  # fmt: skip
    # chapter 6
    "mean_distance_by_head": lambda: [
        F.mean_distance_by_head(
            _distances(), uniform=13.1, title="vit: mean attention distance (512 images, 8)"
        ),
        F.mean_distance_by_head(_distances(), uniform=13.1, highlight_block=2),
    ],
    "mean_distance_by_data": lambda: [
        F.mean_distance_by_data(
            {f"vit-data{p}" if p < 100 else "vit": _distances() for p in (3, 10, 30, 100)},
            uniform=13.1,
            local_counts={"vit": 5, "vit-data3": 0, "vit-data10": 1, "vit-data30": 3},
            title="mean attention distance by training-set size (512 images)",
        ),  # fmt: skip
        F.mean_distance_by_data({"vit": _distances()}, uniform=13.1, blocks=[0, 1]),
    ],
    "head_subset_cka_curves": lambda: F.head_subset_cka_curves(
        torch.linspace(3, 12, 4),
        torch.rand(4, 3),
        ["stem", "layer1.0", "layer1.1"],
        ["0,1", "2,3", "4,5", "6,7"],
        title="block 0 heads, 2 per subset (local → global) vs ResNet",
    ),  # fmt: skip
    "receptive_field_grid": lambda: [
        F.receptive_field_grid(
            {
                "ResNet": {
                    name: torch.rand(28, 28) for name in ("stem", "layer1", "layer2", "layer3", "layer4")
                },
                "ViT": {f"block {b}": torch.rand(28, 28) for b in range(BLOCKS)},
            },
            {"ViT": PATCH},
            log_decades=log,
            title="effective receptive fields (ViT block output; 32 images)",
        )
        for log in (None, 3.0)
    ],  # fmt: skip
    "receptive_field_detail": lambda: F.receptive_field_detail(
        torch.rand(28, 28), "blocks.3", PATCH, extent=5.2
    ),
    # chapter 7
    "skip_norm_ratios": lambda: F.skip_norm_ratios(
        torch.tensor(RNG.uniform(0.5, 50, (BLOCKS, 2, 50))),
        ("attention", "mlp"),
        1,
        {
            "attention": torch.linspace(5, 1, BLOCKS),
            "mlp": torch.linspace(8, 1.5, BLOCKS),
            "attention-cls": torch.linspace(1, 0.5, BLOCKS),
            "mlp-cls": torch.linspace(2, 1, BLOCKS),
        },
        resnet_average=torch.linspace(3, 1, 8),
        title="‖z‖ / ‖f(z)‖: ViT vs ResNet",
    ),  # fmt: skip
    "localization_mosaic": lambda: [
        F.localization_mosaic(
            {
                "vit": _localization(7),
                "vit-gap": _localization(7),
                "resnet": _localization(2),
                "resnet layer3": _localization(4),
            },
            {"vit": 0.96, "vit-gap": 0.9, "resnet": 0.25, "resnet layer3": 0.5},
        ),  # fmt: skip
        F.localization_mosaic({"vit": _localization(7)}),
    ],
    "localization_maps": lambda: F.localization_maps(
        {
            "vit": _localization(7),
            "vit-gap": _localization(7),
            "resnet": _localization(2),
            "resnet layer3": _localization(4),
        },
        (3, 3),
        7,
        {"vit": 0.96, "vit-gap": 0.9, "resnet": 0.25, "resnet layer3": 0.5},
    ),  # fmt: skip
    "noskip_cka_heatmaps": lambda: [
        F.noskip_cka_heatmaps(
            {name: _cka(38) for name in ("vit", "vit-noskip-1", "vit-noskip-3", "vit-noskip-5")},
            _vit_names(),
            {"vit": 0.9, "vit-noskip-1": 0.85, "vit-noskip-3": 0.86, "vit-noskip-5": 0.88},
            {"vit": None, "vit-noskip-1": 1, "vit-noskip-3": 3, "vit-noskip-5": 5},
        ),  # fmt: skip
        F.noskip_cka_heatmaps(
            {name: _cka(38) for name in ("vit", "vit-noskip-3")},
            _vit_names(),
            {"vit": 0.9, "vit-noskip-3": 0.86},
            {"vit": None, "vit-noskip-3": 3},
        ),  # fmt: skip
    ],
    "probe_accuracy_curves": lambda: [
        F.probe_accuracy_curves(
            {"vit": _probe_result(), "vit-gap": _probe_result(), "resnet": _probe_result(4, 8)}
        ),
        F.probe_accuracy_curves({"vit": _probe_result(), "resnet": _probe_result(4, 8)}, token=(3, 3)),
    ],
    # chapter 8
    "same_layer_cka_curves": lambda: [
        F.same_layer_cka_curves(
            {
                label: (torch.linspace(0.95, v, 38), _vit_names())
                for label, v in zip(["initialisation", *_series()], [0.1, 0.8, 0.85, 0.9, 0.97], strict=True)
            },
            others=("initialisation",),
            title="Same-layer CKA with vit: all layers",
        ),  # fmt: skip
        F.same_layer_cka_curves(
            {
                label: (torch.linspace(0.99, v, BLOCKS), [f"blocks.{b}" for b in range(BLOCKS)])
                for label, v in zip(_series(), [0.8, 0.85, 0.9, 0.97], strict=True)
            }
        ),  # fmt: skip
        F.same_layer_cka_curves({}),
    ],
    "probe_depth_curves": lambda: [
        F.probe_depth_curves(
            {
                label: (torch.linspace(1 / 38, 1, 38), torch.linspace(0.55, v, 38))
                for label, v in zip(
                    ["initialisation", "resnet", *_series()], [0.7, 0.9, 0.8, 0.84, 0.87, 0.9], strict=True
                )
            },
            others=("initialisation", "resnet"),
            title="Linear probes by depth: CLS token",
        ),  # fmt: skip
        F.probe_depth_curves(
            {
                "ViT-B/32 (ImageNet-21k)": (torch.linspace(1 / 12, 1, 12), torch.linspace(0.3, 0.95, 12)),
                "ViT-B/32 (ImageNet-1k)": (torch.linspace(1 / 12, 1, 12), torch.linspace(0.3, 0.9, 12)),
            },
            title="ViT-B/32 on CIFAR-10: CLS probes by depth",
        ),  # fmt: skip
    ],
    "local_heads_by_data": lambda: F.local_heads_by_data(
        {label: torch.tensor(RNG.integers(0, HEADS + 1, BLOCKS)) for label in ["initialisation", *_series()]},
        heads=HEADS,
        others=("initialisation",),
        title="Local heads per block (mean distance ≤ 0.60 × uniform)",
    ),  # fmt: skip
    # chapter 0
    "image_grid_by_class": lambda: F.image_grid_by_class(
        torch.rand(200, 1, 28, 28), torch.arange(10).repeat(20), CLASSES
    ),
    "photo_strip": lambda: F.photo_strip(
        {name: torch.rand(3, 64, 64) for name in ("cat", "dog", "car", "bird")}
    ),
}


def _figure_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(F.__path__) if m.name not in INFRASTRUCTURE]


def _public_names() -> set[str]:
    return {
        name
        for module in _figure_modules()
        for name in importlib.import_module(f"seelike.figures.{module}").__all__
    }


def test_every_figure_function_has_a_case():
    public = _public_names()
    assert public - set(CASES) == set(), "figure functions without a synthetic case in CASES"
    assert set(CASES) - public == set(), "cases for names that are no longer public"


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_legible_as_the_book_shows_it(name):
    built = CASES[name]()
    for index, figure in enumerate(built if isinstance(built, list) else [built]):
        assert isinstance(figure, Figure)
        problems = legibility.legibility_problems(figure)
        width = figure.get_size_inches()[0]
        if width > style.COLUMN_WIDTH + 1e-6:
            problems.append(f"{width:.2f} in wide: wider than the column ({style.COLUMN_WIDTH} in)")
        assert not problems, f"{name} [{index}]:\n  " + "\n  ".join(problems)


def test_importing_the_figures_changes_no_global_style():
    script = (
        "import matplotlib; before = dict(matplotlib.rcParams)\n"
        "import seelike.figures as F\n"
        "assert dict(matplotlib.rcParams) == before, 'import changed rcParams'\n"
        "F.cka_heatmap([[1.0, 0.5], [0.5, 1.0]], ['a', 'b'], ['a', 'b'])\n"
        "assert dict(matplotlib.rcParams) == before, 'drawing changed rcParams'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_book_gets_a_sharp_png_with_its_css_size():
    figure, _ = F.new_figure(figsize=style.column_size(3.0))
    bundle, metadata = figure._repr_mimebundle_()
    assert set(bundle) == {"image/png", "text/plain"}
    png, size = style.png_bundle(figure)
    assert metadata["image/png"] == size and size["width"] <= style.COLUMN_PX
    width_px = int.from_bytes(png[16:20], "big")
    assert width_px == pytest.approx(2 * size["width"], abs=2)  # two device pixels per CSS px


def test_the_log_scale_erf_figure_says_so_and_has_a_colour_bar():
    maps = {"ViT": {f"block {b}": torch.rand(28, 28) for b in range(3)}}
    linear, log = (
        F.receptive_field_grid(maps, log_decades=d, title="effective receptive fields") for d in (None, 3.0)
    )
    titles = [figure._suptitle.get_text() for figure in (linear, log)]
    assert titles[0] != titles[1] and "log" in titles[1]
    for figure in (linear, log):
        assert any(ax.get_label() == "<colorbar>" for ax in figure.axes)


def test_the_checker_catches_small_text_overlap_and_clipping():
    figure, ax = F.new_figure(figsize=(3.0, 2.0))
    ax.set_xticks(range(3), ["a long tick label", "another long one", "and a third"], fontsize=12)
    ax.text(0, 0.5, "tiny", fontsize=4)
    ax.set_xlim(-0.5, 2.5)
    ax.set_title("a title far too long for the figure it sits on " * 3)
    problems = "\n".join(legibility.legibility_problems(figure))
    assert "CSS px" in problems and "overlap" in problems and "edge" in problems


def test_every_png_of_a_book_figure_carries_its_title_as_alt_text():
    import io

    from PIL import Image

    figure = F.hsic_bias({"n": [16, 32], "biased": [[0.3, 0.2]], "unbiased": [[0.0, 0.01]]}, features=8)
    for png in (
        style.png_bundle(figure)[0],
        _inline_png(
            figure
        ),  # what the notebook's inline backend renders (it overrides _repr_mimebundle_'s PNG)
    ):
        assert Image.open(io.BytesIO(png)).info["Title"] == figure.axes[0].get_title()


def _inline_png(figure) -> bytes:
    import io

    buffer = io.BytesIO()  # as matplotlib_inline's print_figure: the canvas, with savefig's generic options
    figure.canvas.print_figure(
        buffer, format="png", dpi=figure.dpi, bbox_inches="tight", orientation="portrait"
    )
    return buffer.getvalue()
