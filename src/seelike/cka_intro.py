"""An introduction to CKA by experiment (what chapter 4 shows): invariances, estimator bias, minibatches,
floating-point centring.

Every function returns plain results (floats, or dicts of float64 tensors that `seelike.cache` can store);
the figures in `seelike.figures.cka_intro` draw them. The estimators are `seelike.cka`'s, except for two
deliberately naive formula kept here only to show what goes wrong without care: a Gram-space CKA that
centres in the working precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from .cache import memoize
from .cka import MinibatchCKA, hsic_biased, hsic_unbiased, linear_cka, rbf_cka

__all__ = [
    "KERNELS",
    "TRANSFORMS",
    "cka_after_transforms",
    "cka_vs_condition_number",
    "class_sorted_examples",
    "cka",
    "independent_cka_vs_n",
    "minibatch_size_effect",
    "naive_gram_cka",
    "offset_failure",
    "random_representation",
]

KERNELS = ("linear", "rbf")
TRANSFORMS = (
    "orthogonal rotation",
    "isotropic scaling ×0.001",
    "translation +30",
    "per-feature scaling",
    "invertible linear map",
)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def random_representation(n: int, features: int, seed: int = 0, decay: float = 0.0) -> torch.Tensor:
    """Gaussian examples with a decaying spectrum, like a layer's activations.

    Args:
        n: number of examples.
        features: number of features.
        seed: random seed.
        decay: feature j has standard deviation (j + 1) ** -decay (0 → isotropic).

    Returns:
        (n, features) float64.
    """
    if n < 1 or features < 1:
        raise ValueError(f"need n >= 1 and features >= 1, got n={n}, features={features}")
    generator = _generator(seed)
    if decay == 0:
        return torch.randn(
            n, features, generator=generator, dtype=torch.float64
        )  # isotropic: no basis needed
    scales = torch.arange(1, features + 1, dtype=torch.float64) ** -decay
    basis = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64)).Q
    return (torch.randn(n, features, generator=generator, dtype=torch.float64) * scales) @ basis


def cka(x: torch.Tensor, y: torch.Tensor, kernel: str = "linear", unbiased: bool = True) -> float:
    """`seelike.cka.linear_cka` or `seelike.cka.rbf_cka` (bandwidth 0.8 × median distance), by name.

    Args:
        x, y: (n, ...) representations of the same examples.
        kernel: "linear" or "rbf".
        unbiased: unbiased HSIC (Song et al. 2012) or biased HSIC (Gretton et al. 2005).

    Returns:
        the CKA estimate.
    """
    _check_kernel(kernel)
    if kernel == "linear":
        return linear_cka(x, y, unbiased=unbiased)
    return rbf_cka(x, y, unbiased=unbiased)


def _biased_and_unbiased(x: torch.Tensor, y: torch.Tensor, kernel: str) -> tuple[float, float]:
    """(biased, unbiased) CKA; for the linear kernel both from the same two Gram matrices."""
    if kernel != "linear":
        return cka(x, y, kernel, unbiased=False), cka(x, y, kernel, unbiased=True)
    x, y = x - x.mean(0), y - y.mean(0)
    K, L = x @ x.T, y @ y.T
    values = []
    for hsic in (hsic_biased, hsic_unbiased):
        values.append(float(hsic(K, L) / torch.sqrt(hsic(K, K) * hsic(L, L))))
    return values[0], values[1]


def class_sorted_examples(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_class` randomly chosen examples of every class, grouped by class (for Gram matrices
    whose class blocks are visible).

    Args:
        labels: (N,) int64 class labels.
        per_class: examples per class.
        seed: random seed.

    Returns:
        (classes · per_class,) int64 indices, class 0's first.
    """
    generator = _generator(seed)
    chosen = []
    for label in labels.unique(sorted=True).tolist():
        members = (labels == label).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} examples, fewer than {per_class}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]].sort().values)
    return torch.cat(chosen)


def _transform(x: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    features = x.shape[1]
    if name == "orthogonal rotation":
        return x @ torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=x.dtype)).Q
    if name == "isotropic scaling ×0.001":
        return x * 1e-3
    if name == "translation +30":
        return x + 30.0
    if name == "per-feature scaling":
        return x * torch.exp(torch.empty(features, dtype=x.dtype).uniform_(-2.0, 2.0, generator=generator))
    if name == "invertible linear map":
        return x @ torch.randn(features, features, generator=generator, dtype=x.dtype)
    raise ValueError(f"unknown transform {name!r}; known: {TRANSFORMS}")


def cka_after_transforms(
    n: int = 512, features: int = 64, kernel: str = "linear", seed: int = 0
) -> dict[str, float]:
    """CKA between a representation and transformed copies of itself (unbiased estimator).

    Args:
        n: number of examples.
        features: number of features.
        kernel: "linear" or "rbf".
        seed: random seed (data and transforms).

    Returns:
        transform name (see `TRANSFORMS`) → CKA(X, T(X)); 1 means CKA cannot tell them apart.
    """
    _check_kernel(kernel)
    x = random_representation(n, features, seed, decay=0.5)
    generator = _generator(seed + 1)
    return {name: cka(x, _transform(x, name, generator), kernel) for name in TRANSFORMS}


def cka_vs_condition_number(
    condition_numbers: Sequence[float],
    n: int = 512,
    features: int = 64,
    kernel: str = "linear",
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """CKA(X, X A) for invertible maps A = U diag(s) Vᵀ whose singular values s run geometrically from 1 to
    1/κ; κ = 1 is an orthogonal map (times a constant).

    Returns:
        {"condition_number": (m,), "cka": (m,)} float64.
    """
    _check_kernel(kernel)
    if any(c < 1 for c in condition_numbers):
        raise ValueError("condition numbers are >= 1")
    x = random_representation(n, features, seed, decay=0.5)
    generator = _generator(seed + 1)
    u = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64)).Q
    v = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64)).Q
    values = []
    for kappa in condition_numbers:
        singular = torch.logspace(0.0, -math.log10(kappa), features, dtype=torch.float64)
        values.append(cka(x, x @ (u * singular) @ v.T, kernel))
    return {
        "condition_number": torch.tensor(list(condition_numbers), dtype=torch.float64),
        "cka": torch.tensor(values, dtype=torch.float64),
    }


@memoize(switch="cache")
def independent_cka_vs_n(
    ns: Sequence[int],
    features: int = 512,
    repeats: int = 8,
    kernel: str = "linear",
    seed: int = 0,
    progress: bool = False,
    cache: bool = False,
) -> dict[str, torch.Tensor]:
    """CKA between two *independent* random representations, from biased and from unbiased HSIC.

    The population CKA is 0. The biased estimate stays well above 0 until n is large compared with the
    number of features; the unbiased one scatters around 0 at every n.

    Args:
        ns: numbers of examples (each >= 4).
        features: features of each representation.
        repeats: independent draws per n.
        kernel: "linear" or "rbf".
        seed: random seed.
        progress: show a progress bar.
        cache: keep the result in `seelike.cache` (`memoize`: keyed by every argument) and reuse it.

    Returns:
        {"n": (m,), "biased": (repeats, m), "unbiased": (repeats, m)} float64.
    """
    _check_kernel(kernel)
    if min(ns) < 4:
        raise ValueError(f"the unbiased HSIC needs n >= 4, got n={min(ns)}")
    biased = torch.empty(repeats, len(ns), dtype=torch.float64)
    unbiased = torch.empty_like(biased)
    for column, n in enumerate(tqdm(ns, desc="n", disable=not progress)):
        for repeat in range(repeats):
            draw = seed + 1000 * repeat + column
            x = random_representation(n, features, 2 * draw)
            y = random_representation(n, features, 2 * draw + 1)
            biased[repeat, column], unbiased[repeat, column] = _biased_and_unbiased(x, y, kernel)
    return {"n": torch.tensor(list(ns), dtype=torch.float64), "biased": biased, "unbiased": unbiased}


@memoize(switch="cache")
def minibatch_size_effect(
    x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int], seed: int = 0, cache: bool = False
) -> dict[str, torch.Tensor]:
    """Minibatch CKA (unbiased HSIC summed over minibatches, normalised once) against two shortcuts, for
    several minibatch sizes, on the same examples.

    Args:
        x: (n, ...) one layer's activations; y: (n, ...) another's, same examples in the same order.
        batch_sizes: minibatch sizes to try (each >= 4; a last short minibatch below 4 is dropped).
        seed: the examples are shuffled once with this seed (the same order for every size).
        cache: keep the result in `seelike.cache` (`memoize`: keyed by every argument) and reuse it.

    Returns:
        {"batch_size": (m,), "minibatch": summed-HSIC CKA (m,), "mean_unbiased": mean over minibatches of
        per-minibatch unbiased CKA (m,), "mean_biased": the same with biased HSIC (m,), "full_unbiased":
        full-data unbiased CKA (0-d), "full_biased": full-data biased CKA (0-d)}, float64.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same examples, got {len(x)} and {len(y)}")
    if min(batch_sizes) < 4:
        raise ValueError(f"minibatches need at least 4 examples, got {min(batch_sizes)}")
    order = torch.randperm(len(x), generator=_generator(seed))
    x, y = x[order].reshape(len(x), -1), y[order].reshape(len(y), -1)
    results: dict[str, list[float]] = {"minibatch": [], "mean_unbiased": [], "mean_biased": []}
    for batch_size in batch_sizes:
        estimator = MinibatchCKA(1, 1)
        per_batch_unbiased, per_batch_biased = [], []
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if len(xb) < 4:
                break
            estimator.update([xb], [yb])
            biased, unbiased = _biased_and_unbiased(xb.double(), yb.double(), "linear")
            per_batch_unbiased.append(unbiased)
            per_batch_biased.append(biased)
        results["minibatch"].append(float(estimator.compute()[0, 0]))
        results["mean_unbiased"].append(sum(per_batch_unbiased) / len(per_batch_unbiased))
        results["mean_biased"].append(sum(per_batch_biased) / len(per_batch_biased))
    full_biased, full_unbiased = _biased_and_unbiased(x.double(), y.double(), "linear")
    return {
        "batch_size": torch.tensor(list(batch_sizes), dtype=torch.float64),
        **{name: torch.tensor(values, dtype=torch.float64) for name, values in results.items()},
        "full_unbiased": torch.tensor(full_unbiased, dtype=torch.float64),
        "full_biased": torch.tensor(full_biased, dtype=torch.float64),
    }


def naive_gram_cka(x: torch.Tensor, y: torch.Tensor, dtype: torch.dtype = torch.float32) -> float:
    """The textbook Gram-space linear CKA, computed entirely in `dtype`: K = X Xᵀ, then K̃ = H K H.

    Centring after the Gram matrix subtracts large, nearly equal numbers when the activations have a large
    mean: in float32 the difference drowns in rounding error. Kept only to show that failure.

    Args:
        x, y: (n, ...) representations.
        dtype: working precision.

    Returns:
        biased linear CKA as computed in `dtype` (may be far from the true value, or NaN).
    """
    x, y = x.reshape(len(x), -1).to(dtype), y.reshape(len(y), -1).to(dtype)
    n = len(x)
    centring = torch.eye(n, dtype=dtype) - torch.full((n, n), 1.0 / n, dtype=dtype)
    K, L = centring @ (x @ x.T) @ centring, centring @ (y @ y.T) @ centring
    return float((K * L).sum() / torch.sqrt((K * K).sum() * (L * L).sum()))


def offset_failure(
    x: torch.Tensor, y: torch.Tensor, offsets: Sequence[float], scale: float = 1.0
) -> dict[str, torch.Tensor]:
    """CKA of (scale·x + offset, scale·y + offset) for several offsets: CKA is invariant to both, so a correct
    implementation gives the same value at every offset.

    The shifted activations are stored in float32, as a network would produce them, and every method sees
    the same float32 numbers; the references are float64 CKA of exactly those numbers (rounding the inputs
    to float32 moves the true CKA a little at large offsets, which is not the formulas' fault).

    Args:
        x, y: (n, ...) representations of the same examples.
        offsets: constants added to every activation.
        scale: factor applied to every activation first.

    Returns:
        {"offset": (m,), "naive_float32": textbook Gram-space CKA in float32 (m,), "naive_float64": the same
        in float64 (m,), "minibatch_cka": seelike.cka's MinibatchCKA on one minibatch (m,), "reference":
        biased float64 CKA (m,), "reference_unbiased": unbiased float64 CKA (m,)}, all float64.
    """
    x, y = x.reshape(len(x), -1).double(), y.reshape(len(y), -1).double()
    methods = ("naive_float32", "naive_float64", "minibatch_cka", "reference", "reference_unbiased")
    rows: dict[str, list[float]] = {method: [] for method in methods}
    for offset in offsets:
        xs, ys = (scale * x + offset).float(), (scale * y + offset).float()
        rows["naive_float32"].append(naive_gram_cka(xs, ys, torch.float32))
        rows["naive_float64"].append(naive_gram_cka(xs, ys, torch.float64))
        estimator = MinibatchCKA(1, 1)
        estimator.update([xs], [ys])
        rows["minibatch_cka"].append(float(estimator.compute()[0, 0]))
        biased, unbiased = _biased_and_unbiased(xs.double(), ys.double(), "linear")
        rows["reference"].append(biased)
        rows["reference_unbiased"].append(unbiased)
    return {
        "offset": torch.tensor(list(offsets), dtype=torch.float64),
        **{name: torch.tensor(values, dtype=torch.float64) for name, values in rows.items()},
    }
