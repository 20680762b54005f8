"""Minibatch CKA between every layer pair: seelike against the float32 Gram floor and four peer libraries.

    .venv/bin/python benchmarks/bench_cka.py                  # the full comparison (~20 min on 2 cores)
    .venv/bin/python benchmarks/bench_cka.py --quick          # small smoke run (~1 min)

Workload (the issue's anchor): N = 2,048 examples in minibatches of 256, 12 layers on one side and 16 on the
other, 38k–65k float32 features per layer; correlated synthetic activations (a shared latent, per-layer
random projections, ReLU on half the layers, noise), pre-generated once into a file that every worker loads.
Two distinct minibatches are stored and cycled (minibatch k is stored batch k mod 2), which keeps the file
at ~3 GB; the float64 reference accounts for the repetition exactly.

Rows
- floor: the unavoidable work, each layer's float32 Gram X·Xᵀ per minibatch (`torch.mm`), nothing else.
- seelike (engine): `seelike.cka.MinibatchCKA.update` per minibatch, `compute` at the end.
- seelike (model): `seelike.cka.cka_matrix` on two "replay" models whose layers emit the stored activations
  (forward hooks, exactly as with a real network); the peers are driven through the same replay models
  with their own model-level APIs and a torch DataLoader:
  pytorch-cka 1.1.3 (`cka.compute_cka`), cka-pytorch 1.1.3 (`cka_pytorch.CKACalculator`),
  torch-cka 0.21 (`torch_cka.CKA.compare`), ckatorch 1.0.3 (`ckatorch.CKA.__call__`, features shaped
  (1, n, d) since it batches Grams with bmm).
- The two slowest peers run only `--slow-batches` minibatches; their seconds are scaled to the full N
  (the work per minibatch is identical) and marked with *.

Columns
- wall s / CPU s: best of `--repeats` runs (wall clock / process CPU time); × floor: the median over the
  repeats of the run's time over the floor's, run just before it in the same worker process. With one
  thread (the default) the ratio uses CPU time, which other processes on a shared machine disturb far less
  than wall time; with more threads it uses wall time (idle OpenMP threads spin and inflate CPU time).
- peak extra MB: rise of the worker's peak resident set (VmHWM, reset via /proc/self/clear_refs just before
  the call) above its resident set before the call (activations already loaded).
- max |err|: against a float64 reference of the same estimator (features centred in float64, Song et al.'s
  unbiased HSIC per pair, HSIC summed over minibatches); "+30" and "×1e-3": the same with every activation
  offset by +30 or scaled by 1e-3, on a smaller workload (4 × 4 layers, 2 minibatches, same feature sizes).
- N=1,024 vs N=8,192: seelike (model) peak extra memory, to show it does not grow with N.
- end to end: the zoo ViT and ResNet (all 38 × 17 named layers) on Fashion-MNIST test images:
  `cka_matrix` against the same forwards with hooks computing only the raw float32 Gram of each layer;
  seconds are the best of `--repeats`, the ratio the median over the repeats (as × floor).

Peers live in their own environment (cka-pytorch pulls in lightning), benchmarks/.venv-peers:
    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install torch==2.14.1
    benchmarks/.venv-peers/bin/pip install ckatorch==1.0.3 torch-cka==0.21 \
        pytorch-cka==1.1.3 cka-pytorch==1.1.3
Workers for peers run with that interpreter; a peer that is not importable is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
FAST = ("floor", "seelike-engine", "seelike-model", "pytorch-cka", "cka-pytorch")
SLOW = ("torch-cka", "ckatorch")
LABELS = {
    "floor": "floor (float32 X·Xᵀ per layer)",
    "seelike-engine": "seelike MinibatchCKA.update",
    "seelike-model": "seelike cka_matrix (hooks)",
    "pytorch-cka": "pytorch-cka 1.1.3",
    "cka-pytorch": "cka-pytorch 1.1.3",
    "torch-cka": "torch-cka 0.21",
    "ckatorch": "ckatorch 1.0.3",
}
PEER_MODULE = {
    "pytorch-cka": "cka",
    "cka-pytorch": "cka_pytorch",
    "torch-cka": "torch_cka",
    "ckatorch": "ckatorch",
}


# ============================================================================================ memory


def resident_bytes(field: str) -> int:
    """VmRSS or VmHWM of this process, in bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_resident() -> bool:
    """Reset VmHWM to the current resident set (Linux >= 4.0). Returns False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# ============================================================================================ the pool


def pool_path(args) -> Path:
    folder = Path(tempfile.gettempdir()) / "seelike-bench-cka"
    folder.mkdir(exist_ok=True)
    return folder / f"pool_b{args.batch}_x{args.layers_x}_y{args.layers_y}_d{args.dmin}-{args.dmax}.pt"


def make_pool(args) -> Path:
    """Two stored minibatches of correlated activations for every layer; generated once, then reused."""
    path = pool_path(args)
    if path.is_file():
        return path
    g = torch.Generator().manual_seed(0)
    widths = [round(w) for w in torch.linspace(args.dmin, args.dmax, args.layers_x + args.layers_y).tolist()]
    order = torch.randperm(len(widths), generator=g).tolist()
    widths = [widths[i] for i in order]
    pool: dict[str, list[list[torch.Tensor]]] = {"x": [], "y": []}
    for _ in range(2):
        latent = torch.randn(args.batch, 24, generator=g)
        layers = []
        for index, width in enumerate(widths):
            rank = 4 + (index * 5) % 20  # layers see different parts of the latent
            projection = torch.randn(rank, width, generator=g) / math.sqrt(rank)
            signal = latent[:, :rank] @ projection
            noise = torch.randn(args.batch, width, generator=g) * (0.5 + 2.5 * ((index * 7) % 11) / 10)
            layer = signal + noise
            layers.append(torch.relu(layer) if index % 2 else layer)
        pool["x"].append(layers[: args.layers_x])
        pool["y"].append(layers[args.layers_x :])
    print(f"writing the activation pool to {path} ...", file=sys.stderr)
    torch.save(pool, path)
    return path


# ============================================================================================ worker


class Emit(torch.nn.Module):
    """A replay layer: returns stored activations for minibatch k (optionally offset/scaled, reshaped)."""

    def __init__(self, stored: list[torch.Tensor], offset: float, scale: float, leading_one: bool) -> None:
        super().__init__()
        self.stored, self.offset, self.scale, self.leading_one = stored, offset, scale, leading_one

    def forward(self, k: int) -> torch.Tensor:
        x = self.stored[k % len(self.stored)]
        if self.scale != 1.0 or self.offset != 0.0:
            x = x * self.scale + self.offset
        return x.unsqueeze(0) if self.leading_one else x


class Replay(torch.nn.Module):
    """A model whose layers (`layers.i`) emit stored activations; its input holds the minibatch index."""

    def __init__(self, per_layer: list[list[torch.Tensor]], offset=0.0, scale=1.0, leading_one=False) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(Emit(s, offset, scale, leading_one) for s in per_layer)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # some libraries read the device from a parameter

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        k = int(x.reshape(-1)[0])
        for layer in self.layers:
            layer(k)
        return x


def _loader(minibatches: int, batch: int):
    from torch.utils.data import DataLoader, TensorDataset

    index = torch.arange(minibatches).repeat_interleave(batch)[:, None].float()
    return DataLoader(TensorDataset(index, torch.zeros(len(index))), batch_size=batch, shuffle=False)


def _activations(
    pool, side: str, layers: list[int], k: int, offset: float, scale: float
) -> list[torch.Tensor]:
    stored = pool[side][k % len(pool[side])]
    out = [stored[i] for i in layers]
    if scale != 1.0 or offset != 0.0:
        out = [x * scale + offset for x in out]
    return out


def run_method(method: str, pool, spec: dict) -> torch.Tensor | None:
    lx, ly, m, batch = spec["layers_x"], spec["layers_y"], spec["minibatches"], spec["batch"]
    off, sc = spec["offset"], spec["scale"]
    if method == "floor":
        for k in range(m):
            for x in _activations(pool, "x", lx, k, off, sc) + _activations(pool, "y", ly, k, off, sc):
                torch.mm(x, x.T)
        return None
    if method == "seelike-engine":
        from seelike.cka import MinibatchCKA

        engine = MinibatchCKA(len(lx), len(ly))
        for k in range(m):
            engine.update(_activations(pool, "x", lx, k, off, sc), _activations(pool, "y", ly, k, off, sc))
        return engine.compute()
    per_x = [[b[i] for b in pool["x"]] for i in lx]
    per_y = [[b[i] for b in pool["y"]] for i in ly]
    leading_one = method == "ckatorch"
    model_a = Replay(per_x, off, sc, leading_one).eval()
    model_b = Replay(per_y, off, sc, leading_one).eval()
    names_a = [f"layers.{i}" for i in range(len(lx))]
    names_b = [f"layers.{i}" for i in range(len(ly))]
    if method == "seelike-model":
        from seelike.cka import cka_matrix

        inputs = [torch.full((batch, 1), float(k)) for k in range(m)]
        return cka_matrix(model_a, model_b, inputs, names_a, names_b, batch_size=batch, progress=False)[0]
    loader = _loader(m, batch)
    if method == "pytorch-cka":
        from cka import compute_cka

        return compute_cka(model_a, model_b, loader, layers=names_a, model2_layers=names_b, progress=False)[0]
    if method == "cka-pytorch":
        from cka_pytorch import CKACalculator

        calculator = CKACalculator(
            model_a, model_b, names_a, names_b, device=torch.device("cpu"), verbose=False
        )
        return calculator.calculate_cka_matrix(loader, num_epochs=1)
    if method == "torch-cka":
        from torch_cka import CKA

        cka = CKA(model_a, model_b, "A", "B", names_a, names_b, device="cpu")
        import io
        from contextlib import redirect_stderr

        with redirect_stderr(io.StringIO()):  # its tqdm bar
            cka.compare(loader)
        return cka.export()["CKA"]
    if method == "ckatorch":
        import io
        from contextlib import redirect_stderr

        from ckatorch import CKA

        cka = CKA(model_a, model_b, names_a, names_b, first_name="A", second_name="B")
        with redirect_stderr(io.StringIO()):
            return cka(loader, epochs=1)
    raise ValueError(method)


def reference_hsic(pool, spec: dict) -> dict:
    """Float64 HSIC₁ sums per stored minibatch (Song et al.'s formula, features centred in float64)."""
    lx, ly, off, sc = spec["layers_x"], spec["layers_y"], spec["offset"], spec["scale"]
    out = {"xy": [], "xx": [], "yy": []}
    for p in range(len(pool["x"])):

        def grams(side, layers, p=p):
            result = []
            for x in _activations(pool, side, layers, p, off, sc):
                x = x.double()
                x = x - x.mean(0)
                result.append(x @ x.T)
            return torch.stack(result)

        def hsic(K, L):  # (a, n, n), (b, n, n) -> (a, b), Song et al. 2012 term by term
            n = K.shape[-1]
            K = K.clone()
            L = L.clone()
            K.diagonal(dim1=-2, dim2=-1).zero_()
            L.diagonal(dim1=-2, dim2=-1).zero_()
            trace = K.flatten(1) @ L.flatten(1).T
            sums = torch.outer(K.sum((1, 2)), L.sum((1, 2))) / ((n - 1) * (n - 2))
            cross = K.sum(2) @ L.sum(1).T * (2.0 / (n - 2))
            return (trace + sums - cross) / (n * (n - 3))

        gx, gy = grams("x", lx), grams("y", ly)
        out["xy"].append(hsic(gx, gy).tolist())
        out["xx"].append(hsic(gx, gx).diagonal().tolist())
        out["yy"].append(hsic(gy, gy).diagonal().tolist())
    return out


def worker(spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    method = spec["method"]
    if method in PEER_MODULE:
        try:
            __import__(PEER_MODULE[method])
        except ImportError as error:
            return {"error": f"not installed ({error})"}
    if method == "e2e":
        return end_to_end(spec)
    # Loaded into the worker's own memory, as a network's activations are: on a file mapping the centring
    # copy's strided reads ran up to 1.3x slower at 2 threads than on anonymous memory, the floor's did not.
    pool = torch.load(spec["pool"], weights_only=True)
    if method == "reference":
        return reference_hsic(pool, spec)
    result: dict = {"floor_seconds": [], "seconds": [], "floor_cpu": [], "cpu": []}
    with torch.inference_mode() if method != "ckatorch" else torch.no_grad():
        for repeat in range(spec["repeats"]):
            if spec["with_floor"]:
                start, start_cpu = time.perf_counter(), time.process_time()
                run_method("floor", pool, spec)
                result["floor_seconds"].append(time.perf_counter() - start)
                result["floor_cpu"].append(time.process_time() - start_cpu)
            before = resident_bytes("VmRSS")
            tracked = reset_peak_resident()
            start, start_cpu = time.perf_counter(), time.process_time()
            matrix = run_method(method, pool, spec)
            result["seconds"].append(time.perf_counter() - start)
            result["cpu"].append(time.process_time() - start_cpu)
            if repeat == 0:
                result["extra_mb"] = (resident_bytes("VmHWM") - before) / 2**20 if tracked else None
                if matrix is not None:
                    result["matrix"] = torch.as_tensor(matrix).double().cpu().tolist()
    return result


def end_to_end(spec: dict) -> dict:
    """Zoo ViT vs zoo ResNet on Fashion-MNIST: cka_matrix against forwards + raw float32 Grams in hooks."""
    from seelike import activations, data, zoo
    from seelike.cka import cka_matrix

    def model(name):
        trained = 0 in zoo.trained(name)
        return (zoo.load(name, seed=0) if trained else zoo.build(name, seed=0).eval()), trained

    (vit, vit_trained), (resnet, resnet_trained) = model("vit"), model("resnet")
    images = data.fashion_mnist("test")[0][: spec["n"]]
    names_a, names_b = activations.layer_names(vit), activations.layer_names(resnet)

    def forward_and_floor():
        def gram(name, a):
            a = a.reshape(a.shape[0], -1)
            torch.mm(a, a.T)

        with torch.inference_mode():
            with activations.layer_hooks(vit, names_a, gram), activations.layer_hooks(resnet, names_b, gram):
                for batch in activations.minibatches(images, spec["batch"], 4):
                    vit(batch)
                    resnet(batch)

    def forward_only():
        with torch.inference_mode():
            for batch in activations.minibatches(images, spec["batch"], 4):
                vit(batch)
                resnet(batch)

    clock = time.process_time if spec["threads"] == 1 else time.perf_counter
    times = {"forward": [], "forward_floor": [], "cka_matrix": []}
    for _ in range(spec["repeats"]):
        for key, fn in (
            ("forward", forward_only),
            ("forward_floor", forward_and_floor),
            ("cka_matrix", lambda: cka_matrix(vit, resnet, images, batch_size=spec["batch"], progress=False)),
        ):
            start = clock()
            fn()
            times[key].append(clock() - start)
    return {
        "times": times,
        "layers": [len(names_a), len(names_b)],
        "trained": vit_trained and resnet_trained,
    }


# ============================================================================================ orchestration


def launch(spec: dict, python: str) -> dict:
    completed = subprocess.run(
        [python, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def combine_reference(ref: dict, minibatches: int) -> torch.Tensor:
    """CKA over `minibatches` cycled stored batches from the per-stored-batch float64 HSIC sums."""
    stored = len(ref["xy"])
    counts = torch.tensor([len(range(p, minibatches, stored)) for p in range(stored)], dtype=torch.float64)
    xy = (torch.tensor(ref["xy"], dtype=torch.float64) * counts[:, None, None]).sum(0)
    xx = (torch.tensor(ref["xx"], dtype=torch.float64) * counts[:, None]).sum(0)
    yy = (torch.tensor(ref["yy"], dtype=torch.float64) * counts[:, None]).sum(0)
    return xy / torch.sqrt(torch.outer(xx, yy))


def max_error(result: dict, reference: torch.Tensor) -> str:
    if "error" in result:
        return "fails: " + result["error"].split(" | ")[-1][:60]
    matrix = torch.tensor(result["matrix"], dtype=torch.float64)
    if matrix.shape != reference.shape:
        return f"shape {tuple(matrix.shape)}"
    if not torch.isfinite(matrix).all():
        finite = torch.isfinite(matrix)
        bad = (~finite).sum().item()
        worst = (matrix[finite] - reference[finite]).abs().max().item() if finite.any() else math.nan
        return f"{bad} NaN/inf; {worst:.1e}"
    return f"{(matrix - reference).abs().max().item():.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=2048, help="examples in the main workload")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--layers-x", type=int, default=12)
    parser.add_argument("--layers-y", type=int, default=16)
    parser.add_argument("--dmin", type=int, default=38_000)
    parser.add_argument("--dmax", type=int, default=65_000)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads in every worker (1: ratios from CPU time)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats of the fast methods")
    parser.add_argument("--slow-batches", type=int, default=2, help="minibatches run by torch-cka/ckatorch")
    parser.add_argument("--memory-n", type=int, nargs=2, default=(1024, 8192))
    parser.add_argument("--e2e-n", type=int, default=2048)
    parser.add_argument("--peers-python", default=str(PEERS_PYTHON))
    parser.add_argument("--methods", nargs="*", default=[*FAST, *SLOW])
    parser.add_argument(
        "--sections", nargs="*", default=["main", "stress", "memory", "e2e"], help="main stress memory e2e"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--json", help="also write all raw results to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.n, args.layers_x, args.layers_y, args.dmin, args.dmax = 512, 3, 4, 20_000, 30_000
        args.repeats, args.memory_n, args.e2e_n, args.slow_batches = 1, (512, 1024), 512, 1

    pool = str(make_pool(args))
    peers_python = args.peers_python if Path(args.peers_python).exists() else None
    own_python = sys.executable
    minibatches = math.ceil(args.n / args.batch)
    all_x, all_y = list(range(args.layers_x)), list(range(args.layers_y))
    base = {"pool": pool, "batch": args.batch, "threads": args.threads, "offset": 0.0, "scale": 1.0}
    raw: dict = {"args": vars(args)}

    def python_for(method: str) -> str | None:
        return peers_python if method in PEER_MODULE else own_python

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    # ---- main workload: time, memory, plain error
    main_spec = {**base, "layers_x": all_x, "layers_y": all_y}
    sections = set(args.sections)
    methods = args.methods if sections & {"main", "stress"} else []
    if "main" not in sections:
        methods = [m for m in methods if m != "floor"]
    reference: dict = {}
    if "main" in sections:
        progress("float64 reference (main workload)")
        reference_spec = {**main_spec, "method": "reference", "minibatches": 2, "repeats": 1}
        reference = launch({**reference_spec, "with_floor": False}, own_python)
    raw["reference"] = reference
    results = {}
    for method in methods if "main" in sections else []:
        python = python_for(method)
        if python is None:
            results[method] = {"error": f"no peers environment at {args.peers_python}"}
            continue
        slow = method in SLOW
        spec = {
            **main_spec,
            "method": method,
            "minibatches": min(args.slow_batches, minibatches) if slow else minibatches,
            "repeats": 1 if slow else args.repeats,
            "with_floor": True,
        }
        progress(f"{method}: {spec['minibatches']} minibatches x {spec['repeats']} repeats")
        results[method] = launch(spec, python)
        results[method]["minibatches"] = spec["minibatches"]
    raw["main"] = results

    # ---- stress: +30 and x1e-3 on 4 x 4 layers, 2 minibatches
    stress_layers = {"layers_x": all_x[:4], "layers_y": all_y[:4], "minibatches": 2, "repeats": 1}
    stress: dict = {}
    for label, offset, scale in (("+30", 30.0, 1.0), ("x1e-3", 0.0, 1e-3)) if "stress" in sections else ():
        spec = {**base, **stress_layers, "offset": offset, "scale": scale, "with_floor": False}
        progress(f"stress {label}: reference")
        ref = launch({**spec, "method": "reference"}, own_python)
        stress[label] = {"reference": ref}
        for method in methods:
            if method == "floor" or python_for(method) is None:
                continue
            progress(f"stress {label}: {method}")
            stress[label][method] = launch({**spec, "method": method}, python_for(method))
    raw["stress"] = stress

    # ---- memory against N (seelike, model level)
    memory = {}
    for n in args.memory_n if "memory" in sections else ():
        progress(f"memory at N={n}")
        spec = {**main_spec, "method": "seelike-model", "minibatches": math.ceil(n / args.batch)}
        spec.update(repeats=1, with_floor=False)
        memory[n] = launch(spec, own_python)
    raw["memory"] = memory

    # ---- end to end
    e2e = {"error": "not run"}
    if "e2e" in sections:
        progress("end to end (zoo ViT vs ResNet)")
        e2e_spec = {"method": "e2e", "n": args.e2e_n, "batch": args.batch, "threads": args.threads}
        e2e = launch({**e2e_spec, "repeats": args.repeats}, own_python)
    raw["e2e"] = e2e

    # ---- report
    print(
        f"\nminibatch CKA, {args.layers_x}×{args.layers_y} layers of {args.dmin:,}–{args.dmax:,} features, "
        f"N={args.n:,}, minibatch {args.batch}, float32 activations, CPU, {args.threads} threads, "
        f"torch {torch.__version__}\n"
    )
    clock = "CPU" if args.threads == 1 else "wall"
    print(
        f"| method | wall s | CPU s | × floor ({clock}) | peak extra MB | max abs err | err +30 | err ×1e-3 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method in methods:
        errs = []
        for label in ("+30", "x1e-3"):
            if method == "floor" or label not in stress:
                errs.append("—" if method == "floor" else "not run")
                continue
            entry = stress[label].get(method, {"error": "skipped"})
            errs.append(max_error(entry, combine_reference(stress[label]["reference"], 2)))
        result = results.get(method, {"error": "not run"})
        if "error" in result:
            print(f"| {LABELS[method]} | {result['error']} | | | | | {errs[0]} | {errs[1]} |")
            continue
        scale_to_full = minibatches / result["minibatches"]
        seconds = min(result["seconds"]) * scale_to_full
        cpu = min(result["cpu"]) * scale_to_full
        key, floor_key = ("cpu", "floor_cpu") if args.threads == 1 else ("seconds", "floor_seconds")
        ratio = statistics.median(t / f for t, f in zip(result[key], result[floor_key], strict=True))
        star = "*" if scale_to_full != 1 else ""
        extra = result.get("extra_mb")
        reference_matrix = combine_reference(reference, result["minibatches"])
        err_main = "—" if method == "floor" else max_error(result, reference_matrix)
        print(
            f"| {LABELS[method]} | {seconds:.1f}{star} | {cpu:.1f}{star} | {ratio:.2f} | "
            f"{'n/a' if extra is None else f'{extra:,.0f}'} | {err_main} | {errs[0]} | {errs[1]} |"
        )
    print("\n* measured on", args.slow_batches, "minibatch(es) and scaled to N; × floor is per minibatch.\n")
    print("| seelike cka_matrix | minibatches | seconds | peak extra MB |")
    print("|---|---|---|---|")
    for n, result in memory.items():
        if "error" in result:
            print(f"| N={n:,} | {result['error']} | | |")
            continue
        extra = result.get("extra_mb")
        print(f"| N={n:,} | {math.ceil(n / args.batch)} | {min(result['seconds']):.1f} | "
              f"{'n/a' if extra is None else f'{extra:,.0f}'} |")  # fmt: skip
    if "error" in e2e:
        print(f"\nend to end: {e2e['error']}")
    else:
        t = {k: min(v) for k, v in e2e["times"].items()}
        # as × floor above: the median over the repeats of cka_matrix ÷ the forward + floor pass before it
        paired = statistics.median(
            c / f for c, f in zip(e2e["times"]["cka_matrix"], e2e["times"]["forward_floor"], strict=True)
        )
        weights = "trained" if e2e["trained"] else "random-weight"
        print(
            f"\nend to end ({weights} zoo ViT vs ResNet, {e2e['layers'][0]}×{e2e['layers'][1]} layers, "
            f"N={args.e2e_n:,} Fashion-MNIST test images, minibatch {args.batch}):\n"
        )
        print(f"| forwards ({clock}) | forwards + floor Grams | cka_matrix | × (forwards + floor) |")
        print("|---|---|---|---|")
        print(f"| {t['forward']:.2f} s | {t['forward_floor']:.2f} s | {t['cka_matrix']:.2f} s | "
              f"{paired:.2f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, default=str))


if __name__ == "__main__":
    main()
