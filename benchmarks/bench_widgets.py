"""Widget latency: every control of every live view a chapter makes, changed one at a time.

    .venv/bin/python benchmarks/bench_widgets.py                       # chapters 5 and 6
    .venv/bin/python benchmarks/bench_widgets.py book/07_spatial.py    # any chapters

Each chapter's code runs top to bottom as the notebook would (a warm result cache makes that quick); every
`LiveFigure` it creates is recorded. Then each control of each view takes each of its other values in turn
(a slider its minimum, middle and maximum; a multiple choice its first option alone), and the redraw's
wall time is `LiveFigure.last_redraw_s`. The whole sweep runs twice: the first pass may compute a measure
for a control value the chapter never used (the view then says how long it took); the second reads the
result cache and shows the latency a reader gets from then on. The issue's target is ≤ 0.3 s per redraw.

Columns, per view: redraws (changes made), median and max seconds of the first pass, max of the second
pass, and the slowest control. Timings are of this machine with `--threads` threads (default 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHAPTERS = ("book/05_structure.py", "book/06_local_global.py")


def control_values(control) -> list:
    """The values a sweep gives one control, other than its current one."""
    import ipywidgets as widgets

    if isinstance(control, widgets.SelectMultiple):
        values = [(control.options[0][1] if isinstance(control.options[0], tuple) else control.options[0],)]
    elif hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
    elif isinstance(control, widgets.Checkbox):
        values = [not control.value]
    elif hasattr(control, "min") and hasattr(control, "max"):
        middle = (control.min + control.max) / 2
        values = [control.min, type(control.value)(middle), control.max]
    else:
        values = []
    return [v for v in values if v != control.value]


def run_chapter(path: Path) -> list:
    """Execute a chapter's percent file; returns the LiveFigures it created, in order."""
    from seelike.widgets import live

    made = []
    original = live.LiveFigure.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    live.LiveFigure.__init__ = recording
    try:
        namespace = {"__name__": "__main__", "__file__": str(path)}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    finally:
        live.LiveFigure.__init__ = original
    return made


def sweep(view) -> dict[str, list[float]]:
    """Change every control to each of its sweep values, then back; seconds per redraw, by control."""
    times: dict[str, list[float]] = {}
    for name, control in view.controls.items():
        start = control.value
        for value in control_values(control):
            control.value = value
            times.setdefault(name, []).append(view.last_redraw_s)
        if control.value != start:
            control.value = start
            times[name].append(view.last_redraw_s)
    return times


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=list(DEFAULT_CHAPTERS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.chdir(ROOT / "book")  # chapters run from the book folder, as in Jupyter
    rows = []
    for chapter in args.chapters:
        path = (ROOT / chapter).resolve()
        start = time.perf_counter()
        views = run_chapter(path)
        print(f"{path.stem}: ran in {time.perf_counter() - start:.1f} s, {len(views)} live views", flush=True)
        for index, view in enumerate(views):
            first, second = sweep(view), sweep(view)
            flat = [t for ts in first.values() for t in ts]
            if not flat:
                continue
            slowest = max(first, key=lambda name: max(first[name]))
            function = getattr(view.draw, "__qualname__", "?").split(".<locals>")[0]
            rows.append({
                "view": f"{path.stem} #{index} {function}",
                "redraws": len(flat),
                "median": statistics.median(flat),
                "max": max(flat),
                "max_cached": max(t for ts in second.values() for t in ts),
                "slowest": slowest,
            })  # fmt: skip
    print("\n| view | redraws | median s | max s | max s, second pass | slowest control |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        times = f"{r['median']:.2f} | {r['max']:.2f} | {r['max_cached']:.2f}"
        print(f"| {r['view']} | {r['redraws']} | {times} | {r['slowest']} |")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
