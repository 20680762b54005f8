"""The paper's workload, timed: CKA between every layer of ViT-B/16 and BiT ResNet-50x1; attention distance.

    .venv/bin/python benchmarks/bench_paper_scale.py                        # CPU: N = 256 images of 224²
    .venv/bin/python benchmarks/bench_paper_scale.py --images 8 --batch-size 4 --img-size 64   # CI size
    PYTHONPATH=src python3 benchmarks/bench_paper_scale.py --device cuda    # N = 10,240 (the paper's count)

Models: timm `vit_base_patch16_224` and `resnetv2_50x1_bit` with random weights (`pretrained=False`, nothing
is downloaded), every named layer that `seelike.activations.layer_names` gives (74 and 50 at 224²; the ViT
is built for `--img-size` through timm's `img_size` argument, the ResNet is fully convolutional). Images:
N uniform random pixels in [0, 1] (`--img-size` square, seeded), made on the device.

CKA passes (all under `torch.inference_mode()`, minibatches of `--batch-size`, the same minibatches):
- forward: both models over all N images, no hooks.
- forward + floor: the same forwards with hooks that only compute each layer's float32 Gram X·Xᵀ (TF32 off
  on CUDA), as `bench_cka.py` does for the zoo: the hardware floor of minibatch CKA. The time inside those
  hooks is the floor's Gram products.
- cka_matrix: `seelike.cka.cka_matrix(vit, resnet, images)` over all 74 × 50 layer pairs. Its time is split,
  within the same pass, into the Gram products (time inside `seelike.cka._upper_gram`), the rest of the
  engine's work (the rest of the time inside `MinibatchCKA._add`, which the hooks call, and
  `finish_minibatch`: U-centring in float64, the all-pairs matmul) and the forward (everything outside the
  engine, hook dispatch included). Each is measured by wrapping the function; CUDA is synchronised around
  each call. (Before 4 Dec 2026 the forward was taken from the forward pass, which at 2 threads could leave
  a negative rest.)
Ratios are to (forward + floor) measured in the same run. With one CPU thread the clock is process CPU time
(which other jobs on a shared machine disturb far less than wall time), otherwise wall time.

Attention-distance passes (ViT only, `--attention-images` images):
- materialising: `seelike.attention.dataset_mean_attention_distance(method="probabilities")`, which switches
  timm's fused attention off and holds every (B, 12, T, T) softmax of the batch.
- q·k: `method="qk"`, queries and keys only: the fused Triton kernel on CUDA; on a CPU the same call runs the
  chunked float64 torch reference (`seelike.kernels`), so the CPU row measures the reference, not the kernel.

Peak extra memory: on CUDA `torch.cuda.max_memory_allocated()` above the allocation before the pass (models
and images already resident). On a CPU each pass runs in a fresh subprocess (`--isolate`, the CPU default)
and the figure is the rise of the peak resident set (VmHWM, reset through /proc/self/clear_refs just before
the pass; where that is impossible, `resource.getrusage` max RSS) above the resident set before the pass.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

VIT = "vit_base_patch16_224"
RESNET = "resnetv2_50x1_bit"
CKA_PASSES = ("forward", "floor", "cka")
ATTENTION_PASSES = ("materialising", "qk")
LABELS = {
    "forward": "forward only (both models)",
    "floor": "forward + floor (float32 X·Xᵀ per layer)",
    "cka": "cka_matrix (all layer pairs)",
    "materialising": "materialising the attention (probabilities)",
    "qk": "from q, k",
}


# ============================================================================================ memory


def resident_bytes(field: str) -> int | None:
    """VmRSS or VmHWM of this process, in bytes (Linux); None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_resident() -> bool:
    """Reset VmHWM to the current resident set (Linux >= 4.0). Returns False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak extra memory of a block: CUDA allocations on CUDA, the resident set on a CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.extra_bytes: int | None = None
        self.method = ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            self.method = "cuda max_memory_allocated"
        elif reset_peak_resident() and resident_bytes("VmRSS") is not None:
            self.before = resident_bytes("VmRSS")
            self.method = "VmHWM"
        else:  # ru_maxrss cannot be reset: meaningful in a fresh process only (see --isolate)
            self.before = resident_bytes("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.method = "ru_maxrss"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method == "VmHWM":
            peak = resident_bytes("VmHWM")
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.extra_bytes = max(0, peak - self.before)


# ============================================================================================ workload


@functools.lru_cache(maxsize=4)
def models(img_size: int, device: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The two random-weight timm models in eval mode (cached: one build per process)."""
    import timm

    torch.manual_seed(0)
    vit = timm.create_model(VIT, pretrained=False, img_size=img_size)
    resnet = timm.create_model(RESNET, pretrained=False)
    return vit.eval().to(device), resnet.eval().to(device)


@functools.lru_cache(maxsize=2)
def images(count: int, img_size: int, device: str) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.rand(count, 3, img_size, img_size, generator=generator, device=device)


@contextlib.contextmanager
def tf32_off(device: torch.device):
    """Full float32 matmuls on CUDA for the floor (the engine turns TF32 off for its Grams, too)."""
    if device.type != "cuda":
        yield
        return
    from seelike.cka import _ieee_float32_matmul

    with _ieee_float32_matmul(device):
        yield


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall and process CPU time of a block (CUDA synchronised at both ends)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.wall, self.cpu = device, 0.0, 0.0

    def __enter__(self) -> Clock:
        synchronize(self.device)
        self.start, self.start_cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.wall += time.perf_counter() - self.start
        self.cpu += time.process_time() - self.start_cpu


def forward(
    vit, resnet, data, batch_size: int, hooks: bool, device: torch.device, spent: Clock | None = None
) -> None:
    """Both models over `data`; with `hooks`, every layer's float32 Gram, timed by `spent` if given."""
    from seelike import activations

    def gram(name: str, a: torch.Tensor) -> None:
        with spent or contextlib.nullcontext():
            a = a.reshape(a.shape[0], -1)
            torch.mm(a, a.T)

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if hooks:
            stack.enter_context(tf32_off(device))
            stack.enter_context(activations.layer_hooks(vit, activations.layer_names(vit), gram))
            stack.enter_context(activations.layer_hooks(resnet, activations.layer_names(resnet), gram))
        for batch in activations.minibatches(data, batch_size, 4):
            vit(batch)
            resnet(batch)


@contextlib.contextmanager
def timed(owner: Any, names: Sequence[str], device: torch.device):
    """Wrap the functions `owner.<name>` for each name to add up the time spent in them (one Clock)."""
    spent = Clock(device)
    originals = {name: getattr(owner, name) for name in names}

    def wrap(original):
        @functools.wraps(original)
        def timed_call(*args, **kwargs):
            with spent:
                return original(*args, **kwargs)

        return timed_call

    for name, original in originals.items():
        setattr(owner, name, wrap(original))
    try:
        yield spent
    finally:
        for name, original in originals.items():
            setattr(owner, name, original)


def run_pass(kind: str, spec: dict) -> dict:
    """One pass (warmed up on a few images first), timed, with its peak extra memory."""
    import seelike.cka as cka
    from seelike import activations, attention
    from seelike.cka import cka_matrix

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    vit, resnet = models(spec["img_size"], spec["device"])
    count = spec["attention_images"] if kind in ATTENTION_PASSES else spec["images"]
    data = images(max(spec["images"], spec["attention_images"]), spec["img_size"], spec["device"])[:count]
    batch = spec["batch_size"]
    small = data[: min(len(data), 8)]
    attention_batch = spec["attention_batch_size"]
    patch = vit.patch_embed.patch_size[0]

    def call(x, spent: Clock | None = None):  # spent: the floor hooks' clock
        if kind == "forward":
            return forward(vit, resnet, x, batch, hooks=False, device=device)
        if kind == "floor":
            return forward(vit, resnet, x, batch, hooks=True, device=device, spent=spent)
        if kind == "cka":
            return cka_matrix(vit, resnet, x, batch_size=batch, progress=False)[0]
        method = "probabilities" if kind == "materialising" else "qk"
        with torch.inference_mode():
            return attention.dataset_mean_attention_distance(
                vit, x, patch, batch_size=attention_batch, method=method
            )

    call(small)  # thread pools, cuDNN/cuBLAS handles, the Triton compilation
    result: dict = {"kind": kind, "images": len(data), "wall": [], "cpu": []}
    for repeat in range(spec["repeats"]):
        with contextlib.ExitStack() as stack:
            parts = {}  # what of this pass's time is spent where, measured inside the pass
            if kind == "cka":
                parts["gram"] = stack.enter_context(timed(cka, ["_upper_gram"], device))
                parts["engine"] = stack.enter_context(
                    timed(cka.MinibatchCKA, ["_add", "finish_minibatch"], device)
                )
            elif kind == "floor":
                parts["gram"] = Clock(device)
            peak = stack.enter_context(PeakMemory(device)) if repeat == 0 else None
            clock = stack.enter_context(Clock(device))
            value = call(data, parts["gram"] if kind == "floor" else None)
        result["wall"].append(clock.wall)
        result["cpu"].append(clock.cpu)
        for part, spent in parts.items():
            result.setdefault(f"{part}_wall", []).append(spent.wall)
            result.setdefault(f"{part}_cpu", []).append(spent.cpu)
        if peak is not None:
            result["extra_mb"] = peak.extra_bytes / 2**20
            result["memory_method"] = peak.method
        if isinstance(value, torch.Tensor):
            result["value"] = value.double().cpu().tolist()
    if kind in CKA_PASSES:
        result["layers"] = [len(activations.layer_names(vit)), len(activations.layer_names(resnet))]
    return result


# ============================================================================================ driver


def default_spec(args: argparse.Namespace) -> dict:
    cuda = args.device.startswith("cuda")
    n = args.images if args.images is not None else (10_240 if cuda else 256)
    attention_n = args.attention_images
    if attention_n is None:
        attention_n = n if cuda else min(n, 64)
    return {
        "device": args.device,
        "images": n,
        "batch_size": args.batch_size,
        "img_size": args.img_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "attention_images": attention_n,
        "attention_batch_size": args.attention_batch_size or (args.batch_size if cuda else 32),
    }


def launch(kind: str, spec: dict) -> dict:
    """`run_pass` in a fresh interpreter (so no allocator cache of an earlier pass hides memory)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps({**spec, "kind": kind})]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pass {kind!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(spec: dict, isolate: bool | None = None, progress=None) -> dict:
    """Every pass of `spec`; returns {"spec", "passes": {kind: result}, "skipped": {kind: why}}."""
    if spec["device"].startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device")
    isolate = spec["device"] == "cpu" if isolate is None else isolate
    kinds = list(CKA_PASSES) if spec["images"] else []
    skipped: dict[str, str] = {}
    if spec["attention_images"]:
        kinds += list(ATTENTION_PASSES)
    else:
        skipped["attention"] = "--attention-images 0"
    passes: dict[str, dict] = {}
    for kind in kinds:
        if progress:
            progress(f"{kind}: {spec['attention_images' if kind in ATTENTION_PASSES else 'images']} images")
        passes[kind] = launch(kind, spec) if isolate else run_pass(kind, spec)
    return {"spec": spec, "passes": passes, "skipped": skipped, "isolated": isolate}


def machine(device: str, threads: int) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return f"CPU ({threads} torch threads), torch {torch.__version__}"


def memory_ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None where either is unknown or below 1 MB (noise of the resident-set measurement)."""
    return None if a is None or b is None or a < 1 or b < 1 else a / b


def summary(results: dict) -> dict:
    """Headline numbers: cka_matrix / (forward + floor), its split, attention speed-up and memory."""
    spec, p = results["spec"], results["passes"]
    key = "cpu" if spec["device"] == "cpu" and spec["threads"] == 1 else "wall"
    out: dict = {"clock": key}
    if {"forward", "floor", "cka"} <= p.keys():
        best = {k: p[k][key].index(min(p[k][key])) for k in ("floor", "cka")}  # the best repeat
        floor_s, cka_s = (p[k][key][best[k]] for k in ("floor", "cka"))
        floor_grams = p["floor"][f"gram_{key}"][best["floor"]]  # each part from its pass's best repeat
        gram_s, engine_s = (p["cka"][f"{part}_{key}"][best["cka"]] for part in ("gram", "engine"))
        out.update(
            floor=floor_s, cka=cka_s, floor_grams=floor_grams,
            forward=cka_s - engine_s, gram=gram_s, rest=engine_s - gram_s, ratio=cka_s / floor_s,
            layers=p["cka"]["layers"],
            cka_extra_mb=p["cka"].get("extra_mb"), floor_extra_mb=p["floor"].get("extra_mb"),
            forward_extra_mb=p["forward"].get("extra_mb"),
        )  # fmt: skip
    if {"materialising", "qk"} <= p.keys():
        dense = torch.tensor(p["materialising"]["value"], dtype=torch.float64)
        fused = torch.tensor(p["qk"]["value"], dtype=torch.float64)
        out.update(
            attention_speedup=min(p["materialising"]["wall"]) / min(p["qk"]["wall"]),
            attention_memory=memory_ratio(p["materialising"].get("extra_mb"), p["qk"].get("extra_mb")),
            attention_rel_diff=((dense - fused).abs() / dense.abs()).max().item(),
        )  # fmt: skip
    return out


def report(results: dict) -> str:
    spec, p = results["spec"], results["passes"]
    s = summary(results)
    lines = []
    mem_note = "fresh subprocess per pass" if results["isolated"] else "all passes in one process"
    if "ratio" in s:
        lines += [
            f"paper-scale CKA: {VIT} ({s['layers'][0]} layers) vs {RESNET} ({s['layers'][1]} layers), random "
            f"weights, N={spec['images']:,} random images of {spec['img_size']}², "
            f"minibatch {spec['batch_size']}, "
            f"{machine(spec['device'], spec['threads'])}; ratios on {s['clock']} time; memory: {mem_note}",
            "",
            "| pass | wall s | CPU s | × (forward + floor) | peak extra MB |",
            "|---|---|---|---|---|",
        ]
        for kind in CKA_PASSES:
            r = p[kind]
            t = min(r[s["clock"]])
            extra = r.get("extra_mb")
            lines.append(
                f"| {LABELS[kind]} | {min(r['wall']):.2f} | {min(r['cpu']):.2f} | {t / s['floor']:.3f} | "
                f"{'n/a' if extra is None else f'{extra:,.0f}'} |"
            )
        for label, value in (
            ("forward + floor: of which floor Gram products (time in its hooks)", s["floor_grams"]),
            ("cka_matrix: of which forward (outside the engine)", s["forward"]),
            ("cka_matrix: of which Gram products (_upper_gram)", s["gram"]),
            ("cka_matrix: of which the rest of the engine (U-centring, all-pairs matmul)", s["rest"]),
        ):
            lines.append(f"| {label} | | | {value / s['floor']:.3f} ({value:.2f} s) | |")
        lines.append("")
    if "attention_speedup" in s:
        backend = "Triton kernel" if spec["device"].startswith("cuda") else "chunked float64 torch reference"
        ratio = s["attention_memory"]
        memory = (
            "peak memory ratio n/a (under 1 MB)"
            if ratio is None
            else f"materialising's peak memory over the q·k path's {ratio:.2f}"
        )
        lines += [
            f"mean attention distance over N={p['qk']['images']:,} images ({VIT}, 12 layers × 12 heads, "
            f"minibatch {spec['attention_batch_size']}): q·k path = {backend}",
            "",
            "| method | wall s | peak extra MB | mean distance (px) |",
            "|---|---|---|---|",
        ]
        for kind in ATTENTION_PASSES:
            r = p[kind]
            label = LABELS[kind] + (f" ({backend})" if kind == "qk" else "")
            mean = torch.tensor(r["value"], dtype=torch.float64).mean().item()
            extra = r.get("extra_mb")
            extra_text = "n/a" if extra is None else f"{extra:,.0f}"
            lines.append(f"| {label} | {min(r['wall']):.2f} | {extra_text} | {mean:.3f} |")
        lines += [
            "",
            f"q·k path: materialising's time over its {s['attention_speedup']:.2f}, {memory}; "
            f"max relative difference per head {s['attention_rel_diff']:.1e}",
            "",
        ]
    for what, why in results["skipped"].items():
        lines.append(f"{what}: skipped ({why})")
    if not spec["device"].startswith("cuda"):
        lines.append("attention on a CPU: the Triton kernel needs CUDA; the q·k row ran the torch reference")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--images", type=int, help="N for the CKA passes (default 256 on CPU, 10,240 on CUDA)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--img-size", type=int, default=224, help="image side (the ViT is built for it)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (CPU)")
    p.add_argument("--repeats", type=int, default=1, help="timed repeats per pass (best is reported)")
    p.add_argument("--attention-images", type=int, help="default: N on CUDA, min(N, 64) on CPU; 0 skips")
    p.add_argument("--attention-batch-size", type=int, help="default: --batch-size on CUDA, 32 on CPU")
    isolate = p.add_mutually_exclusive_group()
    isolate.add_argument(
        "--isolate",
        dest="isolate",
        action="store_true",
        default=None,
        help="each pass in a fresh subprocess (the CPU default: honest peak memory)",
    )
    isolate.add_argument("--no-isolate", dest="isolate", action="store_false",
                         help="all passes in this process (the CUDA default)")  # fmt: skip
    p.add_argument("--json", help="also write the raw results to this file")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(run_pass(spec["kind"], spec)))
        return {}
    torch.set_num_threads(args.threads)
    spec = default_spec(args)

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    results = measure(spec, args.isolate, progress)
    print(report(results), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
