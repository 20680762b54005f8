"""The paper-scale benchmark and the GPU check run on a CPU in CI-sized configurations.

They are run for what they print (tables, checks), never for their timings. benchmarks/ is not a package;
the scripts are loaded by path, as `benchmarks/gpu_check.py` loads them.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CI = ["--images", "8", "--batch-size", "4", "--img-size", "64", "--attention-images", "4"]


def load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paper():
    pytest.importorskip("timm")
    return load("bench_paper_scale")


def test_paper_scale_benchmark_prints_its_tables(paper, capsys):
    results = paper.main([*CI, "--no-isolate"])
    out = capsys.readouterr().out
    expected = (
        "| pass | wall s | CPU s | × (forward + floor) | peak extra MB |",
        "cka_matrix (all layer pairs)",
        "of which Gram products",
        "| method | wall s | peak extra MB | mean distance (px) |",
        "chunked float64 torch reference",
    )
    for text in expected:
        assert text in out
    cka = torch.tensor(results["passes"]["cka"]["value"])
    assert cka.shape == (74, 50) and torch.isfinite(cka).all()  # every named layer of both models
    summary = paper.summary(results)
    assert summary["attention_rel_diff"] < 1e-6  # the q·k path and materialising agree
    assert {"forward", "floor_grams", "gram", "rest", "ratio"} <= summary.keys()
    # the split is measured inside each pass: parts are never negative and add up to the pass
    assert min(summary[part] for part in ("forward", "floor_grams", "gram", "rest")) >= 0
    assert summary["forward"] + summary["gram"] + summary["rest"] == pytest.approx(summary["cka"])


def test_paper_scale_pass_in_a_fresh_process(paper):
    spec = paper.default_spec(paper.parser().parse_args(CI))
    result = paper.launch("floor", spec)  # the CPU default: one subprocess per pass, for honest memory
    assert result["images"] == 8 and result["extra_mb"] is not None and len(result["wall"]) == 1


def test_gpu_check_runs_what_a_cpu_can(paper, capsys):
    gpu_check = load("gpu_check")
    status = gpu_check.main(["--device", "cpu", "--tiny"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "| check | result | detail |" in out
    assert "| (a) measures import without ipywidgets | PASS |" in out
    assert "seelike.widgets FAILS" in out  # the import probe names what needs ipywidgets
    assert "| (b) Triton kernel vs float64 reference | SKIP | needs CUDA" in out
    assert "TF32 untouched | PASS |" in out and "| (c) CUDA engine and the TF32 scenarios | SKIP |" in out
    assert "(d) paper-scale cka_matrix, N=8 (74 × 50 layers)" in out
    assert "| T | materialising peak MB |" in out  # bench_attention_distance's table
    assert "skipped on this machine" in out


def test_widget_benchmark_sweeps_every_control_of_a_chapter(tmp_path, capsys, monkeypatch):
    chapter = tmp_path / "tiny_chapter.py"
    chapter.write_text(
        "import ipywidgets as widgets, torch\n"
        "from seelike import figures\n"
        "from seelike.widgets.live import LiveFigure\n"
        "distances = torch.linspace(2, 14, 48).reshape(6, 8)\n"
        "view = LiveFigure(lambda block: figures.mean_distance_by_head(distances, uniform=14.4,\n"
        "                  highlight_block=block, title=f'block {block}'),\n"
        "                  block=widgets.IntSlider(value=0, min=0, max=5))\n"
    )
    monkeypatch.chdir(tmp_path)  # the benchmark changes into book/; monkeypatch changes back
    rows = load("bench_widgets").main([str(chapter), "--threads", "1"])
    out = capsys.readouterr().out
    assert "| view | redraws |" in out and "views with a median redraw <= 0.3 s:" in out
    (row,) = rows
    assert row["redraws"] == 3  # the middle, the maximum, back to the start (the minimum is the start)
    assert row["reused"] == 1.0  # only colours and the title's text change: every redraw reuses the layout
    assert row["full_max"] > 0 and row["max"] > 0
