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
# # Conclusion
#
# {cite:t}`raghu2021vision` asked whether Vision Transformers and ResNets compute the same things in the same
# order. This book rebuilt each of their measurements: CKA between layers, mean attention distance, effective
# receptive fields, skip-connection norms, token localization and linear probes. It applied them to a zoo of
# small models trained on Fashion-MNIST on two CPU cores, and offers the same code on the paper's own
# architectures through timm.
#
# ## What reproduced at small scale
#
# Before any model of the zoo was measured, each of the paper's claims was given one metric, the baselines
# printed beside it and a verdict rule (`claims.md`, encoded in `seelike.claims`). An effect is **robust**
# when it has the claimed sign in every seed (or seed pair) and the difference of the means exceeds twice the
# larger standard deviation over seeds; a claim is **reproduced** when every sub-criterion is robust,
# **partly** when every sub-criterion holds in the mean or some are robust and the others fail, and **not**
# when its main sub-criterion fails in the mean. The rule names no verdict for a main sub-criterion that
# holds in the mean only while another fails and none is robust; the package reads that as **not**, the
# stricter choice, and here it decides {glue:text}`unnamed_case`. The table below is not written by hand:
# the cell computes it from the committed zoo, on every trained seed, with `claims.evaluate()`, the same
# call `seelike reproduce` makes. A claim whose models are not in the zoo yet is marked `not attempted`,
# with the reason.

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
from IPython.display import Markdown

from seelike import claims, report, zoo

records = claims.evaluate(progress=False)
groups = {"main": ("vit", "vit-gap", "resnet"), "controls": ("vit-data3", "vit-data10", "vit-data30", "vit-noskip-1",
          "vit-noskip-3", "vit-noskip-5", "vit-localinit", "vit-distilled", "vit-pretrain04", "vit-finetune59"),
          "single": ("plainnet", "mixer")}  # fmt: skip
# the claims in the case claims.md names no verdict for (read as "not"; `claims.unnamed_by_rule`)
unnamed = [record.claim for record in records if claims.unnamed_by_rule(record.criteria)]
report.glue("unnamed_case", ", ".join(unnamed) or "no claim")
for group, names in groups.items():  # the fewest trained seeds of any model of the group
    report.glue(f"seeds_{group}", min(len(zoo.trained(name)) for name in names))
verdicts = {record.claim: record.verdict for record in records}
for verdict in (claims.REPRODUCED, claims.PARTLY, claims.NOT, claims.NOT_ATTEMPTED):
    report.glue(f"count_{verdict.replace(' ', '_')}", sum(v == verdict for v in verdicts.values()))
Markdown(claims.markdown_table(records))

# %% [markdown]
# Of the fourteen claims, {glue:text}`count_reproduced` reproduce by the rule, {glue:text}`count_partly`
# partly, {glue:text}`count_not` not, and {glue:text}`count_not_attempted` are not attempted yet. The
# verdicts, checked against the zoo on every test run:

# %% tags=["nbval-check-output"]
for record in records:
    print(f"{record.claim:4s} {record.figure:22s} {record.verdict}")

# %% [markdown]
# Each row's chapter shows the figure, the per-seed values and the baselines, and says in words what the
# miniature did and did not show; the notes of each record (below) name the sample sizes and any departure
# from the rule's wording. Chapters [5](05_structure.ipynb), [6](06_local_global.ipynb),
# [7](07_spatial.ipynb) and [8](08_data_scale.ipynb) read the same models, and call the same functions, as
# this table.

# %%
Markdown("\n\n".join(report.record_table(record) for record in records))

# %% [markdown]
# ## What the miniature cannot show
#
# Some differences come from the scale, not from the paper being wrong or the book being careless. Keep them in
# mind before reading too much into any single number above.
#
# - **Easy data, short training.** Fashion-MNIST is small, grey and centred, and the zoo models train for
#   minutes, not weeks. Representations still changing at the end of training differ from converged ones.
# - **Few tokens, few blocks.** 49 patch tokens and 6 blocks leave little room for a gradual transition from
#   local to global heads: on a 7×7 grid a "local" and a "global" head differ by a few pixels.
# - **Data fractions of a small set.** 3% of Fashion-MNIST's training split is about 1,650 images, seen
#   hundreds of times each at the full model's step count; the paper's 3% of JFT-300M is about nine million.
#   The miniature tests "too little data" in the overfitting sense, a harsher regime than the paper's.
# - **Seeds, not many.** The zoo holds at least {glue:text}`seeds_main` seeds of `vit`, `vit-gap` and
#   `resnet`, {glue:text}`seeds_controls` of each data fraction, no-skip model and intervention, and
#   {glue:text}`seeds_single` of `plainnet` and `mixer`; the record of each claim says how many it rests
#   on. A few seeds give a spread, not a distribution. A rule that asks the difference of means to beat
#   twice the larger standard deviation can be missed because of one unusual seed, and passed by two seeds
#   that happen to agree, so a "partly" next to a "reproduced" is a weaker distinction than the words
#   suggest.
# - **Paper-scale cells are opt-in.** The cells that run ViT-B/16 and BiT ResNets with ImageNet-21k weights
#   need internet access and, in practice, a GPU. This build ran offline, so their results are not part of
#   the table.
#
# ## Your own models
#
# Everything in the book goes through a few package calls, and none of them is specific to the zoo. Any timm
# Vision Transformer, ResNet or ResNetV2 (BiT) or MLP-Mixer has stable layer names, and any other module can
# be addressed by its path in `model.named_modules()`. The recipe below compares a ViT with a BiT ResNet.
# Both expect inputs normalised with mean 0.5 and standard deviation 0.5, so one pre-hook on each lets them
# take the same images in [0, 1].
#
# ```python
# import timm
# import torch
#
# from seelike import activations, cka, data, figures, zoo
#
# vit = timm.create_model("vit_small_patch16_224.augreg_in21k", pretrained=True).eval()
# bit = timm.create_model("resnetv2_50x1_bit.goog_in21k", pretrained=True).eval()
# for model in (vit, bit):
#     zoo.attach_normalizer(model, mean=0.5, std=0.5)  # both now take images in [0, 1]
#
# images = torch.stack(list(data.sample_photos().values()))  # (N, 3, 224, 224) in [0, 1]; use >= 1,000 in earnest
# vit_layers = activations.layer_names(vit, "blocks")  # ['blocks.0', ..., 'blocks.11']
# bit_layers = activations.layer_names(bit, "blocks")  # ['stages.0.blocks.0', ...]
# matrix, names_vit, names_bit = cka.cka_matrix(vit, bit, images, vit_layers, bit_layers, batch_size=128)
# figures.cka_heatmap(matrix, names_vit, names_bit, boundaries=True)
# ```
#
# The same models go into `seelike.claims`: each `measure_cN` function takes lists of models' seeds from the
# zoo, and each `judge_cN` takes plain numbers, so a claim can be judged on any measurement, yours included.
