"""Checks and benchmarks for a GPU machine (called by benchmarks/gpu_check.sh); runs on a CPU in part.

    PYTHONPATH=src python3 benchmarks/gpu_check.py                      # CUDA: every check, ≤ 8 minutes
    .venv/bin/python benchmarks/gpu_check.py --device cpu --tiny        # what a CPU can run, in ~1 minute

(a) imports: `seelike.cka`, `seelike.attention`, `seelike.kernels` and `seelike.activations` (and, for the
    record, the package's other modules) in a fresh interpreter in which `ipywidgets` cannot be imported;
    a failure names the chain of imports that reached it.
(b) Triton kernel (`seelike.kernels`, CUDA) against the float64 torch reference: max relative error ≤ 1e-5
    on ViT-sized and odd-sized problems.
(c) `MinibatchCKA` on CUDA against a float64 CPU reference of the same estimator (features centred in
    float64, Song et al.'s unbiased HSIC term by term, summed over minibatches): max |ΔCKA| ≤ 1e-6, in four
    fresh processes: TF32 untouched, `torch.backends.cuda.matmul.allow_tf32 = True`,
    `torch.set_float32_matmul_precision("high")` and `torch.backends.cuda.matmul.fp32_precision = "tf32"`
    set before. Each also reports a float32 matmul's relative error inside the engine's TF32-off context
    (~1e-7: TF32 really off; ~1e-4: on) and outside it (shows the user's setting was live), the CKA error of
    plain float32 Grams under the user's setting (what TF32 would have cost), whether the user's setting is
    restored afterwards, and whether torch's TF32 flags are readable inside the context (mixing torch's
    legacy and new TF32 APIs leaves them in a state that makes `allow_tf32` raise). On a CPU: the CPU
    engine against the same reference; the TF32 parts are skipped.
(d) benchmarks: `bench_paper_scale.py` (CKA over all 74 × 50 layers of ViT-B/16 and ResNet-50x1; the
    attention-distance pass, Triton kernel vs materialising) at the largest N ≤ 10,240 that fits the time
    left (a pilot on two minibatches sets it), and `bench_attention_distance.py` (kernel column) on a few
    grids.
Prints one summary table at the end; exits 1 if a check failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
REQUIRED = ("seelike.cka", "seelike.attention", "seelike.kernels", "seelike.activations")
OTHERS = (
    "seelike", "seelike.data", "seelike.zoo", "seelike.comparisons", "seelike.probes", "seelike.claims",
    "seelike.figures", "seelike.cli", "seelike.widgets",
)  # fmt: skip
TF32_SCENARIOS = ("untouched", "allow_tf32", "set_float32_matmul_precision", "fp32_precision")
START = time.monotonic()


def elapsed() -> float:
    return time.monotonic() - START


def log(message: str) -> None:
    print(f"[{elapsed():6.1f} s] {message}", file=sys.stderr, flush=True)


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def load_benchmark(name: str):
    """A benchmark script as a module (once per process, so its model cache is shared)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ============================================================================================ (a) imports

IMPORT_PROBE = textwrap.dedent(
    """
    import importlib, json, sys, traceback

    class NoIpywidgets:
        chains = []
        def find_spec(self, name, path=None, target=None):
            if name == "ipywidgets" or name.startswith("ipywidgets."):
                stack = traceback.extract_stack()[:-1]
                chain = [f"{f.filename.split('/src/')[-1]}:{f.lineno}" for f in stack
                         if "/seelike/" in f.filename]
                self.chains.append(chain)
                raise ImportError("ipywidgets is blocked (simulating a machine without it)")
            return None

    blocker = NoIpywidgets()
    sys.meta_path.insert(0, blocker)
    results = {}
    for name in sys.argv[1:]:
        before = len(blocker.chains)
        try:
            importlib.import_module(name)
            results[name] = {"ok": True}
        except Exception as error:
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        if len(blocker.chains) > before:
            results[name]["chain"] = blocker.chains[before]
    results["_ipywidgets_loaded"] = "ipywidgets" in sys.modules
    print(json.dumps(results))
    """
)


def check_imports() -> list[tuple[str, str, str]]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *REQUIRED, *OTHERS],
        capture_output=True, text=True, env=environment(), timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return [("(a) imports without ipywidgets", "FAIL", done.stderr.strip().splitlines()[-1][:200])]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    bad = [name for name in REQUIRED if not results[name]["ok"] or "chain" in results[name]]
    detail = "; ".join(f"{n}: {results[n].get('error', 'asked for ipywidgets')} via "
                       f"{' → '.join(results[n].get('chain', [])) or '?'}" for n in bad)  # fmt: skip
    rows.append(
        ("(a) measures import without ipywidgets", "FAIL" if bad else "PASS", detail or ", ".join(REQUIRED))
    )
    needing = [n for n in OTHERS if "chain" in results[n] or not results[n]["ok"]]
    note = "; ".join(
        f"{n} {'imports anyway' if results[n]['ok'] else 'FAILS'} "
        f"({' → '.join(results[n].get('chain', [])) or results[n].get('error', '')})"
        for n in needing
    )
    rows.append(("(a) other modules that ask for ipywidgets (informational)", "INFO", note or "none"))
    return rows


# ============================================================================================ (b) kernel

KERNEL_CASES = (  # batch, heads, grid, prefix, dim, renormalize
    (4, 12, 14, 1, 64, True),  # ViT-B/16 at 224
    (2, 12, 7, 1, 64, False),  # ViT-B/32 at 224, prefix weight counted at distance 0
    (1, 16, 37, 1, 80, True),  # odd grid and head dim (ViT-H/14 at 518)
    (2, 4, 64, 0, 32, True),  # T = 4,096 tokens, no prefix
)


def check_kernel(device: str) -> list[tuple[str, str, str]]:
    from seelike.kernels import mean_attention_distance_reference, triton_available

    if not device.startswith("cuda"):
        return [("(b) Triton kernel vs float64 reference", "SKIP", "needs CUDA (tests run it interpreted)")]
    if not triton_available():
        return [("(b) Triton kernel vs float64 reference", "FAIL", "triton is not importable")]
    from seelike.kernels.triton_attention_distance import mean_attention_distance_triton

    worst, details = 0.0, []
    for batch, heads, grid, prefix, dim, renormalize in KERNEL_CASES:
        g = torch.Generator(device=device).manual_seed(grid)
        shape = (batch, heads, prefix + grid * grid, dim)
        q = torch.randn(shape, generator=g, device=device) * 2
        k = torch.randn(shape, generator=g, device=device) * 2
        got = mean_attention_distance_triton(q, k, 16.0, grid, prefix, None, renormalize).double()
        expected = mean_attention_distance_reference(q, k, 16.0, grid, prefix, None, renormalize)
        error = ((got - expected).abs() / expected.abs().clamp_min(1e-12)).max().item()
        worst = max(worst, error)
        details.append(f"T={shape[2]}: {error:.1e}")
    status = "PASS" if worst <= 1e-5 else "FAIL"
    return [("(b) Triton kernel vs float64 reference (max rel. err ≤ 1e-5)", status, "; ".join(details))]


# ============================================================================================ (c) CKA

CKA_WIDTHS_X = (38_000, 50_176, 9_984)
CKA_WIDTHS_Y = (65_000, 12_544, 25_088, 768)
CKA_BATCH, CKA_MINIBATCHES = 256, 3


def cka_activations(minibatch: int, widths: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    """Correlated float32 activations (a shared latent) with offsets and scales that stress float32 Grams."""
    g = torch.Generator().manual_seed(1000 * minibatch + seed)
    latent = torch.randn(CKA_BATCH, 16, generator=torch.Generator().manual_seed(minibatch))
    out = []
    for index, width in enumerate(widths):
        rank = 4 + 3 * index
        signal = latent[:, :rank] @ (torch.randn(rank, width, generator=g) / math.sqrt(rank))
        layer = signal + torch.randn(CKA_BATCH, width, generator=g) * (0.5 + index)
        if index % 2:
            layer = torch.relu(layer) + 5.0  # a common offset: float32 Grams of raw features cancel
        out.append(layer * (1e-2 if index == 1 else 1.0))
    return out


def cka_reference(xs: list[list[torch.Tensor]], ys: list[list[torch.Tensor]]) -> torch.Tensor:
    """Float64 minibatch CKA: centred float64 Grams, Song et al.'s HSIC term by term, summed, normalised."""

    def grams(layers):
        out = []
        for x in layers:
            x = x.double()
            x = x - x.mean(0)
            out.append(x @ x.T)
        return torch.stack(out)

    def hsic(K, L):
        n = K.shape[-1]
        K, L = K.clone(), L.clone()
        K.diagonal(dim1=-2, dim2=-1).zero_()
        L.diagonal(dim1=-2, dim2=-1).zero_()
        trace = K.flatten(1) @ L.flatten(1).T
        sums = torch.outer(K.sum((1, 2)), L.sum((1, 2))) / ((n - 1) * (n - 2))
        cross = K.sum(2) @ L.sum(1).T * (2.0 / (n - 2))
        return (trace + sums - cross) / (n * (n - 3))

    xy = xx = yy = 0
    for bx, by in zip(xs, ys, strict=True):
        gx, gy = grams(bx), grams(by)
        xy = xy + hsic(gx, gy)
        xx = xx + hsic(gx, gx).diagonal()
        yy = yy + hsic(gy, gy).diagonal()
    return xy / torch.sqrt(torch.outer(xx, yy))


def tf32_state() -> dict[str, str]:
    matmul = torch.backends.cuda.matmul
    state = {"fp32_precision": str(getattr(matmul, "fp32_precision", "n/a"))}
    try:
        state["allow_tf32"] = str(matmul.allow_tf32)
    except RuntimeError as error:
        state["allow_tf32"] = "raises: " + str(error).split(",")[0][:80]
    return state


def matmul_error(device: str) -> float:
    """Relative error of one float32 (1024 × 4096) @ (4096 × 1024) against float64: ~1e-7 IEEE, ~1e-4 TF32."""
    g = torch.Generator().manual_seed(7)
    a = torch.randn(1024, 4096, generator=g)
    exact = a.double() @ a.double().T
    got = (a.to(device) @ a.to(device).T).double().cpu()
    return ((got - exact).norm() / exact.norm()).item()


def cka_scenario(scenario: str, device: str, shrink: int = 1) -> dict:
    """One TF32 scenario, meant to run in a fresh process (TF32 flags are process-wide).

    `shrink` divides the feature counts (CI sizes)."""
    from seelike.cka import MinibatchCKA, _ieee_float32_matmul

    widths_x = tuple(max(8, w // shrink) for w in CKA_WIDTHS_X)
    widths_y = tuple(max(8, w // shrink) for w in CKA_WIDTHS_Y)

    matmul = torch.backends.cuda.matmul
    if scenario == "allow_tf32":
        matmul.allow_tf32 = True
    elif scenario == "set_float32_matmul_precision":
        torch.set_float32_matmul_precision("high")
    elif scenario == "fp32_precision":
        matmul.fp32_precision = "tf32"
    out: dict = {"scenario": scenario, "device": device, "before": tf32_state()}
    xs = [cka_activations(m, widths_x, 1) for m in range(CKA_MINIBATCHES)]
    ys = [cka_activations(m, widths_y, 2) for m in range(CKA_MINIBATCHES)]
    reference = cka_reference(xs, ys)
    try:
        engine = MinibatchCKA(len(widths_x), len(widths_y))
        for bx, by in zip(xs, ys, strict=True):
            engine.update([x.to(device) for x in bx], [y.to(device) for y in by])
        out["error"] = (engine.compute() - reference).abs().max().item()
    except Exception as error:  # e.g. torch refusing a mix of its TF32 APIs
        out["failure"] = f"{type(error).__name__}: {str(error)[:200]}"
    out["after"] = tf32_state()
    if device.startswith("cuda"):
        out["matmul_outside"] = matmul_error(device)
        try:
            with _ieee_float32_matmul(torch.device(device)):
                out["inside"] = tf32_state()
                out["matmul_inside"] = matmul_error(device)
        except Exception as error:
            out["failure_inside"] = f"{type(error).__name__}: {str(error)[:200]}"
        plain = MinibatchCKA(len(widths_x), len(widths_y))  # raw float32 Grams, user's setting

        def gram(x):
            x = x.to(device)
            return (x @ x.T).double()

        for bx, by in zip(xs, ys, strict=True):
            plain.update_grams([gram(x) for x in bx], [gram(y) for y in by])
        out["plain_error"] = (plain.compute() - reference).abs().max().item()
    return out


def check_cka(device: str, shrink: int = 1) -> list[tuple[str, str, str]]:
    rows = []
    scenarios = TF32_SCENARIOS if device.startswith("cuda") else ("untouched",)
    for scenario in scenarios:
        log(f"(c) CKA, TF32 scenario {scenario}")
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--cka-scenario", scenario, "--device", device,
             "--cka-shrink", str(shrink)],
            capture_output=True, text=True, env=environment(), timeout=300, check=False,
        )  # fmt: skip
        name = f"(c) MinibatchCKA on {device} vs float64 CPU reference (≤ 1e-6), TF32 {scenario}"
        if done.returncode != 0:
            rows.append((name, "FAIL", done.stderr.strip().splitlines()[-1][:200]))
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        problems = [r[k] for k in ("failure", "failure_inside") if k in r]
        if "error" in r and r["error"] > 1e-6:
            problems.append(f"error {r['error']:.1e} > 1e-6")
        if r["after"] != r["before"]:
            problems.append(f"user setting not restored: {r['before']} → {r['after']}")
        if "matmul_inside" in r and r["matmul_inside"] > 1e-5:
            problems.append(
                f"matmul inside the TF32-off context: rel. err {r['matmul_inside']:.1e} (TF32 on)"
            )
        detail = f"max abs ΔCKA {r['error']:.1e}" if "error" in r else ""
        if device.startswith("cuda"):
            detail += (
                f"; matmul rel. err inside {r.get('matmul_inside', float('nan')):.1e}, "
                f"outside {r['matmul_outside']:.1e}; plain float32 Grams under this setting "
                f"{r['plain_error']:.1e}; flags inside {r.get('inside')}"
            )
        rows.append((name, "FAIL" if problems else "PASS", "; ".join([detail, *problems]).strip("; ")))
    if not device.startswith("cuda"):
        rows.append(("(c) CUDA engine and the TF32 scenarios", "SKIP", "need CUDA"))
    return rows


# ============================================================================================ (d) benchmarks


def run_benchmarks(args, rows: list[tuple[str, str, str]], tables: list[str]) -> None:
    """(d), appending to `rows` and `tables` as it goes (so an interrupted run keeps what it measured)."""
    paper = load_benchmark("bench_paper_scale")
    cuda = args.device.startswith("cuda")
    batch = args.batch_size
    base = {
        "device": args.device, "batch_size": batch, "img_size": args.img_size, "threads": args.threads,
        "repeats": 1, "attention_batch_size": batch if cuda else min(batch, 32),
    }  # fmt: skip
    if args.images is not None:
        n = args.images
    else:  # a pilot on two minibatches, then the largest N (a multiple of the batch) that fits
        log(f"(d) pilot: bench_paper_scale on {2 * batch} images")
        pilot = paper.measure({**base, "images": 2 * batch, "attention_images": 2 * batch}, isolate=False)
        per_image = sum(min(r["wall"]) for r in pilot["passes"].values()) / (2 * batch)
        left = args.budget - elapsed() - args.reserve
        n = int(max(batch, min(10_240, left / 1.5 / max(per_image, 1e-9))) // batch * batch)
        log(f"(d) pilot: {per_image * 1e3:.1f} ms per image over all passes; N = {n:,} fits")
    spec = {**base, "images": n, "attention_images": n if cuda else min(n, 64)}
    log(f"(d) bench_paper_scale at N = {n:,}")
    try:
        results = paper.measure(spec, isolate=None if not args.tiny else False, progress=log)
        tables.append(paper.report(results))
        s = paper.summary(results)
        rows.append((
            f"(d) paper-scale cka_matrix, N={n:,} ({s['layers'][0]} × {s['layers'][1]} layers)", "INFO",
            f"{s['ratio']:.3f} × (forward + floor); Gram products {s['gram']:.1f} s vs floor Grams "
            f"{s['floor_grams']:.1f} s, rest {s['rest']:.1f} s; peak extra {s['cka_extra_mb'] or 0:,.0f} MB "
            f"(floor pass {s['floor_extra_mb'] or 0:,.0f} MB)",
        ))  # fmt: skip
        if "attention_speedup" in s:
            memory = s["attention_memory"]
            rows.append((
                f"(d) attention distance, N={results['passes']['qk']['images']:,}: "
                + ("Triton" if cuda else "torch reference") + " vs materialising",
                "INFO",
                f"speed-up {s['attention_speedup']:.2f}×, "
                + ("memory ratio n/a" if memory is None else f"memory ratio {memory:.2f}")
                + f", max rel. diff {s['attention_rel_diff']:.1e}",
            ))  # fmt: skip
    except Exception as error:
        rows.append(("(d) bench_paper_scale", "FAIL", f"{type(error).__name__}: {str(error)[-300:]}"))
    grids = ["3"] if args.tiny or not cuda else ["14", "32", "64"]
    heads = "2" if args.tiny or not cuda else "12"
    log(f"(d) bench_attention_distance, grids {grids}")
    command = [sys.executable, str(HERE / "bench_attention_distance.py"), "--grids", *grids, "--heads", heads,
               "--repeats", "1" if args.tiny else "3"]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=environment(), check=False,
            timeout=max(30, args.budget - elapsed() - 15) if cuda else None,  # the budget is the GPU's
        )  # fmt: skip
        ok = done.returncode == 0
        tables.append(done.stdout.strip() if ok else done.stderr[-1500:])
        what = f"grids {', '.join(grids)}, {heads} heads" + ("" if cuda else "; kernel column: no GPU")
        rows.append(("(d) bench_attention_distance", "INFO" if ok else "FAIL", what))
    except subprocess.TimeoutExpired:
        rows.append(("(d) bench_attention_distance", "SKIP", "out of time"))


# ============================================================================================ driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="CI sizes: 8 images of 64², minibatch 4")
    parser.add_argument("--images", type=int, help="N for bench_paper_scale (default: what fits the budget)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything")
    parser.add_argument(
        "--reserve", type=float, default=90.0, help="seconds kept for bench_attention_distance"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["imports", "kernel", "cka", "benchmarks"])
    parser.add_argument("--cka-scenario", choices=TF32_SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--cka-shrink", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cka_scenario:
        print(json.dumps(cka_scenario(args.cka_scenario, args.device, args.cka_shrink)))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: no CUDA device here (use --device cpu)", file=sys.stderr)
        return 2
    if args.tiny:
        args.images, args.batch_size, args.img_size = args.images or 8, 4, 64
    device_name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    triton = importlib.util.find_spec("triton")
    versions = f"torch {torch.__version__}, triton " + (
        __import__("triton").__version__ if triton else "not installed"
    )
    rows: list[tuple[str, str, str]] = []
    tables: list[str] = []
    try:
        if "imports" not in args.skip:
            log("(a) imports without ipywidgets")
            rows += check_imports()
        if "kernel" not in args.skip:
            log("(b) Triton kernel")
            rows += check_kernel(args.device)
        if "cka" not in args.skip:
            rows += check_cka(args.device, shrink=16 if args.tiny else 1)
        if "benchmarks" not in args.skip:
            run_benchmarks(args, rows, tables)
    except KeyboardInterrupt:  # gpu_check.sh's time limit: still print what was measured
        rows.append(("interrupted", "FAIL", f"stopped after {elapsed():.0f} s (time limit or Ctrl-C)"))
    for table in tables:
        print(table, end="\n\n")
    print(f"gpu_check on {device_name} ({versions}), {time.strftime('%Y-%m-%d')}, {elapsed():.0f} s\n")
    print("| check | result | detail |")
    print("|---|---|---|")
    for name, status, detail in rows:
        print(f"| {name} | {status} | {detail.replace('|', '/')} |")
    skipped = [name for name, status, _ in rows if status == "SKIP"]
    if skipped:
        print(f"\nskipped on this machine: {'; '.join(skipped)}")
    return 1 if any(status == "FAIL" for _, status, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
