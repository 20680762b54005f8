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
# # Skip connections: why ResNets train
#
# Both families of networks in the paper {cite}`raghu2021vision` are built around the same device. A
# ResNet {cite}`he2016deep` computes $x + f(x)$ in every block instead of $f(x)$, and so does every attention
# and MLP layer of a Vision Transformer. The paper ends up measuring these **skip connections** directly
# (its Figures 7 and 8: how much of each block's output is the skip and how much the block's own work, and
# what happens when a skip is removed). This chapter explains why they are there at all: without them, deep
# networks are hard to train. We watch it happen in three ways: the gradient on its way down a deep network,
# a short training run, and the trained ResNet of the book's model zoo.

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
import numpy as np
import torch

from seelike import data, gradients, report, skips, zoo
from seelike.widgets import basics as views

torch.manual_seed(0)
train_images, train_labels = data.fashion_mnist("train")
test_images, test_labels = data.fashion_mnist("test")
toy_images, toy_labels = train_images[:4096], train_labels[:4096]  # enough for a few hundred steps

# %% [markdown]
# ## The gradient on its way down
#
# Backpropagation sends the gradient of the loss from the output back to every layer. Passing through layer
# $l$ multiplies it by that layer's Jacobian $\partial x_{l+1} / \partial x_l$, so the gradient reaching the
# first layer of an $L$-layer network is a product of $L$ matrices. Products of many matrices are unstable:
# unless every factor preserves lengths almost exactly, the product grows or shrinks exponentially with
# depth.
#
# A skip connection changes each factor. If $x_{l+1} = x_l + f_l(x_l)$, then
#
# $$\frac{\partial x_{l+1}}{\partial x_l} = I + \frac{\partial f_l}{\partial x_l},$$
#
# and the identity gives the gradient a direct path to every layer, however badly the $f_l$ behave.
#
# To see the difference without anything else changing, `seelike.gradients.DeepMLP` builds two networks of
# $L$ equal fully connected layers (width 64) on flattened Fashion-MNIST images. Each layer computes
# $f_l(x) = W_l\,\mathrm{relu}(\mathrm{BN}(x))$, batch normalisation then ReLU then the weights, the order
# used in ResNets {cite}`he2016identity`. The **plain** network chains the layers, $x_{l+1} = f_l(x_l)$; the
# **residual** one adds, $x_{l+1} = x_l + f_l(x_l)$. Both start from identical weights.
#
# For each hidden layer we measure the norm of the gradient of the loss with respect to its weights on a
# batch of 128 images, at initialisation and again after a few steps of SGD (learning rate 0.05, momentum
# 0.9). The number that summarises the picture is the ratio of the first layer's gradient to the last
# one's: 1 means the gradient arrives at the bottom as strong as it left the top.
# <!-- constants: 0.05 0.9 -->

# %% tags=["nbval-check-output"]
depth, steps = 32, 20
norms = gradients.compare_gradient_norms(toy_images, toy_labels, depth=depth, steps=steps)
ratio = {(net, when): gradients.gradient_norm_ratio(norms[net][when]) for net in norms for when in ("init", "trained")}
# How jagged the gradient is along the depth after training: the mean size of its layer-to-layer change (in log).
jagged = {net: float(np.abs(np.diff(np.log(norms[net]["trained"]))).mean()) for net in norms}
assert ratio["plain", "init"] > 10 * ratio["residual", "init"], "the plain network's gradient explodes on its way down"
assert 0.5 < ratio["residual", "trained"] < 5, "the residual network's gradient stays within a small factor"
assert jagged["plain"] > 2 * jagged["residual"], "after training the plain network's gradient is the jagged one"
print(f"gradient-norm ratio first/last layer, {depth} layers, at init: plain {round(ratio['plain', 'init'], -1):.0f}, "
      f"residual {ratio['residual', 'init']:.3g}")
print(f"after {steps} steps: residual {ratio['residual', 'trained']:.3g}; plain jagged from layer to layer "
      "(more than twice the residual's mean change)")

# %% [markdown]
# In the plain network the gradient grows by a roughly constant factor with every layer it passes on its way
# down, so at initialisation the first layer receives about {glue:text}`plain_init_ratio:.0f` times the
# gradient of the last (the residual network: {glue:text}`residual_init_ratio:.2f` times). This is the
# signature of batch normalisation in a deep plain network: it keeps the forward signal well scaled but makes
# the backward one explode {cite}`yang2019mean`. (Without normalisation and with PyTorch's default
# initialisation the same network shows the opposite failure, vanishing gradients; see
# `DeepMLP(normalization="none")`.) No single learning rate suits layers whose gradients differ by a factor of
# hundreds; the first steps throw the lower layers far from their initial values, and afterwards the plain
# network's gradients are jagged from layer to layer, with little left of the smooth structure a
# well-conditioned network shows {cite}`balduzzi2017shattered`. The residual network's gradient changes by a
# small factor over the whole depth and stays smooth.
#
# The plain network's numbers after training are not printed above, and not to be trusted to any digit: its 20
# steps are chaotic. Two CPUs can already draw initial weights that differ in their last bit (PyTorch rounds
# its random initialisation differently with and without vector instructions), and 20 steps of the plain
# network amplify that into a different network, whose first/last ratio can differ from one machine to the
# next by a factor of several (the residual network gives the same three digits either way). The cell checks
# what holds on every machine: at initialisation the plain ratio is far above the residual one, and after
# training the plain network's gradient changes from layer to layer more than twice as much as the residual
# one's. Here are this machine's values:

# %%
print(f"plain after {steps} steps, on this machine: ratio {ratio['plain', 'trained']:.3g}, mean layer-to-layer "
      f"change {jagged['plain']:.3f} (residual {jagged['residual']:.3f})")
report.glue("plain_init_ratio", round(ratio["plain", "init"], -1))
report.glue("residual_init_ratio", ratio["residual", "init"])

# %% [markdown]
# Use the sliders to change the depth (up to 56 layers) and the number of SGD steps before the second
# measurement. At 4 layers the two networks hardly differ; the gap opens with depth.

# %%
views.gradient_norms_view(toy_images, toy_labels, depth=depth, steps=steps)

# %% [markdown]
# ## A training run in a few seconds
#
# Does the imbalance matter for learning? Train both 32-layer networks for 150 SGD steps (batch 128) on the
# same minibatches and compare their training loss. The dotted line is the loss of a classifier that
# guesses uniformly among the ten classes.

# %%
views.live_training_view(toy_images, toy_labels, depth=32, steps=150, lr=0.05)

# %% [markdown]
# The residual network is well below the plain one after a few dozen steps, and the plain network
# improves slowly and noisily. This is the *degradation* that {cite:t}`he2016deep` observed: adding layers
# to a plain network eventually makes even its *training* error worse, although the deeper network could in
# principle copy the shallower one and set its extra layers to the identity. With a skip connection the
# identity is what a block computes when its branch outputs zero, so an extra block costs nothing to
# ignore. Try 8 layers, where the plain network is only a little behind, and 56, where it barely gets off
# the chance line within 150 steps, or another learning rate.

# %% [markdown]
# ## The zoo's ResNet and its plain twin
#
# The book's model zoo holds two convolutional networks trained with the same recipe (AdamW, the same
# learning-rate schedule, the same seed and data order) on the {glue:text}`train_size` Fashion-MNIST
# training images left after holding out a validation split: `resnet`, a small ResNet-18-style network from
# timm (four stages of two blocks, 16 to 128 channels, 18 weight layers in all), and `plainnet`, the same
# network with every skip connection removed. The zoo trains several seeds of `resnet` and one of `plainnet`;
# this chapter uses seed 0 of each. Their training curves, with the validation accuracy after every epoch,
# are stored in the zoo's manifest; the slider smooths the loss.

# %%
entries = {name: zoo.manifest_entry(name, 0) for name in ("plainnet", "resnet")}
histories = {name: entry["history"] for name, entry in entries.items()}
for name, entry in entries.items():
    # The plain network keeps the ResNet's 1×1 projections of the skip path (`downsample`), which its forward
    # never calls: they are counted in the manifest but not used.
    unused = sum(p.numel() for n, p in zoo.build(name, seed=0).named_parameters() if "downsample" in n) if name == "plainnet" else 0
    count = f"{entry['parameters'] - unused:,} parameters" + (f" used (+{unused:,} in unused skip projections)" if unused else "")
    print(f"{name:>8}: {count}, test accuracy {entry['test_accuracy']:.4f} "
          f"after {entry['steps']:,} steps ({entry['wall_time_s'] / 60:.0f} min on a CPU)")
views.zoo_training_curves_view(histories, smoothing=4)

# %%
resnet_seeds = zoo.trained("resnet")
resnet_accuracies = [zoo.manifest_entry("resnet", seed)["test_accuracy"] for seed in resnet_seeds]
final_loss = {name: float(np.mean(history["loss"][-10:])) for name, history in histories.items()}
report.glue("train_size", f"{entries['resnet']['train_size']:,}")
report.glue("zoo_steps", f"{entries['resnet']['steps']:,}")
for name, entry in entries.items():
    report.glue(f"{name}_accuracy", entry["test_accuracy"])
    report.glue(f"{name}_final_loss", final_loss[name])
    report.glue(f"{name}_first_loss", histories[name]["loss"][0])
report.glue("first_loss_step", histories["resnet"]["step"][0])
report.glue("accuracy_gap", 100 * (entries["resnet"]["test_accuracy"] - entries["plainnet"]["test_accuracy"]))
report.glue("n_resnet", len(resnet_seeds))
report.glue("resnet_seed_spread", 100 * (max(resnet_accuracies) - min(resnet_accuracies)))
assert final_loss["resnet"] < final_loss["plainnet"] and histories["resnet"]["loss"][0] > histories["plainnet"]["loss"][0]
assert all(r > p for r, p in zip(histories["resnet"]["validation_accuracy"], histories["plainnet"]["validation_accuracy"], strict=True))
assert 0 < report.GLUED["accuracy_gap"] < 2, "close, with the ResNet ahead"
# timm starts every residual block as the identity (its last batch-norm scale is zero); the plain twin is
# built without that, or its blocks would start by outputting zeros.
last_bn_scales = {name: [block.bn2.weight for stage in range(1, 5) for block in getattr(zoo.build(name, seed=0), f"layer{stage}")]
                  for name in ("resnet", "plainnet")}
assert all((w == 0).all() for w in last_bn_scales["resnet"]) and all((w != 0).all() for w in last_bn_scales["plainnet"])

# %% [markdown]
# At this depth the two networks end close, the residual one slightly ahead. Its validation accuracy is the
# higher one after every epoch; after {glue:text}`zoo_steps` steps its training loss (the mean of the last ten
# recorded points) is {glue:text}`resnet_final_loss:.3f` against the plain network's
# {glue:text}`plainnet_final_loss:.3f`, and its test accuracy {glue:text}`resnet_accuracy:.4f` against
# {glue:text}`plainnet_accuracy:.4f`, a gap of {glue:text}`accuracy_gap:.1f` points. That is more than the
# {glue:text}`resnet_seed_spread:.1f` points that separate the ResNet's {glue:text}`n_resnet` seeds from one
# another, but it compares a single run of the plain network, whose own seed-to-seed spread the zoo does not
# measure. It agrees with {cite:t}`he2016deep`, who found an 18-layer plain network almost as good as its
# residual twin on ImageNet and saw the plain networks fall clearly behind only from 34 layers on. Depth is
# what skip connections pay for: compare the 32- and 56-layer toy networks above.
#
# Only at the very start is the residual network behind: at step {glue:text}`first_loss_step`, the first
# recorded point, its loss is still {glue:text}`resnet_first_loss:.2f` against the plain network's
# {glue:text}`plainnet_first_loss:.2f`. timm initialises each of its blocks to the identity, so it starts out
# as little more than its stem and classifier, and its branches first have to grow (see the next section).
# The plain twin cannot start that way, since a block without its skip would then output zeros, and is
# built without it.

# %% [markdown]
# ## The residual stream
#
# A ResNet block computes $\mathrm{relu}(x + f(x))$: the **skip** $x$ (or a 1×1 projection of it, in the
# first block of a stage, where the shape changes) plus the **branch** $f(x)$, two 3×3 convolutions with
# batch normalisation. How large is each summand? If $\|f(x)\|$ is small next to $\|x\|$, the block mostly
# passes its input on and adds a correction; if it is large, the block rewrites its input.
#
# `seelike.skips.resnet_branch_norms` measures both inside every block of the trained `resnet`: the
# length of the channel vector at each spatial position, averaged over positions and 512 test images. The
# dropdown switches to the same network at initialisation, where timm sets the last batch-norm scale of
# every branch to zero, so every block starts out as exactly the identity (followed by a ReLU) and the
# ratio is infinite.

# %%
resnets = {"resnet (trained)": zoo.load("resnet", seed=0), "resnet (at initialisation)": zoo.build("resnet", seed=0).eval()}
stream = skips.resnet_branch_norms(resnets["resnet (trained)"], test_images[:512])
for block, skip, branch in zip(stream["blocks"], stream["skip"], stream["branch"], strict=True):
    print(f"{block}: ‖skip‖ {skip:6.2f}   ‖f(x)‖ {branch:6.2f}   ratio {skip / branch:5.2f}")

# %%
views.residual_stream_view(resnets, test_images[:512])

# %%
ratios = np.asarray(stream["skip"]) / np.asarray(stream["branch"])
untrained_stream = skips.resnet_branch_norms(resnets["resnet (at initialisation)"], test_images[:512])
assert max(untrained_stream["branch"]) == 0, "at initialisation every branch outputs zero"
assert (ratios[:-1] > 1).all() and ratios[-1] < 1, "the skip dominates in every block but the last"
report.glue("ratio_min", ratios[:-1].min())
report.glue("ratio_max", ratios[:-1].max())
report.glue("last_block", stream["blocks"][-1])
report.glue("last_skip", stream["skip"][-1])
report.glue("last_branch", stream["branch"][-1])
report.glue("last_ratio", ratios[-1])
report.glue("skip_first", stream["skip"][0])
report.glue("skip_max", max(stream["skip"]))
report.glue("skip_max_block", stream["blocks"][int(np.argmax(stream["skip"]))])

# %% [markdown]
# In every block of the trained network but the last, the skip is the larger summand, by a factor of
# {glue:text}`ratio_min:.1f` to {glue:text}`ratio_max:.1f`: these blocks keep most of what they receive and
# add a correction, and both summands grow along the stream from stage to stage (the skip from
# {glue:text}`skip_first:.1f` in the first block to {glue:text}`skip_max:.1f` in block {glue:text}`skip_max_block`).
# The last block, the one just before the pooling and the classifier, is different: its branch
# ({glue:text}`last_branch:.1f`) outweighs its skip ({glue:text}`last_skip:.1f`), a ratio of
# {glue:text}`last_ratio:.2f`, so it rewrites the stream more than it corrects it. Compare the network at
# initialisation, where the branches add nothing at all: training has switched them on, and only in the
# last block to the point of overwriting the stream.
#
# The paper makes the same measurement on Vision Transformers (its Figure 7, our [chapter 7](07_spatial.ipynb)), token by token:
# the ratio $\|x\| / \|f(x)\|$ for every attention and MLP branch. It finds ratios far larger than a
# ResNet's, particularly for the CLS token, with a sharp change halfway through the network, and reads
# this as a sign of how strongly a ViT's representations are carried along unchanged by its skips.
#
# ## Summary
#
# - In a deep plain network the gradient is a product of many Jacobians and grows or shrinks exponentially
#   with depth; with batch normalisation it explodes towards the input.
# - A skip connection adds the identity to every Jacobian: the gradient reaches every layer, deep residual
#   networks train where plain ones struggle, and an unneeded block can simply output zero.
# - In the trained ResNet every block but the last adds a branch smaller than the skip it rides on, and the
#   last one rewrites its input; the paper compares these two summands between ResNets and ViTs.
#
# The next chapter takes apart the other half of a ViT block: self-attention.
