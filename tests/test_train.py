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
)
TINY_DISTILLED = dataclasses.replace(TINY_VIT, teacher="resnet", distill_weight=0.5, distill_mode="hard")


def _tiny_data():
    images, labels = data.fashion_mnist("test")
    return dict(
        train_data=(images[:96], labels[:96]),
        validation_data=(images[96:160], labels[96:160]),
        test_data=(images[160:224], labels[160:224]),
    )


@pytest.mark.parametrize(
    ("spec", "bf16"), [(TINY_VIT, False), (TINY_VIT, True), (TINY_DISTILLED, False)],
    ids=["float32", "bf16", "distilled"],
)  # fmt: skip
def test_resume_after_interruption_gives_identical_weights(tmp_path, spec, bf16):
    if spec.teacher and not zoo.checkpoint_path(spec.teacher, spec.teacher_seed).is_file():
        pytest.skip(f"the teacher {spec.teacher} is not trained")
    common = dict(**_tiny_data(), progress=False, checkpoint_every=3, bf16=bf16)
    straight = train.train("tiny", spec, run_dir=tmp_path / "a", output_dir=tmp_path / "out_a", **common)
    # 96 examples / batch 16 = 6 steps per epoch, 12 in all: stop in the middle of the second epoch.
    assert (
        train.train(
            "tiny", spec, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", stop_after=8, **common
        )  # fmt: skip
        is None
    )
    resumed = train.train("tiny", spec, run_dir=tmp_path / "b", output_dir=tmp_path / "out_b", **common)
    weights_a = load_file(tmp_path / "out_a" / "tiny-seed0.safetensors")
    weights_b = load_file(tmp_path / "out_b" / "tiny-seed0.safetensors")
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        assert torch.equal(weights_a[key], weights_b[key]), key
    # Equal values, not equal files: a fresh and a resumed run may differ in the sign of an exact zero.
    assert straight["steps"] == resumed["steps"] == 12
    assert straight["history"]["loss"] == resumed["history"]["loss"]


def test_manifest_entry_is_complete_and_verifiable(tmp_path):
    entry = train.train("tiny", TINY_VIT, seed=3, run_dir=tmp_path / "run", output_dir=tmp_path,
                        **_tiny_data(), progress=False)  # fmt: skip
    manifest = json.loads((tmp_path / "manifest.json").read_text())["models"]["tiny"]["3"]
    assert manifest == json.loads(json.dumps(entry))  # tuples become lists in JSON
    for key in ("config", "seed", "steps", "train_size", "validation_accuracy", "test_accuracy", "sha256",
                "wall_time_s", "command", "precision", "threads"):  # fmt: skip
        assert key in entry
    assert entry["seed"] == 3 and entry["command"].endswith("tiny --seed 3")
    path = tmp_path / "tiny-seed3.safetensors"
    assert entry["sha256"] == data.sha256_file(path)
    assert all(v.dtype == torch.float16 for v in load_file(path).values())
    assert len(entry["history"]["validation_accuracy"]) == 2  # one per epoch


def test_resume_refuses_a_run_of_another_configuration(tmp_path):
    common = dict(**_tiny_data(), progress=False, run_dir=tmp_path / "run", output_dir=tmp_path)
    assert train.train("tiny", TINY_VIT, stop_after=2, **common) is None
    with pytest.raises(ValueError, match="another configuration, seed or precision"):
        train.train("tiny", dataclasses.replace(TINY_VIT, lr=2e-3), **common)
    with pytest.raises(ValueError, match="another configuration, seed or precision"):
        train.train("tiny", TINY_VIT, seed=1, **common)


def test_fine_tuning_starts_from_the_pretrained_checkpoint(tmp_path, monkeypatch):
    pretrained = zoo.build(TINY_VIT, seed=0)
    monkeypatch.setattr(
        zoo, "load", lambda name, seed: pretrained if name == "tiny-pre" else pytest.fail(name)
    )
    spec = dataclasses.replace(TINY_VIT, init_from="tiny-pre", epochs=0.0, warmup_epochs=0.0, classes=(5, 6))
    entry = train.train("tiny", spec, seed=0, run_dir=tmp_path / "run", output_dir=tmp_path, **_tiny_data(),
                        progress=False)  # fmt: skip
    weights = load_file(tmp_path / "tiny-seed0.safetensors")
    assert torch.equal(weights["head.weight"], pretrained.head.weight.detach().half())
    labels = data.fashion_mnist("test")[1][:96]
    assert entry["train_size"] == int(torch.isin(labels, torch.tensor([5, 6])).sum())


def test_native_bf16_can_be_overridden(monkeypatch):
    monkeypatch.setenv("SEELIKE_BF16", "0")
    assert train.native_bf16() is False
    monkeypatch.setenv("SEELIKE_BF16", "1")
    assert train.native_bf16() is True


def test_command_line_rejects_unknown_names():
    with pytest.raises(SystemExit) as error:
        train.main(["vit-large"])
    assert error.value.code == 2


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


def test_learning_rate_schedule():
    peak, total, warmup = 1e-3, 100, 10
    rates = [train.learning_rate(s, total, warmup, peak) for s in range(total)]
    assert rates[9] == peak and rates[0] == peak / 10
    assert all(a >= b for a, b in zip(rates[9:], rates[10:], strict=False))
    assert rates[-1] < peak * 0.01


def test_queue_trains_prerequisites_first_and_skips_claimed_runs(tmp_path, monkeypatch):
    import fcntl

    done, calls = set(), []
    monkeypatch.setattr(train, "RUNS_DIR", tmp_path)
    monkeypatch.setattr(train, "_is_trained", lambda name, seed: (name, seed) in done)

    def fake_train(name, seed, **options):
        calls.append((name, seed))
        done.add((name, seed))

    monkeypatch.setattr(train, "train", fake_train)
    with open(tmp_path / "vit-seed1.lock", "w") as held:  # another trainer is on vit seed 1
        fcntl.flock(held, fcntl.LOCK_EX)
        monkeypatch.setattr(train.time, "sleep", lambda s: done.add(("vit", 1)))  # ... and finishes it
        train.train_queue([("vit-finetune59", 0), ("vit", 1), ("vit-pretrain04", 0), ("vit-distilled", 0)])
    assert calls.index(("vit-pretrain04", 0)) < calls.index(("vit-finetune59", 0))
    assert ("vit", 1) not in calls
    assert ("vit-distilled", 0) not in calls  # its teacher resnet seed 0 is in no queue and not trained
