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
# # Images as sequences of patches
#
# Attention works on a sequence of vectors. A Vision Transformer {cite}`dosovitskiy2021image` turns an image
# into one in the bluntest way possible: it cuts the image into a grid of square patches, flattens each
# patch into a vector and multiplies it by a learned matrix. Everything the paper {cite}`raghu2021vision`
# measures in a ViT happens to these **patch tokens**, so this chapter follows one image through the
# tokenizer, shape by shape, and then looks at the two things that carry the image into the transformer: the
# learned patch-embedding filters and the position embeddings.

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
from IPython.display import display

from seelike import data, figures, patches, report, zoo
from seelike.widgets import basics as views

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")
vit = zoo.load("vit", seed=0)  # the zoo's ViT, seed 0
image = test_images[:1]  # (1, 1, 28, 28): one ankle boot

# %% [markdown]
# ## From pixels to tokens, shape by shape
#
# The book's ViT reads 28×28 grey images with 4×4 patches and a token width of 128:
#
# 1. **Cut** the (1, 28, 28) image into a 7×7 grid of 4×4 patches, in raster order (left to right, top to
#    bottom): 49 patches.
# 2. **Flatten** each patch to 1·4·4 = 16 numbers: a (49, 16) matrix, one row per patch.
# 3. **Project** every row with the same learned 16 → 128 linear map: 49 tokens of width 128.
# 4. **Add** a position embedding to each token and put a learned **CLS** token in front: 50 tokens.
#
# Steps 1–3 are a convolution with kernel size and stride equal to the patch size, which is how timm writes
# it (`patch_embed.proj`). `seelike.patches` spells out the cutting and the matrix product so the two can be
# compared:

# %% tags=["nbval-check-output"]
normalised = (image - zoo.FASHION_MNIST_MEAN) / zoo.FASHION_MNIST_STD  # what the model does to its input first
flat = patches.patchify(normalised, patch_size=4)
filters = patches.patch_embedding_filters(vit)
tokens = patches.embed_patches(flat, filters, vit.patch_embed.proj.bias)
with torch.no_grad():
    timm_tokens = vit.patch_embed(image)
sequence_length = vit.num_prefix_tokens + tokens.shape[1]
print("image              ", tuple(image.shape))
print("patches (flattened)", tuple(flat.shape))
print("projection matrix  ", tuple(filters.reshape(filters.shape[0], -1).T.shape), "(the conv kernel", tuple(filters.shape), "reshaped)")
print("patch tokens       ", tuple(tokens.shape))
print("with CLS           ", (1, sequence_length, tokens.shape[2]))
token_error = (tokens - timm_tokens).abs().max().item()
print("same tokens as timm's patch_embed (to 1e-5):", token_error < 1e-5)
print("unpatchify(patchify(image)) == image:", torch.equal(patches.unpatchify(flat, 4, 28), normalised))
assert token_error < 1e-5 and torch.equal(patches.unpatchify(flat, 4, 28), normalised)

# %% [markdown]
# The patch size sets the sequence length. Halving it quadruples the number of tokens, and because every
# token attends to every other, the attention maps grow with the *square* of that number. This is the
# trade-off behind the names ViT-B/32 and ViT-B/16 (patch sizes 32 and 16 on 224×224 images) in the paper:

# %% tags=["nbval-check-output"]
for side, sizes in ((28, (2, 4, 7, 14)), (224, (8, 14, 16, 32))):
    for patch_size in sizes:
        rows, cols = patches.patch_count(side, patch_size)
        print(f"{side}×{side} image, {patch_size:>2}×{patch_size:<2} patches: {rows:>2}×{cols:<2} = {rows * cols:>4} tokens, "
              f"{(rows * cols + 1) ** 2:>7,} attention weights per head (with CLS)")

# %% [markdown]
# Below, the same steps drawn: the grid on the image, the sequence of patches in the order the transformer
# receives them, and the matrix that gets projected. Switch to the colour photograph (three channels, so
# each 16×16 patch flattens to 3·16·16 = 768 numbers, as in ViT-B/16) and try other patch sizes; the
# sizes offered are those that tile the image exactly.

# %%
photos = data.sample_photos()
views.patchify_view({"Fashion-MNIST": test_images[0], "photo": photos["astronaut"]}, embed_dim=128,
                    patch_sizes={"Fashion-MNIST": 4, "photo": 16})

# %% [markdown]
# ## The learned patch-embedding filters
#
# Each of the 128 rows of the projection is a 4×4 filter, applied to every patch: the token's first
# coordinate is the dot product of the patch with filter 0, and so on. These are the only weights of a ViT
# that ever touch pixels directly, and they play the role of a CNN's first convolution, except that they
# never overlap and are applied once.
#
# Individual filters are hard to read (red positive, blue negative, each scaled to its own largest weight).
# The ViT paper looked instead at their **principal components**: the directions along which the filters
# vary most. For its ImageNet-scale models the leading components are smooth, low-frequency patterns, much
# like the first layer of a CNN: the tokenizer spends most of its capacity on coarse structure.
#
# Our small ViT is in a different regime. A 4×4 grey patch has only 16 numbers and the model projects it to
# 128, so the filters can cover every direction of the patch. Switch the view below to *principal
# components* to see them live; they are also drawn below it, after their numbers.

# %% tags=["nbval-check-output"]
components, explained = patches.filter_principal_components(filters)
print("filters:", tuple(filters.shape), "| principal components:", tuple(components.shape))
print("variance explained by each component, largest to smallest:", [round(v, 3) for v in explained.tolist()])
print(f"by the first 4 of 16: {explained[:4].sum().item():.2f}")
assert abs(explained.sum().item() - 1) < 1e-9 and (explained.diff() <= 0).all(), "fractions, largest first"
assert explained[:4].sum() < 0.5, "the zoo ViT spreads its filters over most of the 16 directions"

# %%
flat_patch = torch.full((components[0].numel(),), 1 / components[0].numel() ** 0.5, dtype=components.dtype)
brightness = components.reshape(len(components), -1) @ flat_patch  # cosine of each component with a uniform patch
assert abs(brightness[-1]) > 0.9 and (brightness[:-1].abs() < 0.5).all(), "the weakest component is brightness"
report.glue("pc_first", explained[0].item())
report.glue("pc_first4", explained[:4].sum().item())
report.glue("pc_last", explained[-1].item())
report.glue("even_share", 1 / len(explained))
report.glue("brightness_cosine", abs(brightness[-1].item()))

# %% [markdown]
# The variance is spread over nearly all 16 components: the largest explains only {glue:text}`pc_first:.2f`
# (a perfectly even spread would give {glue:text}`even_share:.4f` to each), the first four together
# {glue:text}`pc_first4:.2f`. The exception is the weakest component, which explains
# {glue:text}`pc_last:.3f` and is almost exactly a uniform patch (cosine {glue:text}`brightness_cosine:.2f`):
# the filters differ least in how they respond to a patch's overall brightness. Otherwise the tokenizer keeps
# the pixel information of a patch in every direction and leaves the processing to the transformer blocks.

# %%
views.patch_filters_view({"zoo vit (4×4 grey)": filters}, count=32)

# %% [markdown]
# The principal components themselves, largest first, each titled with the share of the variance it explains:

# %%
figures.patch_filters_figure(components, "zoo vit (4×4 grey): principal components of the filters", explained)

# %% [markdown]
# At paper scale (online only: the weights are downloaded from the Hugging Face hub) the same view shows the
# 16×16 colour filters of ViT-B/16 pretrained on ImageNet-21k.

# %%
if zoo.is_online():
    paper = patches.paper_scale("vit_base_patch16_224.augreg_in21k")  # filters and position embeddings
    display(views.patch_filters_view({"ViT-B/16 (16×16 colour)": paper["filters"]}, count=32))
else:
    paper = None
    print("Offline: paper-scale ViT-B/16 filters skipped (run this chapter online, e.g. in Colab).")

# %% [markdown]
# ## Position embeddings
#
# The patch embedding treats every patch alike; where a patch came from enters only through the **position
# embedding** added to its token ([chapter 2](02_attention.ipynb) showed that without it the transformer cannot tell a shuffled
# image from the original). A convenient way to see what a position embedding encodes is to compare them:
# for each patch, the cosine similarity of its embedding with the embedding of every other patch, drawn as a
# small map at that patch's place in the grid. The ViT paper showed this grid for its learned embeddings,
# which came out with a clear 2D structure: nearby patches, and patches in the same row or column, have
# similar embeddings.
#
# The zoo's ViT learns its position embeddings from data, as the paper's do: they start random and are
# trained with everything else. Two fixed embeddings, built by formula, show what a position embedding can
# encode by design. The **2D sin-cos** embedding (`seelike.patches.sincos_2d`, used by several later ViTs)
# fills half of the coordinates with sines and cosines of the patch's column index at a range of
# frequencies and the other half with those of its row index, so two patches of the same column share one
# half of their coordinates exactly and two of the same row the other half: its similarity map is built to be
# a cross along the patch's row and column. The original Transformer's **1D sin-cos** embedding of the patch
# *index* (0 … 48 in raster order, `seelike.patches.sincos_1d`) knows the reading order but not the 2D layout:
# patches at the end of one row look similar to those starting the next. The view offers all three; the red
# square marks the map of one patch (row, column), and the sliders move it.

# %% tags=["nbval-check-output"]
grid_size = vit.patch_embed.grid_size[0]
count = grid_size * grid_size
embeddings = {
    "zoo vit, seed 0: learned": patches.position_embeddings(vit),
    "2D sin-cos": patches.sincos_2d(grid_size, vit.embed_dim),
    "1D sin-cos of the patch index": patches.sincos_1d(count, vit.embed_dim),
}
similarities = {name: patches.position_embedding_similarity(table).reshape(count, count) for name, table in embeddings.items()}
rows, columns = torch.arange(count) // grid_size, torch.arange(count) % grid_size
pairs = {
    "same row": (rows[:, None] == rows[None]) & (columns[:, None] != columns[None]),
    "same column": (columns[:, None] == columns[None]) & (rows[:, None] != rows[None]),
    "neither": (rows[:, None] != rows[None]) & (columns[:, None] != columns[None]),
}
means = {name: {key: s[mask].mean().item() for key, mask in pairs.items()} for name, s in similarities.items()}
for name, table in embeddings.items():
    print(f"{name}: {tuple(table.shape)}, each patch most similar to itself:", bool((similarities[name].argmax(1) == torch.arange(count)).all()))
    assert (similarities[name].argmax(1) == torch.arange(count)).all()
for name in ("zoo vit, seed 0: learned", "2D sin-cos"):  # the cross: row and column above the rest
    assert min(means[name]["same row"], means[name]["same column"]) > means[name]["neither"] + 0.05, name
assert abs(means["2D sin-cos"]["same row"] - means["2D sin-cos"]["same column"]) < 1e-9, "rows and columns alike"

# %%
views.position_similarity_view(embeddings, highlight=(3, 3))

# %%
for name, values in means.items():
    print(f"{name}: mean similarity " + ", ".join(f"{key} {value:.3f}" for key, value in values.items()))
for key, name in (("learned", "zoo vit, seed 0: learned"), ("sincos", "2D sin-cos")):
    report.glue(f"{key}_same_row", means[name]["same row"])
    report.glue(f"{key}_same_column", means[name]["same column"])
    report.glue(f"{key}_neither", means[name]["neither"])

# %% [markdown]
# The learned embeddings found the grid on their own: each patch's embedding is most like its own, then like
# those of the patches in its row ({glue:text}`learned_same_row:.2f` on average) and in its column
# ({glue:text}`learned_same_column:.2f`), and on average not at all like the rest
# ({glue:text}`learned_neither:.2f`, diagonal neighbours included). Trained only to classify, the zoo's ViT
# arrived at a cross like the one the 2D sin-cos embedding is built to have. The sin-cos cross is a smaller
# contrast on a high baseline: its lowest frequencies barely change across seven patches, so every pair of
# embeddings is similar, {glue:text}`sincos_neither:.2f` on average off the row and column against
# {glue:text}`sincos_same_row:.2f` along them.

# %% [markdown]
# At paper scale (online only) the learned position embeddings of ViT-B/16: a 14×14 grid of 14×14 maps.

# %%
if paper is not None:
    display(views.position_similarity_view({"ViT-B/16, learned": paper["positions"]}, highlight=(3, 3)))
else:
    print("Offline: paper-scale ViT-B/16 position embeddings skipped (run this chapter online, e.g. in Colab).")

# %% [markdown]
# ## Summary
#
# - A ViT's tokenizer is a non-overlapping strided convolution: cut, flatten, project. Patch size sets the
#   number of tokens, and attention cost grows with its square.
# - The projection's filters are the ViT's only direct view of pixels. At ImageNet scale their principal
#   components are smooth low-frequency patterns; our 4×4 model keeps all 16 directions of a patch.
# - Position enters only through the position embeddings. Comparing them with cosine similarity shows what
#   spatial structure they carry: fixed 2D sin-cos embeddings are built to encode row and column; the
#   learned ones of the zoo's ViT, like the paper's, discover a 2D layout from data.
#
# With skip connections ([chapter 1](01_resnets.ipynb)), attention ([chapter 2](02_attention.ipynb)) and patch tokens in hand, the next chapter
# introduces the paper's main instrument for comparing the representations of two networks: CKA.
