"""On-disk cache of expensive results (CKA matrices and the like), keyed by everything that produced them.

One policy: a cached measure is a function decorated with `memoize`. Its key is the function's qualified name
plus ALL its bound arguments with defaults applied (models by architecture and weights, tensors by content),
so no caller ever builds a key and no argument can be forgotten:

    @memoize(ignore=("progress",))
    def model_cka(model_a, model_b, images, layers_a=None, layers_b=None, *, batch_size=256, ...): ...

    model_cka(vit, resnet, images)   # computed once, then read from disk (in any process)

A result is stored under a stable hash of its *key parts*: the models (architecture, weights, hooks,
train/eval mode), the images (their bytes), the layer names and every setting. The same inputs in a new
process give the same key, so rerunning a notebook cell or moving a widget back to an earlier value loads
the result instead of recomputing it; any change to a weight, an image or a setting gives a new key.

`cached(key_parts, compute)` is the lower-level call underneath; nothing outside this module calls it (a
hand-built key can miss an argument).

The files live in `results_dir()`: `$SEELIKE_CACHE/results`, else `~/.cache/seelike/results` (the same root
as `seelike.data.cache_dir()`). Delete the folder, or call `clear()`, to start afresh.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from . import __version__
from .data import cache_dir

__all__ = ["CACHE_FORMAT", "cache_key", "cached", "clear", "memoize", "results_dir"]

CACHE_FORMAT = 1  # bump when the meaning of a stored result changes without its key parts changing
T = TypeVar("T")
_SCALARS = (type(None), bool, int, float, str, bytes)


def results_dir() -> Path:
    """Where results are cached: `$SEELIKE_CACHE/results`, else `~/.cache/seelike/results`."""
    return cache_dir() / "results"


# --------------------------------------------------------------------------------------------- hashing


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def _hook_kind(hook: Any) -> str:
    """A hook's module and qualified name (a function's own, else its class's)."""
    kind = getattr(hook, "__qualname__", None) or type(hook).__qualname__
    return f"{getattr(hook, '__module__', '')}.{kind}"


def _hook_description(hook: Any) -> str:
    """A hook's kind and simple attributes (e.g. an input normaliser's mean and std)."""
    simple = {k: v for k, v in sorted(getattr(hook, "__dict__", {}).items()) if isinstance(v, _SCALARS)}
    return f"{_hook_kind(hook)}{simple}"


def _feed(hasher: Any, part: Any) -> None:
    """Feed one key part into `hasher`, tagged by type so that e.g. 1, 1.0, "1" and (1,) differ."""
    if isinstance(part, np.generic):  # before the scalars: np.float64 is a float subclass
        _feed(hasher, part.item())
    elif isinstance(part, _SCALARS):
        hasher.update(f"<{type(part).__name__}:{part!r}>".encode())
    elif isinstance(part, torch.Tensor):
        hasher.update(f"<tensor {part.dtype} {tuple(part.shape)}>".encode())
        hasher.update(_tensor_bytes(part))
    elif isinstance(part, np.ndarray):
        hasher.update(f"<ndarray {part.dtype.str} {part.shape}>".encode())
        hasher.update(np.ascontiguousarray(part).tobytes())
    elif isinstance(part, nn.Module):
        hasher.update(b"<module>")
        hasher.update(repr(part).encode())  # architecture, class names included (e.g. skip-ablated blocks)
        for name, module in part.named_modules():
            # Pre-hooks transform the input (e.g. the zoo's normaliser): their settings count. Forward hooks
            # are keyed by kind only, so an observer's changing state (a counter, a capture) never does.
            pre_hooks = [_hook_description(h) for h in module._forward_pre_hooks.values()]
            hooks = [_hook_kind(h) for h in module._forward_hooks.values()]
            hasher.update(f"<{name} training={module.training} pre={pre_hooks} post={hooks}>".encode())
        for name, value in part.state_dict().items():
            hasher.update(f"<{name}>".encode())
            _feed(hasher, value)
    elif dataclasses.is_dataclass(part) and not isinstance(part, type):
        hasher.update(f"<dataclass {type(part).__qualname__}>".encode())
        _feed(hasher, dataclasses.asdict(part))
    elif isinstance(part, Mapping):
        keys = list(part)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"cache key mappings need string keys, got {[type(k).__name__ for k in keys]}")
        hasher.update(f"<mapping {len(keys)}>".encode())
        for key in sorted(keys):
            _feed(hasher, key)
            _feed(hasher, part[key])
    elif isinstance(part, (list, tuple)):
        hasher.update(f"<{type(part).__name__} {len(part)}>".encode())
        for item in part:
            _feed(hasher, item)
    elif isinstance(part, os.PathLike):
        _feed(hasher, os.fspath(part))
    else:
        raise TypeError(
            f"cannot build a stable cache key from a {type(part).__name__}; use tensors, arrays, modules, "
            "strings, numbers, None, dataclasses and lists/tuples/dicts of them"
        )


def cache_key(*parts: Any) -> str:
    """A stable hex digest (40 characters) of `parts`, identical in every process and on every machine.

    Args:
        parts: tensors and arrays (hashed by dtype, shape and bytes), `nn.Module`s (architecture, weights and
            buffers, train/eval mode, hooks), strings, numbers, None, dataclasses, and lists, tuples and
            string-keyed dicts of these (dicts in sorted key order).

    Returns:
        the BLAKE2b digest of the parts, prefixed by the cache format and the seelike version.
    """
    hasher = hashlib.blake2b(digest_size=20)
    _feed(hasher, ("seelike-cache", CACHE_FORMAT, __version__, parts))
    return hasher.hexdigest()


# --------------------------------------------------------------------------------------------- storing


def _check_storable(value: Any, where: str = "result") -> None:
    """Raise TypeError unless `value` round-trips through `torch.load(weights_only=True)`."""
    if isinstance(value, (torch.Tensor, *_SCALARS)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_storable(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(
                    f"{where}: dict keys must be str or int to be cached, got {type(key).__name__}"
                )
            _check_storable(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; cached results must be tensors, numbers, strings, None "
        "and lists/tuples/dicts of them (convert numpy arrays with torch.from_numpy)"
    )


def cached(
    key_parts: Any,
    compute: Callable[[], T],
    *,
    directory: str | os.PathLike | None = None,
    refresh: bool = False,
) -> T:
    """`compute()`'s result, from disk when the same key parts were computed before.

    Only `memoize` calls it: a key built by hand can miss an argument, so decorate the function instead.

    Args:
        key_parts: everything the result depends on (see `cache_key`), e.g. a tuple
            ("cka_matrix", model_a, model_b, images, layers_a, layers_b, settings_dict).
        compute: called without arguments on a miss; must return tensors, numbers, strings, None or
            lists/tuples/dicts of them.
        directory: the cache folder; default `results_dir()`.
        refresh: recompute and overwrite even if a stored result exists.

    Returns:
        the stored or freshly computed result (tensors come back on the CPU).
    """
    folder = Path(directory) if directory is not None else results_dir()
    path = folder / f"{cache_key(key_parts)}.pt"
    if path.is_file() and not refresh:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file: recompute rather than fail
            warnings.warn(
                f"ignoring unreadable cache file {path} ({type(error).__name__}: {error})", stacklevel=2
            )
    value = compute()
    _check_storable(value)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".pt")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(value, file)
        os.replace(temporary, path)  # atomic: a reader never sees half a file
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return value


def memoize(
    function: Callable[..., T] | None = None,
    *,
    ignore: tuple[str, ...] = ("progress",),
    switch: str = "use_cache",
    directory: str | os.PathLike | None = None,
):
    """Decorator: cache a function's results on disk, keyed on its qualified name and ALL bound arguments.

    The key is (module.qualname, {argument: value}) with every default applied, so a call that relies on a
    default and one that passes the same value share a result, and changing any argument misses. Arguments
    are keyed as in `cache_key` (models by architecture, weights and mode; tensors by content). The parameter
    named by `switch` (`use_cache`, when the function has one) is never part of the key: a False value calls
    the function directly. Parameters named in `ignore` (by default `progress`) do not change the result and
    are left out of the key.

    The wrapper has `.key(*args, **kwargs)` (the key this call would use) and `.uncached` (the function).

    Args:
        function: the function (when used as a bare `@memoize`).
        ignore: parameter names that are not part of the key.
        switch: the parameter that turns the cache off when False (absent: always cached).
        directory: the cache folder; default `results_dir()` at call time.
    """

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(function)
        name = f"{function.__module__}.{function.__qualname__}"
        skipped = {*ignore, switch}

        def bind(args: tuple, kwargs: dict) -> inspect.BoundArguments:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return bound

        def parts(bound: inspect.BoundArguments) -> tuple[str, dict[str, Any]]:
            return name, {k: v for k, v in bound.arguments.items() if k not in skipped}

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            bound = bind(args, kwargs)
            if bound.arguments.get(switch, True) is False:
                return function(*args, **kwargs)
            return cached(parts(bound), lambda: function(*args, **kwargs), directory=directory)

        wrapper.key = lambda *args, **kwargs: cache_key(parts(bind(args, kwargs)))  # type: ignore[attr-defined]
        wrapper.uncached = function  # type: ignore[attr-defined]
        return wrapper

    return decorate if function is None else decorate(function)


def clear(directory: str | os.PathLike | None = None) -> int:
    """Delete every cached result in `directory` (default `results_dir()`). Returns how many were deleted."""
    folder = Path(directory) if directory is not None else results_dir()
    removed = 0
    for path in folder.glob("*.pt"):
        path.unlink()
        removed += 1
    return removed
