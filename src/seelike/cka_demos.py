"""Chapter 4's experiments on CKA itself: invariances, estimator bias, minibatches, floating-point centring.

Every function returns plain results (floats, or dicts of float64 tensors that `seelike.cache` can store);
the figures in `seelike.figures.cka_intro` draw them. The estimators are `seelike.cka`'s, except for two
deliberately textbook formulas kept here only to show what goes wrong without care: the biased HSIC of
Gretton et al. (2005) and a Gram-space CKA that centres in the working precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from . import cka as cka_engine

__all__ = [
    "KERNELS",
    "TRANSFORMS",
    "cka_after_transforms",
    "cka_vs_condition_number",
    "gram",
    "hsic_biased",
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
    scales = torch.arange(1, features + 1, dtype=torch.float64) ** -decay
    basis = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64)).Q
    return (torch.randn(n, features, generator=generator, dtype=torch.float64) * scales) @ basis


def gram(x: torch.Tensor, kernel: str = "linear", sigma_frac: float = 0.8) -> torch.Tensor:
    """Gram matrix of the examples (rows of x, flattened) in float64.

    Args:
        x: (n, ...) representations.
        kernel: "linear" (x xᵀ) or "rbf" (exp(-d²/(2σ²)), σ = sigma_frac · median pairwise distance).
        sigma_frac: RBF bandwidth as a fraction of the median distance.

    Returns:
        (n, n) float64.
    """
    _check_kernel(kernel)
    x = x.reshape(len(x), -1).double()
    if kernel == "linear":
        return x @ x.T
    return cka_engine.rbf_gram(x, sigma_frac=sigma_frac)


def hsic_biased(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """The biased (V-statistic) HSIC of Gretton et al. 2005: tr(K H L H) / (n - 1)², H the centring matrix.

    Its expectation exceeds the population HSIC by terms of order 1/n that include the Gram diagonals, so two
    independent representations score above zero when n is small. Shown in chapter 4 for contrast with
    `seelike.cka.hsic_unbiased`.

    Args:
        K, L: (n, n) Gram matrices.

    Returns:
        0-d float64 tensor.
    """
    if K.shape != L.shape or K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K and L must be square and of equal shape, got {tuple(K.shape)} and {tuple(L.shape)}")
    K, L = K.double(), L.double()
    Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
    Lc = L - L.mean(0, keepdim=True) - L.mean(1, keepdim=True) + L.mean()
    return (Kc * Lc).sum() / (len(K) - 1) ** 2


def _cka(K: torch.Tensor, L: torch.Tensor, unbiased: bool) -> float:
    hsic = cka_engine.hsic_unbiased if unbiased else hsic_biased
    return float(hsic(K, L) / torch.sqrt(hsic(K, K) * hsic(L, L)))


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
    K = gram(x, kernel)
    return {name: _cka(K, gram(_transform(x, name, generator), kernel), unbiased=True) for name in TRANSFORMS}


def cka_vs_condition_number(
    condition_numbers: Sequence[float], n: int = 512, features: int = 64, kernel: str = "linear", seed: int = 0
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
    K = gram(x, kernel)
    values = []
    for kappa in condition_numbers:
        singular = torch.logspace(0.0, -math.log10(kappa), features, dtype=torch.float64)
        values.append(_cka(K, gram(x @ (u * singular) @ v.T, kernel), unbiased=True))
    return {
        "condition_number": torch.tensor(list(condition_numbers), dtype=torch.float64),
        "cka": torch.tensor(values, dtype=torch.float64),
    }


def independent_cka_vs_n(
    ns: Sequence[int],
    features: int = 512,
    repeats: int = 8,
    kernel: str = "linear",
    seed: int = 0,
    progress: bool = False,
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
            K = gram(random_representation(n, features, 2 * draw), kernel)
            L = gram(random_representation(n, features, 2 * draw + 1), kernel)
            biased[repeat, column] = _cka(K, L, unbiased=False)
            unbiased[repeat, column] = _cka(K, L, unbiased=True)
    return {"n": torch.tensor(list(ns), dtype=torch.float64), "biased": biased, "unbiased": unbiased}


def minibatch_size_effect(
    x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int], seed: int = 0
) -> dict[str, torch.Tensor]:
    """Minibatch CKA (unbiased HSIC summed over minibatches, normalised once) against two shortcuts, for
    several minibatch sizes, on the same examples.

    Args:
        x: (n, ...) one layer's activations; y: (n, ...) another's, same examples in the same order.
        batch_sizes: minibatch sizes to try (each >= 4; a last short minibatch below 4 is dropped).
        seed: the examples are shuffled once with this seed (the same order for every size).

    Returns:
        {"batch_size": (m,), "minibatch": summed-HSIC CKA (m,), "mean_unbiased": mean over minibatches of
        per-minibatch unbiased CKA (m,), "mean_biased": the same with biased HSIC (m,), "full_unbiased": full-data
        unbiased CKA (0-d), "full_biased": full-data biased CKA (0-d)}, float64.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same examples, got {len(x)} and {len(y)}")
    if min(batch_sizes) < 4:
        raise ValueError(f"minibatches need at least 4 examples, got {min(batch_sizes)}")
    order = torch.randperm(len(x), generator=_generator(seed))
    x, y = x[order].reshape(len(x), -1), y[order].reshape(len(y), -1)
    results: dict[str, list[float]] = {"minibatch": [], "mean_unbiased": [], "mean_biased": []}
    for batch_size in batch_sizes:
        estimator = cka_engine.MinibatchCKA(1, 1)
        per_batch_unbiased, per_batch_biased = [], []
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if len(xb) < 4:
                break
            estimator.update([xb], [yb])
            K, L = gram(xb), gram(yb)
            per_batch_unbiased.append(_cka(K, L, unbiased=True))
            per_batch_biased.append(_cka(K, L, unbiased=False))
        results["minibatch"].append(float(estimator.compute()[0, 0]))
        results["mean_unbiased"].append(sum(per_batch_unbiased) / len(per_batch_unbiased))
        results["mean_biased"].append(sum(per_batch_biased) / len(per_batch_biased))
    K, L = gram(x), gram(y)
    return {
        "batch_size": torch.tensor(list(batch_sizes), dtype=torch.float64),
        **{name: torch.tensor(values, dtype=torch.float64) for name, values in results.items()},
        "full_unbiased": torch.tensor(_cka(K, L, unbiased=True), dtype=torch.float64),
        "full_biased": torch.tensor(_cka(K, L, unbiased=False), dtype=torch.float64),
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
    """CKA of (scale·x + offset, scale·y + offset) for several offsets: CKA is invariant to both, so every
    correct implementation gives the same value at every offset.

    Args:
        x, y: (n, ...) representations (their own float64 CKA is the reference).
        offsets: constants added to every activation.
        scale: factor applied to every activation first.

    Returns:
        {"offset": (m,), "naive_float32": (m,), "naive_float64": (m,), "minibatch_cka": seelike.cka's
        MinibatchCKA on one batch (m,), "reference": biased float64 CKA of the untouched x, y (0-d),
        "reference_unbiased": unbiased float64 CKA of x, y (0-d)}.
    """
    x, y = x.reshape(len(x), -1).double(), y.reshape(len(y), -1).double()
    rows: dict[str, list[float]] = {"naive_float32": [], "naive_float64": [], "minibatch_cka": []}
    for offset in offsets:
        xs, ys = scale * x + offset, scale * y + offset
        rows["naive_float32"].append(naive_gram_cka(xs, ys, torch.float32))
        rows["naive_float64"].append(naive_gram_cka(xs, ys, torch.float64))
        estimator = cka_engine.MinibatchCKA(1, 1)
        estimator.update([xs.float()], [ys.float()])
        rows["minibatch_cka"].append(float(estimator.compute()[0, 0]))
    K, L = gram(x), gram(y)
    return {
        "offset": torch.tensor(list(offsets), dtype=torch.float64),
        **{name: torch.tensor(values, dtype=torch.float64) for name, values in rows.items()},
        "reference": torch.tensor(_cka(K, L, unbiased=False), dtype=torch.float64),
        "reference_unbiased": torch.tensor(_cka(K, L, unbiased=True), dtype=torch.float64),
    }
