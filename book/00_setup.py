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
# # Setting up: the package and the data
#
# Every chapter of this book starts the same way: it imports `seelike`, the package that holds all of the
# book's code, and loads images through it. This chapter checks that both work and shows the images the
# book's own models were trained on.
#
# The first cell below does nothing on a machine where the package is installed. On Colab it clones the
# book's repository and installs the package from it (with the trained models in `data/zoo`), without
# upgrading anything Colab already provides. To install from another copy of the book (a fork, or a clone
# on disk), set the environment variable `SEELIKE_REPO` to its git URL or folder first. If a step fails, the
# cell says which one and what to do instead; if pip had to change a package the runtime has already loaded,
# it asks for a restart of the runtime.

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

from seelike import data, figures, widgets

print("seelike", seelike.__version__, "| torch", torch.__version__)

# %% [markdown]
# ## Fashion-MNIST
#
# The paper studies models pretrained on hundreds of millions of photos. A laptop cannot train those, so the
# book's own models learn something smaller: Fashion-MNIST {cite}`xiao2017fashion`, 70,000 grey 28×28
# pictures of clothing in ten classes. It is hard enough that a linear classifier stays well below 90%
# accuracy, yet small enough that a Vision Transformer learns it on a CPU in a quarter of an hour.
#
# `seelike.data.fashion_mnist` looks for the files offline first (an environment variable, the repository's
# `data/` folder, Debian's `dataset-fashion-mnist` package) and downloads them only as a last resort, checking
# every file against a known sha256. Images come back as float tensors in $[0, 1]$ with shape
# (N, channels, height, width); the models normalise their inputs themselves.

# %% tags=["nbval-check-output"]
train_images, train_labels = data.fashion_mnist("train")
test_images, test_labels = data.fashion_mnist("test")
print("train:", tuple(train_images.shape), train_images.dtype, "| test:", tuple(test_images.shape))
print("pixel range:", train_images.min().item(), "to", train_images.max().item())
print("images per class (train):", torch.bincount(train_labels).tolist())
print(f"mean pixel value (test): {test_images.double().mean().item():.4f}")  # float64: any CPU sums alike
assert (train_images.min().item(), train_images.max().item()) == (0.0, 1.0)
assert torch.bincount(train_labels).tolist() == [6000] * 10, "a balanced training set"

# %% [markdown]
# Each row below is one class. Move the slider (in a live notebook) to page through more examples.

# %%
widgets.browse_images(test_images, test_labels, data.FASHION_MNIST_CLASSES)

# %% [markdown]
# ## Smaller training sets, nested
#
# Chapter 8 asks what happens to a ViT trained on less data. To make that comparison fair, the smaller
# training sets are *nested*: the 3% subset is part of the 10% subset, which is part of the 30% subset, and
# each keeps the ten classes equally represented. `nested_subset` shuffles each class once with a fixed seed
# and takes a prefix of that order.

# %% tags=["nbval-check-output"]
subsets = {f: data.nested_subset(train_labels, f, seed=0) for f in (0.03, 0.10, 0.30)}
for fraction, index in subsets.items():
    print(f"{fraction:>4.0%}: {len(index):>6,} images, per class {torch.bincount(train_labels[index]).tolist()[:3]}...")
print("3% inside 10%:", set(subsets[0.03].tolist()) <= set(subsets[0.10].tolist()))
print("10% inside 30%:", set(subsets[0.10].tolist()) <= set(subsets[0.30].tolist()))
assert set(subsets[0.03].tolist()) <= set(subsets[0.10].tolist()) <= set(subsets[0.30].tolist()), "nested"
assert all(torch.bincount(train_labels[index]).unique().numel() == 1 for index in subsets.values()), "balanced"

# %% [markdown]
# ## Colour photographs
#
# Some chapters show what happens to an ordinary photograph (cutting it into patches, for instance). These
# come bundled with scikit-image, so they too work offline.

# %%
photos = data.sample_photos()
figures.photo_strip(photos)
