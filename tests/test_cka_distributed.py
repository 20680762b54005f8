"""MinibatchCKA.all_reduce: two gloo processes, each with half the minibatches, agree with one process."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seelike.cka import MinibatchCKA

N_EXAMPLES, BATCH = 192, 32


def _data() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(N_EXAMPLES, 4, generator=g)
    xs = [
        base @ torch.randn(4, 60, generator=g) + torch.randn(N_EXAMPLES, 60, generator=g),
        torch.randn(N_EXAMPLES, 9, generator=g),
    ]
    ys = [
        torch.relu(base @ torch.randn(4, 20, generator=g)) + 30.0,
        torch.randn(N_EXAMPLES, 3, 4, generator=g),
    ]
    # float64 activations keep the Grams exact to ~1e-16 whatever BLAS threading each process uses.
    return [a.double() for a in xs], [a.double() for a in ys]


def _batches(rank: int | None, world: int = 2):
    starts = list(range(0, N_EXAMPLES, BATCH))
    return starts if rank is None else starts[rank::world]


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        xs, ys = _data()
        engine = MinibatchCKA(2, 2)
        for s in _batches(rank):
            engine.update([a[s : s + BATCH] for a in xs], [a[s : s + BATCH] for a in ys])
        engine.all_reduce()
        torch.save({"matrix": engine.compute(), "n_examples": engine.n_examples}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_all_reduce_over_two_gloo_processes_equals_one_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    xs, ys = _data()
    single = MinibatchCKA(2, 2)
    for s in _batches(None):
        single.update([a[s : s + BATCH] for a in xs], [a[s : s + BATCH] for a in ys])
    expected = single.compute()
    assert torch.equal(results[0]["matrix"], results[1]["matrix"])
    assert torch.allclose(results[0]["matrix"], expected, rtol=0, atol=1e-12)
    assert results[0]["n_examples"] == results[1]["n_examples"] == N_EXAMPLES


def test_all_reduce_without_process_group_is_a_clear_error():
    engine = MinibatchCKA(1)
    engine.update([torch.randn(8, 3)])
    with pytest.raises(RuntimeError, match="process group"):
        engine.all_reduce()
