"""The zoo: specs that follow the protocol, checkpoints that load offline and match their manifest."""

import dataclasses
import json
import shutil

import pytest
import torch

from seelike import data, train, zoo

TRAINED = [(name, seed) for name in zoo.names() for seed in zoo.trained(name)]
MAIN = ["resnet", "vit", "vit-gap", "plainnet", "mixer", "vit-data3", "vit-data10", "vit-data30",
        "vit-noskip-1", "vit-noskip-3", "vit-noskip-5"]  # fmt: skip
INTERVENTIONS = ["vit-localinit", "vit-distilled"]


def test_zoo_names_and_specs():
    assert zoo.names()[0] == "resnet" and len(zoo.names()) == 15
    assert set(zoo.names()) == set(MAIN) | set(INTERVENTIONS) | {"vit-pretrain04", "vit-finetune59"}
    for name in zoo.names():
        assert zoo.spec(name).family in {"vit", "resnet", "mixer"}
    assert [zoo.spec(f"vit-data{p}").data_fraction for p in (3, 10, 30)] == [0.03, 0.10, 0.30]
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.spec("vit-large")


def test_seed_counts_follow_the_protocol():
    for name in ("vit", "vit-gap", "resnet"):
        assert len(zoo.seeds(name)) >= 3
    for name in MAIN[5:] + INTERVENTIONS + ["vit-pretrain04", "vit-finetune59"]:
        assert len(zoo.seeds(name)) >= 2, name
    runs = zoo.runs()
    assert len(runs) == len(set(runs)) == sum(len(zoo.seeds(n)) for n in zoo.names())
    assert runs[: len(zoo.names())] == [(name, 0) for name in zoo.names()]  # seed 0 of everything first


def test_vit_and_vit_gap_differ_only_in_pooling():
    vit, gap = zoo.spec("vit").to_dict(), zoo.spec("vit-gap").to_dict()
    assert {k for k in vit if vit[k] != gap[k]} == {"arch"}
    assert {k for k in vit["arch"] | gap["arch"] if vit["arch"].get(k) != gap["arch"].get(k)} == {
        "class_token", "global_pool"
    }  # fmt: skip
    assert zoo.spec("vit").arch["num_heads"] == 8 and not zoo.spec("vit").sincos_pos  # learned positions


def test_main_models_are_plain_supervised():
    for name in MAIN:
        spec = zoo.spec(name)
        assert not spec.teacher and not spec.local_init_heads and not spec.init_from, name
        assert not spec.sincos_pos and not spec.classes, name
    assert zoo.spec("vit-distilled").teacher == "resnet" and zoo.spec("vit-localinit").local_init_heads


def test_vit_family_shares_the_frozen_recipe():
    recipe = {k: v for k, v in zoo.VIT_RECIPE.items()}
    for name in ["vit", "vit-gap", "vit-data3", "vit-data10", "vit-data30", "vit-noskip-1", "vit-noskip-3",
                 "vit-noskip-5", *INTERVENTIONS, "vit-pretrain04"]:  # fmt: skip
        spec = zoo.spec(name).to_dict()
        assert {k: spec[k] for k in recipe} == recipe, name
        assert spec["batch_size"] == zoo.spec("vit").batch_size  # the same steps: fractions, no-skip models
    for name in ("resnet", "plainnet"):
        spec = zoo.spec(name).to_dict()
        assert {k: spec[k] for k in zoo.RESNET_RECIPE} == zoo.RESNET_RECIPE


def test_fractions_are_nested_class_balanced_and_exclude_validation():
    fit_images, fit_labels = data.fashion_mnist("fit")
    validation_images, validation_labels = data.fashion_mnist("validation")
    all_images, _ = data.fashion_mnist("train")
    assert len(fit_labels) == 55_000 and len(validation_labels) == 5_000
    assert torch.equal(torch.cat([fit_images, validation_images]), all_images)
    subsets = {}
    for name in zoo.names():
        indices = train.training_subset(zoo.spec(name), fit_labels)
        assert indices.max() < len(fit_labels)  # indices into the fit split: no validation image
        subsets[name] = set(indices.tolist())
    assert subsets["vit-data3"] < subsets["vit-data10"] < subsets["vit-data30"] < subsets["vit"]
    counts = torch.bincount(fit_labels[sorted(subsets["vit-data3"])], minlength=10)
    assert torch.equal(counts, (0.03 * torch.bincount(fit_labels, minlength=10)).round().long())
    assert {fit_labels[i].item() for i in subsets["vit-pretrain04"]} == set(zoo.FIRST_FIVE)
    assert {fit_labels[i].item() for i in subsets["vit-finetune59"]} == set(zoo.LAST_FIVE)


def test_initialisation_is_reproducible_from_the_seed():
    a, b, c = zoo.build("vit", seed=1), zoo.build("vit", seed=1), zoo.build("vit", seed=2)
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), key
    assert not torch.equal(a.blocks[0].attn.qkv.weight, c.blocks[0].attn.qkv.weight)


@pytest.mark.parametrize("name", zoo.names())
def test_every_entry_builds_and_classifies_28x28_images(name):
    model = zoo.build(name).eval()
    with torch.inference_mode():
        logits = model(torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_normaliser_is_applied_inside_the_model():
    model = zoo.build("resnet").eval()
    seen = []
    model.conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    images = torch.full((2, 1, 28, 28), zoo.FASHION_MNIST_MEAN)
    with torch.inference_mode():
        model(images)
    assert seen[0].abs().max().item() < 1e-6  # mean image → zeros after normalisation


def test_no_skip_block_drops_the_residual():
    plain = zoo.build("vit-noskip-3").eval()
    block = plain.blocks[3]
    x = torch.randn(2, 50, 128)
    with torch.inference_mode():
        expected = block.mlp(block.norm2(block.attn(block.norm1(x))))
        assert torch.allclose(block(x), expected, atol=1e-6)
        other = plain.blocks[2]
        with_skip = x + other.attn(other.norm1(x))
        assert torch.allclose(other(x), with_skip + other.mlp(other.norm2(with_skip)), atol=1e-5)


def test_plainnet_has_no_skip_connection():
    model = zoo.build("plainnet").eval()
    block = model.layer1[0]
    x = torch.randn(2, 16, 28, 28)
    with torch.inference_mode():
        branch = block.act2(block.bn2(block.conv2(block.act1(block.bn1(block.conv1(x))))))
        assert torch.allclose(block(x), branch, atol=1e-6)


def test_sincos_position_embeddings_are_fixed_and_2d():
    model = zoo.build("vit-localinit")
    table = model.pos_embed[0, 1:]
    assert not model.pos_embed.requires_grad
    assert torch.equal(table, zoo.sincos_2d(7, 128).float())
    similarity = torch.nn.functional.cosine_similarity(table[24][None], table, dim=1).view(7, 7)
    assert similarity.argmax().item() == 24  # the centre is most similar to itself
    assert similarity[3, 4] > similarity[3, 6] and similarity[4, 3] > similarity[6, 3]  # decays with distance


@pytest.mark.parametrize("name", zoo.PAPER_MODELS)
def test_paper_scale_models_build_offline(name):
    model, transform = zoo.load_timm(name, pretrained=False, device="meta")
    assert sum(p.numel() for p in model.parameters()) > 10_000_000
    assert transform is not None


def test_paper_scale_download_fails_clearly_offline():
    if zoo.is_online():
        pytest.skip("online: the download would succeed")
    with pytest.raises(RuntimeError, match="internet"):
        zoo.load_timm("vit_base_patch32_224.augreg_in21k", pretrained=True)


def test_missing_checkpoint_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(zoo, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(zoo.CheckpointError, match="python -m seelike.train vit --seed 1"):
        zoo.load("vit", seed=1)
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.load("vit-large", seed=0)


def _copy_zoo(tmp_path, monkeypatch, name, seed):
    """A private copy of one checkpoint and the manifest, and zoo pointed at it."""
    source, manifest = zoo.checkpoint_path(name, seed), zoo.MANIFEST
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(zoo, "MANIFEST", tmp_path / "manifest.json")
    shutil.copy(manifest, zoo.MANIFEST)
    shutil.copy(source, zoo.checkpoint_path(name, seed))
    return zoo.checkpoint_path(name, seed)


def test_corrupted_checkpoint_is_refused(tmp_path, monkeypatch):
    if not TRAINED:
        pytest.skip("no trained checkpoint")
    name, seed = TRAINED[0]
    path = _copy_zoo(tmp_path, monkeypatch, name, seed)
    zoo.load(name, seed=seed)  # intact copy loads
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(zoo.CheckpointError, match="corrupted"):
        zoo.load(name, seed=seed)


@pytest.mark.parametrize(
    ("name", "seed"), TRAINED or [pytest.param("vit", 0, marks=pytest.mark.skip("none"))]
)
def test_trained_entry_matches_manifest(name, seed):
    entry = zoo.manifest_entry(name, seed)
    model = zoo.load(name, seed=seed)
    assert not model.training
    images, labels = train._restrict_to_classes(zoo.spec(name), *data.fashion_mnist("validation"))
    # The last training-curve point is the same model on the validation split (before float16 storage).
    assert abs(train.evaluate(model, images, labels) - entry["history"]["validation_accuracy"][-1]) <= 0.01
    assert entry["sha256"] and entry["steps"] > 0 and entry["command"].endswith(f"{name} --seed {seed}")
    assert entry["seed"] == seed and entry["precision"] in {"bf16 autocast", "float32"}


@pytest.mark.parametrize(
    ("name", "seed"), TRAINED or [pytest.param("vit", 0, marks=pytest.mark.skip("none"))]
)
def test_checkpoint_was_trained_from_the_current_spec(name, seed):
    # A spec edited after training would make the book describe a model it does not ship.
    fields = dataclasses.fields(zoo.ModelSpec)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    trained_with = json.loads(json.dumps({**defaults, **zoo.manifest_entry(name, seed)["config"]}))
    assert trained_with == json.loads(json.dumps(zoo.spec(name).to_dict()))
    step = zoo.manifest_entry(name, seed)["steps"]
    assert step == round(zoo.spec(name).epochs * -(-55_000 // zoo.spec(name).batch_size))


def test_teachers_and_pretrained_models_train_first():
    order = [name for name, seed in zoo.runs()]
    for position, (name, seed) in enumerate(zoo.runs()):
        spec = zoo.spec(name)
        if spec.teacher:
            assert zoo.runs().index((spec.teacher, spec.teacher_seed)) < position, name
        if spec.init_from:
            assert zoo.runs().index((spec.init_from, seed)) < position, name
    assert order


def test_zoo_fits_in_64_megabytes():
    files = list(zoo.ZOO_DIR.glob("*.safetensors"))
    assert sum(path.stat().st_size for path in files) <= 64 * 2**20
    sizes = {path.stem.rsplit("-seed", 1)[0]: path.stat().st_size for path in files}
    projected = sum(
        sizes.get(name, max(sizes.values(), default=0)) * len(zoo.seeds(name)) for name in zoo.names()
    )
    assert projected <= 64 * 2**20  # every seed of every entry, at the sizes trained so far


def test_load_without_a_seed_loads_seed_0():
    if 0 not in zoo.trained("vit"):
        pytest.skip("vit seed 0 not trained")
    model, seed0 = zoo.load("vit"), zoo.load("vit", seed=0)
    pairs = zip(model.state_dict().values(), seed0.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert zoo.manifest_entry("vit") == zoo.manifest_entry("vit", 0)
    assert not (zoo.ZOO_DIR / "legacy").exists()  # one zoo, one manifest


@pytest.mark.parametrize("name", ["resnet", "plainnet"])
def test_fresh_convnets_pass_signal_and_gradient(name):
    # A plain net with timm's zero-initialised last BN scale outputs zeros from every block and never trains.
    model = zoo.build(name)
    logits = model(torch.rand(8, 1, 28, 28))
    assert logits.std(dim=0).sum().item() > 0  # outputs depend on the input
    torch.nn.functional.cross_entropy(logits, torch.arange(8)).backward()
    assert model.conv1.weight.grad.abs().sum().item() > 0
