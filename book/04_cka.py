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
# # Comparing representations with CKA
#
# Most of the paper's evidence {cite}`raghu2021vision` comes from one question asked over and over: *how
# similar are the representations of two layers?* The layers may sit in the same network or in two networks
# with different architectures, and they rarely have the same width: a block of our small ViT produces 50
# tokens of 128 numbers per image, a stage of our ResNet 32 channels on a 14×14 grid. The paper answers with
# **centred kernel alignment** (CKA) {cite}`kornblith2019similarity`, computed on minibatches as proposed by
# {cite:t}`nguyen2021wide`.
#
# This chapter builds CKA from a dot product, checks what it ignores and what it notices, and then looks at
# the three details that decide whether a CKA number can be trusted: which HSIC estimator is used, how
# minibatches are combined, and in which floating-point precision the centring happens. Every later chapter
# relies on the engine in `seelike.cka` that this chapter takes apart.

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
import torch

from seelike import activations, cka, cka_intro, data, figures, report, zoo
from seelike.widgets import cka_intro as views

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")
vit, resnet = zoo.load("vit", seed=0), zoo.load("resnet", seed=0)
report.glue("n_vit_layers", len(activations.layer_names(vit)))

# %% [markdown]
# ## A layer's representation is a matrix
#
# Feed $n$ images through a network and record one layer. Each image becomes a vector of that layer's
# activations, flattened: all tokens and all channels of a ViT block, all channels at all positions of a
# ResNet stage. Stacked as rows, they form a matrix $X$ of shape $n \times p$. A second layer, perhaps of
# another network, gives $Y$ of shape $n \times q$ for the *same* images.
#
# Comparing $X$ and $Y$ column by column is hopeless: $p \neq q$ in general, and even two copies of one
# network trained from different seeds learn their features in an arbitrary order and basis. What *can* be
# compared is how each layer arranges the images. The **Gram matrix** $K = XX^\top$ holds, at $(i, j)$, the
# dot product of images $i$ and $j$ in the layer's space: an $n \times n$ table of which images the layer
# considers alike, whatever its width. Two layers represent the data similarly if their Gram matrices agree.
#
# Below are three Gram matrices for the same 60 test images (6 per class, grouped by class): raw pixels, the
# output of the ViT's second block and of the ResNet's second stage. Each matrix is *centred* (its features
# have mean zero over the images, which the next section explains). Red means "more alike than average".
# The class blocks on the diagonal sharpen as the network processes the images.

# %%
chosen = cka_intro.class_sorted_examples(test_labels, per_class=6)
sample = test_images[chosen]
representations = {
    "pixels": sample,
    "ViT blocks.1": activations.collect(vit, ["blocks.1"], sample)["blocks.1"],
    "ResNet layer2.1": activations.collect(resnet, ["layer2.1"], sample)["layer2.1"],
}
grams = {name: cka.centred_gram(values) for name, values in representations.items()}
similarity_to_pixels = {name: cka.linear_cka(sample, representations[name]) for name in ("ViT blocks.1", "ResNet layer2.1")}
figures.gram_matrices(grams, test_labels[chosen], data.FASHION_MNIST_CLASSES, similarity_to_pixels)

# %% [markdown]
# ## From Gram matrices to HSIC and CKA
#
# To compare two Gram matrices, treat them as long vectors and take their dot product,
# $\langle K, L\rangle = \operatorname{tr}(KL) = \sum_{ij} K_{ij} L_{ij}$. Before that, remove what says
# nothing about the arrangement of the images: the mean activation. Subtracting each feature's mean over the
# images is the same as multiplying the Gram matrix on both sides by the centring matrix
# $H = I - \tfrac{1}{n}\mathbf{1}\mathbf{1}^\top$. The resulting quantity,
#
# $$\mathrm{HSIC}(K, L) = \frac{1}{(n-1)^2}\operatorname{tr}(K H L H),$$
#
# is the **Hilbert–Schmidt independence criterion** {cite}`gretton2005measuring` with linear kernels. For
# linear kernels it has a second face: with $X$ and $Y$ centred,
# $\operatorname{tr}(KHLH) = \lVert Y^\top X \rVert_F^2$, the sum of the squared covariances between every
# feature of one layer and every feature of the other. HSIC is large when the two layers vary together.
#
# HSIC grows with the scale of the activations, so it is normalised like a cosine:
#
# $$\mathrm{CKA}(K, L) = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}} \in [0, 1].$$
#
# CKA is 1 when the centred Gram matrices are proportional and 0 when they are orthogonal. Here are both faces
# in a few lines, written out only to be checked against the package's `linear_cka` (with the biased HSIC
# above; the next sections explain why the book's default is another estimator):

# %% tags=["nbval-check-output"]
def cka_feature_space(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return (y.T @ x).norm() ** 2 / ((x.T @ x).norm() * (y.T @ y).norm())


def cka_gram_space(x, y):
    centring = torch.eye(len(x), dtype=x.dtype) - 1 / len(x)
    K, L = centring @ x @ x.T @ centring, centring @ y @ y.T @ centring
    return (K * L).sum() / ((K * K).sum() * (L * L).sum()).sqrt()


x = representations["ViT blocks.1"].flatten(1).double()
y = representations["ResNet layer2.1"].flatten(1).double()
reference = cka.linear_cka(x, y, unbiased=False)
print(f"CKA(ViT blocks.1, ResNet layer2.1) on 60 images: {reference:.3f}")
print("feature-space form agrees with seelike.cka to 1e-12:", abs(cka_feature_space(x, y).item() - reference) < 1e-12)
print("Gram-space form agrees with seelike.cka to 1e-12:  ", abs(cka_gram_space(x, y).item() - reference) < 1e-12)
assert max(abs(form(x, y).item() - reference) for form in (cka_feature_space, cka_gram_space)) < 1e-12

# %% [markdown]
# The feature-space form costs $O(n\,p\,q)$ and needs both layers at once; the Gram-space form costs
# $O(n^2(p + q))$ and handles each layer on its own, which is what lets the engine compare every pair of
# the ViT's {glue:text}`n_vit_layers` named layers from one Gram matrix per layer.
#
# ## What CKA ignores, and what it does not
#
# A similarity index is defined as much by what it ignores as by what it detects. CKA depends on $X$ only
# through the centred Gram matrix, so anything that leaves $HXX^\top H$ unchanged, or only rescales it, leaves
# CKA unchanged:
#
# - an **orthogonal transform** $X \mapsto XQ$ (a rotation or permutation of the features): $XQQ^\top X^\top =
#   XX^\top$. Two networks that learn the same features in a different order or basis look identical.
# - **isotropic scaling** $X \mapsto cX$: the normalisation cancels $c^2$.
# - **translation** $X \mapsto X + \mathbf{1}b^\top$: the centring removes it.
#
# An arbitrary **invertible linear map** $X \mapsto XA$ is *not* ignored: it stretches some directions of the
# representation more than others, and CKA sees that. So does a per-feature rescaling. The table checks all
# five on a random representation of 512 examples with 64 features:

# %% tags=["nbval-check-output"]
after = cka_intro.cka_after_transforms(n=512, features=64)
invariant = ("orthogonal rotation", "isotropic scaling ×0.001", "translation +30")
for name, value in after.items():
    print(f"{name:26s} CKA = {value:.3f}")
print("largest invariance error |1 - CKA| below 1e-12:", max(abs(1 - after[name]) for name in invariant) < 1e-12)
assert max(abs(1 - after[name]) for name in invariant) < 1e-12, "invariant to rotation, scaling, translation"
assert max(after[name] for name in after if name not in invariant) < 0.95, "not to other linear maps"

# %% [markdown]
# On the right of the figure, $A = U \operatorname{diag}(s) V^\top$ has singular values $s$ spread
# geometrically from 1 to $1/\kappa$: at condition number $\kappa = 1$ it is a rotation and CKA is exactly 1;
# the more unevenly $A$ stretches, the lower CKA falls. Switch the kernel to RBF (Gaussian kernels whose width
# follows the median distance between examples) to see that it shares the same invariances.

# %%
views.invariance_view()

# %% [markdown]
# Why not also ignore invertible linear maps, as canonical correlation analysis does? Because with more
# features than examples, which is the normal case for a network layer ($p$ in the thousands, $n$ a few
# hundred per minibatch), *any* two representations of full rank are related by some invertible linear map:
# an index invariant to such maps would call every pair of layers identical {cite}`kornblith2019similarity`.
# CKA's choice, orthogonal and isotropic invariance only, keeps it informative in exactly that regime. It also
# matches how networks use their features: a later linear layer can undo a rotation for free, but scaling
# some directions up changes which differences dominate the next dot product.
#
# ## The estimator matters: biased and unbiased HSIC
#
# The HSIC formula above is a *biased* estimate of a population quantity: its expectation over random samples
# of $n$ examples is off by terms of order $1/n$, and those terms include the diagonal of the Gram matrices,
# the squared norms $\lVert x_i\rVert^2$ of the examples themselves. With many features and few examples the
# diagonal dominates: every centred Gram matrix looks like a multiple of the identity, and any two such
# matrices are nearly proportional. The biased CKA of two completely *independent* random representations is
# then close to 1.
#
# {cite:t}`song2012feature` give an unbiased estimator. Let $\tilde K$ be $K$ with its diagonal set to zero;
# then, for $n \ge 4$,
#
# $$\mathrm{HSIC}_1(K, L) = \frac{1}{n(n-3)}\left[\operatorname{tr}(\tilde K\tilde L)
#   + \frac{\mathbf{1}^\top\tilde K\mathbf{1}\;\mathbf{1}^\top\tilde L\mathbf{1}}{(n-1)(n-2)}
#   - \frac{2}{n-2}\,\mathbf{1}^\top\tilde K\tilde L\mathbf{1}\right].$$
#
# Its expectation is exactly the population HSIC at every $n$, so it can be slightly negative. The figure
# draws both estimates for two independent Gaussian representations with 512 features each (mean of four
# draws, band from lowest to highest). The truth is 0.

# %% tags=["nbval-check-output"]
bias = cka_intro.independent_cka_vs_n([8, 64, 1024], features=512, repeats=4, cache=True)
for column, n in enumerate(bias["n"].int().tolist()):
    print(f"n = {n:4d}: biased CKA {bias['biased'][:, column].mean():.2f}, unbiased CKA {bias['unbiased'][:, column].mean():+.2f}")
biased, unbiased = bias["biased"].mean(0), bias["unbiased"].mean(0)
assert (biased.diff() < 0).all() and biased[0] > 0.9, "the biased estimator sees similarity in independent noise"
assert unbiased[1:].abs().max() < 0.05, "the unbiased one is near 0 from n = 64 on"

# %%
views.hsic_bias_view()

# %% [markdown]
# With 512 features the biased estimate needs thousands of examples before it approaches 0; the unbiased one
# scatters around 0 from the start. Fewer features (try the control) shrink the bias, the RBF kernel shows it
# too. The paper uses the unbiased estimator throughout, and so does `seelike.cka` by default.
#
# ## Minibatches: sum HSIC, normalise once
#
# The paper compares layers on 10,240 images. A $10{,}240 \times 10{,}240$ Gram matrix per layer, for dozens of
# layers, does not fit in memory, and the activations of all images would not either. The minibatch estimator
# of {cite:t}`nguyen2021wide` needs neither: for each minibatch of $b$ images, compute every layer's Gram
# matrix, add $\mathrm{HSIC}_1$ of every layer pair to a running sum, and divide only at the end,
#
# $$\mathrm{CKA} = \frac{\sum_t \mathrm{HSIC}_1(K_t, L_t)}{\sqrt{\sum_t \mathrm{HSIC}_1(K_t, K_t)\,
#   \sum_t \mathrm{HSIC}_1(L_t, L_t)}}.$$
#
# Because each minibatch's $\mathrm{HSIC}_1$ is unbiased, the sums are unbiased too, whatever $b$ is. Two
# tempting shortcuts are not: averaging per-minibatch CKA values (a ratio of noisy estimates is biased), and
# doing so with the biased HSIC, which adds the small-$n$ bias of the previous section at every minibatch.
#
# The figure compares the three on real activations: the output of the ViT's second block and of the
# ResNet's first stage-2 unit, for 1,024 test images, with minibatches from 16 to 512 images. (The results are
# cached on disk, keyed by the activations themselves, so rerunning the cell or the widget is instant.)

# %%
images = test_images[:1024]
vit_block = activations.collect(vit, ["blocks.1"], images)["blocks.1"]
resnet_unit = activations.collect(resnet, ["layer2.0"], images)["layer2.0"]
minibatch_sizes = (16, 32, 64, 128, 256, 512)

# %% tags=["nbval-check-output"]
effect = cka_intro.minibatch_size_effect(vit_block, resnet_unit, minibatch_sizes, cache=True)
print(f"all 1024 images at once (unbiased): {effect['full_unbiased']:.3f}")
for size, summed, biased in zip(minibatch_sizes, effect["minibatch"], effect["mean_biased"], strict=True):
    print(f"minibatch {size:4d}: summed-HSIC CKA {summed:.3f} | mean of biased per-batch CKA {biased:.3f}")
drift = {"summed": (effect["minibatch"] - effect["full_unbiased"]).abs(), "biased": (effect["mean_biased"] - effect["full_unbiased"]).abs()}
assert drift["summed"].max() < 0.01, "summing HSIC over minibatches recovers the full-batch value"
assert (drift["biased"] > drift["summed"]).all(), "averaging per-batch CKA does not"

# %%
views.minibatch_view(vit_block, resnet_unit, minibatch_sizes, title="ViT blocks.1 vs ResNet layer2.0")

# %%
report.glue("spread", float(torch.cat([vit_block[:256].flatten(1), resnet_unit[:256].flatten(1)], 1).std(0).mean()))
report.glue("reference_cka", float(cka.linear_cka(vit_block[:256].flatten(1).double(), resnet_unit[:256].flatten(1).double(), unbiased=False)))

# %% [markdown]
# The summed estimator barely moves from a minibatch of 16 images to 512, in line with the paper's remark
# that its results do not change down to minibatches of 128. The mean of per-minibatch biased CKA drifts up as
# minibatches shrink. The control changes how many of the 1,024 images are used.
#
# ## Precision: centre before it is too late
#
# CKA ignores a constant added to every activation, but floating-point arithmetic does not. Activations after
# a ReLU or a GELU have a positive mean, and a layer whose activations sit around 30 with a spread of 1 is not
# unusual. The textbook route (form $K = XX^\top$, then centre it as $HKH$) first builds entries of size about
# $30^2 p$ and then subtracts nearly equal numbers of that size to recover differences of size about $p$. In
# float32, with 24 bits of mantissa, the differences drown in rounding error.
#
# The figure adds an offset to the two layers above (one minibatch of 256 images, stored in float32 as a
# network would produce them) and computes CKA three ways: the textbook formula in float32, the same formula
# in float64, and `seelike.cka.MinibatchCKA`, which computes its Gram matrices in float32 too, but only after
# subtracting each feature's minibatch mean, and does its centring in float64. Correct answers are flat lines.
#
# How badly the textbook formula fails depends on the ratio of the offset to the spread of the activations
# (and grows with the number of features and examples). These two layers have a spread (standard deviation)
# of about {glue:text}`spread:.1f` (per feature, averaged over both layers' features): at their own scale,
# even +100 costs the float32 formula only the third decimal. Scaled by 0.1 (the default below; the control
# offers others), they behave like layers whose activations sit far from zero compared with how much they
# vary, and at +100 the float32 CKA is close to 0 instead of {glue:text}`reference_cka:.2f`.
# <!-- constants: 0.1 -->

# %% tags=["nbval-check-output"]
checks, engine_errors_all_small = {}, True
for scale in (1.0, 0.1, 0.01):
    failure = cka_intro.offset_failure(vit_block[:256], resnet_unit[:256], [0.0, 30.0, 100.0], scale=scale)
    checks[scale] = abs(failure["naive_float32"] - failure["reference"])
    engine_error = abs(failure["minibatch_cka"] - failure["reference_unbiased"]).max().item()
    print(f"activations x {scale:<4g}: seelike engine within 1e-6 of float64 at offsets 0, 30, 100: {engine_error < 1e-6}")
    engine_errors_all_small &= engine_error < 1e-6
print(f"float64 reference CKA: {failure['reference'][0]:.3f}")
print("textbook float32, activations x 1 + 30:    error below 0.01:", bool(checks[1.0][1] < 0.01))
print("textbook float32, activations x 0.01 + 30: error above 0.1: ", bool(checks[0.01][1] > 0.1))
print("textbook float32, activations x 0.1 + 100: error above 0.1: ", bool(checks[0.1][2] > 0.1))
assert engine_errors_all_small and checks[1.0][1] < 0.01 and checks[0.01][1] > 0.1 and checks[0.1][2] > 0.1

# %%
views.float32_view(vit_block, resnet_unit, scale=0.1)

# %% [markdown]
# ## What the rest of the book uses
#
# Every heatmap from the next chapter on is linear CKA with the unbiased HSIC, accumulated over minibatches
# and normalised once, with each layer's Gram matrix computed once per minibatch from mean-subtracted
# features and every pair of layers combined in float64: `seelike.cka.MinibatchCKA`, driven by
# `seelike.cka.cka_matrix`, which runs the models and hands each layer's activations to the engine
# as soon as the layer has run, so no activation is ever stored.
