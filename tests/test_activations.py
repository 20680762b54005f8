"""Tests of seelike.activations: stable layer names, hooks, minibatching, capture, and end-to-end CKA."""

import pytest
import timm
import torch

from seelike import activations as A
from seelike import cka, zoo

VIT_BLOCK = ("norm1", "attn", "resid1", "norm2", "mlp.act")
MIXER_BLOCK = ("norm1", "mlp_tokens.act", "resid1", "norm2", "mlp_channels.act")


def _per_block(prefix: str, count: int, inner: tuple[str, ...]) -> list[str]:
    return [n for i in range(count) for n in (*(f"{prefix}.{i}.{s}" for s in inner), f"{prefix}.{i}")]


@pytest.fixture(scope="module")
def zoo_models():
    return {name: zoo.build(name).eval() for name in ("vit", "vit-gap", "vit-noskip-1", "resnet", "mixer")}


@pytest.fixture(scope="module")
def images():
    return torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("timm_name", "expected"),
    [
        ("vit_base_patch16_224", ["stem", *_per_block("blocks", 12, VIT_BLOCK), "norm"]),
        (
            "resnet50",
            ["stem"]
            + [
                n
                for stage, units in zip((1, 2, 3, 4), (3, 4, 6, 3), strict=True)
                for u in range(units)
                for n in (f"layer{stage}.{u}.act1", f"layer{stage}.{u}.act2", f"layer{stage}.{u}")
            ],
        ),
        (
            "resnetv2_50x1_bit",
            ["stem"]
            + [
                n
                for s, units in enumerate((3, 4, 6, 3))
                for u in range(units)
                for n in (
                    f"stages.{s}.blocks.{u}.norm2",
                    f"stages.{s}.blocks.{u}.norm3",
                    f"stages.{s}.blocks.{u}",
                )
            ]
            + ["norm"],
        ),
    ],
)
def test_paper_scale_layer_names_are_stable_and_cover_every_block(timm_name, expected):
    model = timm.create_model(timm_name, pretrained=False).eval()
    names = A.layer_names(model)
    assert names == expected  # pinned: every later measure and figure relies on these strings
    block_outputs = A.layer_names(model, "blocks")
    units = [
        n for n, m in model.named_modules() if type(m).__name__ in ("Block", "Bottleneck", "PreActBottleneck")
    ]
    assert block_outputs == units  # one block-output name per block / residual unit, in order
    modules = dict(model.named_modules())
    assert all(layer.module in modules for layer in A.model_layers(model))
    # One tiny forward: every hook fires exactly once with the batch dimension first.
    size = 224 if timm_name.startswith("vit") else 64
    seen: list[str] = []
    with torch.inference_mode(), A.layer_hooks(model, names, lambda name, a: seen.append((name, a.shape[0]))):
        model(torch.rand(1, 3, size, size))
    assert sorted(seen) == sorted((n, 1) for n in names)


def test_zoo_layer_names(zoo_models):
    assert A.layer_names(zoo_models["vit"]) == ["stem", *_per_block("blocks", 6, VIT_BLOCK), "norm"]
    assert A.layer_names(zoo_models["vit-gap"])[-1] == "fc_norm"  # GAP model: norm is Identity, fc_norm real
    assert A.layer_names(zoo_models["mixer"]) == ["stem", *_per_block("blocks", 6, MIXER_BLOCK), "norm"]
    resnet = A.layer_names(zoo_models["resnet"])
    assert resnet == ["stem"] + [
        n for s in (1, 2, 3, 4) for u in (0, 1) for n in (f"layer{s}.{u}.act1", f"layer{s}.{u}")
    ]
    assert A.architecture(zoo_models["mixer"]) == "mixer" and A.architecture(zoo_models["resnet"]) == "resnet"


def test_families(zoo_models):
    vit = zoo_models["vit"]
    assert A.layer_names(vit, "blocks") == [f"blocks.{i}" for i in range(6)]
    assert A.layer_names(vit, "norms") == [f"blocks.{i}.norm{k}" for i in range(6) for k in (1, 2)]
    assert A.layer_names(vit, "mlp") == [f"blocks.{i}.mlp.act" for i in range(6)]
    assert A.layer_names(vit, ["attn", "resid"]) == [
        n for i in range(6) for n in (f"blocks.{i}.attn", f"blocks.{i}.resid1")
    ]
    assert A.layer_names(zoo_models["resnet"], "inner") == [
        f"layer{s}.{u}.act1" for s in (1, 2, 3, 4) for u in (0, 1)
    ]
    assert A.layer_names(zoo_models["resnet"], "mlp") == []
    with pytest.raises(ValueError, match="unknown layer family"):
        A.layer_names(vit, "convs")
    with pytest.raises(ValueError, match="no layer naming"):
        A.layer_names(torch.nn.Linear(3, 3))
    with pytest.raises(KeyError, match="blocks.9"):
        A.resolve_layers(vit, ["blocks.9"])
    assert A.resolve_layers(vit, ["blocks.1.attn.qkv"])[0].kind == "module"  # any module path works


def test_block_boundaries(zoo_models):
    names = A.layer_names(zoo_models["vit"])
    assert A.boundaries(names, "block") == [1, 7, 13, 19, 25, 31, 37]
    assert A.boundaries(["stem", "layer1.0.act1", "layer1.0", "layer1.1"]) == [1, 3]


# --------------------------------------------------------------------------------------------- values


def test_resid1_is_block_input_plus_attention_branch(zoo_models, images):
    vit = zoo_models["vit"]
    names = ["stem", "blocks.0.attn", "blocks.0.resid1", "blocks.0.mlp", "blocks.0"]
    names += ["blocks.2", "blocks.3.attn", "blocks.3.resid1"]
    got = A.collect(vit, names, images[:2])
    assert torch.equal(got["blocks.0.resid1"], got["stem"] + got["blocks.0.attn"])
    assert torch.equal(got["blocks.0"], got["blocks.0.resid1"] + got["blocks.0.mlp"])
    assert torch.equal(got["blocks.3.resid1"], got["blocks.2"] + got["blocks.3.attn"])  # input of block 3
    # Without skip connections (block 1 of vit-noskip-1), the stream after attention is the branch itself.
    noskip = A.collect(zoo_models["vit-noskip-1"], ["blocks.1.attn", "blocks.1.resid1"], images[:2])
    assert torch.equal(noskip["blocks.1.attn"], noskip["blocks.1.resid1"])
    # Mixer: the stream after token mixing is the block input plus the (transposed) token-MLP output.
    mixer = A.collect(zoo_models["mixer"], ["stem", "blocks.0.mlp_tokens", "blocks.0.resid1"], images[:2])
    assert torch.equal(mixer["blocks.0.resid1"], mixer["stem"] + mixer["blocks.0.mlp_tokens"].transpose(1, 2))


def test_collect_matches_a_plain_forward(zoo_models, images):
    vit, resnet = zoo_models["vit"], zoo_models["resnet"]
    with torch.no_grad():
        features = vit.forward_features(images)
        resnet_features = resnet.forward_features(images)
    got = A.collect(vit, ["norm"], images, batch_size=5)
    assert torch.allclose(got["norm"], features, atol=1e-5)
    assert not got["norm"].is_inference()
    assert torch.allclose(A.collect(resnet, ["layer4.1"], images)["layer4.1"], resnet_features, atol=1e-5)
    pooled = A.collect(vit, ["blocks.5"], images, reduce=lambda name, a: a.mean(1))
    assert pooled["blocks.5"].shape == (12, 128)


def test_capture_streams_every_layer_once_per_minibatch(zoo_models, images):
    calls: list[tuple[str, int]] = []
    ends: list[tuple[int, int]] = []
    n = A.capture(
        zoo_models["resnet"],
        ["stem", "layer2.1"],
        images[:10],
        lambda name, a: calls.append((name, a.shape[0])),
        batch_size=4,
        progress=False,
        on_batch_end=lambda i, x: ends.append((i, len(x))),
    )
    assert n == 10
    assert ends == [(0, 4), (1, 3), (2, 3)]  # near-equal minibatches, none larger than batch_size
    assert calls == [(name, size) for size in (4, 3, 3) for name in ("stem", "layer2.1")]


def test_minibatches_from_loaders_fold_a_short_last_batch():
    x = torch.arange(18.0).reshape(18, 1)
    sizes = lambda batches: [len(b) for b in batches]  # noqa: E731
    assert sizes(A.minibatches([x[:8], x[8:16], x[16:]], min_size=4)) == [8, 10]
    folded = list(A.minibatches([x[:8], x[8:16], x[16:]], min_size=4))
    assert torch.equal(torch.cat(folded), x)
    assert sizes(A.minibatches([(x[:8], 0), (x[8:13], 1)], min_size=4)) == [8, 5]  # (images, labels)
    assert sizes(A.minibatches(iter([x[:8], x[8:10]]), min_size=4)) == [10]
    assert sizes(A.minibatches(x[:2], min_size=1)) == [2]
    with pytest.raises(ValueError, match="at least 4"):
        list(A.minibatches([x[:3]], min_size=4))
    with pytest.raises(ValueError, match="at least 4"):
        list(A.minibatches(x[:3], min_size=4))
    with pytest.raises(ValueError, match="empty"):
        list(A.minibatches([], min_size=4))


# --------------------------------------------------------------------------------------------- CKA


def test_cka_matrix_within_model(zoo_models, images):
    vit = zoo_models["vit"]
    matrix, names_a, names_b = cka.cka_matrix(vit, None, images, batch_size=6, progress=False)
    assert names_a == names_b == A.layer_names(vit)
    assert matrix.shape == (38, 38) and matrix.dtype == torch.float64
    assert torch.equal(matrix, matrix.T)
    assert torch.allclose(matrix.diagonal(), torch.ones(38, dtype=torch.float64), atol=1e-12)
    # Independent path: store the activations, feed MinibatchCKA the same two minibatches.
    layers = ["blocks.0.norm1", "blocks.2.mlp.act", "blocks.5"]
    stored = A.collect(vit, layers, images)
    engine = cka.MinibatchCKA(3)
    for s in (0, 6):
        engine.update([stored[n][s : s + 6] for n in layers])
    picked = [names_a.index(n) for n in layers]
    assert torch.allclose(matrix[picked][:, picked], engine.compute(), atol=1e-6)
    # model_b=None with a different Y layer list: one forward, a rectangular matrix.
    sub, _, ys = cka.cka_matrix(vit, None, images, layers, ["stem", "norm"], batch_size=6, progress=False)
    assert ys == ["stem", "norm"] and sub.shape == (3, 2)
    assert torch.allclose(sub, matrix[picked][:, [0, 37]], atol=1e-12)


def test_cka_matrix_two_models_and_loader(zoo_models, images):
    vit, resnet = zoo_models["vit"], zoo_models["resnet"]
    layers_a, layers_b = ["blocks.0", "blocks.4.resid1"], ["stem", "layer3.0.act1", "layer4.1"]
    matrix, na, nb = cka.cka_matrix(vit, resnet, images, layers_a, layers_b, batch_size=12, progress=False)
    assert (na, nb, matrix.shape) == (layers_a, layers_b, (2, 3))
    va, vb = A.collect(vit, layers_a, images), A.collect(resnet, layers_b, images)
    for i, a in enumerate(layers_a):
        for j, b in enumerate(layers_b):
            assert matrix[i, j].item() == pytest.approx(cka.linear_cka(va[a], vb[b]), abs=1e-6)
    # A loader whose last minibatch is too small (2 < 4) is folded: same as one minibatch of 12.
    loader = [(images[:10], None), (images[10:], None)]
    folded, _, _ = cka.cka_matrix(vit, resnet, loader, layers_a, layers_b, progress=False)
    assert torch.allclose(folded, matrix, atol=1e-9)
    full, _, _ = cka.cka_matrix(vit, resnet, images, progress=False)
    assert full.shape == (38, 17)


def test_cka_matrix_errors_and_warnings(zoo_models, images):
    vit = zoo_models["vit"]
    with pytest.raises(ValueError, match="at least 4"):
        cka.cka_matrix(vit, None, images[:3], progress=False)
    with pytest.raises(KeyError, match="nonexistent"):
        cka.cka_matrix(vit, None, images, ["nonexistent"], progress=False)
    trained_mode = zoo.build("vit")  # fresh model in training mode
    with pytest.warns(UserWarning, match="training mode"):
        cka.cka_matrix(trained_mode, None, images, ["blocks.0"], progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cka_matrix_across_devices(zoo_models, images):
    vit = zoo_models["vit"]
    on_gpu = zoo.build("resnet").eval().cuda()
    on_gpu.load_state_dict(zoo_models["resnet"].state_dict())
    cpu, _, _ = cka.cka_matrix(vit, zoo_models["resnet"], images, ["blocks.0"], ["layer1.0"], progress=False)
    mixed, _, _ = cka.cka_matrix(vit, on_gpu, images, ["blocks.0"], ["layer1.0"], progress=False)
    assert torch.allclose(cpu, mixed, atol=1e-5)


def test_attention_helpers_keep_working(zoo_models, images):
    heads = zoo_models["vit"].blocks[0].attn.num_heads
    probabilities = A.attention_probabilities(zoo_models["vit"], images[:2])
    assert len(probabilities) == 6 and probabilities[0].shape == (2, heads, 50, 50)
    assert torch.allclose(probabilities[0].sum(-1), torch.ones(2, heads, 50))
    assert len(list(A.iterate_attention(zoo_models["vit"], images[:5], batch_size=2))) == 3


def test_capture_runs_several_models_stops_early_and_gives_input_gradients(zoo_models, images):
    vit, resnet = zoo_models["vit"], zoo_models["resnet"]
    seen: list[tuple[str, str]] = []
    ran_after: list[str] = []
    handle = vit.blocks[5].register_forward_hook(lambda *args: ran_after.append("blocks.5"))
    try:
        n = A.capture(
            [vit, resnet], [["blocks.1"], ["layer1.0"]], images[:8],
            [lambda name, a: seen.append(("vit", name)), lambda name, a: seen.append(("resnet", name))],
            batch_size=4, progress=False, stop=True,
        )  # fmt: skip
    finally:
        handle.remove()
    assert n == 8 and seen == [("vit", "blocks.1"), ("resnet", "layer1.0")] * 2
    assert ran_after == []  # stopped after blocks.1
    gradients = []

    def keep(name, activation):
        gradients.append(activation)

    A.capture(
        vit, ["blocks.0"], images[:2], keep, progress=False, grad=True, stop=True,
        on_batch_end=lambda i, x: gradients.append(torch.autograd.grad(gradients.pop().sum(), x)[0]),
    )  # fmt: skip
    assert gradients[0].shape == images[:2].shape and gradients[0].abs().sum() > 0
