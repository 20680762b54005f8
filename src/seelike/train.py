"""Train zoo entries: `python -m seelike.train NAME [NAME ...] [--seed S ...]` or `... --all`.

Deterministic for a given CPU (seeded initialisation, data order and augmentation per step), AdamW with
linear warm-up then cosine decay, light augmentation (random shifts of up to `max_shift` pixels; horizontal
flips), bf16 autocast where the CPU computes bf16 natively, optional DeiT-style distillation from another zoo
entry, a progress bar, and a checkpoint every `--checkpoint-every` steps and at every epoch end in
`runs/<name>-seed<k>/`, so a killed run resumes where it stopped. Models train on the first 55,000 training
images; accuracy on the last 5,000 (the validation split) is logged every epoch. At the end:
`data/zoo/<name>-seed<k>.safetensors` (float16) and an entry in `data/zoo/manifest.json`.
"""

from __future__ import annotations

import argparse
import fcntl
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

RUNS_DIR = data.REPO_ROOT / "runs"


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), so bf16 autocast is faster than float32.

    `SEELIKE_BF16=0` or `=1` overrides the detection.
    """
    override = os.environ.get("SEELIKE_BF16")
    if override in ("0", "1"):
        return override == "1"
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


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
    """Top-1 accuracy (fraction in [0, 1]) of `model` on `images` (N, C, H, W), in float32."""
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


def training_subset(spec: zoo.ModelSpec, labels: torch.Tensor) -> torch.Tensor:
    """Indices of the examples `spec` trains on: its classes, then its nested class-balanced fraction.

    Args:
        spec: the entry's configuration (`classes`, `data_fraction`).
        labels: (N,) labels of the training split.
    Returns:
        int64 (M,) sorted indices into the split.
    """
    keep = torch.arange(len(labels))
    if spec.classes:
        keep = keep[torch.isin(labels, torch.tensor(spec.classes))]
    return keep[data.nested_subset(labels[keep], spec.data_fraction, seed=0)]


def _restrict_to_classes(spec: zoo.ModelSpec, images: torch.Tensor, labels: torch.Tensor):
    if not spec.classes:
        return images, labels
    keep = torch.isin(labels, torch.tensor(spec.classes))
    return images[keep], labels[keep]


def train(
    name: str,
    spec: zoo.ModelSpec | None = None,
    *,
    seed: int = 0,
    run_dir: Path | None = None,
    output_dir: Path | None = None,
    train_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    validation_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    test_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    checkpoint_every: int = 100,
    stop_after: int | None = None,
    threads: int | None = None,
    bf16: bool | None = None,
    progress: bool = True,
) -> dict | None:
    """Train seed `seed` of one zoo entry, resuming from `run_dir/state.pt` when it exists.

    Args:
        name: zoo entry name (the output file is `<name>-seed<seed>.safetensors`).
        spec: its configuration; defaults to `zoo.spec(name)`.
        seed: initialisation, data-order and augmentation seed.
        run_dir: where resumable state lives (default `runs/<name>-seed<seed>`).
        output_dir: where the safetensors file and manifest go (default `data/zoo`).
        train_data, validation_data, test_data: override the Fashion-MNIST fit/validation/test splits
            (tests use tiny tensors).
        checkpoint_every: save resumable state every this many steps (and at every epoch end).
        stop_after: stop (with state saved) after this global step — simulates an interruption.
        threads: torch threads.
        bf16: bf16 autocast for the training steps; default: where the CPU has native bf16.

    Returns:
        the manifest entry, or None when stopped early by `stop_after`.
    """
    spec = spec or zoo.spec(name)
    run_dir = run_dir or RUNS_DIR / f"{name}-seed{seed}"
    output_dir = output_dir or zoo.ZOO_DIR
    if threads:
        torch.set_num_threads(threads)
    bf16 = native_bf16() if bf16 is None else bf16
    precision = "bf16 autocast" if bf16 else "float32"
    train_images, train_labels = train_data or data.fashion_mnist("fit")
    validation_images, validation_labels = _restrict_to_classes(
        spec, *(validation_data or data.fashion_mnist("validation"))
    )
    test_images, test_labels = _restrict_to_classes(spec, *(test_data or data.fashion_mnist("test")))
    full_size = len(train_images)
    subset = training_subset(spec, train_labels)
    train_images, train_labels = train_images[subset], train_labels[subset]

    steps_per_epoch = math.ceil(full_size / spec.batch_size)
    total_steps = round(spec.epochs * steps_per_epoch)
    warmup_steps = max(1, round(spec.warmup_epochs * steps_per_epoch))
    channels_last = spec.family == "resnet"  # measured faster (benchmarks/bench_training.py)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    teacher = zoo.load(spec.teacher, seed=spec.teacher_seed) if spec.teacher else None
    model = zoo.build(spec, seed).to(memory_format=memory_format)  # explicit attention trains faster here
    if spec.init_from:
        model.load_state_dict(zoo.load(spec.init_from, seed=seed).state_dict())
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr,
    )
    identity = {"spec": json.loads(json.dumps(spec.to_dict())), "seed": seed, "precision": precision}
    state_path = run_dir / "state.pt"
    step, elapsed, running_loss, running_count = 0, 0.0, 0.0, 0
    history = {"step": [], "loss": [], "epoch_step": [], "validation_accuracy": []}
    if state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        if state.get("identity") != identity:
            raise ValueError(
                f"[{name}] {state_path} holds a run of another configuration, seed or precision; "
                f"delete {run_dir} (or pass --force) to start this one afresh"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        running_loss, running_count = state.get("running_loss", 0.0), state.get("running_count", 0)
        if progress:
            print(f"[{name} seed {seed}] resuming at step {step}/{total_steps}", flush=True)

    def save_state() -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {"identity": identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "step": step, "elapsed": elapsed + time.time() - started, "history": history,
             "running_loss": running_loss, "running_count": running_count},
            tmp,
        )  # fmt: skip
        os.replace(tmp, state_path)  # atomic: a kill mid-save leaves the previous state intact

    started = time.time()
    model.train()
    bar = tqdm(
        total=total_steps, initial=step, desc=f"{name} seed {seed}", disable=not progress, mininterval=5
    )
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        order = _batch_order(len(train_images), steps_per_epoch, spec.batch_size, epoch, seed)
        index = order[position * spec.batch_size : (position + 1) * spec.batch_size]
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        images = augment(train_images[index], generator, max_shift=spec.max_shift)
        images = images.contiguous(memory_format=memory_format)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total_steps, warmup_steps, spec.lr)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
            loss = F.cross_entropy(logits.float(), train_labels[index], label_smoothing=spec.label_smoothing)
            if teacher is not None:
                with torch.inference_mode():
                    targets = teacher(images).float()
                distill = distillation_loss(logits.float(), targets.clone(), spec.distill_mode,
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
            accuracy = evaluate(model, validation_images, validation_labels)
            history["epoch_step"].append(step)
            history["validation_accuracy"].append(round(accuracy, 4))
            bar.write(f"[{name} seed {seed}] step {step}/{total_steps}: validation accuracy {accuracy:.4f}")
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
    model = model.to(memory_format=torch.contiguous_format)
    return finish(
        name, seed, spec, model, output_dir,
        validation=(validation_images, validation_labels), test=(test_images, test_labels),
        steps=step, train_size=len(train_images), wall_time=wall_time, history=history,
        precision=precision, threads=torch.get_num_threads(),
    )  # fmt: skip


def finish(name, seed, spec, model, output_dir, *, validation, test, steps, train_size, wall_time, history,
           precision, threads):  # fmt: skip
    """Write float16 weights and the manifest entry (under the manifest's file lock); returns the entry."""
    from safetensors.torch import save_file

    model.eval()
    zoo.set_attention_fused(model, False)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{name}-seed{seed}.safetensors"
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"name": name, "seed": str(seed)})
    # Accuracies of the model as shipped (float16 weights, loaded back in float32).
    model.load_state_dict({k: v.float() for k, v in state.items()})
    entry = {
        "config": spec.to_dict(),
        "seed": seed,
        "steps": steps,
        "train_size": train_size,
        "validation_accuracy": round(evaluate(model, *validation), 4),
        "test_accuracy": round(evaluate(model, *test), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "sha256": data.sha256_file(path),
        "wall_time_s": round(wall_time, 1),
        "threads": threads,
        "precision": precision,
        "command": f"python -m seelike.train {name} --seed {seed}",
        "history": history,
        "torch": torch.__version__,
    }
    manifest_path = output_dir / "manifest.json"
    with open(output_dir / ".manifest.lock", "w") as lock:  # several trainers may finish at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": {}}
        seeds = manifest["models"].setdefault(name, {})
        seeds[str(seed)] = entry
        manifest["models"][name] = {k: seeds[k] for k in sorted(seeds, key=int)}
        manifest["models"] = {k: manifest["models"][k] for k in sorted(manifest["models"])}
        tmp = manifest_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, manifest_path)
    print(
        f"[{name} seed {seed}] validation accuracy {entry['validation_accuracy']:.4f}, test accuracy "
        f"{entry['test_accuracy']:.4f}, {entry['parameters']:,} parameters, {wall_time / 60:.1f} min"
    )
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seelike.train", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"zoo entries: {', '.join(zoo.names())}")
    parser.add_argument("--seed", type=int, nargs="+", default=None,
                        help="seeds to train (default: every seed the zoo lists for the entry)")  # fmt: skip
    parser.add_argument("--all", action="store_true", help="train every entry and seed not yet trained")
    parser.add_argument("--force", action="store_true", help="retrain runs already in the manifest")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    args = parser.parse_args(argv)
    if not args.names and not args.all:
        parser.error("name at least one zoo entry, or pass --all")
    for name in args.names:
        if name not in zoo.SPECS:
            parser.error(f"unknown zoo model {name!r}; known: {', '.join(zoo.names())}")
    chosen = [
        (n, s)
        for n, s in zoo.runs()
        if (args.all or n in args.names) and (args.seed is None or s in args.seed)
    ]
    if args.seed is not None and args.names:
        chosen += [(n, s) for n in args.names for s in args.seed if (n, s) not in chosen]
    print("command:", shlex.join(["python", "-m", "seelike.train", *(argv or sys.argv[1:])]), flush=True)
    if args.force:
        for name, seed in chosen:
            shutil.rmtree(RUNS_DIR / f"{name}-seed{seed}", ignore_errors=True)  # a fresh run, not a resume
    pending = [run for run in chosen if args.force or not _is_trained(*run)]
    for name, seed in chosen:
        if (name, seed) not in pending:
            entry = zoo.manifest_entry(name, seed)
            print(f"[{name} seed {seed}] already trained (test accuracy {entry['test_accuracy']}); skipping")
    train_queue(pending, threads=args.threads, checkpoint_every=args.checkpoint_every)


def _is_trained(name: str, seed: int) -> bool:
    return (
        str(seed) in zoo.read_manifest()["models"].get(name, {}) and zoo.checkpoint_path(name, seed).is_file()
    )


def _prerequisites(name: str, seed: int) -> list[tuple[str, int]]:
    """The zoo runs `name`/`seed` starts from: its teacher, the model it fine-tunes."""
    spec = zoo.spec(name)
    return ([(spec.teacher, spec.teacher_seed)] if spec.teacher else []) + (
        [(spec.init_from, seed)] if spec.init_from else []
    )


def train_queue(runs: list[tuple[str, int]], *, poll_s: float = 60.0, **options) -> None:
    """Train `runs` in order, side by side with other trainers working on the same list.

    Each run is claimed with an exclusive lock on `runs/<name>-seed<k>.lock`, so a second trainer started
    with the same list takes the next free run instead of the same one. A run whose teacher or pretrained
    model is not trained yet waits until it is (another trainer may be making it); the queue ends when every
    run is trained or nothing left can start.
    """
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    waiting = list(runs)
    while waiting:
        progressed = False
        for name, seed in list(waiting):
            if _is_trained(name, seed):
                waiting.remove((name, seed))
                continue
            needs = _prerequisites(name, seed)
            if any(not _is_trained(*need) for need in needs):
                if not any(need in waiting or _locked(*need) for need in needs):
                    print(f"[{name} seed {seed}] needs {needs} trained first; not in this queue", flush=True)
                    waiting.remove((name, seed))
                continue
            with open(RUNS_DIR / f"{name}-seed{seed}.lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another trainer has it
                if not _is_trained(name, seed):
                    train(name, seed=seed, **options)
            waiting.remove((name, seed))
            progressed = True
            break  # restart from the front: earlier runs may have become ready
        if waiting and not progressed:
            if not any(_locked(n, s) for n, s in waiting) and not any(
                _locked(*need) for run in waiting for need in _prerequisites(*run)
            ):
                print(f"nothing left can start: {waiting}", flush=True)
                return
            time.sleep(poll_s)


def _locked(name: str, seed: int) -> bool:
    """Whether another trainer holds the run's lock right now."""
    path = RUNS_DIR / f"{name}-seed{seed}.lock"
    if not path.is_file():
        return False
    with open(path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


if __name__ == "__main__":
    main()
