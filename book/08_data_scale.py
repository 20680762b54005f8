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
# # The effect of data scale
#
# The ViTs of {cite:t}`raghu2021vision` were pretrained on JFT-300M, about 300 million labelled images
# {cite}`sun2017revisiting`. Vision Transformers have fewer built-in assumptions about images than
# convolutional networks (no locality, no weight sharing across positions), and they are known to need a lot of
# data before they match or beat ResNets {cite}`dosovitskiy2021image`. So a fair question about every
# finding of the previous chapters is: *is this how ViTs work, or how ViTs trained on enormous data sets work?*
#
# The paper's last experiments answer part of it. They train the same ViT on 3%, 10%, 30% and 100% of JFT and
# ask two questions:
#
# - **Which layers need the data?** (Fig 12) Compare each block of a model trained on a fraction of the data
#   with the same block of the full-data model, by CKA. In the paper the lower blocks are already similar at
#   3%, while the higher blocks keep changing as data is added.
# - **Are the intermediate layers any good?** (Fig 13) Fit a linear classifier on every layer and plot its
#   accuracy against depth. More pretraining data gives better intermediate representations, not just a
#   better final layer.
#
# Chapter 6 looked at the third piece (the paper's Fig 4): in the paper, ViTs trained on too little data learn
# no *local* attention heads in their lowest blocks. This chapter sets that count beside the two curves.
#
# **The miniature.** The zoo holds the same experiment on Fashion-MNIST (chapter 0). `vit-data3`,
# `vit-data10` and `vit-data30` are `vit` trained on nested, class-balanced subsets of the 60,000 training
# images: 1,800, 6,000 and 18,000 images, each subset inside the next. Every one of them takes exactly as many
# optimisation steps as `vit` (2,345 steps of 128 images), so they differ in *how much data* they saw, not
# in how long they trained: `vit-data3` passes over its 1,800 images about 167 times. Two more details
# matter for reading the results. All four ViTs start from **the same random initialisation** (seed 0). And
# in that initialisation two heads in each of blocks 0 and 1 are made local on purpose, a "mimetic"
# initialisation {cite}`trockman2023mimetic`: their query and key weights start equal, so a token first
# attends to tokens with similar position embeddings, which are its neighbours. Training is free to undo
# this. We therefore also measure the shared starting point, the untrained network, as a floor for every
# comparison.

# %%
# Colab / fresh machines: install the book's package when it is missing (pins nothing Colab already has).
try:
    import seelike
except ImportError:
    import subprocess, sys
    subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/seelike/seelike", "/content/seelike"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/seelike"], check=True)
    sys.path.insert(0, "/content/seelike/src")
    import seelike

# %% [markdown]
# The models come from the zoo. A model that has not been trained on this machine yet is left out with a
# one-line note (`python -m seelike.train NAME` trains it); every cell below works with whatever is there.

# %%
import torch
from IPython.display import display

from seelike import activations, attention, data, figures, scale, widgets, zoo
from seelike.cache import cached

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")
train_images, train_labels = data.fashion_mnist("train")

# Display labels, from the least data to the most. "vit" is the full-data reference.
LABELS = {"vit-data3": "3%", "vit-data10": "10%", "vit-data30": "30%", "vit": "100%"}
INIT_LABEL = "0% (initialisation)"
trained = zoo.read_manifest()["models"]
for name in [*LABELS, "resnet"]:
    if name not in trained:
        print(f"{name}: not trained yet, left out (train it with: python -m seelike.train {name})")
models = {name: zoo.load(name) for name in [*LABELS, "resnet"] if name in trained}
vits = {LABELS[name]: models[name] for name in LABELS if name in models}
# The untrained network every zoo ViT starts from (same seed, same local-head initialisation).
initialisation = zoo.build("vit").eval()

# %% [markdown]
# ## What each model was trained on
#
# The manifest records each model's training set size, its number of steps and its accuracy on the 10,000
# Fashion-MNIST test images.

# %% tags=["nbval-check-output"]
print(f"{'model':11s} {'data':>5s} {'images':>7s} {'steps':>6s} {'passes':>7s} {'test acc':>9s}")
for name in [*LABELS, "resnet"]:
    if name in trained:
        entry = trained[name]
        passes = entry["steps"] * zoo.spec(name).batch_size / entry["train_size"]
        fraction = f"{zoo.spec(name).data_fraction:.0%}"
        print(f"{name:11s} {fraction:>5s} {entry['train_size']:7d} {entry['steps']:6d} {passes:7.1f} {entry['test_accuracy']:9.4f}")

# %% [markdown]
# With all the data and this short budget, the ResNet (90.7%) beats the ViT (86.8%), which is the regime in
# which {cite:t}`dosovitskiy2021image` also found convolutions ahead. The fraction models show what less data
# costs at an equal number of steps: 30% of the data costs under a point (86.1%), 10% about four (82.7%), 3%
# about seven and a half (79.3%). With 3% of the data the model sees each image about 167 times and fits its
# training set: its training loss ends at 0.50 (the manifest's `history`), the least that label smoothing of
# 0.1 allows. What it lacks is variety.
#
# ## Which layers need the data? (Fig 12)
#
# For every named layer of the ViT (the stem, then per block the two layer norms, the attention output, the
# residual stream after attention, the MLP hidden activation and the block output; chapter 5 lists them) we
# compare the representation of a fraction model with the representation of `vit` *at the same layer*, by
# linear CKA over 512 test images. CKA (chapter 4) is blind to rotations and rescalings of the feature
# space, so two models that learned the same features in a different basis still score 1. This is the
# diagonal of the cross-model CKA heatmap of chapter 5; `scale.same_layer_cka` computes the whole matrix in
# one pass (it costs no more: every layer's Gram matrix is formed once per minibatch) and keeps the pairs
# with the same name. Results are cached on disk.
#
# The shared initialisation gets a curve too. It is not trained at all, so wherever a fraction model's
# curve sits close to it, that model is no closer to `vit` than where both started.

# %%
CKA_IMAGES = test_images[:512]
vit_present = "vit" in models
if vit_present:
    compared = {INIT_LABEL: initialisation, **{label: model for label, model in vits.items() if label != "100%"}}
    cka_curves = {label: scale.same_layer_cka(model, models["vit"], CKA_IMAGES) for label, model in compared.items()}
    block_layers = activations.layer_names(models["vit"], "blocks")
else:
    print("vit: not trained yet, so there is no reference to compare with (Fig 12 skipped)")

# %% [markdown]
# The block outputs, rounded:

# %% tags=["nbval-check-output"]
if vit_present:
    print(f"{'CKA with vit':20s} " + " ".join(f"block {b}" for b in range(len(block_layers))))
    for label, (values, names) in cka_curves.items():
        block_values, _ = scale.select_layers(values, names, block_layers)
        print(f"{label:20s} " + " ".join(f"{v:7.2f}" for v in block_values.tolist()))

# %% [markdown]
# Below, one line per training-set size. In a live notebook, pick which models to show and which family of
# layers: `blocks` (block outputs, the paper's figure), `all` (every named layer, with the block boundaries
# marked), or one kind of layer inside the blocks (`norms`, `attn`, `resid`, `mlp`).

# %%
if vit_present:
    families = ["blocks", "all", "norms", "attn", "resid", "mlp"]
    family_layers = {family: activations.layer_names(models["vit"], family) for family in families}
    fig12 = widgets.same_layer_cka_view(cka_curves, family_layers, family="blocks", others=(INIT_LABEL,))
    display(fig12)

# %% [markdown]
# Read the dashed line first. The untrained network already has CKA 0.99 with `vit` at block 0 and still
# 0.67 at block 5. Low in the network, the representation is little more than a linear map of the patches
# plus the fixed position embeddings, and such maps look alike under CKA whatever their weights. The shared
# initialisation adds to it. The floor is high, so only the distance *above* the dashed line is similarity
# that training created.
#
# Switch the view to `all` layers and the attention outputs stand out. For the untrained network they fall
# from 0.92 in block 0 to 0.16 in block 2 and 0.14 in block 5, while the block outputs around them stay at
# 0.67 or above. The residual stream carries each block's input forward (chapter 7), so block outputs can stay
# similar even where the attention computes something unrelated.
#
# Now the fraction models. In blocks 0 and 1 all three agree with `vit` almost completely (0.97 to 1.00),
# which is the paper's finding for the lower blocks, but here it says little: the floor is 0.99 and 0.96, so
# there is hardly any room for training to add. Higher up the gap opens with depth and closes with data, as in
# the paper. At block 5 the 3% model scores 0.68, barely above the untrained 0.67; 10% reaches 0.73 and 30%
# 0.77, which closes less than a third of the distance from the floor to 1. In between, 30% is clearly the
# closest (0.91, 0.90, 0.88 at blocks 2 to 4); 3% and 10% are level at blocks 2 and 3 (0.88, 0.86), and 3% is
# even slightly ahead at block 4 (0.84 against 0.83). The `attn` view shows the same order more sharply: at
# block 2 the attention outputs score 0.20, 0.27 and 0.38 for 3%, 10% and 30% against the floor's 0.16. So the
# higher blocks need the data, and the 3% model's top block is hardly closer to `vit` than where both started.
#
# ## Local heads and the amount of data
#
# Chapter 6 measured the mean attention distance of every head (Fig 4) and called a head *local* when it
# looks, on average, no further than 0.6 times the distance of uniform attention. Here are those counts for
# each block and each training-set size, from the same measurement (1,000 test images, 100 per class; the
# result is shared with chapter 6 through the cache), together with the initialisation.

# %%
local_images = test_images[data.nested_subset(test_labels, 0.1, seed=0)]
patch_size, grid_size, _ = attention.model_patch_geometry(initialisation)
distance_models = {INIT_LABEL: initialisation, **vits}
distances = {
    label: cached(
        ("chapter 6 distances", model, local_images),
        lambda model=model: attention.dataset_mean_attention_distance(model, local_images, patch_size, method="qk"),
    )
    for label, model in distance_models.items()
}

# %% tags=["nbval-check-output"]
print(f"local heads (≤ 0.6 × uniform = {0.6 * attention.uniform_attention_distance(grid_size, patch_size):.2f} px)")
for label, values in distances.items():
    counts = scale.local_heads_per_block(values, grid_size, patch_size, fraction=0.6)
    print(f"{label:20s} per block: {counts.tolist()}  total {int(counts.sum())}")

# %% [markdown]
# The threshold is a choice; move it to see how robust the counts are.

# %%
widgets.local_heads_view(distances, grid_size, patch_size, fraction=0.6, others=(INIT_LABEL,))

# %% [markdown]
# The untrained network has 4 local heads, two in each of blocks 0 and 1: these are the heads initialised to
# attend to their neighbours. Every trained model keeps the two in block 0 and loses the two in block 1,
# whose seeded heads end at about 10 to 13 px (chapter 6 prints the distances); the other two block-0 heads
# stay close to uniform attention. No head above block 1 is local in any model.
#
# So the count does not depend on the data: 2 local heads at 3%, 10%, 30% and 100% alike. This is not the
# paper's result, where too little data leaves no local heads at all, but the miniature asks an easier
# question. The paper's ViTs have to *find* locality from a random start, and that takes data; ours are handed
# it and only have to keep it, and even the 3% model, which fits its 1,800 images, keeps it. The count
# therefore explains none of the differences in the curves: the same local heads go with CKA at block 5 from
# 0.68 to 0.77, and with test accuracy from 79.3% to 86.8%.
#
# ## Are the intermediate layers any good? (Fig 13)
#
# A linear probe (chapter 7) measures how much of the class a single linear map can read from a layer. We
# fit one on the output of every block of every model, on 50 training images per class, and score it on 500
# test images; as in the paper it is closed-form ridge regression onto ±1 targets, solved in float64. Each
# ViT is probed on its CLS token, the token its own classifier reads; the ResNet on the average of its
# feature map (GAP), which is what its classifier reads. The live view also offers GAP for the ViTs.
#
# ViTs have 6 blocks and the ResNet has 8 residual units, so the x-axis is the **normalised depth**: block
# $i$ of $L$ (counting from 0) sits at $(i + 1) / L$, and every model's last block at 1.
#
# `scale.probe_by_depth` pools each block's output inside the capture hook (the CLS token and the token
# average for a ViT, the spatial average for a ResNet), so only one vector per image and block is ever
# stored; that is what lets the same call run on a paper-scale ViT at the end of the chapter.

# %%
PROBE_TRAIN = data.nested_subset(train_labels, 500 / len(train_labels), seed=0)  # 50 images per class
PROBE_TEST = slice(0, 500)
PROBE_L2 = 1e-2  # ridge penalty relative to the features' mean sum of squares
probe_models = {INIT_LABEL: initialisation, **vits}
if "resnet" in models:
    probe_models["resnet"] = models["resnet"]


def probes_of(model):
    settings = {"l2": PROBE_L2}
    return cached(
        ("chapter 8 probes", model, PROBE_TRAIN, PROBE_TEST.start, PROBE_TEST.stop, settings),
        lambda: scale.probe_by_depth(
            model, train_images[PROBE_TRAIN], train_labels[PROBE_TRAIN],
            test_images[PROBE_TEST], test_labels[PROBE_TEST], **settings,
        ),
    )


probe_results = {label: probes_of(model) for label, model in probe_models.items()}

# %% tags=["nbval-check-output"]
print("probe test accuracy by block, each model's own read-out; then the last block's CLS and GAP probes")
for label, result in probe_results.items():
    curve, readout = scale.readout_curve(result, "own")
    by_block = " ".join(f"{v:.3f}" for v in curve.tolist())
    last_cls = f"{result['cls'][-1]:.3f}" if "cls" in result else "  -  "
    print(f"{label:20s} {readout:3s} {by_block:47s} | CLS {last_cls}  GAP {result['gap'][-1]:.3f}")

# %%
widgets.probe_depth_view(probe_results, readout="own", others=(INIT_LABEL, "resnet"))

# %% [markdown]
# Even the untrained network gives probes well above chance: random features of Fashion-MNIST images already
# separate the classes to 57–61% at every block. Training makes the CLS token of `vit` more useful with
# depth, from 0.710 at blocks 0 and 1 to 0.876 at block 5. The ResNet starts lower and ends higher, from 0.588
# to 0.914. Its first two units (0.588, 0.644) are behind every trained ViT's block 0, but from the middle up
# its layers are better than the ViT's at the same normalised depth: at 0.5 the ResNet scores 0.780 and `vit`
# 0.742.
#
# The fraction models separate late. With 500 test images a probe accuracy near 0.75 has a standard error of
# about 0.02, so differences of a point or two are noise. At block 0 the four trained ViTs lie between 0.684
# and 0.722, in no order of data. At mid-depth (block 2, normalised depth 0.5) they score 0.724, 0.742 and
# 0.760 for 3%, 10% and 30%, but `vit` only 0.742, and at block 3 all four lie within 0.780–0.800. Only the
# last two blocks follow the data: 0.770, 0.794, 0.824 and 0.872 at block 4, and 0.796, 0.830, 0.864 and 0.876
# at block 5, the same order as the test accuracies. The paper found that more data raises the intermediate
# layers, not only the last. Here that shows only as a trend of under four points at mid-depth from 3% to
# 30%, which the full-data model does not continue; the clear gain is in the top blocks, where CKA also
# showed the models differing most. From the middle up, even the 30% model stays below the ResNet.
#
# ## At paper scale: ImageNet-21k against ImageNet-1k
#
# The same probe runs unchanged on timm's ViT-B/32 with two sets of public weights from the same training
# recipe {cite}`steiner2022how`: one pretrained on ImageNet-21k (about 14 million images) and one trained on
# ImageNet-1k alone (about 1.3 million), both at 224×224 pixels. The probes are fitted on 50 CIFAR-10
# training images per class (upsampled to 224 pixels) and scored on 500 CIFAR-10 test images, on the CLS
# token of each of the 12 blocks. The cell needs internet access for the weights and CIFAR-10 (Colab has
# it; a GPU makes it quick); it is skipped offline.

# %%
if zoo.is_online():
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    cifar_train, cifar_train_labels = data.cifar10("train")
    cifar_test, cifar_test_labels = data.cifar10("test")
    pick = data.nested_subset(cifar_train_labels, 0.01, seed=0)  # 500 images, 50 per class

    def upsampled(images):
        return F.interpolate(images, size=224, mode="bilinear", align_corners=False)

    big_results = {}
    for label, name in {"ViT-B/32, ImageNet-1k": "vit_base_patch32_224.augreg_in1k",
                        "ViT-B/32, ImageNet-21k": "vit_base_patch32_224.augreg_in21k"}.items():
        big_vit, _ = zoo.load_timm(name, device=device)
        zoo.attach_normalizer(big_vit, mean=0.5, std=0.5)  # augreg weights expect (x - 0.5) / 0.5
        big_results[label] = scale.probe_by_depth(
            big_vit, upsampled(cifar_train[pick]), cifar_train_labels[pick],
            upsampled(cifar_test[:500]), cifar_test_labels[:500], batch_size=64, progress=True,
        )
        print(f"{label}: CLS probe accuracy by block", [round(v, 3) for v in big_results[label]["cls"].tolist()])
    display(figures.probe_depth_curves(
        {label: (result["depth"], result["cls"]) for label, result in big_results.items()},
        title="ViT-B/32 on CIFAR-10: CLS probes by depth",
    ))
else:
    print("Offline: the paper-scale cell was skipped (it downloads two ViT-B/32 checkpoints and CIFAR-10).")

# %% [markdown]
# ## Summary
#
# - **Which layers need the data (Fig 12).** Same-layer CKA with the full-data model has a high floor in this
#   miniature: the untrained network scores 0.99 at block 0 and 0.67 at block 5. Blocks 0 and 1 of every
#   fraction model agree with `vit` (0.97 to 1.00), but so nearly does the floor. Above them the gap grows with
#   depth and shrinks with data: at block 5, 0.68, 0.73 and 0.77 for 3%, 10% and 30%. The higher blocks need
#   the data, as in the paper.
# - **Local heads.** The zoo ViTs start with 4 local heads; every trained one keeps the 2 in block 0 and loses
#   the 2 in block 1, at 3% as at 100%. Unlike the paper, too little data does not remove them: these models
#   only have to keep locality, not find it, and the count explains none of the differences in the curves.
# - **Intermediate layers (Fig 13).** CLS probes of `vit` rise from 0.710 to 0.876 with depth; the ResNet's
#   GAP probes rise from 0.588 to 0.914, behind every trained ViT in its first quarter and ahead of all of them
#   from normalised depth 0.5 up. The fraction models differ by at most about four points up to mid-depth and
#   separate in the top two blocks (block 5: 0.796, 0.830, 0.864, 0.876 from 3% to 100%): more data buys
#   better top layers clearly, better intermediate ones only weakly.
#
# The conclusion puts these numbers beside those of the other chapters.
