"""Choose the training recipe of `vit` and of `resnet` on the validation split, and log every run tried.

    python tools/recipe_search.py vit|resnet [--threads 1]

The rule is fixed here, before any run, and looks at validation accuracy and training time only (never at a
test image or a paper-claim metric). Three stages, each starting from the previous stage's choice; seed 0:
  1. learning rate: lr in LEARNING_RATES, SHORT_EPOCHS epochs each; keep the best validation accuracy.
  2. augmentation: random ±2-px shifts and flips (max_shift 2) vs flips only (max_shift 0); keep the best.
  3. length: EPOCHS; keep the shortest run whose validation accuracy is within TOLERANCE of the best one's
     (accuracy per unit of training time). 10 epochs is the most the zoo's budget allows (6 hours of a
     2-core machine for about 30 runs).
Weight decay (0.05), label smoothing (0.1), warm-up (half an epoch) and batch size (128) are not searched.
Every run is appended to data/zoo/recipe_log.json (and data/zoo/recipe_log.md); a run already in the log is
not run again, so an interrupted search resumes; a lock per run lets two searches of one model share
the work (`--reverse` in the second). The chosen run's state is copied to runs/<name>-seed0/ so
`python -m seelike.train <name> --seed 0` finishes it into the zoo without training it twice, once
`zoo.py`'s recipe is set to the choice.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import shutil
import time

from seelike import train, zoo

LEARNING_RATES = {"vit": (5e-4, 1e-3, 2e-3), "resnet": (1e-3, 3e-3, 1e-2)}
SHORT_EPOCHS = 3
EPOCHS = (3, 6, 10)
TOLERANCE = 0.005  # 0.5 points of validation accuracy
LOG = zoo.ZOO_DIR / "recipe_log.json"
RUNS = train.RUNS_DIR / "recipes"


@contextlib.contextmanager
def locked_log():
    """The log as a list, written back on exit; the vit and resnet searches may run side by side."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log = json.loads(LOG.read_text()) if LOG.is_file() else []
        yield log
        LOG.write_text(json.dumps(log, indent=1) + "\n")
        write_markdown(log)


def run(name: str, recipe: dict, threads: int) -> dict:
    """Train seed 0 of `name` with `recipe` replacing its spec's settings (or read the run from the log)."""
    spec = dataclasses.replace(zoo.spec(name), **recipe)
    tag = f"{name}-" + "-".join(f"{k}{v}" for k, v in sorted(recipe.items()))
    RUNS.mkdir(parents=True, exist_ok=True)
    with open(RUNS / f"{tag}.lock", "w") as claim:
        fcntl.flock(claim, fcntl.LOCK_EX)  # a second search on the same run waits for it, then reads the log
        return _run_locked(name, spec, recipe, tag, threads)


def _run_locked(name: str, spec, recipe: dict, tag: str, threads: int) -> dict:
    log = json.loads(LOG.read_text()) if LOG.is_file() else []
    for record in log:
        if record["tag"] == tag:
            return record
    started = time.time()
    entry = train.train(
        f"recipe-{tag}", spec, seed=0, run_dir=RUNS / tag, output_dir=RUNS / "out", threads=threads
    )
    record = {
        "tag": tag,
        "model": name,
        "recipe": recipe,
        "config": spec.to_dict(),
        "validation_accuracy": entry["validation_accuracy"],
        "train_time_s": entry["wall_time_s"],
        "precision": entry["precision"],
        "threads": threads,
        "steps": entry["steps"],
        "finished": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "session_time_s": round(time.time() - started),
    }
    with locked_log() as log:
        log.append(record)
    return record


def write_markdown(log: list[dict]) -> None:
    """data/zoo/recipe_log.md: every run tried, as a table, under the rule that chose among them."""
    rule = __doc__.split("\n\n", 2)[2].split("Every run")[0].strip()
    lines = [
        "# Recipe log",
        "",
        "Written by `tools/recipe_search.py`. The rule, fixed before the first run:",
        "",
        rule,
        "",
        "| model | lr | max_shift | epochs | validation accuracy | train time (min) | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in log:
        c = r["config"]
        lines.append(
            f"| {r['model']} | {c['lr']:g} | {c['max_shift']} | {c['epochs']:g} | "
            f"{r['validation_accuracy']:.4f} | {r['train_time_s'] / 60:.1f} | {r['precision']} |"
        )
    choices = [r for r in log if r.get("chosen")]
    lines += ["", "Chosen: " + ("; ".join(f"{r['model']}: {r['tag']}" for r in choices) or "not yet"), ""]
    LOG.with_suffix(".md").write_text("\n".join(lines))


def search(name: str, threads: int, reverse: bool = False) -> dict:
    recipe: dict = {"epochs": SHORT_EPOCHS}
    by_lr = [run(name, {**recipe, "lr": lr, "max_shift": 2}, threads) for lr in LEARNING_RATES[name]]
    recipe["lr"] = max(by_lr, key=lambda r: r["validation_accuracy"])["recipe"]["lr"]
    by_shift = [run(name, {**recipe, "max_shift": shift}, threads) for shift in (2, 0)]
    recipe["max_shift"] = max(by_shift, key=lambda r: r["validation_accuracy"])["recipe"]["max_shift"]
    lengths = EPOCHS[::-1] if reverse else EPOCHS
    by_length = [run(name, {**recipe, "epochs": epochs}, threads) for epochs in lengths]
    best = max(r["validation_accuracy"] for r in by_length)
    chosen = min(
        (r for r in by_length if r["validation_accuracy"] >= best - TOLERANCE),
        key=lambda r: r["recipe"]["epochs"],
    )
    with locked_log() as log:
        for record in log:
            if record["model"] == name:
                record["chosen"] = record["tag"] == chosen["tag"]
    target = train.RUNS_DIR / f"{name}-seed0"
    if not (target / "state.pt").is_file():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNS / chosen["tag"] / "state.pt", target / "state.pt")
    print(f"{name}: chosen {chosen['recipe']} (validation accuracy {chosen['validation_accuracy']:.4f})")
    return chosen


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(LEARNING_RATES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="run the length stage longest first: a second "
        "search started beside the first takes the runs it has not claimed",
    )
    args = parser.parse_args()
    search(args.name, args.threads, args.reverse)
