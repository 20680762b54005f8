"""Centred kernel alignment (CKA): full-data estimators and the streaming minibatch engine.

CKA compares two representations of the same n examples, X (n, p) and Y (n, q), through their Gram
matrices K = X Xᵀ and L = Y Yᵀ:  CKA = HSIC(K, L) / sqrt(HSIC(K, K) · HSIC(L, L)). It is invariant to
orthogonal transforms and isotropic scaling of either representation, not to general invertible maps.

Estimator (Nguyen, Raghu & Kornblith 2020, with the unbiased HSIC of Song et al. 2012): for each
minibatch, with K̃ = K with its diagonal set to zero,

    HSIC₁(K, L) = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3)),   n ≥ 4,

and CKA = Σ_b HSIC₁(K_b, L_b) / sqrt(Σ_b HSIC₁(K_b, K_b) · Σ_b HSIC₁(L_b, L_b)): HSIC is summed over
minibatches and normalised once at the end (averaging per-minibatch CKA values would be biased).

How `MinibatchCKA` computes it, fast and to ~1e-8 of a float64 reference:

1. HSIC₁ equals an inner product of *U-centred* Gram matrices (Székely & Rizzo 2014):
   HSIC₁(K, L) = ⟨U(K), U(L)⟩ / (n(n−3)), where U(K)ᵢⱼ = Kᵢⱼ − k̄ − (ρᵢ + ρⱼ)/(n−2) off the diagonal and 0
   on it (k̄ = mean off-diagonal entry, ρᵢ = row sum of K̃ minus (n−1)k̄). U annihilates every
   K ↦ K + a1ᵀ + 1aᵀ + D (D diagonal), so HSIC₁ is *exactly* invariant to adding one constant vector to
   every example's features (that changes K by X m1ᵀ + 1mᵀXᵀ + |m|²11ᵀ). The tests check this.
2. Hence the features may be centred before the Gram at no cost in correctness, and must be for accuracy:
   with activations offset by +30, the float32 Gram of the raw features loses ~1e-5 of the CKA to
   cancellation. Each layer is centred on a mean over the minibatch (of 32 evenly spaced examples: a GEMV
   over 1/8 of a 256-example minibatch; a mean rather than, say, the first example, so that one outlying
   example cannot bring the cancellation back) and its Gram is computed once with float32 products (TF32
   disabled on CUDA). On CPU the features go in chunks of a few
   thousand columns: each chunk is centred into a small reused buffer (a whole centred copy would cost a
   third of a Gram in page faults alone), only the upper triangle of its Gram is computed, in row blocks
   (62–75% of the flops at b = 256), and chunk Grams are summed in float64. Together this costs about
   0.8–1.0× a plain float32 X Xᵀ, i.e. the centring is paid for by the skipped triangle.
3. U-centring happens in float64; each layer becomes one float64 vector (the strict upper triangle of U(K),
   scaled by sqrt(2 / (n(n−3)))) as soon as its activations arrive (`add_layer`, e.g. inside a forward
   hook), and a single matmul gives the HSIC of every layer pair (`finish_minibatch`); sums stay in
   float64. Memory is (Lx + Ly) · b(b−1)/2 float64 plus one chunk buffer, in buffers reused from minibatch
   to minibatch, whatever the number of images.

A layer whose features are constant over the examples has self-HSIC exactly zero (the centring reference
is snapped to the example values for constant columns, so they become exact zeros); its CKA row is NaN and
a warning names it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from .activations import capture, layer_names
from .cache import memoize

__all__ = [
    "MinibatchCKA",
    "centred_gram",
    "cka_matrix",
    "hsic_biased",
    "hsic_unbiased",
    "linear_cka",
    "model_cka",
    "rbf_cka",
    "u_centre",
]

# CPU Gram layout: features in chunks of GRAM_CHUNK_ELEMENTS // n columns, each chunk's upper triangle in
# row blocks (row block i times rows i·b..) of GRAM_BLOCK_ROWS rows. None picks by torch's thread count, as
# measured on a 2-core EPYC (benchmarks/README.md): one thread, 2**20 elements (a 4 MB float32 buffer) and
# 64 rows (62.5% of the flops at b = 256); t ≥ 2 threads, 2**22 elements and 64·t rows: fewer, larger
# products, shared by the threads with fewer synchronisations (at 2 threads the small ones ran up to 1.3x
# slower whenever the host was busy).
GRAM_CHUNK_ELEMENTS: int | None = None
GRAM_BLOCK_ROWS: int | None = None


def _gram_layout(threads: int | None = None) -> tuple[int, int]:
    """(chunk elements, row-block rows) of the CPU Gram for a torch thread count (default: the current)."""
    threads = torch.get_num_threads() if threads is None else threads
    chunk = GRAM_CHUNK_ELEMENTS or (2**20 if threads == 1 else 2**22)
    return chunk, GRAM_BLOCK_ROWS or 64 * max(1, threads)


# Examples averaged for the centring reference (see `_centring_reference`).
CENTRING_EXAMPLES = 32


# --------------------------------------------------------------------------------------------- checks


def _flatten(x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{what}: expected shape (n, ...) with n ≥ 1 examples, got {tuple(x.shape)}")
    if not (x.is_floating_point()):
        x = x.float()
    return x.reshape(x.shape[0], -1)


def _check_min_examples(n: int, minimum: int, what: str) -> None:
    if n < minimum:
        raise ValueError(
            f"{what}: the unbiased HSIC estimator needs at least {minimum} examples, got n={n}"
            if minimum == 4
            else f"{what}: needs at least {minimum} examples, got n={n}"
        )


def _check_finite(x: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what}: contains NaN or inf values")


def _check_gram(K: torch.Tensor, L: torch.Tensor) -> int:
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square (n, n) Gram matrix, got {tuple(K.shape)}")
    if L.shape != K.shape:
        raise ValueError(f"K and L must have the same shape, got {tuple(K.shape)} and {tuple(L.shape)}")
    _check_finite(K, "K")
    _check_finite(L, "L")
    return K.shape[0]


# --------------------------------------------------------------------------------------------- full data


def hsic_unbiased(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator of Song et al. (2012), written out term by term, in float64.

    Args:
        K, L: (n, n) symmetric Gram matrices of the same n ≥ 4 examples (diagonals are ignored).

    Returns:
        0-d float64 tensor HSIC₁(K, L) (can be slightly negative: the estimator is unbiased).
    """
    n = _check_gram(K, L)
    _check_min_examples(n, 4, "hsic_unbiased")
    K = K.double().clone().fill_diagonal_(0)
    L = L.double().clone().fill_diagonal_(0)
    trace_kl = (K * L.T).sum()
    sum_k, sum_l = K.sum(), L.sum()
    ones_kl_ones = K.sum(0) @ L.sum(1)  # 1ᵀ K L 1
    return (trace_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_kl_ones) / (n * (n - 3))


def hsic_biased(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Biased (V-statistic) HSIC of Gretton et al. (2005): tr(K H L H) / (n − 1)², H = I − 11ᵀ/n, float64.

    Args:
        K, L: (n, n) symmetric Gram matrices of the same n ≥ 2 examples.

    Returns:
        0-d float64 tensor.
    """
    n = _check_gram(K, L)
    _check_min_examples(n, 2, "hsic_biased")
    K, L = K.double(), L.double()
    Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
    Lc = L - L.mean(0, keepdim=True) - L.mean(1, keepdim=True) + L.mean()
    return (Kc * Lc.T).sum() / (n - 1) ** 2


def _cka_from_grams(K: torch.Tensor, L: torch.Tensor, unbiased: bool) -> float:
    hsic = hsic_unbiased if unbiased else hsic_biased
    kk, ll = hsic(K, K), hsic(L, L)
    if kk == 0 or ll == 0:
        warnings.warn(
            "a representation is constant over the examples (self-HSIC = 0): CKA is NaN", stacklevel=3
        )
        return math.nan
    return float(hsic(K, L) / torch.sqrt(kk * ll))


def linear_cka(x: torch.Tensor, y: torch.Tensor, *, unbiased: bool = True) -> float:
    """Linear CKA of two representations of the same examples, on all the data at once, in float64.

    Args:
        x: (n, ...) activations, flattened per example to (n, p).
        y: (n, ...) activations of the same n examples, flattened to (n, q).
        unbiased: the unbiased HSIC of Song et al. (default, as in the paper; n ≥ 4) or the biased one.

    Returns:
        CKA as a Python float (NaN, with a warning, if either representation is constant).
    """
    x, y = _flatten(x, "x").double(), _flatten(y, "y").double()
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same examples: n={x.shape[0]} vs n={y.shape[0]}")
    _check_min_examples(x.shape[0], 4 if unbiased else 2, "linear_cka")
    _check_finite(x, "x")
    _check_finite(y, "y")
    x = x - x.mean(0)  # exact invariance (see module docstring); improves conditioning
    y = y - y.mean(0)
    return _cka_from_grams(x @ x.T, y @ y.T, unbiased)


def _rbf_gram(x: torch.Tensor, sigma_frac: float) -> torch.Tensor:
    squared_norms = (x * x).sum(1)
    squared_distances = (squared_norms[:, None] + squared_norms[None, :] - 2 * x @ x.T).clamp_min_(0)
    squared_distances.fill_diagonal_(0)
    median = squared_distances.median()  # over all n² entries, as in Kornblith et al.'s reference code
    if median == 0:
        raise ValueError("rbf_cka: the median pairwise distance is zero (most examples are identical)")
    return torch.exp(-squared_distances / (2 * sigma_frac**2 * median))


def rbf_cka(x: torch.Tensor, y: torch.Tensor, sigma_frac: float = 0.8, *, unbiased: bool = False) -> float:
    """CKA with Gaussian (RBF) kernels whose bandwidth is a fraction of the median distance.

    As in Kornblith et al. (2019): k(a, b) = exp(−|a − b|² / (2 σ²)) with σ = sigma_frac · median distance
    (median of the squared distances over all n² pairs). By default the biased HSIC, as in their paper.

    Args:
        x, y: (n, ...) activations of the same examples, flattened per example.
        sigma_frac: bandwidth as a fraction of the median distance (> 0).
        unbiased: use the unbiased HSIC instead (n ≥ 4).

    Returns:
        CKA as a Python float.
    """
    if not sigma_frac > 0:
        raise ValueError(f"sigma_frac must be > 0, got {sigma_frac}")
    x, y = _flatten(x, "x").double(), _flatten(y, "y").double()
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same examples: n={x.shape[0]} vs n={y.shape[0]}")
    _check_min_examples(x.shape[0], 4 if unbiased else 2, "rbf_cka")
    _check_finite(x, "x")
    _check_finite(y, "y")
    x, y = x - x.mean(0), y - y.mean(0)  # distances are shift-invariant; this only helps conditioning
    return _cka_from_grams(_rbf_gram(x, sigma_frac), _rbf_gram(y, sigma_frac), unbiased)


# --------------------------------------------------------------------------------------------- engine


@contextlib.contextmanager
def _ieee_float32_matmul(device: torch.device) -> Iterator[None]:
    """Disable TF32 for float32 matmuls on CUDA inside the block (restored afterwards)."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        previous = matmul.fp32_precision
        matmul.fp32_precision = "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision = previous
    else:  # older torch
        previous = matmul.allow_tf32
        matmul.allow_tf32 = False
        try:
            yield
        finally:
            matmul.allow_tf32 = previous


class _Workspace:
    """Buffers reused across layers and minibatches, one per (purpose, dtype, device).

    Once the first minibatch has sized them, the engine allocates nothing large per minibatch: large blocks
    allocated and freed once per minibatch fragment the C heap (glibc's adaptive mmap threshold moves them
    from mmap to the heap), which made the resident set creep with the number of minibatches.
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}

    def get(self, purpose: str, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A 1-D view of `numel` elements of the buffer for `purpose` (grown when too small)."""
        key = (purpose, dtype, torch.device(device))
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < numel:
            self._buffers.pop(key, None)  # release the old buffer before allocating the new one
            buffer = self._buffers[key] = torch.empty(numel, dtype=dtype, device=device)
        return buffer[:numel]


def _centring_reference(x: torch.Tensor) -> torch.Tensor:
    """(1, d) reference to subtract from every example before the Gram.

    Any reference gives the same HSIC₁; it only has to be close to the minibatch mean for the float32 Gram
    to be well conditioned. The mean of at most `CENTRING_EXAMPLES` evenly spaced examples is (a residual
    offset of a fraction of the spread remains, harmless) and reads 1/8 of a 256-example minibatch; it is
    snapped to the first example's value wherever it is within rounding of it, so constant columns centre
    to exact zeros. Columns are independent: a block of x's columns gets that block of the reference.
    """
    n = x.shape[0]
    step = max(1, n // CENTRING_EXAMPLES)
    sample = x[::step][:CENTRING_EXAMPLES]
    m = sample.shape[0]
    mean = torch.mm(torch.full((1, m), 1.0 / m, dtype=x.dtype, device=x.device), sample)
    first = x[:1]
    tolerance = (2 * m * torch.finfo(x.dtype).eps) * first.abs()
    return torch.where((mean - first).abs() <= tolerance, first, mean)


def _upper_gram(x: torch.Tensor, workspace: _Workspace) -> torch.Tensor:
    """(n, n) float64 matrix whose strict upper triangle is the centred Gram of x (see `centred_gram`).

    On CPU it is the workspace's buffer (valid until the next call) and holds stale values below the diagonal
    blocks; on CUDA a new full Gram.
    """
    x = _flatten(x, "activations")
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    if not x.is_contiguous():
        x = x.contiguous()
    n, d = x.shape
    if x.device.type != "cpu":
        with _ieee_float32_matmul(x.device):
            centred = x - _centring_reference(x)
            return (centred @ centred.T).double()
    chunk_elements, block_rows = _gram_layout()
    chunks = -(-d // max(1, min(d, chunk_elements // n)))  # ceil: as few chunks as the buffer allows
    width = -(-d // chunks)  # of equal width (no narrow last one)
    rows = min(n, block_rows)
    blocks = [(start, min(start + rows, n)) for start in range(0, n, rows)]
    buffer = workspace.get("chunk", n * width, x.dtype, x.device)
    products = workspace.get("products", rows * n, x.dtype, x.device)  # one row block's product
    total = workspace.get("gram", n * n, torch.float64, x.device).view(n, n).zero_()
    for column in range(0, d, width):
        w = min(width, d - column)
        chunk = x[:, column : column + w]
        centred = buffer[: n * w].view(n, w)
        torch.sub(chunk, _centring_reference(chunk), out=centred)
        for start, stop in blocks:
            product = products[: (stop - start) * (n - start)].view(stop - start, n - start)
            torch.mm(centred[start:stop], centred[start:].T, out=product)
            total[start:stop, start:] += product
    return total


def centred_gram(x: torch.Tensor, workspace: _Workspace | None = None) -> torch.Tensor:
    """Gram matrix of minibatch-centred features: float32 products (float64 for float64 input), float64 sums.

    The features are centred (HSIC₁ is exactly invariant to subtracting any one vector from every example;
    centring removes the cancellation that a large common offset causes in float32) on the mean of up to
    `CENTRING_EXAMPLES` evenly spaced examples; for constant columns the reference is the examples' common
    value, so a constant layer gives an exactly zero Gram. On CPU the features are processed in chunks of
    a few thousand columns (`_gram_layout`): each chunk is centred into a small reusable buffer (no copy of
    the whole activation, no page faults), only the upper triangle of its Gram is computed (in row blocks),
    and chunk Grams are summed in float64. On CUDA the centred
    copy is made whole and multiplied once, with TF32 disabled.

    Args:
        x: (n, ...) activations of one minibatch (any float dtype, any device); flattened per example.
        workspace: optional reusable buffers (MinibatchCKA keeps one).

    Returns:
        (n, n) symmetric float64 Gram matrix on x's device.
    """
    total = _upper_gram(x, workspace or _Workspace())
    return torch.triu(total) + torch.triu(total, 1).T


def u_centre(gram: torch.Tensor) -> torch.Tensor:
    """U-centred Gram matrix (Székely & Rizzo 2014), float64: HSIC₁(K, L) = ⟨U(K), U(L)⟩ / (n(n−3)).

    Args:
        gram: (n, n) symmetric Gram matrix, n ≥ 4 (its diagonal is ignored).

    Returns:
        (n, n) float64, zero diagonal; exactly zero for any K = a1ᵀ + 1aᵀ (+ diagonal).
    """
    n = gram.shape[0]
    _check_min_examples(n, 4, "u_centre")
    K = gram.double().clone()
    K.fill_diagonal_(0)
    mean_off_diagonal = K.sum() / (n * (n - 1))
    row_excess = K.sum(1) - (n - 1) * mean_off_diagonal
    centred = K - mean_off_diagonal - (row_excess[:, None] + row_excess[None, :]) / (n - 2)
    return centred.fill_diagonal_(0)


def _hsic_vector_into(gram: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Write the strict upper triangle of U(gram), scaled so that dot products of two such vectors are HSIC₁.

    Args:
        gram: (n, n) contiguous float64 whose strict upper triangle is a Gram matrix; overwritten.
        out: (n(n−1)/2,) float64 on gram's device.

    Returns:
        out.
    """
    n = gram.shape[0]
    K = gram.triu_(1)  # K̃'s upper half: the diagonal and whatever lies below it are ignored
    row_sums = K.sum(1) + K.sum(0)  # rows of the symmetric K̃
    mean_off_diagonal = row_sums.sum() / (n * (n - 1))
    row_excess = (row_sums - (n - 1) * mean_off_diagonal) / (n - 2)
    K.sub_(mean_off_diagonal).sub_(row_excess[:, None]).sub_(row_excess[None, :])  # U(K) above the diagonal
    torch.index_select(K.view(-1), 0, _upper_flat_indices(n, K.device), out=out)
    return out.mul_(math.sqrt(2.0 / (n * (n - 3))))


@functools.lru_cache(maxsize=8)
def _upper_flat_indices(n: int, device: torch.device) -> torch.Tensor:
    rows, cols = torch.triu_indices(n, n, offset=1, device=device)
    return rows * n + cols


def _raise_not_finite(name: str, activations: torch.Tensor | None) -> None:
    if activations is None:
        raise ValueError(f"layer {name!r}: the Gram matrix contains NaN or inf values")
    if not bool(torch.isfinite(activations).all()):
        raise ValueError(f"layer {name!r}: activations contain NaN or inf values")
    raise ValueError(f"layer {name!r}: the Gram matrix overflows (activations too large for float32)")


class MinibatchCKA:
    """Streaming linear CKA between every layer of X and every layer of Y (Nguyen et al. 2020).

    Feed one minibatch at a time with `update`; HSIC sums are kept in float64 and `compute` normalises
    once at the end. See the module docstring for the estimator and how it is computed.

    Args:
        n_layers_x: number of layers on the X side.
        n_layers_y: number of layers on the Y side; None compares X with itself (`update(xs)`).
        names_x, names_y: optional layer names, used in warnings and error messages.

    Example:
        >>> engine = MinibatchCKA(2, 3)
        >>> engine.update([a1, a2], [b1, b2, b3])   # one minibatch; repeat for each
        >>> engine.compute()                        # (2, 3) float64
    """

    def __init__(
        self,
        n_layers_x: int,
        n_layers_y: int | None = None,
        *,
        names_x: Sequence[str] | None = None,
        names_y: Sequence[str] | None = None,
    ) -> None:
        if n_layers_x < 1 or (n_layers_y is not None and n_layers_y < 1):
            raise ValueError("MinibatchCKA needs at least one layer on each side")
        self.n_layers_x = int(n_layers_x)
        self.n_layers_y = int(n_layers_y) if n_layers_y is not None else self.n_layers_x
        self.self_comparison = n_layers_y is None
        self.names_x = list(names_x) if names_x is not None else [f"x[{i}]" for i in range(self.n_layers_x)]
        if names_y is not None:
            self.names_y = list(names_y)
        elif self.self_comparison:
            self.names_y = list(self.names_x)
        else:
            self.names_y = [f"y[{i}]" for i in range(self.n_layers_y)]
        if len(self.names_x) != self.n_layers_x or len(self.names_y) != self.n_layers_y:
            raise ValueError("names_x / names_y must have one name per layer")
        self._workspace = _Workspace()
        self.reset()

    def reset(self) -> None:
        """Forget every minibatch seen so far."""
        self.hsic_xy = torch.zeros(self.n_layers_x, self.n_layers_y, dtype=torch.float64)
        self.hsic_xx = torch.zeros(self.n_layers_x, dtype=torch.float64)
        self.hsic_yy = torch.zeros(self.n_layers_y, dtype=torch.float64)
        self.n_batches = 0
        self.n_examples = 0
        self._discard_minibatch()

    # ------------------------------------------------------------------ per minibatch

    def gram(self, activations: torch.Tensor, name: str = "activations") -> torch.Tensor:
        """`centred_gram` of one layer's minibatch, using this engine's workspace; checks the values.

        Args:
            activations: (n, ...) one layer's activations for the minibatch.
            name: the layer's name for error messages.

        Returns:
            (n, n) float64 Gram matrix.
        """
        if activations.shape[0] < 4:
            _check_min_examples(activations.shape[0], 4, f"layer {name!r}")
        gram = centred_gram(activations, self._workspace)
        if not bool(torch.isfinite(gram).all()):
            _raise_not_finite(name, activations)
        return gram

    def add_layer(self, index: int, activations: torch.Tensor, *, side: str = "x") -> None:
        """Reduce one layer's activations for the current minibatch to its HSIC vector; nothing else is kept.

        Call it once for every layer of a minibatch (e.g. inside a forward hook), in any order, then
        `finish_minibatch()`; `update` does both. Memory: one float64 vector of n(n−1)/2 per layer, in buffers
        reused from minibatch to minibatch.

        Args:
            index: the layer's position on its side, 0 ≤ index < n_layers_x (or n_layers_y).
            activations: (n, ...) the layer's activations; every layer of the minibatch holds the same n ≥ 4.
            side: "x", or "y" when the engine compares two sets of layers.
        """
        self._add(activations, [(side, index)])

    def finish_minibatch(self) -> None:
        """Add the HSIC of every layer pair of the minibatch whose layers `add_layer` has reduced."""
        if self._batch_n is None:
            raise RuntimeError("finish_minibatch() before any add_layer() of this minibatch")
        missing = [self.names_x[i] for i, done in enumerate(self._added[0]) if not done]
        if not self.self_comparison:
            missing += [self.names_y[i] for i, done in enumerate(self._added[1]) if not done]
        if missing:
            self._discard_minibatch()
            raise RuntimeError(f"layer(s) {missing} gave no activations in this minibatch")
        n = self._batch_n
        vectors_x = self._vectors("x")  # (Lx, n(n-1)/2)
        if self.self_comparison:
            cross = vectors_x @ vectors_x.T
            cross = (cross + cross.T) / 2  # bitwise symmetric (a blocked GEMM need not be)
            self_x = self_y = cross.diagonal()
        else:
            vectors_y = self._vectors("y")
            cross = vectors_x @ vectors_y.T
            self_x, self_y = (vectors_x * vectors_x).sum(1), (vectors_y * vectors_y).sum(1)
        self.hsic_xy += cross.cpu()
        self.hsic_xx += self_x.cpu()
        self.hsic_yy += self_y.cpu()
        self.n_batches += 1
        self.n_examples += n
        self._discard_minibatch()

    def update(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor] | None = None) -> None:
        """Add one minibatch.

        Args:
            xs: one tensor (n, ...) per X layer, all with the same n ≥ 4 examples.
            ys: one tensor (n, ...) per Y layer for the same examples; None means ys = xs.
        """
        xs = self._check_layers(xs, self.n_layers_x, "xs")
        if ys is not None:
            ys = self._check_layers(ys, self.n_layers_y, "ys")
        elif self.n_layers_y != self.n_layers_x:
            raise ValueError("ys=None compares xs with themselves, but n_layers_y != n_layers_x")
        if ys is not None and self.self_comparison:
            raise ValueError("this engine compares X with itself (n_layers_y=None): call update(xs)")
        self._discard_minibatch()
        for index, x in enumerate(xs):
            targets = [("x", index)] + ([("y", index)] if ys is None and not self.self_comparison else [])
            self._add(x, targets)
        for index, y in enumerate(ys or []):
            self._add(y, [("y", index)])
        self.finish_minibatch()

    def update_grams(
        self, grams_x: Sequence[torch.Tensor], grams_y: Sequence[torch.Tensor] | None = None
    ) -> None:
        """Add one minibatch given each layer's (n, n) Gram matrix (e.g. from `gram` inside a forward hook).

        Args:
            grams_x: one symmetric (n, n) Gram matrix per X layer (only the strict upper triangle is read).
            grams_y: one per Y layer, same n; None means grams_y = grams_x.
        """
        if len(grams_x) != self.n_layers_x:
            raise ValueError(f"expected {self.n_layers_x} X Gram matrices, got {len(grams_x)}")
        if grams_y is not None and len(grams_y) != self.n_layers_y:
            raise ValueError(f"expected {self.n_layers_y} Y Gram matrices, got {len(grams_y)}")
        if grams_y is None and self.n_layers_y != self.n_layers_x:
            raise ValueError("grams_y=None compares X with itself, but n_layers_y != n_layers_x")
        if grams_y is not None and self.self_comparison:
            raise ValueError(
                "this engine compares X with itself (n_layers_y=None): call update_grams(grams_x)"
            )
        n = grams_x[0].shape[0]
        for gram, name in zip(
            [*grams_x, *(grams_y or [])], [*self.names_x, *(self.names_y if grams_y else [])], strict=True
        ):
            if gram.shape != (n, n):
                raise ValueError(
                    f"layer {name!r}: Gram matrix of shape {tuple(gram.shape)}, expected ({n}, {n}): "
                    "every layer must hold the same examples"
                )
        _check_min_examples(n, 4, "minibatch")
        self._discard_minibatch()
        sides = [("x", grams_x), ("y", grams_y if grams_y is not None else grams_x)]
        for side, grams in sides[: 1 if self.self_comparison else 2]:
            for index, gram in enumerate(grams):
                copy = self._workspace.get("gram", n * n, torch.float64, gram.device).view(n, n)
                self._store(copy.copy_(gram), [(side, index)], self._name(side, index))
        self.finish_minibatch()

    # ------------------------------------------------------------------ per layer, inside

    def _name(self, side: str, index: int) -> str:
        if side not in ("x", "y") or (side == "y" and self.self_comparison):
            raise ValueError(
                "side must be 'x'" + ("" if self.self_comparison else " or 'y'") + f", got {side!r}"
            )
        names = self.names_x if side == "x" else self.names_y
        if not 0 <= index < len(names):
            raise IndexError(f"layer index {index} out of range for side {side!r} ({len(names)} layers)")
        return names[index]

    def _add(self, activations: torch.Tensor, targets: Sequence[tuple[str, int]]) -> None:
        """Reduce one layer's activations once and store its HSIC vector at every (side, index) in targets."""
        name = self._name(*targets[0])
        for target in targets[1:]:
            self._name(*target)
        if not isinstance(activations, torch.Tensor):
            raise TypeError(f"layer {name!r}: expected a torch.Tensor, got {type(activations).__name__}")
        n = activations.shape[0] if activations.ndim else 0
        if n < 4:
            _check_min_examples(n, 4, f"layer {name!r}")
        self._check_batch(name, n, activations.device)
        self._store(_upper_gram(activations, self._workspace), targets, name, activations)

    def _check_batch(self, name: str, n: int, device: torch.device) -> None:
        if self._batch_n is None:
            self._batch_n, self._batch_device = n, device
        elif n != self._batch_n:
            self._discard_minibatch()
            raise ValueError(
                f"layer {name!r}: {n} examples, but this minibatch's other layers hold {self._batch_n}: "
                "every layer must hold the same examples"
            )

    def _store(
        self,
        gram: torch.Tensor,
        targets: Sequence[tuple[str, int]],
        name: str,
        activations: torch.Tensor | None = None,
    ) -> None:
        n = gram.shape[0]
        self._check_batch(name, n, gram.device)
        side, index = targets[0]
        row = self._vectors(side)[index]
        if gram.device == row.device:
            _hsic_vector_into(gram, row)
        else:
            row.copy_(
                _hsic_vector_into(gram, torch.empty(row.shape, dtype=torch.float64, device=gram.device))
            )
        if not bool(torch.isfinite(row).all()):
            self._discard_minibatch()
            _raise_not_finite(name, activations)
        for other_side, other_index in targets:
            if (other_side, other_index) != (side, index):
                self._vectors(other_side)[other_index].copy_(row)
            self._added[0 if other_side == "x" else 1][other_index] = True

    def _vectors(self, side: str) -> torch.Tensor:
        """This minibatch's (L, n(n−1)/2) float64 HSIC vectors of one side (a reused buffer)."""
        n = self._batch_n
        assert n is not None and self._batch_device is not None
        layers = self.n_layers_x if side == "x" else self.n_layers_y
        length = n * (n - 1) // 2
        storage = self._workspace.get(f"vectors-{side}", layers * length, torch.float64, self._batch_device)
        return storage.view(layers, length)

    def _discard_minibatch(self) -> None:
        self._batch_n: int | None = None
        self._batch_device: torch.device | None = None
        self._added = ([False] * self.n_layers_x, [False] * self.n_layers_y)

    def _check_layers(self, layers: Sequence[torch.Tensor], expected: int, what: str) -> list[torch.Tensor]:
        if isinstance(layers, torch.Tensor):
            raise TypeError(f"{what} must be a sequence of per-layer tensors, not one tensor")
        layers = list(layers)
        if len(layers) != expected:
            raise ValueError(f"{what}: expected {expected} layers, got {len(layers)}")
        return layers

    # ------------------------------------------------------------------ result

    def compute(self) -> torch.Tensor:
        """CKA of every layer pair: ΣHSIC(K, L) / sqrt(ΣHSIC(K, K) · ΣHSIC(L, L)).

        Returns:
            (n_layers_x, n_layers_y) float64 on the CPU. Rows/columns of layers whose self-HSIC is zero
            (constant features) are NaN, with a warning naming them.
        """
        if self.n_batches == 0:
            raise RuntimeError("MinibatchCKA.compute() before any update()")
        matrix = self.hsic_xy / torch.sqrt(torch.outer(self.hsic_xx, self.hsic_yy))
        dead_x = (self.hsic_xx == 0).nonzero().flatten().tolist()
        dead_y = (self.hsic_yy == 0).nonzero().flatten().tolist()
        if dead_x or dead_y:
            names = [self.names_x[i] for i in dead_x]
            if not self.self_comparison:
                names += [self.names_y[j] for j in dead_y]
            warnings.warn(
                f"constant features (self-HSIC = 0), CKA set to NaN for layer(s): {', '.join(names)}",
                stacklevel=2,
            )
            matrix[dead_x, :] = math.nan
            matrix[:, dead_y] = math.nan
        return matrix

    # ------------------------------------------------------------------ persistence and distribution

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: the float64 HSIC sums, counts and layer names."""
        return {
            "hsic_xy": self.hsic_xy.clone(),
            "hsic_xx": self.hsic_xx.clone(),
            "hsic_yy": self.hsic_yy.clone(),
            "n_batches": self.n_batches,
            "n_examples": self.n_examples,
            "names_x": list(self.names_x),
            "names_y": list(self.names_y),
            "self_comparison": self.self_comparison,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore sums saved by `state_dict` (layer counts must match)."""
        shape = tuple(state["hsic_xy"].shape)
        if shape != (self.n_layers_x, self.n_layers_y):
            raise ValueError(
                f"state has {shape} layer pairs, this engine {(self.n_layers_x, self.n_layers_y)}"
            )
        self.hsic_xy = state["hsic_xy"].detach().to("cpu", torch.float64).clone()
        self.hsic_xx = state["hsic_xx"].detach().to("cpu", torch.float64).clone()
        self.hsic_yy = state["hsic_yy"].detach().to("cpu", torch.float64).clone()
        self.n_batches = int(state["n_batches"])
        self.n_examples = int(state["n_examples"])
        self.names_x = list(state.get("names_x", self.names_x))
        self.names_y = list(state.get("names_y", self.names_y))

    def merge(self, other: MinibatchCKA) -> None:
        """Add another engine's sums (same layers) to this one, e.g. from a separate process."""
        if (other.n_layers_x, other.n_layers_y) != (self.n_layers_x, self.n_layers_y):
            raise ValueError("cannot merge engines with different layer counts")
        self.hsic_xy += other.hsic_xy
        self.hsic_xx += other.hsic_xx
        self.hsic_yy += other.hsic_yy
        self.n_batches += other.n_batches
        self.n_examples += other.n_examples

    def all_reduce(self, group: Any = None) -> None:
        """Sum the HSIC accumulators over a `torch.distributed` process group, in place.

        Every process then holds the result over all processes' minibatches. Call it once, after the last
        `update` (a second call would add the sums again). NCCL groups communicate from the current CUDA
        device, others (gloo, mpi) from the CPU.

        Args:
            group: the process group (None: the default group).
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("all_reduce needs an initialised torch.distributed process group")
        backend = dist.get_backend(group)
        device = (
            torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        )
        packed = torch.cat(
            [
                self.hsic_xy.flatten(),
                self.hsic_xx,
                self.hsic_yy,
                torch.tensor([self.n_batches, self.n_examples], dtype=torch.float64),
            ]
        ).to(device)
        dist.all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
        packed = packed.cpu()
        lx, ly = self.n_layers_x, self.n_layers_y
        self.hsic_xy = packed[: lx * ly].view(lx, ly).clone()
        self.hsic_xx = packed[lx * ly : lx * ly + lx].clone()
        self.hsic_yy = packed[lx * ly + lx : lx * ly + lx + ly].clone()
        self.n_batches = round(packed[-2].item())
        self.n_examples = round(packed[-1].item())


# --------------------------------------------------------------------------------------------- end to end


def _positions(names: Sequence[str], side: str, offset: int = 0) -> dict[str, list[tuple[str, int]]]:
    """Each layer name's (side, offset + index) positions in an engine (a name listed twice has two)."""
    positions: dict[str, list[tuple[str, int]]] = {}
    for index, name in enumerate(names):
        positions.setdefault(name, []).append((side, offset + index))
    return positions


def cka_matrix(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module | None,
    images_or_loader: Any,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    progress: bool = True,
) -> tuple[torch.Tensor, list[str], list[str]]:
    """Minibatch linear CKA between every layer of `model_a` and every layer of `model_b`, end to end.

    A driver over `activations.capture`: each minibatch goes through each model once under
    `torch.inference_mode()`; forward hooks reduce every layer's activations to its HSIC vector
    (`MinibatchCKA.add_layer`) as soon as the layer has run (activations are never stored), then one
    `MinibatchCKA.finish_minibatch` adds all layer pairs. Memory: (La + Lb) · b(b−1)/2 float64, reused.

    Minibatches: a tensor of N images is cut into ceil(N / batch_size) near-equal minibatches (no short last
    one); for a loader, a last minibatch of fewer than 4 images (the estimator's minimum) is merged into
    the one before it. Models may sit on any devices (images are moved to each); put them in eval mode.

    Args:
        model_a: a timm ViT / ResNet / ResNetV2 / Mixer (or any model, with module paths as layers).
        model_b: the second model; None (or model_a itself) compares model_a with itself in one forward.
        images_or_loader: (N, C, H, W) tensor or an iterable of minibatches (tensors or (images, labels)).
        layers_a: layer names of model_a; None means `layer_names(model_a)` (all).
        layers_b: layer names of model_b; None means all of model_b's (or, within one model, layers_a).
        batch_size: the largest minibatch for tensor input (the paper uses 1024; results are stable ≥ 128).
        progress: tqdm progress bar over minibatches.

    Returns:
        (matrix, names_a, names_b): matrix is (len(names_a), len(names_b)) float64 on the CPU.
    """
    within = model_b is None or model_b is model_a
    names_a = list(layers_a) if layers_a is not None else layer_names(model_a)
    if within:
        names_b = list(layers_b) if layers_b is not None else names_a
    else:
        names_b = list(layers_b) if layers_b is not None else layer_names(model_b)
    if not names_a or not names_b:
        raise ValueError("no layers to compare")
    self_comparison = within and names_b == names_a
    engine = MinibatchCKA(
        len(names_a), None if self_comparison else len(names_b), names_x=names_a, names_y=names_b
    )
    targets_a = _positions(names_a, "x")
    targets_b = {} if self_comparison else _positions(names_b, "y")
    if within:  # one model: a layer may be on both sides
        targets = [
            {name: targets_a.get(name, []) + targets_b.get(name, []) for name in {**targets_a, **targets_b}}
        ]
    else:
        targets = [targets_a, targets_b]

    def consumer(side: int):
        def consume(name: str, activation: torch.Tensor) -> None:
            engine._add(activation, targets[side][name])

        return consume

    def add_minibatch(index: int, images: torch.Tensor) -> None:
        engine.finish_minibatch()

    if within:
        models, layer_sets = [model_a], [list(dict.fromkeys(names_a + names_b))]
    else:
        models, layer_sets = [model_a, model_b], [names_a, names_b]
    capture(
        models, layer_sets, images_or_loader, [consumer(side) for side in range(len(models))],
        batch_size=batch_size, progress=progress, on_batch_end=add_minibatch, min_batch=4, desc="CKA",
    )  # fmt: skip
    return engine.compute(), names_a, names_b


@memoize(ignore=("progress",))
def model_cka(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module | None,
    images: torch.Tensor,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    *,
    batch_size: int = 256,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[torch.Tensor, list[str], list[str]]:
    """`cka_matrix`, cached on disk (`seelike.cache.memoize`: both models' weights, the images, the layers and
    the minibatch size are the key), so repeating a comparison in a rerun or a widget costs no forward pass.

    Args:
        model_a, model_b: models in eval mode; model_b None compares model_a with itself.
        images: (N, C, H, W) images, as the models take them.
        layers_a, layers_b: layer names (default: every named layer; layers_b defaults to layers_a within one
            model).
        batch_size: minibatch size of the estimator.
        use_cache: read and write the result cache; False always recomputes.
        progress: progress bar over minibatches.

    Returns:
        (matrix (len(names_a), len(names_b)) float64, names_a, names_b).
    """
    layers_a = list(layers_a) if layers_a is not None else layer_names(model_a)
    if layers_b is None:
        layers_b = layers_a if model_b is None else layer_names(model_b)
    matrix, names_a, names_b = cka_matrix(
        model_a, model_b, images, layers_a, list(layers_b), batch_size=batch_size, progress=progress
    )
    return matrix, list(names_a), list(names_b)


@memoize(ignore=("progress",))
def joint_cka(
    models: Sequence[torch.nn.Module],
    images: torch.Tensor,
    layers: Sequence[Sequence[str]] | None = None,
    *,
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[torch.Tensor, list[list[str]]]:
    """Minibatch CKA of every layer of several models with every other, from one pass over the images.

    Each model runs once per minibatch and each of its layers becomes one HSIC vector; one
    `cka.MinibatchCKA` update adds every pair of layers of every pair of models. Within-model and cross-model
    matrices are blocks of the result (`joint_block`), equal to what `cka.cka_matrix` gives pair by pair, at
    one set of Grams per model instead of one per comparison. Cached on disk (`seelike.cache.memoize`: the
    models' weights, the images, the layers and the minibatch size are the key).

    Args:
        models: M models in eval mode.
        images: (N, C, H, W) images.
        layers: per model, its layer names (default: every named layer, `activations.layer_names`).
        batch_size: the largest minibatch.
        progress: show a progress bar.
    Returns:
        (matrix, names): matrix (T, T) float64 over all T layers in model order; names[m] = model m's layers.
    """
    names = [list(ls) for ls in layers] if layers is not None else [layer_names(m) for m in models]
    if len(names) != len(models) or not all(names):
        raise ValueError("give one non-empty layer list per model")
    flat = [f"{m}:{n}" for m, ns in enumerate(names) for n in ns]
    engine = MinibatchCKA(len(flat), names_x=flat)
    offsets = [sum(len(ns) for ns in names[:m]) for m in range(len(models))]
    targets = [_positions(ns, "x", offsets[m]) for m, ns in enumerate(names)]

    def consumer(m: int):
        def consume(name: str, activation: torch.Tensor) -> None:
            engine._add(activation, targets[m][name])

        return consume

    def add_minibatch(index: int, batch: torch.Tensor) -> None:
        engine.finish_minibatch()

    capture(list(models), names, images, [consumer(m) for m in range(len(models))],
            batch_size=batch_size, progress=progress, on_batch_end=add_minibatch, min_batch=4,
            desc="joint CKA")  # fmt: skip
    return engine.compute(), names


def joint_block(matrix: torch.Tensor, names: Sequence[Sequence[str]], a: int, b: int) -> torch.Tensor:
    """The (L_a, L_b) block of a `joint_cka` matrix: model a's layers against model b's."""
    starts = [0]
    for layer_names_of_model in names:
        starts.append(starts[-1] + len(layer_names_of_model))
    return matrix[starts[a] : starts[a + 1], starts[b] : starts[b + 1]]
