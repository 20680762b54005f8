"""Train zoo entries: `python -m seelike.train NAME [NAME ...]` or `python -m seelike.train --all`.

Deterministic (seeded data order and augmentation per step), AdamW with linear warm-up then cosine decay,
light augmentation (random shifts of up to `max_shift` pixels; horizontal flips), optional DeiT-style
distillation from another zoo entry, a progress bar, and a checkpoint every
`--checkpoint-every` steps and at every epoch end in `runs/<name>/`, so a killed run resumes where it stopped.
At the end: `data/zoo/<name>.safetensors` (float16) and an entry in `data/zoo/manifest.json`.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import data, zoo
from .attention import dataset_mean_attention_distance

RUNS_DIR = data.REPO_ROOT / "runs"


def augment(
    images: torch.Tensor, generator: torch.Generator, max_shift: int = 2, return_flips: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Random shift by up to `max_shift` pixels (zero padding) and horizontal flip, per image.

    Args:
        images: (B, C, H, W).
        return_flips: also return which images were mirrored.
    Returns:
        (B, C, H, W) augmented copy, and with `return_flips` a (B,) bool tensor.
    """
    batch, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
    flip = torch.rand(batch, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(height)[None])[:, None, :, None]
    cols = dx[:, None] + torch.arange(width)[None]
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    index_b = torch.arange(batch)[:, None, None, None]
    index_c = torch.arange(images.shape[1])[None, :, None, None]
    augmented = padded[index_b, index_c, rows, cols]
    return (augmented, flip) if return_flips else augmented


@torch.inference_mode()
def teacher_logits(teacher: str, images: torch.Tensor, cache_dir: Path | None = None) -> torch.Tensor:
    """The zoo model `teacher`'s logits for every training image and its mirror image.

    Distillation targets are computed once, not per step: with flips as the only augmentation an image
    has exactly two views. Results are cached in `cache_dir` under a name made of the teacher's weights
    sha256 and the images' sha256, so every run on the same images (vit, vit-short, the no-skip models)
    shares one file, and retraining the teacher makes a new one.

    Args:
        teacher: zoo entry name, e.g. "resnet".
        images: (N, C, H, W) training images in [0, 1].
        cache_dir: folder to reuse or write the cache file in.
    Returns:
        (N, 2, num_classes) float32: [:, 0] for the image as is, [:, 1] for its horizontal mirror.
    """
    weights = zoo.manifest_entry(teacher)["sha256"]
    pixels = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
    cache = cache_dir / f"{teacher}-{weights[:12]}-{pixels[:12]}.pt" if cache_dir else None
    if cache is not None and cache.is_file():
        return torch.load(cache, weights_only=True)
    model = zoo.load(teacher)
    logits = torch.stack(
        [
            torch.cat([model(batch) for batch in data.batches(views, 500)])
            for views in (images, images.flip(-1))
        ],
        dim=1,
    ).float()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save(logits, tmp)
        os.replace(tmp, cache)  # atomic: two trainers may write the same file
    return logits


def distillation_loss(
    logits: torch.Tensor, teacher: torch.Tensor, mode: str, temperature: float = 1.0
) -> torch.Tensor:
    """DeiT's distillation term without a distillation token.

    Args:
        logits: (B, K) student logits.
        teacher: (B, K) teacher logits for the same views.
        mode: "hard" (cross-entropy with the teacher's top class) or "soft" (KL at `temperature`, times T²).
    Returns:
        scalar loss.
    """
    if mode == "hard":
        return F.cross_entropy(logits, teacher.argmax(1))
    if mode == "soft":
        return F.kl_div(
            F.log_softmax(logits / temperature, 1), F.log_softmax(teacher / temperature, 1),
            reduction="batchmean", log_target=True,
        ) * temperature**2  # fmt: skip
    raise ValueError(f"distill_mode must be 'hard' or 'soft', not {mode!r}")


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to zero at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * progress))


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500
) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of `model` on `images` (N, C, H, W)."""
    was_training = model.training
    model.eval()
    correct = 0
    for batch_images, batch_labels in data.batches(images, batch_size, labels):
        correct += (model(batch_images).argmax(1) == batch_labels).sum().item()
    model.train(was_training)
    return correct / len(images)


def _batch_order(n_train: int, steps_per_epoch: int, batch_size: int, epoch: int, seed: int) -> torch.Tensor:
    """Indices (into the training subset) for one "epoch" of `steps_per_epoch` steps.

    When the subset is smaller than an epoch's worth of examples it is reshuffled and repeated, so every
    data fraction gets the same number of optimisation steps."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    needed = steps_per_epoch * batch_size
    chunks = [torch.randperm(n_train, generator=generator) for _ in range(math.ceil(needed / n_train))]
    return torch.cat(chunks)[:needed]


def train(
    name: str,
    spec: zoo.ModelSpec | None = None,
    *,
    run_dir: Path | None = None,
    output_dir: Path | None = None,
    train_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    test_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint_every: int = 100,
    stop_after: int | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> dict | None:
    """Train one zoo entry, resuming from `run_dir/state.pt` when it exists.

    Args:
        name: zoo entry name (also the output file stem).
        spec: its configuration; defaults to `zoo.spec(name)`.
        run_dir: where resumable state lives (default `runs/<name>`).
        output_dir: where the safetensors file and manifest go (default `data/zoo`).
        train_data, test_data: override the Fashion-MNIST splits (tests use tiny tensors).
        checkpoint_every: save resumable state every this many steps (and at every epoch end).
        stop_after: stop (with state saved) after this global step — simulates an interruption.
        threads: torch threads.

    Returns:
        the manifest entry, or None when stopped early by `stop_after`.
    """
    spec = spec or zoo.spec(name)
    run_dir = run_dir or RUNS_DIR / name
    output_dir = output_dir or zoo.ZOO_DIR
    if threads:
        torch.set_num_threads(threads)
    train_images, train_labels = train_data or data.fashion_mnist("train")
    test_images, test_labels = test_data or data.fashion_mnist("test")
    subset = data.nested_subset(train_labels, spec.data_fraction, seed=0)
    train_images, train_labels = train_images[subset], train_labels[subset]

    full_size = len(train_data[0]) if train_data else 60_000
    steps_per_epoch = math.ceil(full_size / spec.batch_size)
    total_steps = round(spec.epochs * steps_per_epoch)
    warmup_steps = max(1, round(spec.warmup_epochs * steps_per_epoch))

    targets = None
    if spec.teacher:
        if spec.max_shift:
            raise ValueError(
                f"[{name}] distillation precomputes the teacher's logits for two views per image, "
                f"so it needs max_shift=0 (got {spec.max_shift})"
            )
        targets = teacher_logits(spec.teacher, train_images, run_dir.parent / "teacher-logits")

    model = zoo.build(spec)  # explicit (unfused) attention: on this CPU it trains faster than SDPA
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr,
    )
    state_path = run_dir / "state.pt"
    step, elapsed, running_loss, running_count = 0, 0.0, 0.0, 0
    history = {"step": [], "loss": [], "epoch_step": [], "test_accuracy": [], "attention_distance_px": []}
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        running_loss, running_count = state.get("running_loss", 0.0), state.get("running_count", 0)
        if progress:
            print(f"[{name}] resuming at step {step}/{total_steps}", flush=True)

    def save_state() -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "elapsed": elapsed + time.time() - started, "history": history,
             "running_loss": running_loss, "running_count": running_count},
            tmp,
        )  # fmt: skip
        os.replace(tmp, state_path)  # atomic: a kill mid-save leaves the previous state intact

    started = time.time()
    model.train()
    bar = tqdm(total=total_steps, initial=step, desc=name, disable=not progress, mininterval=5)
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        order = _batch_order(len(train_images), steps_per_epoch, spec.batch_size, epoch, spec.seed)
        index = order[position * spec.batch_size : (position + 1) * spec.batch_size]
        generator = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
        images, flips = augment(train_images[index], generator, max_shift=spec.max_shift, return_flips=True)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total_steps, warmup_steps, spec.lr)
        logits = model(images)
        loss = F.cross_entropy(logits, train_labels[index], label_smoothing=spec.label_smoothing)
        if targets is not None:
            distill = distillation_loss(logits, targets[index, flips.long()], spec.distill_mode,
                                        spec.distill_temperature)  # fmt: skip
            loss = (1 - spec.distill_weight) * loss + spec.distill_weight * distill
        if not torch.isfinite(loss):
            save_state()
            raise FloatingPointError(
                f"[{name}] loss is {loss.item()} at step {step}; state saved in {run_dir}"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        running_loss, running_count = running_loss + loss.item(), running_count + 1
        if step % 25 == 0 or step == total_steps:
            history["step"].append(step)
            history["loss"].append(round(running_loss / running_count, 5))
            bar.set_postfix(loss=f"{running_loss / running_count:.3f}")
            running_loss, running_count = 0.0, 0
        if step % steps_per_epoch == 0 or step == total_steps:
            accuracy = evaluate(model, test_images[:2000], test_labels[:2000])
            history["epoch_step"].append(step)
            history["test_accuracy"].append(round(accuracy, 4))
            if spec.family == "vit":  # watch local heads form (or not) in blocks 0-1
                distances = dataset_mean_attention_distance(
                    model.eval(), test_images[:500], spec.arch["patch_size"]
                )
                model.train()
                history["attention_distance_px"].append(
                    [[round(v, 2) for v in r.tolist()] for r in distances[:2]]
                )
                bar.write(
                    f"[{name}] blocks 0-1 mean attention distance (px): "
                    f"{history['attention_distance_px'][-1]}"
                )
            bar.write(f"[{name}] step {step}/{total_steps}: test accuracy (first 2,000) {accuracy:.4f}")
            save_state()
        elif step % checkpoint_every == 0:
            save_state()
        bar.update(1)
        if stop_after is not None and step >= stop_after and step < total_steps:
            save_state()
            bar.close()
            return None
    bar.close()
    wall_time = elapsed + time.time() - started
    return finish(name, spec, model, output_dir, test_images, test_labels, step, len(train_images), wall_time,
                  history)  # fmt: skip


def finish(name, spec, model, output_dir, test_images, test_labels, steps, train_size, wall_time, history):
    """Write float16 weights and the manifest entry; returns the entry."""
    from safetensors.torch import save_file

    model.eval()
    zoo.set_attention_fused(model, False)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{name}.safetensors"
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"name": name})
    # Accuracy of the model as shipped (float16 weights, loaded back in float32).
    model.load_state_dict({k: v.float() for k, v in state.items()})
    accuracy = evaluate(model, test_images, test_labels)
    entry = {
        "config": spec.to_dict(),
        "seed": spec.seed,
        "steps": steps,
        "train_size": train_size,
        "test_accuracy": round(accuracy, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": data.sha256_file(path),
        "wall_time_s": round(wall_time, 1),
        "command": f"python -m seelike.train {name}",
        "history": history,
        "torch": torch.__version__,
    }
    if spec.family == "vit":
        distances = dataset_mean_attention_distance(
            model, test_images[:1000], patch_size=spec.arch["patch_size"]
        )
        entry["mean_attention_distance_px"] = [[round(v, 3) for v in row.tolist()] for row in distances]
    manifest_path = output_dir / "manifest.json"
    with open(output_dir / ".manifest.lock", "w") as lock:  # several trainers may finish at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": {}}
        manifest["models"][name] = entry
        manifest["models"] = {k: manifest["models"][k] for k in sorted(manifest["models"])}
        tmp = manifest_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, manifest_path)
    print(
        f"[{name}] test accuracy {accuracy:.4f}, {entry['parameters']:,} parameters, {wall_time / 60:.1f} min"
    )
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seelike.train", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"zoo entries: {', '.join(zoo.names())}")
    parser.add_argument("--all", action="store_true", help="train every entry not yet in the manifest")
    parser.add_argument("--force", action="store_true", help="retrain entries already in the manifest")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    args = parser.parse_args(argv)
    names = zoo.names() if args.all else args.names
    if not names:
        parser.error("name at least one zoo entry, or pass --all")
    for name in names:
        zoo.spec(name)  # fail early on a typo
    done = zoo.read_manifest()["models"]
    print("command:", shlex.join(["python", "-m", "seelike.train", *(argv or sys.argv[1:])]), flush=True)
    for name in names:
        if name in done and zoo.checkpoint_path(name).is_file() and not args.force:
            print(f"[{name}] already trained (test accuracy {done[name]['test_accuracy']}); skipping")
            continue
        if args.force:
            shutil.rmtree(RUNS_DIR / name, ignore_errors=True)  # a fresh run, not a resume of the old one
        train(name, threads=args.threads, checkpoint_every=args.checkpoint_every)


if __name__ == "__main__":
    main()
