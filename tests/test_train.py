"""The trainer: deterministic, resumable, and writing a verifiable manifest entry."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from seelike import data, train, zoo

TINY_VIT = dataclasses.replace(
    zoo.spec("vit"),
    arch={**zoo.VIT_ARCH, "embed_dim": 32, "depth": 2, "num_heads": 2},
    epochs=2,
    batch_size=16,
    local_init_heads=(1,),
)
TINY_DISTILLED = dataclasses.replace(TINY_VIT, teacher="resnet", distill_weight=0.5, distill_mode="hard")


def _tiny_data():
    images, labels = data.fashion_mnist("test")
    return (images[:96], labels[:96]), (images[96:160], labels[96:160])


@pytest.mark.parametrize("spec", [TINY_VIT, TINY_DISTILLED], ids=["plain", "distilled"])
def test_resume_after_interruption_gives_identical_weights(tmp_path, spec):
    if spec.teacher and not zoo.checkpoint_path(spec.teacher).is_file():
        pytest.skip(f"the teacher {spec.teacher} is not trained")
    train_data, test_data = _tiny_data()
    common = dict(train_data=train_data, test_data=test_data, progress=False, checkpoint_every=3)
    straight = train.train("tiny", spec, run_dir=tmp_path / "a", output_dir=tmp_path / "out_a", **common)
    # 96 examples / batch 16 = 6 steps per epoch, 12 in all: stop in the middle of the second epoch.
    assert (
        train.train(
            "tiny", spec, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", stop_after=8, **common
        )  # fmt: skip
        is None
    )
    resumed = train.train("tiny", spec, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", **common)
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


def test_augment_reports_its_flips():
    images = torch.rand(16, 1, 28, 28)
    plain = train.augment(images, torch.Generator().manual_seed(5), max_shift=0)
    out, flips = train.augment(images, torch.Generator().manual_seed(5), max_shift=0, return_flips=True)
    assert torch.equal(out, plain)  # asking for the flips does not change the draw
    assert 0 < flips.sum() < len(flips)
    assert torch.equal(out, torch.where(flips[:, None, None, None], images.flip(-1), images))


def test_hard_distillation_is_cross_entropy_with_the_teachers_top_class():
    student, teacher = torch.randn(6, 10), torch.randn(6, 10)
    expected = F.cross_entropy(student, teacher.argmax(1))
    assert torch.allclose(train.distillation_loss(student, teacher, "hard"), expected)


def test_soft_distillation_matches_the_kl_formula():
    student, teacher = torch.randn(6, 10, dtype=torch.float64), torch.randn(6, 10, dtype=torch.float64)
    temperature = 3.0
    p_teacher = torch.softmax(teacher / temperature, 1)
    p_student = torch.softmax(student / temperature, 1)
    kl = (p_teacher * (p_teacher.log() - p_student.log())).sum(1).mean() * temperature**2
    assert torch.allclose(train.distillation_loss(student, teacher, "soft", temperature), kl)
    assert train.distillation_loss(teacher, teacher, "soft", temperature).abs() < 1e-12  # KL(p, p) = 0
    with pytest.raises(ValueError, match="hard' or 'soft"):
        train.distillation_loss(student, teacher, "medium")


def test_teacher_logits_cover_both_views_and_are_cached(tmp_path, monkeypatch):
    if not zoo.checkpoint_path("resnet").is_file():
        pytest.skip("the teacher resnet is not trained")
    images = data.fashion_mnist("test")[0][:12]
    logits = train.teacher_logits("resnet", images, tmp_path)
    assert logits.shape == (12, 2, 10)
    with torch.inference_mode():
        teacher = zoo.load("resnet")
        assert torch.allclose(logits[:, 0], teacher(images), atol=1e-5)
        assert torch.allclose(logits[:, 1], teacher(images.flip(-1)), atol=1e-5)
    assert len(list(tmp_path.glob("resnet-*.pt"))) == 1
    monkeypatch.setattr(zoo, "load", lambda name: pytest.fail("the cached logits were not reused"))
    assert torch.equal(train.teacher_logits("resnet", images, tmp_path), logits)
    other_images = images.flip(-2)  # different pixels: a different file, not the cached logits
    monkeypatch.undo()
    assert not torch.allclose(train.teacher_logits("resnet", other_images, tmp_path), logits)
    assert len(list(tmp_path.glob("resnet-*.pt"))) == 2


def test_distillation_refuses_shift_augmentation(tmp_path):
    train_data, test_data = _tiny_data()
    with pytest.raises(ValueError, match="max_shift=0"):
        train.train("tiny", dataclasses.replace(TINY_DISTILLED, max_shift=2), run_dir=tmp_path,
                    output_dir=tmp_path, train_data=train_data, test_data=test_data,
                    progress=False)  # fmt: skip


def test_learning_rate_schedule():
    peak, total, warmup = 1e-3, 100, 10
    rates = [train.learning_rate(s, total, warmup, peak) for s in range(total)]
    assert rates[9] == peak and rates[0] == peak / 10
    assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))
    assert rates[-1] < peak * 0.01
