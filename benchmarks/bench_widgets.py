"""Widget latency: every control of every live view a chapter makes, changed one at a time.

    .venv/bin/python benchmarks/bench_widgets.py                       # chapters 5 and 6
    .venv/bin/python benchmarks/bench_widgets.py book/07_spatial.py    # any chapters

Each chapter's code runs top to bottom as the notebook would (a warm result cache makes that quick); every
`LiveFigure` it creates is recorded. Then each control of each view takes each of its other values in turn
(a slider its minimum, middle and maximum; a multiple choice its first option alone), and the redraw's
wall time is `LiveFigure.last_redraw_s`. The sweep runs three times: the first pass may compute a measure
for a control value the chapter never used (the view then says how long it took); the second reads the
result cache and shows the latency a reader gets from then on; the third repeats the second with the
redraw path the views had before `figures.redraw` (every redraw laid out in full and saved with
`bbox_inches="tight"`, `figures.style.png_bundle`), so the two are compared in one run. The issue's target
is ≤ 0.3 s per redraw.

Columns, per view: redraws (changes made), max seconds of the first pass, median and max of the second
pass, the share of its redraws that reused the layout, median and max of the third pass (full layout), and
the slowest control. Timings are of this machine with `--threads` threads (default 2).
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


def full_layout_render(figure):
    """The redraw path before `figures.redraw`: a full layout and a tight crop for every redraw."""
    from seelike.figures.style import png_bundle

    return png_bundle(figure)


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
            first = sweep(view)
            reused: list[bool] = []
            record = view._render

            def recording(figure, view=view, record=record, reused=reused):
                png = record(figure)
                reused.append(bool(view.layout_reused))
                return png

            view._render = recording
            cached = sweep(view)
            view._render = full_layout_render
            full = sweep(view)
            del view._render
            flat = [t for ts in cached.values() for t in ts]
            if not flat:
                continue
            flat_full = [t for ts in full.values() for t in ts]
            slowest = max(cached, key=lambda name: max(cached[name]))
            function = getattr(view.draw, "__qualname__", "?").split(".<locals>")[0]
            rows.append({
                "view": f"{path.stem} #{index} {function}",
                "redraws": len(flat),
                "first_max": max(t for ts in first.values() for t in ts),
                "median": statistics.median(flat),
                "max": max(flat),
                "reused": sum(reused) / len(reused),
                "full_median": statistics.median(flat_full),
                "full_max": max(flat_full),
                "slowest": slowest,
            })  # fmt: skip
    print("\n| view | redraws | max s, first pass | median s | max s | layout reused | median s, full layout "
          "| max s, full layout | slowest control |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        times = f"{r['first_max']:.2f} | {r['median']:.2f} | {r['max']:.2f} | {r['reused']:.0%}"
        print(f"| {r['view']} | {r['redraws']} | {times} | {r['full_median']:.2f} | {r['full_max']:.2f} "
              f"| {r['slowest']} |")  # fmt: skip
    every = [r["median"] for r in rows]
    if every:
        print(f"\nviews with a median redraw <= 0.3 s: {sum(m <= 0.3 for m in every)} of {len(every)}")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
