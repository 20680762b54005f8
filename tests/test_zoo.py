"""The trained zoo: loads offline, matches its manifest, and shows the phenomena the book relies on."""

import dataclasses
import json
import shutil

import pytest
import torch

from seelike import attention, train, zoo

TRAINED = [name for name in zoo.names() if name in zoo.read_manifest()["models"]]


def _trained(name):
    if name not in TRAINED:
        pytest.skip(f"{name} is not trained yet (python -m seelike.train {name})")


def test_zoo_names_and_specs():
    assert zoo.names()[:2] == ["resnet", "vit"] and len(zoo.names()) == 12  # the teacher first
    for name in zoo.names():
        assert zoo.spec(name).family in {"vit", "resnet", "mixer"}
    assert [zoo.spec(f"vit-data{p}").data_fraction for p in (3, 10, 30)] == [0.03, 0.10, 0.30]
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.spec("vit-large")


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
    model = zoo.build("vit")
    table = model.pos_embed[0, 1:]
    assert not model.pos_embed.requires_grad
    assert torch.allclose(table, zoo.sincos_2d(7, 128))
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
    with pytest.raises(zoo.CheckpointError, match="python -m seelike.train vit"):
        zoo.load("vit")


def test_corrupted_checkpoint_is_refused(tmp_path, monkeypatch):
    name = TRAINED[0] if TRAINED else pytest.skip("no trained zoo model yet")
    shutil.copy(zoo.checkpoint_path(name), tmp_path / f"{name}.safetensors")
    shutil.copy(zoo.MANIFEST, tmp_path / "manifest.json")
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    monkeypatch.setattr(zoo, "MANIFEST", tmp_path / "manifest.json")
    zoo.load(name)  # intact copy loads
    path = tmp_path / f"{name}.safetensors"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(zoo.CheckpointError, match="corrupted"):
        zoo.load(name)


@pytest.mark.parametrize("name", zoo.names())
def test_trained_entry_matches_manifest(name, fashion_test):
    _trained(name)
    entry = zoo.manifest_entry(name)
    model = zoo.load(name)
    assert not model.training
    images, labels = fashion_test
    accuracy = train.evaluate(model, images[:2000], labels[:2000])
    # The last training-curve point is the same model on the same 2,000 images (before float16 storage).
    assert abs(accuracy - entry["history"]["test_accuracy"][-1]) <= 0.01
    assert entry["sha256"] and entry["steps"] > 0 and entry["command"].endswith(name)


@pytest.mark.parametrize("name", zoo.names())
def test_checkpoint_was_trained_from_the_current_spec(name):
    # A spec edited after training would make the book describe a model it does not ship.
    _trained(name)
    # A field added to ModelSpec after an entry was trained is absent from its manifest; it was trained with
    # that field's default, so a spec that sets another value still fails here.
    fields = dataclasses.fields(zoo.ModelSpec)
    defaults = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    trained_with = json.loads(json.dumps({**defaults, **zoo.manifest_entry(name)["config"]}))
    assert trained_with == json.loads(json.dumps(zoo.spec(name).to_dict()))


def test_teachers_train_before_their_students():
    order = zoo.names()
    for name in order:
        teacher = zoo.spec(name).teacher
        if teacher:
            assert order.index(teacher) < order.index(name), f"{name} is distilled from {teacher}"


def test_zoo_fits_in_40_megabytes():
    total = sum(path.stat().st_size for path in zoo.ZOO_DIR.glob("*.safetensors"))
    assert total <= 40 * 2**20


def test_resnet_accuracy():
    _trained("resnet")
    assert zoo.manifest_entry("resnet")["test_accuracy"] >= 0.90


def test_vit_accuracy():
    _trained("vit")
    assert zoo.manifest_entry("vit")["test_accuracy"] >= 0.86


def test_accuracy_falls_with_less_data():
    accuracy = {n: zoo.manifest_entry(n)["test_accuracy"] for n in TRAINED}
    fractions = [n for n in ("vit-data3", "vit-data10", "vit-data30", "vit") if n in accuracy]
    if len(fractions) < 2:
        pytest.skip("the data-fraction models are not trained yet")
    assert [accuracy[n] for n in fractions] == sorted(accuracy[n] for n in fractions)
    assert len(set(accuracy[n] for n in fractions)) == len(fractions)  # strictly increasing


def _local_heads(name, images):
    distances = attention.dataset_mean_attention_distance(zoo.load(name), images, patch_size=4)[:2]
    ratio = distances / attention.uniform_attention_distance(7, 4)
    return int((ratio <= 0.6).sum()), int((ratio >= 0.9).sum())


def test_vit_has_local_and_global_heads_in_low_blocks(fashion_test):
    _trained("vit")
    local, global_ = _local_heads("vit", fashion_test[0][:500])
    assert local >= 1 and global_ >= 1


def test_less_data_gives_fewer_local_heads(fashion_test):
    _trained("vit")
    _trained("vit-data3")
    images = fashion_test[0][:500]
    assert _local_heads("vit-data3", images)[0] < _local_heads("vit", images)[0]


@pytest.mark.parametrize("name", ["resnet", "plainnet"])
def test_fresh_convnets_pass_signal_and_gradient(name):
    # A plain net with timm's zero-initialised last BN scale outputs zeros from every block and never trains.
    model = zoo.build(name)
    logits = model(torch.rand(8, 1, 28, 28))
    assert logits.std(dim=0).sum().item() > 0  # outputs depend on the input
    torch.nn.functional.cross_entropy(logits, torch.arange(8)).backward()
    assert model.conv1.weight.grad.abs().sum().item() > 0
