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
# # Do Vision Transformers See Like Convolutional Neural Networks?
#
# This book takes apart one paper, {cite:t}`raghu2021vision`, and rebuilds every one of its figures in front of
# you. The paper asks a simple question: when a Vision Transformer (ViT) and a ResNet learn to classify the
# same images, do they compute the same things in the same order? Its answer is a careful *no*, reached with
# a handful of measurements that are worth knowing for their own sake: centred kernel alignment (CKA) to
# compare representations, mean attention distance to see how far attention reaches, and linear probes to ask
# what each layer already knows.
#
# Each chapter explains one idea, then runs it. The code lives in the `seelike` package; a chapter only
# chooses parameters and calls it, so everything you see here works the same on your own models.
#
# **Two scales, one code path.** By default the book runs on a laptop CPU, offline, with a small zoo of
# models that it trained itself on Fashion-MNIST (28×28 grey images of clothing, which the ViT cuts into a
# 7×7 grid of 4×4-pixel patches).
# Switch to a GPU runtime in Colab and the same functions run on the paper's own architectures with timm's
# public ImageNet-21k weights.
#
# **Live figures.** Every figure appears here as a static image. Open a page in Colab or Binder (the rocket
# icon at the top of each page, this one included) and the controls under each figure let you rerun it:
# another model, another layer, more images.

# %% [markdown]
# ## What you need
#
# - The chapters assume you know how a convolutional network is trained; everything else (skip connections,
#   self-attention, patch embeddings, CKA) is introduced from scratch.
# - On your own machine: `./dev book` builds this book and `./dev test` runs the tests (see the README).
#
# ```{tableofcontents}
# ```

# %% [markdown]
# ## References
#
# ```{bibliography}
# ```
