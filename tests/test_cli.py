"""The `seelike` command: each subcommand runs in-process on tiny inputs, has --help, and turns bad input into
one line on stderr with exit code 2."""

import hashlib
import json

import numpy as np
import pytest
import torch

from seelike import cli, zoo

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Results go to a fresh cache, so every test computes what it checks."""
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path / "cache"))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "argv", [[], ["reproduce"], ["cka"], ["zoo"], ["zoo", "list"], ["zoo", "verify"], ["train"]]
)
def test_help_of_every_subcommand(argv, capsys):
    assert cli.main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: seelike")
    assert "--help" in out


def test_reproduce_figure_1_at_book_scale(tmp_path):
    out = tmp_path / "figures"
    argv = ["reproduce", "--figures", "1", "--images", "32", "--no-verdicts", "--out", str(out)]
    assert cli.main(argv) == 0
    assert (out / "fig01.png").read_bytes().startswith(PNG)
    assert "fig01.png" in (out / "README.md").read_text()


@pytest.fixture
def quick_figure(monkeypatch):
    """Figure 1 drawn without computing anything (for tests of what `reproduce` writes around it)."""
    from seelike import figures

    spec = cli.FigureSpec(1, "an empty figure", "05_structure", lambda scale: figures.new_figure()[0])
    monkeypatch.setitem(cli.FIGURES, 1, spec)


def test_reproduce_writes_the_verdict_table_from_claims(quick_figure, tmp_path, monkeypatch):
    from seelike import claims

    record = claims.not_attempted("C1", "1", "uniformity", "a test")
    asked = []
    monkeypatch.setattr(
        claims, "evaluate", lambda scale="book", claims=None, **_: asked.append(claims) or [record]
    )
    monkeypatch.setattr(claims, "markdown_table", lambda records: "| claim |\n|---|\n| C1 |", raising=False)
    assert cli.main(["reproduce", "--figures", "1", "--out", str(tmp_path)]) == 0
    table = json.loads((tmp_path / "verdicts.json").read_text())
    assert table["scale"] == "book" and table["claims"][0]["claim"] == "C1"
    assert "| C1 |" in (tmp_path / "verdicts.md").read_text()
    assert asked == [["C1"]]  # only the claims of the figures drawn


def test_reproduce_says_when_there_is_no_verdict_table(quick_figure, tmp_path, monkeypatch, capsys):
    from seelike import claims

    monkeypatch.delattr(claims, "evaluate", raising=False)
    assert cli.verdict_table("book") is None
    assert cli.main(["reproduce", "--figures", "1", "--out", str(tmp_path)]) == 0
    assert "seelike.claims.evaluate" in (tmp_path / "README.md").read_text()
    assert "seelike.claims.evaluate" in capsys.readouterr().out
    assert not (tmp_path / "verdicts.json").exists()


def test_every_figure_is_registered_with_its_chapter():
    assert sorted(cli.FIGURES) == list(range(1, 14))
    for spec in cli.FIGURES.values():
        assert (cli.Path(__file__).parents[1] / "book" / f"{spec.chapter}.py").is_file()


def test_paper_scale_without_internet_fails_fast_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(zoo, "is_online", lambda timeout=3.0: False)
    assert cli.main(["reproduce", "--scale", "paper", "--out", str(tmp_path)]) == 1
    assert "needs internet access" in _one_line(capsys.readouterr().err)
    assert not list(tmp_path.glob("*.png"))


def test_paper_scale_runs_offline_with_random_weights(tmp_path, monkeypatch):
    """The paper-scale path end to end, with small timm models of the same families and random images."""
    from seelike import data

    monkeypatch.setattr(zoo, "is_online", lambda timeout=3.0: True)
    monkeypatch.setattr(cli.Scale, "pretrained", False)
    monkeypatch.setattr(cli, "PAPER_MODELS", {"vit": "vit_tiny_patch16_224", "resnet": "resnet18"})
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(data, "cifar10", lambda split="test": (images, torch.arange(16) % 10))
    argv = ["reproduce", "--scale", "paper", "--figures", "1,2", "--images", "8", "--no-verdicts"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "fig01.png").read_bytes().startswith(PNG)
    assert (tmp_path / "fig02.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_cka_between_two_zoo_models(suffix, tmp_path, capsys):
    out = tmp_path / f"vit-resnet{suffix}"
    assert cli.main(["cka", "vit", "resnet", "--images", "16", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "blocks.0" in table and "layer4.1" in table
    assert out.with_suffix(".png").read_bytes().startswith(PNG)
    if suffix == ".npz":
        saved = np.load(out)
        assert saved["matrix"].shape == (len(saved["names_a"]), len(saved["names_b"]))
        assert list(saved["names_a"])[0] == "blocks.0" and np.isfinite(saved["matrix"]).all()
    else:
        header, *rows = out.read_text().splitlines()
        assert header.split(",")[1] == "layer1.0"
        assert rows[0].split(",")[0] == "blocks.0"
        assert all(0.0 <= float(v) <= 1.0 + 1e-6 for v in rows[0].split(",")[1:])


def test_zoo_list_names_every_entry(capsys):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in zoo.names():
        assert name in out


def test_zoo_verify_checks_every_checkpoint(tmp_path, monkeypatch, capsys):
    files = {name: tmp_path / f"{name}.safetensors" for name in ("a", "b")}
    for name, path in files.items():
        path.write_bytes(name.encode() * 100)
    entries = {name: {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for name, p in files.items()}
    manifest = {"models": {name: {"0": e} for name, e in entries.items()}}
    monkeypatch.setattr(zoo, "read_manifest", lambda: manifest)
    monkeypatch.setattr(zoo, "checkpoint_path", lambda name, seed=None: files[name])
    assert cli.main(["zoo", "verify"]) == 0
    assert "all 2 checkpoints match" in capsys.readouterr().out
    files["b"].write_bytes(b"changed")
    assert cli.main(["zoo", "verify"]) == 1
    err = capsys.readouterr().err  # after tqdm's progress bar
    report = err[err.index("1 of 2 checkpoints failed") :].splitlines()
    assert len(report) == 2 and "b.safetensors" in report[1] and "sha256" in report[1]


def test_train_hands_its_arguments_to_seelike_train(monkeypatch):
    from seelike import train

    calls = []
    monkeypatch.setattr(train, "main", lambda argv=None: calls.append(argv))
    assert cli.main(["train", "vit", "resnet", "--threads", "1"]) == 0
    assert cli.main(["train", "vit", "--seed", "1", "2", "--force"]) == 0
    assert calls == [["vit", "resnet", "--threads", "1"], ["vit", "--force", "--seed", "1", "2"]]


BAD_INPUT = {
    "unknown model": ["cka", "vit", "no-such-model"],
    "need at least 4 images": ["cka", "vit", "resnet", "--images", "3"],
    "cannot write --out": ["cka", "vit", "resnet", "--out", "{blocked}/cka.npz"],
    "must end in .npz or .csv": ["cka", "vit", "resnet", "--out", "{tmp}/cka.txt"],
    "unknown figure number": ["reproduce", "--figures", "1,14", "--out", "{tmp}"],
    "expected integers": ["reproduce", "--figures", "one", "--out", "{tmp}"],
    "cannot write --out ": ["reproduce", "--figures", "1", "--out", "{blocked}/figures"],
    "need at least 4 images ": ["reproduce", "--images", "3", "--out", "{tmp}"],
    "book scale only": ["reproduce", "--scale", "paper", "--figures", "3", "--out", "{tmp}"],
    "unknown zoo entry": ["train", "no-such-model"],
    "invalid choice": ["reproduce", "--scale", "huge", "--out", "{tmp}"],
}


@pytest.mark.parametrize("message", list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_code_2(message, tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    argv = [word.format(tmp=tmp_path, blocked=blocked) for word in BAD_INPUT[message]]
    assert cli.main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert message.strip() in line and line.startswith("seelike")
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert cli.main(["cka", "vit", "resnet", "--device", "cuda", "--out", str(tmp_path / "m.npz")]) == 2
    assert "CUDA is not available" in _one_line(capsys.readouterr().err)


def test_reproduce_judges_the_claims_of_the_figures_it_draws():
    assert cli.claims_of([1]) == ["C1"] and cli.claims_of([10, 11]) == ["C9", "C10"]
    assert cli.claims_of([2, 13]) == ["C2", "C12"]


def test_cli_uses_the_concept_modules_and_builds_no_cache_key():
    """cli.py imports no shim module (structure, scale, cka_demos) and calls memoized measures instead of
    `cache.cached` with a key of its own."""
    import ast

    tree = ast.parse(cli.Path(cli.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.update([node.module or ""] + [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not imported & {"structure", "scale", "cka_demos", "seelike.structure", "seelike.scale", "cached"}
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
              for node in ast.walk(tree) if isinstance(node, ast.Call)}  # fmt: skip
    assert "cached" not in called


@pytest.mark.parametrize("images", [None, 16])
def test_book_scale_asks_the_chapters_measure_with_the_chapters_images(images, tmp_path, monkeypatch):
    """Fig 3 calls `claims.head_distances` on the first `claims.DISTANCE_IMAGES` test images, as chapter 6
    does (so it reads the chapter's cached result), or on the first --images ones."""
    from seelike import claims, data

    asked = []

    def head_distances(model, chosen):
        asked.append((model, chosen))
        return torch.linspace(5, 12, 48, dtype=torch.float64).reshape(6, 8), 12.0

    monkeypatch.setattr(claims, "head_distances", head_distances)
    argv = ["reproduce", "--figures", "3", "--no-verdicts", "--out", str(tmp_path)]
    assert cli.main(argv + ([] if images is None else ["--images", str(images)])) == 0
    assert (tmp_path / "fig03.png").read_bytes().startswith(PNG)
    [(model, chosen)], expected = asked, images or claims.DISTANCE_IMAGES
    assert torch.equal(chosen, data.fashion_mnist("test")[0][:expected])
    assert torch.equal(model.pos_embed, zoo.load("vit", seed=0).pos_embed)  # the seeded zoo's seed 0
