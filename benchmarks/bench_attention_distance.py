"""Peak memory and time of mean attention distance: chunked reference vs materialising the attention matrix.

    python benchmarks/bench_attention_distance.py            # T = 50 ... 4,097 tokens, B=1, H=4, D=64
    python benchmarks/bench_attention_distance.py --grids 7 14 --heads 12

Three ways to get each query's attention-weighted distance from queries and keys:
- materialising: softmax(q·kᵀ) as a full (B, H, T, T) matrix, then `seelike.attention.mean_attention_distance`
  on it (what probing code usually does, e.g. the keras.io "probing ViTs" example): memory grows as T².
- chunked reference (`seelike.kernels.mean_attention_distance_reference`, the CPU path of the dispatch):
  queries in chunks sized so one chunk's scores stay under a fixed budget: memory flat in T.
- Triton kernel (CUDA only): online softmax over key blocks, memory O(B·H·T). Without a GPU this column
  reads "no GPU".

Every measurement runs in a fresh subprocess, so no allocator cache from an earlier run hides memory. CPU
peak memory is the rise of the process's peak resident set (VmHWM, reset through /proc/self/clear_refs
right before the call) above the resident set after the inputs were made; on CUDA it is
`torch.cuda.max_memory_allocated` above the allocation before the call. Times are the best of repeated
calls in the same subprocess (the least disturbed by other processes), measured side by side on the same
inputs; read the ratios, not the absolute values, on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

METHODS = ("materialising", "chunked", "triton")


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


def materialising(q, k, patch_size, grid_size, prefix, scale):
    from seelike.attention import mean_attention_distance

    attn = (q * scale @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, H, T, T)
    return mean_attention_distance(attn, patch_size, grid_size, prefix)


def run_child(method: str, grid: int, batch: int, heads: int, dim: int, repeats: int) -> dict:
    """One measurement (in its own process): peak extra memory of one call, then the median time."""
    from seelike.kernels import mean_attention_distance_reference

    device = (
        "cuda" if method == "triton" or (torch.cuda.is_available() and method != "chunked-cpu") else "cpu"
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    prefix, patch_size = 1, 16.0
    if method == "materialising":
        function = materialising
    elif method == "chunked":
        function = mean_attention_distance_reference
    else:
        from seelike.kernels.triton_attention_distance import mean_attention_distance_triton as function

    def inputs(side: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator(device=device).manual_seed(0)
        shape = (batch, heads, prefix + side * side, dim)
        return (torch.randn(shape, generator=generator, device=device),
                torch.randn(shape, generator=generator, device=device))  # fmt: skip

    small_q, small_k = inputs(3)
    function(small_q, small_k, patch_size, 3, prefix, dim**-0.5)  # load code paths and thread pools first
    q, k = inputs(grid)
    tokens = q.shape[2]
    call = lambda: function(q, k, patch_size, grid, prefix, dim**-0.5)  # noqa: E731

    if device == "cuda":
        call()  # compile / warm up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        result = call()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        exact_peak = True
    else:
        exact_peak = reset_peak_resident()
        before = resident_bytes("VmRSS")
        result = call()
        peak = resident_bytes("VmHWM") - before
    value = result.double().mean().item()
    del result

    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "method": method, "tokens": tokens, "device": device, "peak_bytes": peak, "exact_peak": exact_peak,
        "seconds": times[0], "mean_distance": value,
    }  # fmt: skip


def measure(method: str, grid: int, args: argparse.Namespace) -> dict:
    command = [
        sys.executable, __file__, "--child", method, "--grids", str(grid), "--batch", str(args.batch),
        "--heads", str(args.heads), "--dim", str(args.dim), "--repeats", str(args.repeats),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{method} at grid {grid} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[7, 10, 14, 20, 28, 40, 52, 64],
                        help="patch grid sides; T = 1 + grid² (CLS + patches)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64, help="head dimension")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(run_child(args.child, args.grids[0], args.batch, args.heads, args.dim, args.repeats))
        )
        return

    gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"mean attention distance from q, k: B={args.batch}, H={args.heads}, D={args.dim}, float32 inputs, "
          f"{device}, torch {torch.__version__}")  # fmt: skip
    if not gpu:
        print("no GPU: the Triton kernel column is not measured (the kernel needs CUDA)")
    print()
    header = "| T | materialising peak MB | chunked peak MB | kernel peak MB | T×T matrix MB (float32) "
    header += "| materialising s | chunked s | kernel s | time ratio mat./chunked |"
    print(header)
    print("|" + "---|" * 9)
    for grid in args.grids:
        mat = measure("materialising", grid, args)
        chunk = measure("chunked", grid, args)
        kernel = measure("triton", grid, args) if gpu else None
        if abs(mat["mean_distance"] - chunk["mean_distance"]) > 1e-3 * abs(mat["mean_distance"]):
            raise RuntimeError(
                f"methods disagree at grid {grid}: {mat['mean_distance']} vs {chunk['mean_distance']}"
            )
        tokens = mat["tokens"]
        matrix = args.batch * args.heads * tokens * tokens * 4
        kernel_mb = megabytes(kernel["peak_bytes"]) if kernel else "no GPU"
        kernel_s = f"{kernel['seconds']:.4f}" if kernel else "no GPU"
        note = "" if mat["exact_peak"] and chunk["exact_peak"] else " (peak not resettable: upper bound)"
        print(
            f"| {tokens:,} | {megabytes(mat['peak_bytes'])} | {megabytes(chunk['peak_bytes'])} | {kernel_mb} "
            f"| {matrix / 2**20:,.2f} | {mat['seconds']:.4f} | {chunk['seconds']:.4f} | {kernel_s} "
            f"| {mat['seconds'] / chunk['seconds']:.2f}{note} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
