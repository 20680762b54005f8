# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Where information lives: position, skip connections and linear read-outs
#
# The previous chapters compared *whole layers*. This one looks inside a layer, at individual tokens, and
# asks three questions that {cite:t}`raghu2021vision` answer in their Figures 7 to 11:
#
# 1. **Does a token near the top of a ViT still know which part of the image it came from?** A ResNet
#    keeps its feature maps spatially arranged by construction, but pools and strides them ever coarser. A
#    ViT keeps one token per patch all the way up, yet lets every token attend to every other: nothing
#    forces token $i$ to stay about patch $i$.
# 2. **How much of a ViT's representation simply passes through the skip connections?** We measure, for
#    every token and every sublayer, how large the residual stream is compared with what the sublayer adds
#    to it, and we look at ViTs trained with one block's skip connections removed.
# 3. **Where is the class linearly readable?** We fit linear classifiers ("probes") on the CLS token, on
#    the average of all tokens, and on single tokens, at every block.
#
# As everywhere in this book, the models are the small ones trained on Fashion-MNIST (chapter 0): `vit` (a
# 6-block ViT with a CLS token, 7×7 = 49 patch tokens of 4×4 pixels; two heads in each of its first two
# blocks start weakly local, and it learns half from the labels and half from `resnet`'s predicted class,
# DeiT-style), `vit-gap` (the same architecture classifying from the average of its tokens, with no CLS
# token), `resnet` (a small ResNet), and three `vit-noskip-k` models with `vit-short`, their intact
# baseline. `vit-short` and the no-skip models share `vit`'s recipe on a one-epoch schedule; `vit-gap` keeps
# the zoo's older ViT recipe: a stronger local seed and no teacher. A cell at the end runs the same code on a
# paper-scale ViT-B/32 when online.

# %%
# Colab / fresh machines: install the book's package when it is missing. Upgrades nothing Colab already has;
# SEELIKE_REPO (a git URL or a local clone) installs from another copy of the book.
try:
    import seelike
except ImportError:
    import importlib.metadata, os, subprocess, sys

    def install(repo, clone):
        source = repo if os.path.isdir(repo) else clone
        steps = [] if os.path.isdir(source) else [["git", "clone", "-q", "--depth", "1", repo, source]]
        for step in steps + [[sys.executable, "-m", "pip", "install", "-q", "-e", source]]:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode:
                hint = f"Instead: clone {repo}, pip install -e the clone, restart, or set SEELIKE_REPO to it."
                raise RuntimeError(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}\n{hint}") from None
        sys.path.insert(0, os.path.join(source, "src"))  # this kernel does not see the new install
        names = [name for name in ("numpy", "torch", "matplotlib", "ipywidgets") if name in sys.modules]
        if changed := [n for n in names if importlib.metadata.version(n) != sys.modules[n].__version__]:
            print(f"pip changed {', '.join(changed)}, already loaded: restart the runtime, then run again.")

    install(os.environ.get("SEELIKE_REPO", "https://github.com/seelike/seelike"), os.path.abspath("seelike"))
    import seelike

# %%
import copy

import torch

from seelike import activations, data, figures, localization, probes, skips, widgets, zoo
from seelike.cache import cached

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")
train_images, train_labels = data.fashion_mnist("train")

MODELS = ("vit", "vit-gap", "resnet")
models = {name: zoo.load(name) for name in MODELS}

LOCALIZATION_IMAGES = test_images[:1024]  # CKA across 1,024 images, in minibatches of 256
SKIP_IMAGES = test_images[:512]
PROBE_TRAIN = data.nested_subset(train_labels, 500 / len(train_labels), seed=0)  # 50 images per class
PROBE_TEST = slice(0, 1000)
PROBE_L2 = 1e-2  # ridge penalty relative to the features' mean sum of squares
print("probe training images per class:", torch.bincount(train_labels[PROBE_TRAIN]).tolist())

# %% [markdown]
# ## Does a top-layer token know where it came from? (Figures 9 and 10)
#
# The test is simple. Take a model's last block and read its representation at each spatial position: for
# the ViT, the 49 patch tokens (the CLS token has no position and is left out); for the ResNet, all channels
# at each position of its last stage's 4×4 feature map (and, to compare at the ViT's resolution, of its
# third stage's 7×7 map). Cut every input image into the same grid of non-overlapping patches (4×4 pixels
# on a 7×7 grid, 7×7 pixels on the 4×4 grid). Now compare, across 1,024 images, **token $i$ with input
# patch $j$** using CKA (chapter 4): high CKA means that the images which look alike to token $i$ are the
# images whose patch $j$ looks alike.
#
# For every token this gives a little map over the image. If the model keeps spatial information, token
# $i$'s map lights up at patch $i$. `localization.token_patch_cka` computes all $49 \times 49$ pairs at
# once: each token's and each patch's Gram matrix is formed once per minibatch, and one matrix product
# gives every pair's HSIC (the same engine as the CKA heatmaps of chapter 5). A synthetic model whose
# tokens *are* their input patches (the package's tests build one) gives a perfect diagonal.

# %%
LOCALIZED = {  # label → (model, layer): final blocks, plus the ResNet stage whose grid matches the ViT's
    "vit": ("vit", None),
    "vit-gap": ("vit-gap", None),
    "resnet": ("resnet", "layer4"),
    "resnet layer3": ("resnet", "layer3"),
}


def localization_of(name, layer):
    settings = {"layer": layer, "batch_size": 256}
    return cached(
        ("token_patch_localization", models[name], LOCALIZATION_IMAGES, settings),
        lambda: localization.localization(models[name], LOCALIZATION_IMAGES, **settings),
    )


located = {label: localization_of(*where) for label, where in LOCALIZED.items()}
maps = {label: result["map"] for label, result in located.items()}
own_fractions = {label: result["own_fraction"] for label, result in located.items()}

# %% tags=["nbval-check-output"]
for label, result in located.items():
    grid = result["grid"]
    print(
        f"{label:13s} grid {grid}x{grid}: positions peaking at their own patch {result['own_fraction']:.3f}"
        f" (interior positions only: {result['own_fraction_interior']:.3f})"
    )
own = {label: result["own_fraction"] for label, result in located.items()}
assert own["vit"] > own["vit-gap"] + 0.1 and own["vit-gap"] > own["resnet"] + 0.1, "vit keeps position best, then vit-gap"
assert located["vit"]["own_fraction_interior"] > 0.95, "vit: (almost) every interior token peaks at its own patch"

# %% [markdown]
# The overview below tiles every token's map at that token's place: the big picture is the image cut into
# the model's grid, and inside each cell sits the small map of the token at that cell, with its own patch
# outlined in red. A model that localizes well shows a bright outlined square in every cell.

# %%
figures.localization_mosaic(maps, own_fractions)

# %% [markdown]
# Pick a token position below (row and column on the ViT's 7×7 grid; the ResNet shows the token of its
# 4×4 grid that covers the same place in the image). The red square is the token's own patch, the white
# dot the patch it resembles most.

# %%
widgets.localization_explorer(maps, own_fractions, reference_grid=7, position=(3, 2))

# %% [markdown]
# **What to look for.** In `vit`, all 25 tokens away from the border of the grid peak at their own patch,
# and 44 of all 49: after six blocks in which every token could attend to every other, token $i$ still
# resembles patch $i$ more than any other part of the image. The closest interior call, the centre token,
# still leads by 0.07 (CKA 0.507 for its own patch against 0.440 for the next best). This is what
# {cite:t}`raghu2021vision` find for ViT-B/32, and the skip-connection measurements in the next section
# show the mechanism: each block adds only a modest update to every token, so a token's starting point, its
# own patch, is never washed out. The maps are not sharp spots, though. Each own patch sits in a glow over
# its neighbours, and for 21 of the 25 interior tokens the runner-up is an adjacent patch: neighbouring
# patches of a garment vary together across images. Fashion-MNIST items are also centred and roughly
# left-right symmetric, so a patch correlates with its mirror image (left and right sleeve), but in `vit`
# the mirror patch is rarely the runner-up (2 of the 25 interior tokens).
#
# The border tokens are less tidy here than in the paper, for a reason that has to do with the data rather
# than the model: the garment sits on a black background, so border patches are black in most images. A
# patch that hardly varies across images gives CKA little to work with (one that never varies gives no CKA
# at all, and its column would be NaN; the top-left corner's token reaches only 0.02 with its own patch),
# and 5 of `vit`'s 24 border tokens peak elsewhere: four in the left column and one in the top-right
# corner, all on patches in the right half of the image. The fraction over interior positions is the fairer
# summary.
#
# `vit-gap`, the same architecture trained to classify from the average of its tokens, localizes clearly
# worse (0.694 overall, 0.680 interior, against 0.898 and 1.000 for `vit`), as the paper also reports for
# its GAP model: 8 of its 15 misses sit in the middle of the image, where the garment is, while its outer
# ring is only a little worse than `vit`'s (17 of 24 border tokens at their own patch, against 19). Its
# mirror patches also come second more often (6 of 25 interior tokens, against 2). With a CLS token, the
# class can be collected in one place and the spatial tokens are free to keep describing their patches;
# with GAP, every token is pushed to carry class information, at the expense of its own patch. One caveat:
# the two models were not trained alike. `vit-gap` had two epochs with ±2-pixel shifts and flips, a strong
# local seed and no teacher, and reaches 80.2% test accuracy; `vit` had five epochs with flips only, a weak
# seed and distillation from `resnet`, and reaches 87.4%. Part of the difference may come from the training
# rather than the read-out.
#
# The ResNet's maps are broad. Its last stage has a 4×4 grid, and each of its positions sees most of the 28×28
# image through the stacked 3×3 convolutions: 6 of its 16 positions peak at their own patch. The 7×7 grid of
# `layer3` is no sharper (18 of 49). Spatial arrangement is built into a convolutional network's feature maps,
# but what sits at a position is a summary of a wide neighbourhood. Although `vit` learned partly from this
# ResNet's predictions, it did not inherit these broad maps (distillation passes on only the teacher's
# predicted classes, not its feature maps).

# %% [markdown]
# ## How much passes through the skip connections? (Figure 7)
#
# Every ViT block has two residual sublayers. Each reads the residual stream $z$, computes a branch $f(z)$
# (multi-head attention in the first, the MLP in the second) and adds it back: $z + f(z)$. The ratio
# $\lVert z \rVert / \lVert f(z) \rVert$, measured per token, says how much the skip path dominates what
# flows on: a ratio of 10 means the sublayer nudges the token by a tenth of its length. The cosine between
# $z$ and $f(z)$ says whether the nudge points along the stream or across it. For the ResNet we measure
# the same ratio per block, with $z$ the shortcut and $f(z)$ the two convolutions, averaging the norms
# over the positions of the feature map.
#
# `skips.skip_norm_ratio` reads $z$ and $f(z)$ with forward hooks (timm is not modified) and reduces them
# inside the hooks, so no activation is stored. A branch that outputs exactly zero, such as a freshly
# initialised timm ResNet block (its last batch-norm scale starts at zero), gets an infinite ratio: it is
# reported as $\infty$, never clamped.

# %%
skip_vit = skips.skip_norm_ratio(models["vit"], SKIP_IMAGES)
skip_resnet = skips.skip_norm_ratio(models["resnet"], SKIP_IMAGES)
vit_averages = skip_vit.averages()
resnet_average = skip_resnet.averages()["block"]

# %% tags=["nbval-check-output"]
for name, curve in vit_averages.items():
    print(f"vit {name:14s}", " ".join(f"{value:7.2f}" for value in curve.tolist()))
print(f"resnet {'block':11s}", " ".join(f"{value:7.2f}" for value in resnet_average.tolist()))
for name, curve in skip_vit.cosines().items():
    print(f"vit cos(z, f(z)) {name:14s}", " ".join(f"{value:7.2f}" for value in curve.tolist()))
assert min(vit_averages["attention"].min(), vit_averages["mlp"].min()) > 3, "spatial tokens: the skip dominates every branch"
assert (vit_averages["attention-cls"] < vit_averages["attention"]).all() and (vit_averages["mlp-cls"] < vit_averages["mlp"]).all(), "the CLS token depends more on its branches"

# %% [markdown]
# The heatmaps show the ratio for the first tokens (CLS on top) in every block; the right panel averages
# over the spatial tokens, and shows the CLS token and the ResNet separately. Drag the slider to show more
# tokens.

# %%
widgets.skip_ratio_explorer(
    skip_vit.ratio, skip_vit.sublayers, skip_vit.num_prefix_tokens, vit_averages, resnet_average,
    tokens_shown=12, title="vit: skip-connection norm ratio",
)

# %% [markdown]
# **What to look for.** For the spatial tokens the ratio is above 2.9 for every token in every sublayer,
# and its averages run from 3.4 to 6.4 for the attention sublayers and from 4.1 to 10.6 for the MLPs: the
# residual stream is several times larger than what any single sublayer adds. That is the mechanism behind
# the localization result above, and behind the uniform CKA heatmaps of chapter 5: a ViT's representation
# changes gradually, token by token, because most of it is carried forward unchanged by the skip paths.
#
# The CLS token behaves differently. It enters block 0 as a learned vector identical for every image, so the
# first attention sublayer writes most of it (ratio 0.11, and 0.19 for the MLP after it), and afterwards its
# ratios (1.9 to 6.6) stay below the spatial tokens' in every sublayer: the CLS token depends more on its
# branches. {cite:t}`raghu2021vision` see a sharper pattern in their large models: CLS ratios low in the
# early blocks and spatial ratios high, swapping around the middle of the network. Our six-block model shows
# the first half of that story, without the swap; its spatial-token ratios are lowest in the last block
# (3.4 for attention, 4.1 for the MLP), where the representation is turned into a class.
#
# The cosines between $z$ and $f(z)$ are small for the spatial tokens (between about −0.3 and 0.1): their
# branches add mostly new directions rather than lengthening or shortening the stream. The CLS token's
# cosines are mostly positive (up to 0.36): its updates partly reinforce what it already holds, as one would
# expect of a token that accumulates evidence for a class.
#
# The ResNet's block ratios (2.0 to 4.1, mean 3.2) lie below most of the ViT's spatial-token averages
# (means 5.1 over the attention sublayers, 7.8 over the MLPs), the direction of the paper's gap. But the gap
# is far smaller than in the paper, and it nearly closes in the ViT's last block (3.4 and 4.1); the paper's
# ResNets are much deeper and wider than our 8-block one, so this part of the figure transfers to the book's
# scale only weakly. The two models are also not independent here: `vit` was distilled from this `resnet`.
# Distillation passes on only the teacher's predicted classes, not its residual structure, but we have not
# measured how much it moves these ratios.

# %% [markdown]
# ## Removing one block's skip connections (Figure 8)
#
# If the skip connections carry so much of the representation, what happens without them? The zoo defines
# three ViTs in which block $k$ (counting from 0) has both its skip connections removed: it computes
# $\mathrm{mlp}(\mathrm{attn}(x))$ instead of adding each branch to its input. To keep the zoo's training
# budget small they are trained for one epoch (469 steps, horizontal flips only) with `vit`'s recipe (the
# same weak local seed, the same distillation from `resnet`). The fair baseline is `vit-short`: the intact
# ViT trained with exactly the same recipe and schedule, that is, `vit` cut to one epoch. `vit` itself had
# five epochs, so its accuracy is printed below only for reference. Below, each model's layers are compared
# with each other by CKA (as in chapter 5): 38 layers per model, about six per block.

# %%
NOSKIP = ("vit-noskip-1", "vit-noskip-3", "vit-noskip-5")
CKA_IMAGES = test_images[:512]
BASELINE = "vit-short"  # the intact ViT with the no-skip models' recipe and schedule
trained = zoo.read_manifest(legacy=True)["models"]
missing = [name for name in (BASELINE, *NOSKIP) if name not in trained]
if missing:  # the zoo's last entries; train them with: python -m seelike.train vit-short vit-noskip-1 ...
    print("not trained yet:", ", ".join(missing), "- Figure 8 is skipped")
noskip_models = {} if missing else {name: zoo.load(name) for name in (BASELINE, *NOSKIP)}


def within_model_cka(name):
    settings = {"batch_size": 256}
    return cached(
        ("cka_matrix", noskip_models[name], None, CKA_IMAGES, settings),
        lambda: activations.cka_matrix(noskip_models[name], None, CKA_IMAGES, progress=False, **settings),
    )


within = {name: within_model_cka(name) for name in noskip_models}
noskip_matrices = {name: matrix for name, (matrix, _, _) in within.items()}
if noskip_models:
    layer_names = within[BASELINE][1]
    print(len(layer_names), "layers per model:", ", ".join(layer_names[:8]), "...")

# %% tags=["nbval-check-output"]
accuracies = {name: zoo.manifest_entry(name)["test_accuracy"] for name in noskip_models}
removed_blocks = {name: (zoo.legacy_spec(name).no_skip_blocks or (None,))[0] for name in noskip_models}
if noskip_models:
    vit_accuracy = zoo.manifest_entry("vit")["test_accuracy"]
    print(f"{'vit':13s} (same recipe, 5 epochs; reference only) test accuracy {vit_accuracy:.4f}")
for name, accuracy in accuracies.items():
    cost = accuracies[BASELINE] - accuracy
    print(
        f"{name:13s} skips removed in block {removed_blocks[name]!s:4s} test accuracy {accuracy:.4f}"
        f"  cost {cost:+.4f}"
    )

# %%
if noskip_models:
    from IPython.display import display

    display(
        widgets.noskip_explorer(noskip_matrices, layer_names, accuracies, removed_blocks, baseline=BASELINE)
    )

# %% [markdown]
# To put the heatmaps in numbers: for each removed block $k$, the CKA between the outputs of blocks $k-1$
# and $k$ (the removed block's input and output), and the mean CKA between every layer up to block $k$'s
# input and every layer from its output on, in the no-skip model and in `vit-short` for the same split.

# %% tags=["nbval-check-output"]
for name in NOSKIP if noskip_models else ():
    block = removed_blocks[name]
    start, end = layer_names.index(f"blocks.{block - 1}"), layer_names.index(f"blocks.{block}")
    summary = []
    for model in (BASELINE, name):
        matrix = noskip_matrices[model]
        between = float(matrix[: start + 1, end:].mean())
        summary += [f"{model} {float(matrix[start, end]):.3f} / {between:.3f}"]
    print(f"block {block} (CKA input-output / mean before x after):", ",  ".join(summary))
    assert noskip_matrices[name][start, end] < noskip_matrices[BASELINE][start, end] - 0.1, "without skips the block is a boundary"

# %% [markdown]
# **What to look for.** `vit-short`'s heatmap has no boundary anywhere: consecutive block outputs have CKA
# of 0.99 or more (0.95 only across the last block), and similarity fades only slowly with distance. Each
# no-skip model splits exactly at the block whose skips are gone, as {cite:t}`raghu2021vision` find. The CKA
# between that block's input and output falls from 0.995, 0.998 and 0.950 in `vit-short` to 0.79 (block 1),
# 0.75 (block 3) and 0.75 (block 5), and the mean CKA between the layers before the block and those after it
# drops from 0.82, 0.80 and 0.86 to 0.71, 0.70 and 0.71. On either side of the split the layers still
# resemble each other, so the heatmap becomes two bright squares (for block 5, the second is only the last
# block's output and the final norm): a block without skips has to build a new representation from its
# input, while the blocks after it, whose skips are intact, again change it gradually.
#
# The accuracy cost does not reproduce. Against `vit-short` (80.62%), removing block 1's skips costs 0.8
# points (79.81%), block 3's 0.4 points (80.21%), and block 5's even gains 0.9 points (81.53%), where the
# paper loses about 4% for a middle block. The costs shrink with depth, but every one of them is under a
# point. Each model was trained once, so differences of this size may be within seed-to-seed variation,
# which we have not measured; in our six-block model trained for one epoch, the split in the representation
# is real but costs at most about a point, and possibly nothing.

# %% [markdown]
# ## Where is the class linearly readable? (Figure 11)
#
# A linear probe {cite}`alain2017understanding` asks how much of the class is available to a single linear
# map from a layer's representation. As in the paper, the probe is regularised least squares onto targets
# of $+1$ for the true class and $-1$ for the others; the predicted class is the largest output. It has a
# closed form: with centred features $\tilde X$ ($N$ images × $D$ features) and targets $\tilde Y$,
# $W = (\tilde X^\top \tilde X + \lambda I)^{-1} \tilde X^\top \tilde Y$, solved in float64 (and through
# the $N \times N$ system instead when there are fewer images than features). The ridge penalty $\lambda$ is
# 0.01 times the features' mean sum of squares per feature, which makes it independent of the scale of each
# layer; on held-out training images, accuracies barely move for penalties between 0.001 and 0.1. We fit
# probes on 50 training images per class (the paper uses few-shot probes too) and score them on 1,000 test
# images, at the output of every block, on four read-outs:
#
# - the **CLS token** (`vit` only);
# - **GAP**, the average of all tokens (for `vit`, also without the CLS token);
# - **one spatial token** on its own: a separate probe for each position, shown as the mean over positions
#   and their range (or one position picked in the menu).
#
# For the ResNet, each block's feature map is average-pooled to the final 4×4 grid, so its "tokens" are 16
# comparable positions at every depth, and GAP is the usual global average pooling.

# %%
def probes_of(name):
    settings = {"l2": PROBE_L2}
    # In float64: a float32 forward pass rounds differently on another CPU, enough to flip a test image that
    # sits on a probe's decision boundary.
    model = copy.deepcopy(models[name]).double()
    return cached(
        ("probe_layers", model, PROBE_TRAIN, PROBE_TEST.start, PROBE_TEST.stop, settings),
        lambda: probes.probe_layers(
            model, train_images[PROBE_TRAIN].double(), train_labels[PROBE_TRAIN],
            test_images[PROBE_TEST].double(), test_labels[PROBE_TEST], **settings,
        ),
    )


probe_results = {name: probes_of(name) for name in MODELS}

# %% tags=["nbval-check-output"]
for name, result in probe_results.items():
    last = {key: float(values[-1].mean()) for key, values in result.items() if key != "layers"}
    print(f"{name:8s} last block:", "  ".join(f"{key} {value:.3f}" for key, value in sorted(last.items())))

# %%
widgets.probe_explorer(probe_results, reference_grid=7)

# %% [markdown]
# **What to look for.** In every model, every read-out becomes more accurate with depth (`vit-gap`'s GAP
# levels off after block 3): the class becomes more linearly available block after block. At the last block
# each model is read best through the pooling it was trained with: `vit`'s CLS token (0.873, as high as the
# model's own test accuracy) beats its token average (0.804) and `vit-gap`'s and the ResNet's global average
# (0.814 and 0.916) beat their best single position (0.810 and 0.905). This is the pattern of the paper's
# Figure 11. In `vit` the CLS token leads at every block, by 0.02 to 0.07, already at block 0 (0.704 against
# 0.655 for the token average).
#
# On average, single spatial tokens are always behind the pooled read-outs, but by how much depends on the
# training objective. The paper finds that in its CLS-trained ViT the spatial tokens of the top blocks probe
# poorly, because nothing in training asks them to carry the class. Our small `vit` shows a milder version of
# this: at the last block its single tokens average 0.761, 0.112 below its CLS token, while the tokens of
# `vit-gap`, which are averaged into its output and so all receive the class gradient, probe better than
# `vit`'s at every block (0.788 at the last block), although `vit-gap` is the less accurate model (80.2%
# against 87.4%); its token average even edges out `vit`'s (0.814 against 0.804). This is the other side of
# the localization result: `vit-gap`'s tokens know more about the class and less about their own patch (with
# the same caveat as there: the two were trained differently, and only `vit` had a teacher). The
# ResNet's 16 pooled positions close most of their gap to GAP in the last block (0.883 against 0.916), where
# each position's receptive field covers most of the image.

# %% [markdown]
# ## At paper scale
#
# The same measures run unchanged on timm's ViT-B/32 with public ImageNet-21k weights, whose 224×224 input
# is also cut into a 7×7 grid of (32×32-pixel) patches. The cell needs internet access (Colab has it) to
# download the weights and CIFAR-10; it is skipped offline.

# %%
if zoo.is_online():
    from IPython.display import display

    big = localization.paper_scale("vit_base_patch32_224.augreg_in21k", progress=True)  # 512 CIFAR-10 test images
    big_skips = skips.skip_norm_ratio(big["model"], big["images"][:128], batch_size=32, progress=True)
    print(
        f"ViT-B/32: positions peaking at their own patch {big['own_fraction']:.3f}"
        f" (interior: {big['own_fraction_interior']:.3f})"
    )
    big_averages = big_skips.averages()
    print(
        "ViT-B/32 mean ratios per block:",
        {name: [round(v, 1) for v in curve.tolist()] for name, curve in big_averages.items()},
    )
    label = "ViT-B/32 (ImageNet-21k)"
    display(figures.localization_mosaic({label: big["map"]}, {label: big["own_fraction"]}))
    display(
        figures.skip_norm_ratios(
            big_skips.ratio, big_skips.sublayers, big_skips.num_prefix_tokens, big_averages, title="ViT-B/32"
        )
    )
else:
    print("Offline: the paper-scale cell was skipped (it downloads ViT-B/32 weights and CIFAR-10).")

# %% [markdown]
# ## Summary
#
# - **Position survives to the top of a ViT.** Final-block tokens of the CLS-trained ViT still resemble
#   their own input patch more than any other, for all 25 positions away from the image border. The
#   ResNet's final positions are broad summaries of large neighbourhoods, and a ViT trained with global
#   average pooling keeps less of its tokens' positions (17 of 25), as in {cite:t}`raghu2021vision`.
# - **Skip connections carry most of the representation.** For spatial tokens the residual stream is about 3
#   to 10 times larger than any sublayer's update on average; the CLS token is built by its branches and
#   depends on them more. Removing one block's skip connections makes that block a boundary in the
#   representation, as in the paper (Figure 8), but in our one-epoch miniature it costs at most 0.8 points of
#   accuracy (within unmeasured seed noise) rather than the paper's 4%.
# - **The class becomes linearly readable gradually**, and each model is best read through the pooling it was
#   trained with; single tokens of a CLS-trained ViT lag well behind its CLS token, and carry more about their
#   patch than about the class.
#
# These findings connect to the previous chapters: the uniform layer-to-layer similarity of ViTs (chapter 5)
# and their early global heads (chapter 6) coexist with well-preserved spatial information because every
# update is small compared with what the skip path carries forward. The next chapter asks how all this
# depends on the amount of training data.
