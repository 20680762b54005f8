"""Training throughput of the zoo's models: images/s per training step, float32 vs bf16 autocast.

    python benchmarks/bench_training.py [--threads 1] [--steps 20] [--models vit,resnet] [--compile]

Every variant runs in this one process, one after the other, with the same thread count, so the printed
ratios compare like with like (another process on the machine slows every variant alike). bf16 autocast is
measured only with native bf16 (`seelike.train.native_bf16()`); elsewhere it is emulated (slow).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from seelike import train, zoo


def images_per_second(
    name: str, *, steps: int, batch_size: int, bf16: bool, compile: bool, channels_last: bool, fused: bool
) -> float:
    """Images/s of full training steps (forward, backward, AdamW) of a freshly built zoo model."""
    model = zoo.build(name).train()
    zoo.set_attention_fused(model, fused)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_fn = torch.compile(model) if compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, 1, 28, 28, generator=generator)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,), generator=generator)

    def one_step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(step_fn(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3 if not compile else 5):  # warm-up (and compilation)
        one_step()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", default="vit,resnet")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to start)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = train.native_bf16()
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {bf16}")  # fmt: skip
    for name in args.models.split(","):
        family = zoo.spec(name).family
        variants = {"float32": {}}
        if family == "vit":
            variants["float32, fused attention"] = {"fused": True}
        if family == "resnet":
            variants["float32, channels-last"] = {"channels_last": True}
        if bf16:
            variants["bf16 autocast"] = {"bf16": True}
            if family == "vit":
                variants["bf16 autocast, fused attention"] = {"bf16": True, "fused": True}
            if family == "resnet":
                variants["bf16 autocast, channels-last"] = {"bf16": True, "channels_last": True}
        if args.compile:
            variants["bf16 autocast, compiled" if bf16 else "float32, compiled"] = {
                "bf16": bf16,
                "compile": True,
            }
        baseline = None
        for label, options in variants.items():
            settings = dict(bf16=False, compile=False, channels_last=False, fused=False) | options
            rate = images_per_second(name, steps=args.steps, batch_size=args.batch_size, **settings)
            baseline = baseline or rate
            print(f"{name:8s} {label:34s} {rate:7.0f} images/s  ({rate / baseline:.2f}x float32)", flush=True)


if __name__ == "__main__":
    main()
