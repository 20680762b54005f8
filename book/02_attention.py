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

from seelike import activations, attention, claims, data, report, selfattention, zoo
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
# The book's ViT, the zoo's `vit`, uses timm's `Attention` module. It is trained on Fashion-MNIST the
# paper's way, on the labels alone, with learned position embeddings; the zoo holds several seeds of it and
# this chapter uses seed 0. Its size:

# %%
vit = zoo.load("vit", seed=0)
heads, head_dim = vit.blocks[0].attn.num_heads, vit.blocks[0].attn.head_dim
print(f"zoo vit, seed 0: {len(vit.blocks)} blocks, width {vit.embed_dim}, {heads} heads of {head_dim} dimensions")
print(f"test accuracy {zoo.manifest_entry('vit', 0)['test_accuracy']:.4f}")

# %% [markdown]
# Feeding the same tokens to timm's module and to ours, with the module's own weights, gives the same output
# and the same attention maps. The maps are read from timm with a hook while its fused path is switched off
# (`seelike.activations.attention_probabilities`); nothing in timm is modified. timm multiplies the queries by
# $1/\sqrt{d}$ before the product instead of dividing the scores after it. For this model's $d = 16$ the
# factor is $1/4$, a power of two, which rounds the same either way; for other head sizes the two orders
# differ in float32 in the last bits. We compare in float64, where rounding is a billion times smaller, so
# the check means the same for any ViT.

# %% tags=["nbval-check-output"]
vit64 = zoo.load("vit", seed=0).double()
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

# %%
accuracy_images, accuracy_labels = test_images[:2000], test_labels[:2000]
accuracy = {
    positions: (selfattention.class_probabilities(vit, accuracy_images, positions=positions).argmax(1) == accuracy_labels).double().mean().item()
    for positions in (True, False)
}
with torch.no_grad():
    output_max = selfattention.vit_encoder(vit64, tokens, positions=True).abs().max().item()
report.glue("error_without", error_without)
report.glue("error_with", error_with)
report.glue("output_max", output_max)
report.glue("n_accuracy", f"{len(accuracy_images):,}")
report.glue("accuracy_with", accuracy[True])
report.glue("accuracy_without", accuracy[False])
assert accuracy[False] < accuracy[True] - 0.2, "without positions the ViT is much worse"

# %% [markdown]
# Without positions the error is zero to float64 precision (here {glue:text}`error_without:.0e`, printed as
# 0): shuffling the patches only shuffles the output tokens, and the CLS token, which the classifier reads,
# does not change at all. With positions the error is {glue:text}`error_with:.1f`, as large as the output
# tokens themselves (their largest entry is {glue:text}`output_max:.1f` in absolute value): the shuffled
# image is encoded as a different image.
#
# The same experiment on pictures: below, an image and a copy with its 4×4 patches shuffled. The trained ViT
# (left bars) sees two different images. The same network with its position embeddings removed (right bars)
# gives *identical* probabilities for both, whatever the shuffle. Without them it classifies only
# {glue:text}`accuracy_without:.0%` of the first {glue:text}`n_accuracy` test images correctly, against
# {glue:text}`accuracy_with:.0%` with them: it was trained with positions, although the bag of patches alone
# still tells it something about the class (chance is one in ten). Change the image or the shuffle seed.

# %%
views.shuffled_patches_view(vit, test_images[:16], test_labels[:16], patch_size=4,
                            class_names=data.FASHION_MNIST_CLASSES)

# %% [markdown]
# ## Attention maps of a trained ViT
#
# The ViT sees a 28×28 image as 7×7 = 49 patch tokens plus one extra **CLS** token, whose final state the
# classifier reads. Each block has {glue:text}`n_heads` heads, and each head gives every one of the 50 tokens
# an attention map over all 50. Choose an image, a block, a head and a query token below (token 0 is CLS,
# token $1 + 7r + c$ the patch in row $r$, column $c$); the right panel shows the query's weights on the
# patches, and its title the weight left on CLS.

# %%
patch_size, grid_size, num_prefix = attention.model_patch_geometry(vit)
distances, uniform = claims.head_distances(vit, test_images[: claims.DISTANCE_IMAGES])  # (blocks, heads) px
maps = activations.attention_probabilities(vit, test_images[:16])  # per block: (images, heads, 50, 50)
patch_maps = [block_maps[:, :, num_prefix:, num_prefix:] for block_maps in maps]  # patch queries, patch keys
top_weight = torch.stack([m.max(-1).values.mean(dim=(0, 2)) for m in patch_maps])  # (blocks, heads)
sharp_block, sharp_head = divmod(int(top_weight[:2].argmax()), heads)  # the most concentrated head of blocks 0-1
between = attention.patch_distances(grid_size, patch_size)  # (49, 49) px between patch centres
top_patch = patch_maps[sharp_block][:, sharp_head].argmax(-1)  # (images, queries): where each query looks most
sharp_distance = between.gather(1, top_patch.T).mean().item()
report.glue("n_heads", heads)
report.glue("n_distance", f"{claims.DISTANCE_IMAGES:,}")
report.glue("uniform", uniform)
report.glue("local_cut", attention.LOCAL_FRACTION * uniform)
report.glue("min_distance", distances.min().item())
report.glue("max_distance", distances.max().item())
report.glue("block0_top_min", top_weight[0].min().item())
report.glue("block0_top_max", top_weight[0].max().item())
report.glue("uniform_weight", 1 / maps[0].shape[-1])
report.glue("sharp_block", sharp_block)
report.glue("sharp_head", sharp_head)
report.glue("sharp_top", top_weight[sharp_block, sharp_head].item())
report.glue("sharp_distance", sharp_distance)
assert distances.min() > attention.LOCAL_FRACTION * uniform, "no head of this ViT is local"
assert top_weight[0].max() < top_weight[1].max() > 3 * top_weight[0].min(), "block 1 holds the concentrated heads"
assert sharp_distance > 0.8 * uniform, "and the patches they pick are hardly nearer than average"
views.attention_map_view(vit, test_images[:16], patch_size=4, block=sharp_block, head=sharp_head, query=25)

# %% [markdown]
# Unlike the paper's ViTs, this one has no head that prefers the patches near its query. The measure that
# shows it is the mean attention distance of [chapter 6](06_local_global.ipynb): the distance between a query
# patch and the patches it attends to, weighted by attention, averaged over queries and the first
# {glue:text}`n_distance` test images. Every head of every block lies between
# {glue:text}`min_distance:.1f` and {glue:text}`max_distance:.1f` px, against {glue:text}`uniform:.1f` px for
# attention spread evenly over the image; by chapter 6's yardstick a head is local below 0.6 of that,
# {glue:text}`local_cut:.1f` px, and none comes close.
#
# Broad on average is not the same as uniform, though. In the first block a typical query gives its largest
# weight {glue:text}`block0_top_min:.2f` to {glue:text}`block0_top_max:.2f` of the total, depending on the
# head (an even spread gives {glue:text}`uniform_weight:.2f` to each token), but in the second block some
# heads concentrate: head {glue:text}`sharp_head` of block {glue:text}`sharp_block`, shown above, gives its
# top patch {glue:text}`sharp_top:.2f` of the weight on average, and that patch lies on average
# {glue:text}`sharp_distance:.1f` px from the query, hardly nearer than the {glue:text}`uniform:.1f` px of a
# patch chosen at random. These heads pick patches by what they contain rather than by where they are: for the
# boot above, the query in its middle puts much of its weight on the sole. Chapter 6 measures this for every
# head of every seed, and asks what a small ViT would need to learn local heads.
# <!-- constants: 0.6 -->

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
# - The paper's ViTs mix local and global heads in their first blocks. The book's small ViT has no local
#   head: its early heads attend broadly, some of them sharply but by content rather than by distance.
#   Rollout traces information back through the blocks to the input patches.
#
# The next chapter looks at the tokens themselves: how an image becomes a sequence of patches, and what the
# learned patch embeddings and the position embeddings look like, fixed sin-cos ones built by formula and
# the learned ones of the zoo's ViT.
