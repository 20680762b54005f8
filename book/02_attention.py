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
# # Self-attention
#
# A convolution combines each pixel with a fixed neighbourhood, using weights that do not depend on the
# image. Self-attention {cite}`vaswani2017attention` combines each token with *every* other token, using
# weights computed from the tokens themselves. That single difference is what the paper
# {cite}`raghu2021vision` keeps returning to: a Vision Transformer (ViT) {cite}`dosovitskiy2021image` *can*
# look at the whole image from its first layer, so where it actually looks has to be measured.
#
# This chapter writes attention out in a few lines, checks them against PyTorch and timm, shows numerically
# why position embeddings are needed, and then looks at the attention maps of the book's own small ViT.

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
import inspect

import torch
import torch.nn.functional as F

from seelike import activations, data, selfattention, zoo
from seelike.widgets import basics as views

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")

# %% [markdown]
# ## Scaled dot-product attention
#
# Start from a sequence of $T$ tokens, each a vector. Three learned linear maps turn every token into a
# **query** $q$ (what it is looking for), a **key** $k$ (what it offers) and a **value** $v$ (what it hands
# over). Token $i$ scores every token $j$ by the dot product $q_i \cdot k_j$, turns the scores into weights
# with a softmax, and outputs the weighted average of the values:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V,$$
#
# where $d$ is the length of a query. Row $i$ of the softmax is a probability distribution over the tokens:
# the *attention map* of token $i$. This is all of it; here is the book's implementation, exactly as it sits
# in `seelike.selfattention`:

# %%
print(inspect.getsource(selfattention.scaled_dot_product_attention))

# %% [markdown]
# PyTorch ships a fused version of the same computation, `torch.nn.functional.scaled_dot_product_attention`,
# which never stores the $T \times T$ weights (that is why timm's fast path cannot show attention maps).
# On random queries, keys and values the two agree to float32 rounding:

# %% tags=["nbval-check-output"]
generator = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, 4, 50, 32, generator=generator) for _ in range(3))  # (batch, heads, tokens, dim)
ours, weights = selfattention.scaled_dot_product_attention(q, k, v)
difference = (ours - F.scaled_dot_product_attention(q, k, v)).abs().max().item()
row_error = (weights.sum(-1) - 1).abs().max().item()
print("weights:", tuple(weights.shape), "| every row sums to 1 (to 1e-6):", row_error < 1e-6)
print("max |ours - torch| below 1e-6:", difference < 1e-6)
assert row_error < 1e-6 and difference < 1e-6

# %% [markdown]
# ### Why divide by $\sqrt{d}$?
#
# A dot product of two random $d$-dimensional vectors with unit-variance entries has variance $d$. Without
# the scaling, longer queries give larger scores, the softmax saturates, and each token ends up attending to
# a single other token, with gradients close to zero everywhere else. Dividing by $\sqrt{d}$ keeps the scores
# at unit variance whatever $d$ is. The figure compares the two for random queries and keys; the entropy in
# each title measures how spread out the rows are ($\ln 16 \approx 2.77$ nats is perfectly uniform, 0 is
# one-hot). Move the slider to change $d$.

# %%
views.attention_scaling_view(num_tokens=16, head_dim=64)

# %% [markdown]
# ## Multi-head attention
#
# One softmax gives one way of mixing the tokens. A transformer runs several attention **heads** side by
# side: the token width $D$ is split into $H$ slices of $d = D/H$, each head attends with its own queries,
# keys and values, and the heads' outputs are concatenated and mixed by one more linear map. Different heads
# are free to specialise, for instance one looking nearby and another far away, which is exactly what the
# paper measures in its Figures 3 and 4 ([chapter 6](06_local_global.ipynb)). Written out:

# %%
print(inspect.getsource(selfattention.multi_head_attention))

# %% [markdown]
# The book's ViT (6 blocks, width 128, 4 heads of 32 dimensions, trained on Fashion-MNIST) uses timm's
# `Attention` module. Its training recipe gives it two nudges: two heads in each of its first two blocks
# start out mildly local ([chapter 6](06_local_global.ipynb) says more), and half of its loss rewards the true label while the other
# half rewards the top class of the book's ResNet, DeiT-style hard distillation {cite}`touvron2021training`.
#
# Feeding the same tokens to timm's module and to ours, with the module's own weights, gives the same output
# and the same attention maps. The maps are read from timm with a hook while its fused path is switched off
# (`seelike.activations.attention_probabilities`); nothing in timm is modified. timm multiplies the queries by
# $1/\sqrt{d}$ before the product instead of dividing the scores after it, so in float32 the two differ by
# rounding (up to about $2 \times 10^{-6}$ on this trained model's first-block maps); we compare in float64,
# where rounding is a billion times smaller.

# %%
vit = zoo.load("vit")
print("zoo vit: test accuracy", zoo.manifest_entry("vit")["test_accuracy"])

# %% tags=["nbval-check-output"]
vit64 = zoo.load("vit").double()
images = test_images[:8].double()
captured = {}
hook = vit64.blocks[0].attn.register_forward_pre_hook(lambda module, args: captured.setdefault("tokens", args[0]))
with torch.no_grad():
    vit64(images)
hook.remove()
with torch.no_grad():
    timm_output = vit64.blocks[0].attn(captured["tokens"])
    our_output, our_weights = selfattention.timm_multi_head_attention(vit64.blocks[0].attn, captured["tokens"])
timm_weights = activations.attention_probabilities(vit64, images)[0]
print("tokens entering block 0:", tuple(captured["tokens"].shape), "-> attention maps:", tuple(our_weights.shape))
errors = {"output": (our_output - timm_output).abs().max().item(), "maps": (our_weights - timm_weights).abs().max().item()}
print("output equal to timm's (1e-12):", errors["output"] < 1e-12)
print("maps equal to timm's (1e-12):", errors["maps"] < 1e-12)
assert max(errors.values()) < 1e-12, errors

# %% [markdown]
# ## What positions add
#
# Look again at the formula: nothing in it knows where a token is. If the input tokens are shuffled, the
# scores, weights and outputs are shuffled in the same way and are otherwise unchanged. Attention is
# **permutation-equivariant**; the MLP and layer norms of a transformer block act on each token separately,
# so they are too. A ViT that only saw its patch embeddings would treat an image as a *bag* of patches.
#
# The fix is to add a **position embedding** to each patch token before the first block: a vector that
# depends only on the patch's place in the grid ([chapter 3](03_patches.ipynb) looks at them). Then shuffling the patches moves
# their content but not their positions, and the output changes.
#
# We check this on the trained ViT, again in float64 so rounding does not blur the answer. The function is
# the whole encoder (all six blocks), with and without the position embeddings; the error is the largest
# difference between "shuffle, then encode" and "encode, then shuffle".

# %% tags=["nbval-check-output"]
tokens = selfattention.patch_tokens(vit64, test_images[:16].double()).detach()  # (16 images, 49 patches, 128)
permutation = torch.randperm(tokens.shape[1], generator=torch.Generator().manual_seed(0))
error_without = selfattention.permutation_equivariance_error(
    lambda x: selfattention.vit_encoder(vit64, x, positions=False).detach(), tokens, permutation, num_prefix_tokens=1
)
error_with = selfattention.permutation_equivariance_error(
    lambda x: selfattention.vit_encoder(vit64, x, positions=True).detach(), tokens, permutation, num_prefix_tokens=1
)
print(f"permutation-equivariance error, positions removed: {error_without:.6f}")
print(f"permutation-equivariance error, positions added:   {error_with:.3f}")
assert error_without < 1e-9 < 1 < error_with, "equivariant without positions (float64), not with them"

# %% [markdown]
# Without positions the error is zero to float64 precision (about $10^{-15}$, printed as 0): shuffling the
# patches only shuffles the output tokens, and the CLS token, which the classifier reads, does not change at
# all. With positions the error is 9.6, as large as the output tokens themselves (their entries stay below
# about 6 in absolute value): the shuffled image is encoded as a different image.
#
# The same experiment on pictures: below, an image and a copy with its 4×4 patches shuffled. The trained ViT
# (left bars) sees two different images. The same network with its position embeddings removed (right bars)
# gives *identical* probabilities for both, whatever the shuffle, although its predictions are then no
# better than chance (about 11% correct on the first 2,000 test images): it was trained with positions.
# Change the image or the shuffle seed.

# %%
views.shuffled_patches_view(vit, test_images[:16], test_labels[:16], patch_size=4,
                            class_names=data.FASHION_MNIST_CLASSES)

# %% [markdown]
# ## Attention maps of a trained ViT
#
# The ViT sees a 28×28 image as 7×7 = 49 patch tokens plus one extra **CLS** token, whose final state the
# classifier reads. Each block has 4 heads, and each head gives every one of the 50 tokens an attention map
# over all 50. Choose an image, a block, a head and a query token below (token 0 is CLS, token $1 + 7r + c$
# the patch in row $r$, column $c$); the right panel shows the query's weights on the patches, and its title
# the weight left on CLS.
#
# In each of the first two blocks, heads 0 and 1 favour patches near the query while heads 2 and 3 spread
# almost evenly over the whole image; from the third block on nearly every map is broad. The local heads are
# soft rather than sharp: a typical query gives its single largest weight only about a quarter of the total,
# and their mean distance is 8-10 px against 14.4 px for uniform attention. These are the heads the recipe
# seeded, which start at 7-8 px; training left them roughly there, drifting slightly outward, and by chapter
# 6's yardstick (local means at most 0.6 of uniform, 8.7 px) only head 0 of each block counts as local.
# Chapter 6 turns this impression into the paper's measurement, the mean attention distance of every head.

# %%
views.attention_map_view(vit, test_images[:16], patch_size=4, block=0, head=0, query=25)

# %% [markdown]
# ## Attention rollout
#
# A single map shows where one block looks, but from block 2 on the tokens it looks at are already mixtures
# of other tokens. **Attention rollout** {cite}`abnar2020quantifying` follows the mixing through the stack.
# Each block's map is averaged over heads, $\bar A_l$, and combined with the identity to account for the
# skip connection that carries every token past the attention, $\tilde A_l = (1-\alpha)\bar A_l + \alpha I$
# (rollout uses $\alpha = 0.5$). Chaining the blocks by matrix products,
# $R_l = \tilde A_l \tilde A_{l-1} \cdots \tilde A_1$, gives in row $t$ how much token $t$ after block $l$
# draws on each *input* token. Rollout is an approximation: it ignores the MLPs and the values, and treats
# the residual and attention paths as fixed proportions.
#
# Top row: the CLS token's attention in each block alone. Bottom row: its rollout up to that block. Try the
# `max` head fusion, or $\alpha = 0$ (no skip connection), which lets the maps wash out quickly.

# %%
views.rollout_view(vit, test_images[:16])

# %% [markdown]
# ## Summary
#
# - Attention is a weighted average whose weights come from query–key dot products; the $1/\sqrt{d}$ keeps
#   the softmax from saturating. The book's few-line version matches PyTorch and timm to $10^{-6}$.
# - Multi-head attention runs several such averages in parallel on slices of the token width.
# - Without position embeddings a ViT is blind to the arrangement of its patches: its encoder is exactly
#   permutation-equivariant and its CLS output permutation-invariant.
# - A trained ViT mixes local and global heads in its first blocks (here, mildly local ones seeded by the
#   recipe); rollout traces information back through the blocks to the input patches.
#
# The next chapter looks at the tokens themselves: how an image becomes a sequence of patches, and what the
# learned patch embeddings and the position embeddings look like (fixed ones for this chapter's ViT,
# learned ones for the seeded zoo's).
