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

from seelike import data, figures, patches, zoo
from seelike.widgets import basics as views

torch.manual_seed(0)
test_images, test_labels = data.fashion_mnist("test")
vit = zoo.load("vit")
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
# 128, so the filters can cover every direction of the patch; the variance they explain is spread almost
# evenly over all 16 components (a perfectly even spread would give 1/16 ≈ 0.06 each). The tokenizer keeps
# essentially all the pixel information and leaves the processing to the transformer blocks. Switch the view
# below to *principal components* to see them live; they are also drawn below it.

# %% tags=["nbval-check-output"]
components, explained = patches.filter_principal_components(filters)
print("filters:", tuple(filters.shape), "| principal components:", tuple(components.shape))
print("variance explained by each component, largest to smallest:", [round(v, 3) for v in explained.tolist()])
print(f"by the first 4 of 16: {explained[:4].sum().item():.2f}")
assert abs(explained.sum().item() - 1) < 1e-9 and (explained.diff() <= 0).all(), "fractions, largest first"
assert explained[:4].sum() < 0.5, "the zoo ViT spreads its filters over most of the 16 directions"

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
# The ViT of chapters 1 to 3 (the earlier single-seed zoo's `vit`, which `zoo.load("vit")` loads) does not
# learn its position embeddings; it uses fixed **2D sin-cos** embeddings: half of the 128 coordinates are
# sines and cosines of the column index at different frequencies, half of the row index. The resulting
# similarity is highest at the patch itself and along its row and its column: a cross. The seeded zoo's
# ViTs, which chapters 5 to 7 measure, learn theirs from data as the paper's do; the view offers seed 0's
# too, and the cell after it compares their similarities within a row, within a column and elsewhere.
# For comparison the view also offers the original Transformer's **1D sin-cos** embedding of the patch
# *index* (0 … 48 in raster order), which knows the reading order but not the 2D layout: patches at the end
# of one row look similar to those starting the next. The red square marks the map of one patch (row,
# column); move it with the sliders.

# %% tags=["nbval-check-output"]
embeddings = {
    "zoo vit: fixed 2D sin-cos": patches.position_embeddings(vit),
    "seeded zoo vit, seed 0: learned": patches.position_embeddings(zoo.load("vit", seed=0)),
    "1D sin-cos of the patch index": patches.sincos_1d(49, 128),
}
similarity = patches.position_embedding_similarity(embeddings["zoo vit: fixed 2D sin-cos"])
print("position embeddings:", tuple(embeddings["zoo vit: fixed 2D sin-cos"].shape), "-> similarity grid:", tuple(similarity.shape))
print("each patch most similar to itself:", bool((similarity.reshape(49, 49).argmax(1) == torch.arange(49)).all()))
assert (similarity.reshape(49, 49).argmax(1) == torch.arange(49)).all()
print("patch (3, 3) vs (3, 4), (3, 6), (6, 6):", [round(similarity[3, 3, r, c].item(), 3) for r, c in ((3, 4), (3, 6), (6, 6))])

# %%
views.position_similarity_view(embeddings, highlight=(3, 3))

# %%
learned = patches.position_embedding_similarity(embeddings["seeded zoo vit, seed 0: learned"]).reshape(49, 49)
rows, columns = torch.arange(49) // 7, torch.arange(49) % 7
same_row = (rows[:, None] == rows[None]) & (columns[:, None] != columns[None])
same_column = (columns[:, None] == columns[None]) & (rows[:, None] != rows[None])
neither = (rows[:, None] != rows[None]) & (columns[:, None] != columns[None])
print("learned (seed 0): each patch most similar to itself:", bool((learned.argmax(1) == torch.arange(49)).all()))
print("mean similarity, same row / same column / neither:",
      [round(learned[pairs].mean().item(), 2) for pairs in (same_row, same_column, neither)])

# %% [markdown]
# The learned embeddings found the grid on their own: each patch's embedding is most like its own, then like
# those of the patches in its row and in its column, and on average not at all like the rest (diagonal
# neighbours included). Trained only to classify, the seeded zoo's ViT arrived at the same cross that the
# sin-cos embeddings are built to have, only blurrier.

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
#   spatial structure they carry: the fixed 2D sin-cos embeddings of the first chapters' ViT are built to
#   encode row and column; the learned ones of the seeded zoo, and the paper's, discover a 2D layout from
#   data.
#
# With skip connections ([chapter 1](01_resnets.ipynb)), attention ([chapter 2](02_attention.ipynb)) and patch tokens in hand, the next chapter
# introduces the paper's main instrument for comparing the representations of two networks: CKA.
