"""seelike.cache: stable keys, hits skip the computation (no model forward), misses on any change."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from seelike import cache
from seelike.cache import cache_key, cached


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()


class ForwardCounter:
    """Counts forwards of a model through a forward hook (the hook itself is invisible to the key)."""

    def __init__(self, model: nn.Module):
        self.count = 0
        model.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.count += 1


def gram_of_outputs(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = model(images).double()
    return out @ out.T


def test_second_call_does_no_forward(tmp_path):
    model, images = tiny_model(), torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    counter = ForwardCounter(model)
    key = ("gram", model, images, ["2"], {"batch_size": 4})
    first = cached(key, lambda: gram_of_outputs(model, images), directory=tmp_path)
    assert counter.count == 1
    second = cached(key, lambda: gram_of_outputs(model, images), directory=tmp_path)
    assert counter.count == 1, "a cache hit must not run the model"
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert len(list(tmp_path.glob("*.pt"))) == 1


def test_equal_content_gives_equal_key_and_any_change_a_new_one():
    model, images = tiny_model(), torch.rand(8, 1, 8, 8)
    base = cache_key("m", model, images, ("a", "b"), {"batch_size": 4, "unbiased": True})
    # Equal content in different objects: same key (a deep copy, a cloned tensor, dict order).
    assert (
        cache_key("m", copy.deepcopy(model), images.clone(), ("a", "b"), {"unbiased": True, "batch_size": 4})
        == base
    )
    changed_weight = copy.deepcopy(model)
    with torch.no_grad():
        changed_weight[0].weight[0, 0, 0, 0] += 1e-6
    changed_image = images.clone()
    changed_image[3, 0, 2, 2] += 1e-6
    variants = [
        cache_key("m", changed_weight, images, ("a", "b"), {"batch_size": 4, "unbiased": True}),
        cache_key("m", model, changed_image, ("a", "b"), {"batch_size": 4, "unbiased": True}),
        cache_key("m", model, images, ("a",), {"batch_size": 4, "unbiased": True}),
        cache_key("m", model, images, ("a", "b"), {"batch_size": 8, "unbiased": True}),
        cache_key("m", model, images, ("a", "b"), {"batch_size": 4, "unbiased": False}),
        cache_key("m", copy.deepcopy(model).train(), images, ("a", "b"), {"batch_size": 4, "unbiased": True}),
        cache_key("m", model, images.double(), ("a", "b"), {"batch_size": 4, "unbiased": True}),
        cache_key("m", model, images.reshape(8, 1, 4, 16), ("a", "b"), {"batch_size": 4, "unbiased": True}),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_key_parts_are_type_tagged():
    keys = {cache_key(1), cache_key(1.0), cache_key("1"), cache_key((1,)), cache_key([1]), cache_key(True)}
    assert len(keys) == 6
    assert cache_key(np.arange(4)) != cache_key(np.arange(4.0))
    assert cache_key(np.float64(0.5)) == cache_key(0.5)


def test_hooks_with_settings_are_part_of_the_key():
    class Shift:
        def __init__(self, amount: float):
            self.amount = amount

        def __call__(self, module, args):
            return (args[0] + self.amount,)

    a, b = tiny_model(), tiny_model()
    a.register_forward_pre_hook(Shift(0.5))
    b.register_forward_pre_hook(Shift(0.25))
    assert cache_key(a) != cache_key(b) != cache_key(tiny_model())


def test_dataclass_parts():
    @dataclass(frozen=True)
    class Settings:
        batch_size: int
        kernel: str

    assert cache_key(Settings(4, "linear")) == cache_key(Settings(4, "linear"))
    assert cache_key(Settings(4, "linear")) != cache_key(Settings(4, "rbf"))


def test_key_is_stable_across_processes():
    code = (
        "import torch; from seelike.cache import cache_key; "
        "print(cache_key('x', torch.arange(6.0).reshape(2, 3), {'b': [1, 2.5, None], 'a': 'y'}))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == cache_key("x", torch.arange(6.0).reshape(2, 3), {"a": "y", "b": [1, 2.5, None]})


def test_unhashable_parts_and_unstorable_results_are_refused(tmp_path):
    with pytest.raises(TypeError, match="stable cache key"):
        cache_key(object())
    with pytest.raises(TypeError, match="string keys"):
        cache_key({1: "a"})
    with pytest.raises(TypeError, match="numpy"):
        cached("bad", lambda: np.zeros(3), directory=tmp_path)
    assert not list(tmp_path.glob("*.pt"))


def test_structured_results_round_trip(tmp_path):
    value = (torch.eye(3, dtype=torch.float64), ["blocks.0.norm1", "blocks.0"], {"n": 4, "note": None})
    cached("structured", lambda: value, directory=tmp_path)
    loaded = cached("structured", lambda: pytest.fail("recomputed"), directory=tmp_path)
    torch.testing.assert_close(loaded[0], value[0], rtol=0, atol=0)
    assert loaded[1] == value[1] and loaded[2] == value[2]


def test_refresh_and_corrupt_files_recompute(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return torch.tensor([float(len(calls))])

    assert cached("k", compute, directory=tmp_path).item() == 1.0
    assert cached("k", compute, directory=tmp_path, refresh=True).item() == 2.0
    assert cached("k", compute, directory=tmp_path).item() == 2.0
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        assert cached("k", compute, directory=tmp_path).item() == 3.0
    assert cache.clear(tmp_path) == 1 and not list(tmp_path.glob("*"))


def test_default_directory_follows_seelike_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))
    assert cache.results_dir() == tmp_path / "results"
    cached("env", lambda: torch.zeros(1))
    assert len(list((tmp_path / "results").glob("*.pt"))) == 1


def test_zoo_model_keys_are_stable_and_a_hit_skips_the_forward(tmp_path):
    from seelike import zoo

    model = zoo.build("resnet").eval()
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert cache_key(model) == cache_key(zoo.build("resnet").eval())
    assert cache_key(model) != cache_key(zoo.build("plainnet").eval())  # same weights' names, other forward
    counter = ForwardCounter(model)
    for _ in range(2):
        cached(("logits", model, images), lambda: model(images).detach(), directory=tmp_path)
    assert counter.count == 1


# --------------------------------------------------------------------------------------------- memoize


def test_memoize_keys_on_every_bound_argument_with_defaults_applied(tmp_path):
    calls = []

    @cache.memoize(directory=tmp_path)
    def measure(model, images, layers=("a",), *, batch_size=4, progress=False):
        calls.append(1)
        return images.sum() * batch_size

    model, images = torch.nn.Linear(2, 2), torch.ones(3)
    first = measure(model, images)
    assert measure(model, images, ("a",), batch_size=4) == first and len(calls) == 1  # defaults applied
    assert measure(model, images, progress=True) == first and len(calls) == 1  # progress is not keyed
    other = torch.nn.Linear(2, 2)
    for changed in (
        dict(model=other),
        dict(images=torch.ones(4)),
        dict(layers=("b",)),
        dict(batch_size=5),
    ):
        before = len(calls)
        measure(**{"model": model, "images": images, **changed})
        assert len(calls) == before + 1, f"changing {list(changed)} must miss"
    assert measure.key(model, images) == measure.key(model=model, images=images, layers=("a",))
    assert measure.uncached(model, images) == first


@pytest.mark.parametrize(
    "name",
    ["model", "images", "patch_size", "batch_size", "num_prefix_tokens", "renormalize", "method"],
)
def test_changing_each_argument_of_a_cached_measure_misses(name):
    """Every argument of `attention.dataset_mean_attention_distance` is part of its key (progress is not)."""
    from seelike import attention, zoo

    model = zoo.build("vit").eval()
    arguments = dict(
        model=model, images=torch.rand(4, 1, 28, 28), patch_size=4, batch_size=250, num_prefix_tokens=None,
        renormalize=True, progress=False, method="probabilities",
    )  # fmt: skip
    changed = dict(
        model=zoo.build("vit", seed=1).eval(), images=torch.rand(4, 1, 28, 28), patch_size=5, batch_size=2,
        num_prefix_tokens=1, renormalize=False, method="qk",
    )  # fmt: skip
    key = attention.dataset_mean_attention_distance.key
    assert key(**arguments) == key(**{**arguments, "progress": True})
    assert key(**arguments) != key(**{**arguments, name: changed[name]})


def test_the_chapter_6_head_subset_key_includes_block_and_batch_size():
    """The old hand-built key of chapter 6 left out `block` and `batch_size`: the memoized measure cannot."""
    from seelike import attention

    key = attention.head_subset_cka.key
    vit, resnet, images = torch.nn.Linear(1, 1), torch.nn.Linear(1, 2), torch.ones(4)
    base = key(vit, resnet, images, [(0, 1)], ["act1"])
    assert base == key(vit, resnet, images, [(0, 1)], ["act1"], block=0, batch_size=256)
    assert base != key(vit, resnet, images, [(0, 1)], ["act1"], block=1)
    assert base != key(vit, resnet, images, [(0, 1)], ["act1"], batch_size=250)
