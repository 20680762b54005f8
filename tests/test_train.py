"""The trainer: deterministic, resumable, and writing a verifiable manifest entry."""

import dataclasses
import json

import torch
from safetensors.torch import load_file

from seelike import data, train, zoo

TINY_VIT = dataclasses.replace(
    zoo.spec("vit"),
    arch={**zoo.VIT_ARCH, "embed_dim": 32, "depth": 2, "num_heads": 2},
    epochs=2,
    batch_size=16,
    local_init_heads=(1,),
)


def _tiny_data():
    images, labels = data.fashion_mnist("test")
    return (images[:96], labels[:96]), (images[96:160], labels[96:160])


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    train_data, test_data = _tiny_data()
    common = dict(train_data=train_data, test_data=test_data, progress=False, checkpoint_every=3)
    straight = train.train("tiny", TINY_VIT, run_dir=tmp_path / "a", output_dir=tmp_path / "out_a", **common)
    # 96 examples / batch 16 = 6 steps per epoch, 12 in all: stop in the middle of the second epoch.
    assert (
        train.train(
            "tiny", TINY_VIT, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", stop_after=8, **common
        )
        is None
    )
    resumed = train.train("tiny", TINY_VIT, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", **common)
    weights_a = load_file(tmp_path / "out_a" / "tiny.safetensors")
    weights_b = load_file(tmp_path / "out_b" / "tiny.safetensors")
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    assert straight["sha256"] == resumed["sha256"] and straight["steps"] == resumed["steps"] == 12
    assert straight["history"]["loss"] == resumed["history"]["loss"]


def test_manifest_entry_is_complete_and_verifiable(tmp_path):
    train_data, test_data = _tiny_data()
    entry = train.train("tiny", TINY_VIT, run_dir=tmp_path / "run", output_dir=tmp_path,
                        train_data=train_data,
                        test_data=test_data, progress=False)  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text())["models"]["tiny"]
    assert manifest == json.loads(json.dumps(entry))  # tuples become lists in JSON
    for key in ("config", "seed", "steps", "train_size", "test_accuracy", "sha256", "wall_time_s", "command"):
        assert key in entry
    assert entry["sha256"] == data.sha256_file(tmp_path / "tiny.safetensors")
    assert len(entry["mean_attention_distance_px"]) == 2  # one row per block
    assert all(v.dtype == torch.float16 for v in load_file(tmp_path / "tiny.safetensors").values())


def test_augment_is_seeded_shift_and_flip():
    images = torch.rand(8, 1, 28, 28)
    one = train.augment(images, torch.Generator().manual_seed(3))
    two = train.augment(images, torch.Generator().manual_seed(3))
    assert torch.equal(one, two)
    assert one.shape == images.shape
    # Every output image is its input shifted by at most 2 pixels (and maybe flipped): its total mass can only
    # drop by what falls off the border.
    assert (one.sum(dim=(1, 2, 3)) <= images.sum(dim=(1, 2, 3)) + 1e-4).all()
    zero_shift = train.augment(images, torch.Generator().manual_seed(0), max_shift=0)
    for original, out in zip(images, zero_shift, strict=True):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))


def test_learning_rate_schedule():
    peak, total, warmup = 1e-3, 100, 10
    rates = [train.learning_rate(s, total, warmup, peak) for s in range(total)]
    assert rates[9] == peak and rates[0] == peak / 10
    assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))
    assert rates[-1] < peak * 0.01
