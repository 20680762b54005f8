"""The paper's claims judged by the fixed rules of `claims.md` (C1–C14): metric, sub-criteria, verdict.

This module holds the *rules*: each `judge_cN` function takes a claim's measured values, one per seed (or per
seed pair), with their baselines, and returns a `ClaimRecord` whose verdict follows the written rule and
nothing else. The measurements themselves come from the measure modules (cka, attention, skips, ...); the
rules never look at a model, so unit tests can feed them values whose verdict is known by construction.

Common definitions (claims.md):
- an effect is **robust** when it has the claimed sign in every seed (pair) AND the difference of means
  exceeds 2 × the larger standard deviation over seeds (ddof = 1; one seed cannot show robustness);
- **reproduced**: every sub-criterion robust; **partly**: every sub-criterion holds in the mean, or some are
  robust and the others fail; **not**: the main sub-criterion fails in the mean. The rule names no outcome
  for "the main one holds in the mean, nothing is robust and another fails in the mean"; it is `not` here,
  since neither condition of `partly` is met;
- relative depth of layer i of L is i / (L − 1).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .activations import stage_of
from .cache import memoize
from .cka import joint_block, joint_cka  # noqa: F401  (re-exported: chapters call claims.joint_cka)

REPRODUCED, PARTLY, NOT, NOT_ATTEMPTED = "reproduced", "partly", "not", "not attempted"


@dataclass
class Criterion:
    """One sub-criterion: the claimed inequality, its per-seed values and outcome.

    Attributes:
        name: "a", "b", ...
        statement: the inequality in words.
        values: per seed (or seed pair) value of left − right (> 0 means the claimed sign).
        holds_in_mean: the inequality holds for the means.
        robust: claimed sign in every seed and mean difference > 2 × the larger sd (or the claim's own rule).
        main: whether this is the claim's main sub-criterion.
        partial_only: holds in the mean only at the claim's weaker `partly` threshold.
    """

    name: str
    statement: str
    values: list[float]
    holds_in_mean: bool
    robust: bool
    main: bool = False
    partial_only: bool = False


@dataclass
class ClaimRecord:
    """A claim's measurement and verdict: what `claims.evaluate` returns and the conclusion tabulates."""

    claim: str
    figure: str
    metric: str
    per_seed: dict[str, list[float]]
    baselines: dict[str, Any]
    criteria: list[Criterion]
    verdict: str
    notes: list[str] = field(default_factory=list)

    def summary(self, key: str) -> tuple[float, float]:
        """(mean, sd) of one per-seed series (sd is nan with one seed)."""
        return mean_sd(self.per_seed[key])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- statistics


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof = 1; nan for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("no values")
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else float("nan")


def _larger_sd(*series: Sequence[float]) -> float:
    sds = [mean_sd(s)[1] for s in series if len(s) > 0]
    return float("nan") if any(np.isnan(sd) for sd in sds) else max(sds)


def compare(
    name: str,
    statement: str,
    greater: Sequence[float],
    lesser: Sequence[float] | float,
    *,
    paired: bool = False,
    at_least: bool = False,
    main: bool = False,
) -> Criterion:
    """The sub-criterion "greater > lesser" (or "≥" with `at_least`) over seeds.

    Args:
        greater, lesser: per-seed values of each side; `lesser` may be a fixed threshold.
        paired: compare seed i with seed i (same seeds on both sides, e.g. a model before and after);
            otherwise every seed of one side with every seed of the other ("every seed pair").
        at_least: a difference of exactly zero has the claimed sign (thresholds written "≥").
    Returns:
        the criterion, `values` holding the differences that must be positive.
    """
    greater = [float(v) for v in greater]
    threshold = not isinstance(lesser, Sequence)
    lesser_values = [float(lesser)] if threshold else [float(v) for v in lesser]
    if not greater or not lesser_values:
        raise ValueError(f"criterion {name}: no values")
    if paired and not threshold:
        if len(greater) != len(lesser_values):
            raise ValueError(f"criterion {name}: paired series differ in length")
        differences = [g - s for g, s in zip(greater, lesser_values, strict=True)]
    else:
        differences = [g - s for g, s in itertools.product(greater, lesser_values)]
    if any(not np.isfinite(d) for d in differences):
        raise ValueError(f"criterion {name}: non-finite values")
    gap = float(np.mean(greater) - np.mean(lesser_values))
    spread = _larger_sd(greater) if threshold else _larger_sd(greater, lesser_values)
    signed = all(d >= 0 if at_least else d > 0 for d in differences)
    robust = signed and not np.isnan(spread) and gap > 2 * spread
    holds = gap >= 0 if at_least else gap > 0
    return Criterion(name, statement, differences, holds_in_mean=holds, robust=robust, main=main)


def every_seed(name: str, statement: str, holds: Sequence[bool], *, main: bool = False) -> Criterion:
    """A sub-criterion whose own rule is "robust = holds in every seed" (claims C3, C13)."""
    holds = [bool(h) for h in holds]
    if not holds:
        raise ValueError(f"criterion {name}: no seeds")
    return Criterion(
        name,
        statement,
        [float(h) for h in holds],
        holds_in_mean=float(np.mean(holds)) > 0.5,
        robust=all(holds),
        main=main,
    )


def _main(criteria: Sequence[Criterion]) -> list[Criterion]:
    """The main sub-criteria (the first one when none is marked main)."""
    return [c for c in criteria if c.main] or list(criteria[:1])


def unnamed_by_rule(criteria: Sequence[Criterion]) -> bool:
    """True for the case claims.md's rule names no verdict for: the main sub-criterion holds in the mean,
    another fails in the mean and none is robust. `verdict` reads it as NOT (see the module docstring)."""
    return (
        bool(criteria)
        and all(c.holds_in_mean for c in _main(criteria))
        and not all(c.holds_in_mean for c in criteria)
        and not any(c.robust for c in criteria)
    )


def verdict(criteria: Sequence[Criterion]) -> str:
    """The verdict of claims.md's rule from the sub-criteria's outcomes."""
    if not all(c.holds_in_mean for c in _main(criteria)):
        return NOT
    if all(c.robust and not c.partial_only for c in criteria):
        return REPRODUCED
    if all(c.holds_in_mean for c in criteria):
        return PARTLY
    if any(c.robust for c in criteria):
        return PARTLY
    return NOT


def thirds(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the lowest and the top third of `count` blocks, by relative depth i / (L − 1)."""
    if count < 3:
        raise ValueError("thirds need at least three blocks")
    depth = np.arange(count) / (count - 1)
    return depth < 1 / 3, depth > 2 / 3


def _record(claim, figure, metric, per_seed, baselines, criteria, notes=()) -> ClaimRecord:
    return ClaimRecord(
        claim,
        figure,
        metric,
        {k: [float(v) for v in vs] for k, vs in per_seed.items()},
        baselines,
        list(criteria),
        verdict(criteria),
        list(notes),
    )


def not_attempted(claim: str, figure: str, metric: str, reason: str) -> ClaimRecord:
    """The record of a claim the book has no measurement for (e.g. a paper-scale claim run offline)."""
    return ClaimRecord(claim, figure, metric, {}, {}, [], NOT_ATTEMPTED, [reason])


# --------------------------------------------------------------------------------------------- metrics
# What each rule reads off a measurement: pure functions of CKA matrices, distances and curves.


def stage_contrast(matrix: torch.Tensor, names: Sequence[str]) -> tuple[float, float]:
    """Mean within-stage and mean between-stage CKA of a ResNet's within-model matrix (off-diagonal pairs of
    layers inside stages; the stem and final layers belong to no stage and are left out).

    Args:
        matrix: (L, L) within-model CKA; names: its L layer names (timm's, e.g. "layer2.1.act1").
    Returns:
        (within, between).
    """
    stages = [stage_of(name) for name in names]
    staged = [i for i, (stage, name) in enumerate(zip(stages, names, strict=True)) if stage != name]
    within, between = [], []
    for i, j in itertools.permutations(staged, 2):
        (within if stages[i] == stages[j] else between).append(float(matrix[i, j]))
    if not within or not between:
        raise ValueError("need layers in at least two stages, two of them in one stage")
    return float(np.mean(within)), float(np.mean(between))


def best_match_shares(cross: torch.Tensor) -> dict[str, float]:
    """C2's reading of a ViT (rows) × ResNet (columns) CKA matrix.

    Returns:
        "lower_half_in_lowest_quarter": share of ResNet layers of depth < 1/2 whose best ViT layer has depth
        ≤ 1/4; "upper_half_in_middle": share of ResNet layers of depth ≥ 1/2 whose best ViT layer has depth in
        (1/4, 0.6]; "top_third_max_cka", "lower_two_thirds_max_cka": mean over the ViT layers of depth > 2/3
        (≤ 2/3) of each layer's highest CKA with any ResNet layer; "mean_margin": mean over ResNet layers of
        best minus second-best CKA (how clear each argmax is).
    """
    cross = torch.as_tensor(cross, dtype=torch.float64)
    n_vit, n_resnet = cross.shape
    if n_vit < 3 or n_resnet < 2:
        raise ValueError(f"need at least 3 ViT and 2 ResNet layers, got {tuple(cross.shape)}")
    best = cross.argmax(dim=0)
    vit_depth = torch.arange(n_vit, dtype=torch.float64) / (n_vit - 1)
    resnet_depth = torch.arange(n_resnet, dtype=torch.float64) / (n_resnet - 1)
    lower = resnet_depth < 0.5
    best_depth = vit_depth[best]
    top = vit_depth > 2 / 3
    per_layer_max = cross.max(dim=1).values
    two_best = cross.topk(2, dim=0).values
    return {
        "lower_half_in_lowest_quarter": float((best_depth[lower] <= 0.25).double().mean()),
        "upper_half_in_middle": float(
            ((best_depth[~lower] > 0.25) & (best_depth[~lower] <= 0.6)).double().mean()
        ),
        "top_third_max_cka": float(per_layer_max[top].mean()),
        "lower_two_thirds_max_cka": float(per_layer_max[~top].mean()),
        "mean_margin": float((two_best[0] - two_best[1]).mean()),
    }


def head_counts(distances: torch.Tensor, uniform: float) -> dict[str, int]:
    """C3's head counts from mean attention distances.

    Args:
        distances: (blocks, heads) mean attention distance per head (px); uniform: the distance of uniform
            attention on the same grid (px).
    Returns:
        "local_low", "global_low": local (< 0.6 × uniform) and global (> 0.9 × uniform) heads in the lowest
        third of blocks; "local_top": local heads in the top third.
    """
    distances = torch.as_tensor(distances, dtype=torch.float64)
    low, top = thirds(distances.shape[0])
    local, global_ = distances < 0.6 * uniform, distances > 0.9 * uniform
    low, top = torch.as_tensor(low), torch.as_tensor(top)
    return {
        "local_low": int(local[low].sum()),
        "global_low": int(global_[low].sum()),
        "local_top": int(local[top].sum()),
    }


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.size < 3:
        raise ValueError("need two equal-length series of at least 3 values")

    def ranks(v: np.ndarray) -> np.ndarray:
        order = v.argsort(kind="stable")
        r = np.empty_like(v)
        r[order] = np.arange(v.size, dtype=np.float64)
        for value in np.unique(v):
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        raise ValueError("a constant series has no rank correlation")
    return float(np.corrcoef(rx, ry)[0, 1])


def best_two_group_split(matrix: torch.Tensor) -> float:
    """C13: split L layers into two consecutive groups [0, k) and [k, L) of at least two layers each,
    maximising the mean within-group off-diagonal CKA; returns the relative depth k / (L − 1) of the
    second group's first layer."""
    matrix = torch.as_tensor(matrix, dtype=torch.float64)
    n = matrix.shape[0]
    if matrix.shape != (n, n) or n < 4:
        raise ValueError("need a square matrix of at least 4 layers")
    off = ~torch.eye(n, dtype=torch.bool)
    scores = []
    for k in range(2, n - 1):
        same = torch.zeros(n, n, dtype=torch.bool)
        same[:k, :k] = same[k:, k:] = True
        pairs = same & off
        scores.append(float(matrix[pairs].mean()))
    return (int(np.argmax(scores)) + 2) / (n - 1)


def halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the lower (depth < 1/2) and the upper (depth > 1/2) half of `count` blocks, by
    relative depth i / (L − 1); with an odd count the middle block belongs to neither."""
    if count < 2:
        raise ValueError("halves need at least two blocks")
    depth = np.arange(count) / (count - 1)
    return depth < 0.5, depth > 0.5


def third_means(values: Sequence[float]) -> tuple[float, float]:
    """Mean of a per-block curve over the lowest and over the top third of blocks (see `thirds`)."""
    values = np.asarray(values, dtype=np.float64)
    low, top = thirds(values.size)
    return float(values[low].mean()), float(values[top].mean())


def value_at_depth(values: Sequence[float], depth: float = 0.5) -> float:
    """A per-layer curve read at a relative depth i / (L − 1), linearly interpolated between the two layers
    around it (C12: with 6 blocks, depth 0.5 lies halfway between blocks 2 and 3)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2 or not 0 <= depth <= 1:
        raise ValueError("need a curve of at least two layers and a depth in [0, 1]")
    return float(np.interp(depth, np.arange(values.size) / (values.size - 1), values))


def head_subset_rho(subset_distance: Sequence[float], subset_cka: torch.Tensor) -> float:
    """C5: Spearman ρ between each head subset's mean attention distance and its highest CKA with any of the
    compared layers (rows of `subset_cka`: subsets; columns: the other model's layers)."""
    best = torch.as_tensor(subset_cka, dtype=torch.float64).max(dim=1).values
    return spearman([float(d) for d in subset_distance], best.tolist())


def skip_ratio_summary(averages: dict[str, torch.Tensor]) -> dict[str, float]:
    """C7's reading of per-block ratios ‖z‖ / ‖f(z)‖ (`skips.SkipNormStats.median_ratios()`).

    Returns:
        "median": the median over blocks (and sublayers) of the spatial-token ratios (ResNet: of its blocks);
        with a CLS token also "cls_minus_spatial_lower" / "..._upper": the mean over the lower (upper) half of
        blocks and both sublayers of R(CLS) − R(spatial).
    """
    spatial = [k for k in averages if not k.endswith("-cls")]
    if not spatial:
        raise ValueError("no per-block ratios")
    result = {"median": float(np.median(torch.stack([averages[k] for k in spatial]).double().numpy()))}
    if all(f"{k}-cls" in averages for k in spatial):
        difference = torch.stack([averages[f"{k}-cls"] - averages[k] for k in spatial]).double().numpy()
        lower, upper = halves(difference.shape[1])
        result["cls_minus_spatial_lower"] = float(difference[:, lower].mean())
        result["cls_minus_spatial_upper"] = float(difference[:, upper].mean())
    return result


def block_pair_cka(matrix: torch.Tensor, names: Sequence[str], block: int) -> float:
    """C8: the CKA between block `block`'s input (the output of block − 1) and its output, read off a
    within-model CKA matrix whose layers are `names` (block outputs named "blocks.i")."""
    names = list(names)
    if block < 1:
        raise ValueError("block 0's input is the stem, not a block output")
    return float(matrix[names.index(f"blocks.{block - 1}"), names.index(f"blocks.{block}")])


def few_shot_indices(labels: torch.Tensor, shots: int) -> torch.Tensor:
    """The first `shots` indices of every class, in data order (a deterministic few-shot training set),
    sorted; raises if a class has fewer."""
    labels = torch.as_tensor(labels)
    chosen = []
    for cls in torch.unique(labels):
        members = torch.nonzero(labels == cls).flatten()
        if len(members) < shots:
            raise ValueError(f"class {int(cls)} has {len(members)} examples, fewer than {shots}")
        chosen.append(members[:shots])
    return torch.sort(torch.cat(chosen)).values


# --------------------------------------------------------------------------------------------- the rules
# Each judge takes per-seed (or per-seed-pair) values already measured; lists are indexed by seed.


def judge_c1(
    uniformity_vit: Sequence[float],
    uniformity_resnet: Sequence[float],
    within_stage: Sequence[float],
    between_stage: Sequence[float],
    init_vit: Sequence[float],
    init_resnet: Sequence[float],
) -> ClaimRecord:
    """C1 (Fig 1): U = mean off-diagonal within-model CKA over all named layers.

    (a) U(vit) > U(resnet) over every seed pair; (b) ResNet: mean within-stage CKA > mean between-stage CKA.
    Baselines: U of both at initialisation (same seeds); the notes say whether (a) already holds there.
    """
    a = compare("a", "U(vit) > U(resnet)", uniformity_vit, uniformity_resnet, main=True)
    b = compare("b", "ResNet within-stage CKA > between-stage CKA", within_stage, between_stage, paired=True)
    at_init = float(np.mean(init_vit)) > float(np.mean(init_resnet))
    notes = [f"(a) {'already holds' if at_init else 'does not hold'} at initialisation (means)"]
    return _record(
        "C1",
        "Fig 1",
        "mean off-diagonal within-model CKA",
        {
            "vit": uniformity_vit,
            "resnet": uniformity_resnet,
            "resnet within-stage": within_stage,
            "resnet between-stage": between_stage,
        },
        {"vit at init": mean_sd(init_vit)[0], "resnet at init": mean_sd(init_resnet)[0]},
        [a, b],
        notes,
    )


def judge_c2(
    lower_half_in_lowest_quarter: Sequence[float],
    upper_half_in_middle: Sequence[float],
    top_third_max_cka: Sequence[float],
    lower_two_thirds_max_cka: Sequence[float],
    margins: Sequence[float] = (),
) -> ClaimRecord:
    """C2 (Fig 2): the best-matching ViT layer of every ResNet layer, per seed pair.

    (a) ≥ 75% of lower-half ResNet layers match in the ViT's lowest quarter (mean over pairs; `partly`
    from 50%); (b) ≥ 50% of upper-half ResNet layers match at ViT depth in (0.25, 0.6]; (c) the top third of
    ViT layers has a lower best CKA with any ResNet layer than the lower two thirds.
    """
    a = compare(
        "a",
        "share of lower-half ResNet layers matched in the ViT's lowest quarter ≥ 0.75",
        lower_half_in_lowest_quarter,
        0.75,
        at_least=True,
        main=True,
    )
    if not a.holds_in_mean and np.mean(lower_half_in_lowest_quarter) >= 0.5:
        a.holds_in_mean, a.partial_only = True, True
    b = compare(
        "b",
        "share of upper-half ResNet layers matched at ViT depth (0.25, 0.6] ≥ 0.5",
        upper_half_in_middle,
        0.5,
        at_least=True,
    )
    c = compare(
        "c",
        "best CKA of the ViT's lower two thirds > that of its top third",
        lower_two_thirds_max_cka,
        top_third_max_cka,
        paired=True,
    )
    per_seed = {
        "lower half in lowest quarter": lower_half_in_lowest_quarter,
        "upper half in (0.25, 0.6]": upper_half_in_middle,
        "top third best CKA": top_third_max_cka,
        "lower two thirds best CKA": lower_two_thirds_max_cka,
    }
    baselines = {"mean argmax margin": float(np.mean(margins))} if len(margins) else {}
    return _record(
        "C2", "Fig 2", "best-matching ViT layer of each ResNet layer", per_seed, baselines, [a, b, c]
    )


def judge_c3(local_low: Sequence[int], global_low: Sequence[int], local_top: Sequence[int]) -> ClaimRecord:
    """C3 (Fig 3): per seed, head counts in the lowest and the top third of `vit`'s blocks.

    Local: mean attention distance < 0.6 × uniform; global: > 0.9 × uniform. (a) the lowest third has ≥ 1
    local and ≥ 1 global head; (b) the top third has no local head. Robust = in every seed.
    """
    a = every_seed(
        "a",
        "lowest third: ≥ 1 local and ≥ 1 global head",
        [lo >= 1 and gl >= 1 for lo, gl in zip(local_low, global_low, strict=True)],
        main=True,
    )
    b = every_seed("b", "top third: no local head", [top == 0 for top in local_top])
    return _record(
        "C3",
        "Fig 3",
        "heads by mean attention distance (local < 0.6, global > 0.9 × uniform)",
        {
            "local heads, lowest third": local_low,
            "global heads, lowest third": global_low,
            "local heads, top third": local_top,
        },
        {},
        [a, b],
    )


def judge_c4(local_heads: dict[float, Sequence[int]]) -> ClaimRecord:
    """C4 (Fig 4): L(f) = local heads in the lowest third of blocks, per seed, for data fractions f.

    (a) L(3%) < L(100%); (b) L non-decreasing in f (means). L = 0 everywhere: `not`, with a note.
    """
    fractions = sorted(local_heads)
    smallest, full = local_heads[fractions[0]], local_heads[fractions[-1]]
    a = compare("a", f"L({fractions[0]:.0%}) < L({fractions[-1]:.0%})", full, smallest, main=True)
    means = [float(np.mean(local_heads[f])) for f in fractions]
    steps = [later - earlier for earlier, later in itertools.pairwise(means)]
    b = Criterion(
        "b",
        "L non-decreasing in the data fraction (means)",
        steps,
        holds_in_mean=all(d >= 0 for d in steps),
        robust=False,
    )
    b.robust = b.holds_in_mean and a.robust  # a monotone trend of means is as robust as its end-points
    per_seed = {f"L({f:.0%})": local_heads[f] for f in fractions}
    notes = []
    if all(v == 0 for f in fractions for v in local_heads[f]):
        a.holds_in_mean = b.holds_in_mean = b.robust = False
        notes.append("no fraction learned a local head")
    return _record("C4", "Fig 4", "local heads in the lowest third of blocks", per_seed, {}, [a, b], notes)


def judge_c5(spearman: Sequence[float]) -> ClaimRecord:
    """C5 (Fig 5): Spearman ρ(subset mean distance, max CKA with early ResNet layers), per seed.

    Reproduced if ρ ≤ −0.8 in every seed; `partly` if the mean ρ < 0; else `not`.
    """
    mean_rho = float(np.mean(spearman))
    strong = Criterion(
        "a",
        "ρ ≤ −0.8 in every seed",
        [-0.8 - r for r in spearman],
        holds_in_mean=mean_rho < 0,
        robust=all(r <= -0.8 for r in spearman),
        main=True,
    )
    return _record(
        "C5",
        "Fig 5",
        "Spearman ρ between head-subset distance and CKA with early ResNet layers",
        {"rho": spearman},
        {},
        [strong],
    )


def judge_c6(
    vit_before_residual: Sequence[float],
    vit_after_residual: Sequence[float],
    resnet_first_stage: Sequence[float],
) -> ClaimRecord:
    """C6 (Fig 6): ERF half-mass radius r. (a) r(ViT block 0, before residual) > r(ResNet first stage);
    (b) r(ViT block 0, after residual) < r(before residual) (same seeds)."""
    a = compare(
        "a",
        "r(ViT block 0 before residual) > r(ResNet first stage)",
        vit_before_residual,
        resnet_first_stage,
        main=True,
    )
    b = compare(
        "b",
        "r(ViT block 0 after residual) < r(before residual)",
        vit_before_residual,
        vit_after_residual,
        paired=True,
    )
    return _record(
        "C6",
        "Fig 6",
        "effective-receptive-field half-mass radius (px)",
        {
            "vit before residual": vit_before_residual,
            "vit after residual": vit_after_residual,
            "resnet first stage": resnet_first_stage,
        },
        {},
        [a, b],
    )


def judge_c7(
    vit_spatial: Sequence[float],
    resnet: Sequence[float],
    cls_minus_spatial_lower: Sequence[float],
    cls_minus_spatial_upper: Sequence[float],
) -> ClaimRecord:
    """C7 (Fig 7): skip ratio R = ‖z‖ / ‖f(z)‖ (median over images).

    Args:
        vit_spatial, resnet: per seed, the median over blocks of R.
        cls_minus_spatial_lower, cls_minus_spatial_upper: per seed, mean over the lower (upper) half of
            blocks of R(CLS) − R(spatial).
    (a) R(ViT spatial) > R(ResNet); (b) phase change: R(CLS) > R(spatial) in the lower half, < in the upper.
    """
    a = compare(
        "a", "median R of ViT spatial tokens > median R of the ResNet", vit_spatial, resnet, main=True
    )
    lower = compare("b", "lower half: R(CLS) > R(spatial)", cls_minus_spatial_lower, 0.0)
    upper = compare("b", "upper half: R(CLS) < R(spatial)", [-v for v in cls_minus_spatial_upper], 0.0)
    b = Criterion(
        "b",
        "phase change: R(CLS) > R(spatial) in the lower half, < in the upper half",
        lower.values + upper.values,
        holds_in_mean=lower.holds_in_mean and upper.holds_in_mean,
        robust=lower.robust and upper.robust,
    )
    return _record(
        "C7",
        "Fig 7",
        "skip-connection norm ratio ‖z‖ / ‖f(z)‖",
        {
            "vit spatial": vit_spatial,
            "resnet": resnet,
            "CLS − spatial, lower half": cls_minus_spatial_lower,
            "CLS − spatial, upper half": cls_minus_spatial_upper,
        },
        {},
        [a, b],
    )


def judge_c8(
    cka_drop: dict[str, Sequence[float]],
    accuracy_cost: dict[str, Sequence[float]],
    middle: str,
    baselines: dict[str, float] | None = None,
) -> ClaimRecord:
    """C8 (Fig 8): no-skip models, one per removed block (e.g. "early", "middle", "late").

    Args:
        cka_drop: per model, per seed: CKA(input, output of the removed block) in the intact `vit` minus the
            same in the no-skip model.
        accuracy_cost: per model, per seed: accuracy of `vit` minus the no-skip model's, in points.
        middle: which key is the middle block.
        baselines: printed beside the values (e.g. the intact model's CKA across each block).
    (a) CKA falls by > 0.1 (every model); (b) the middle block's cost > 1 point and larger than the others'.
    """
    drops = [compare("a", f"{name}: CKA drop > 0.1", values, 0.1) for name, values in cka_drop.items()]
    a = Criterion(
        "a",
        "CKA across the removed block falls by > 0.1",
        [v for d in drops for v in d.values],
        holds_in_mean=all(d.holds_in_mean for d in drops),
        robust=all(d.robust for d in drops),
        main=True,
    )
    parts = [compare("b", "middle cost > 1 point", accuracy_cost[middle], 1.0)]
    parts += [
        compare("b", f"middle cost > {name} cost", accuracy_cost[middle], values)
        for name, values in accuracy_cost.items()
        if name != middle
    ]
    b = Criterion(
        "b",
        "the middle block's accuracy cost > 1 point and larger than the early and late ones",
        [v for p in parts for v in p.values],
        holds_in_mean=all(p.holds_in_mean for p in parts),
        robust=all(p.robust for p in parts),
    )
    per_seed = {f"CKA drop, {k}": v for k, v in cka_drop.items()} | {
        f"accuracy cost, {k}": v for k, v in accuracy_cost.items()
    }
    metric = "CKA across the removed block and accuracy cost"
    return _record("C8", "Fig 8", metric, per_seed, dict(baselines or {}), [a, b])


def judge_c9(
    vit: Sequence[float],
    resnet: Sequence[float],
    vit_gap: Sequence[float],
    baselines: dict[str, float] | None = None,
) -> ClaimRecord:
    """C9 (Figs 9, 10): share of interior positions whose token↔patch CKA map peaks at their own patch.
    (a) vit ≥ 0.8; (b) resnet < vit; (c) vit-gap < vit. `baselines` (e.g. at initialisation) are printed."""
    a = compare("a", "vit ≥ 0.8", vit, 0.8, at_least=True, main=True)
    b = compare("b", "resnet < vit", vit, resnet)
    c = compare("c", "vit-gap < vit", vit, vit_gap)
    return _record(
        "C9",
        "Figs 9, 10",
        "own-position localisation share",
        {"vit": vit, "resnet": resnet, "vit-gap": vit_gap},
        dict(baselines or {}),
        [a, b, c],
    )


def judge_c10(
    vit_cls: Sequence[float],
    vit_tokens: Sequence[float],
    gap_pooled: Sequence[float],
    gap_tokens: Sequence[float],
) -> ClaimRecord:
    """C10 (Fig 11): last-block 10-shot probes. (a) vit: CLS probe > mean single-token probe;
    (b) vit-gap: GAP probe > mean single-token probe (same seeds on each side)."""
    a = compare("a", "vit: CLS probe > mean single-token probe", vit_cls, vit_tokens, paired=True, main=True)
    b = compare("b", "vit-gap: GAP probe > mean single-token probe", gap_pooled, gap_tokens, paired=True)
    return _record(
        "C10",
        "Fig 11",
        "last-block 10-shot linear-probe accuracy",
        {
            "vit CLS": vit_cls,
            "vit tokens": vit_tokens,
            "vit-gap GAP": gap_pooled,
            "vit-gap tokens": gap_tokens,
        },
        {},
        [a, b],
    )


def judge_c11(
    top_gap: Sequence[float],
    bottom_gap: Sequence[float],
    init: Sequence[float] = (),
    ceiling: Sequence[float] = (),
) -> ClaimRecord:
    """C11 (Fig 12): same-layer CKA with a full-data `vit` of another seed, per block.

    Args:
        top_gap, bottom_gap: per seed, mean over the top (bottom) third of blocks of CKA(30%) − CKA(3%).
        init, ceiling: the baselines (init vs trained; two full-data seeds), mean over blocks.
    (a) top third: CKA(30%) − CKA(3%) robustly > 0; (b) the bottom third's gap is smaller than the top's.
    """
    a = compare("a", "top third: CKA(30%) − CKA(3%) > 0", top_gap, 0.0, main=True)
    b = compare("b", "gap(bottom third) < gap(top third)", top_gap, bottom_gap, paired=True)
    baselines = {k: mean_sd(v)[0] for k, v in (("init", init), ("ceiling", ceiling)) if len(v)}
    return _record(
        "C11",
        "Fig 12",
        "same-layer CKA with the full-data vit",
        {"gap, top third": top_gap, "gap, bottom third": bottom_gap},
        baselines,
        [a, b],
    )


def judge_c12(
    probe_at_half_depth: dict[float, Sequence[float]], baselines: dict[str, float] | None = None
) -> ClaimRecord:
    """C12 (Fig 13): linear-probe accuracy at relative depth 0.5, per seed, for data fractions f.
    (a) 100% > 3% robustly; (b) non-decreasing in f (means). `baselines` (e.g. at initialisation) are
    printed."""
    fractions = sorted(probe_at_half_depth)
    a = compare(
        "a",
        f"probe({fractions[-1]:.0%}) > probe({fractions[0]:.0%})",
        probe_at_half_depth[fractions[-1]],
        probe_at_half_depth[fractions[0]],
        main=True,
    )
    means = [float(np.mean(probe_at_half_depth[f])) for f in fractions]
    steps = [later - earlier for earlier, later in itertools.pairwise(means)]
    b = Criterion(
        "b",
        "non-decreasing in the data fraction (means)",
        steps,
        holds_in_mean=all(d >= 0 for d in steps),
        robust=all(d >= 0 for d in steps) and a.robust,
    )
    return _record(
        "C12",
        "Fig 13",
        "linear-probe accuracy at relative depth 0.5",
        {f"{f:.0%}": probe_at_half_depth[f] for f in fractions},
        dict(baselines or {}),
        [a, b],
    )


def judge_c13(split_depth: Sequence[float]) -> ClaimRecord:
    """C13 (Mixer appendix): relative depth of the best two-group split of the Mixer's within-model CKA,
    per seed. Reproduced: in the lower third (every seed); `partly`: in the lower half."""
    third = every_seed("a", "split in the lower third", [d <= 1 / 3 for d in split_depth], main=True)
    half = every_seed("a", "split in the lower half", [d <= 1 / 2 for d in split_depth], main=True)
    criterion = third if third.robust else half
    if criterion is half and half.holds_in_mean:
        half.partial_only = True
    return _record(
        "C13",
        "Mixer appendix",
        "relative depth of the best two-group split",
        {"split depth": split_depth},
        {},
        [criterion],
    )


def judge_c14(
    lowest_third: Sequence[float], top_third: Sequence[float], baselines: dict[str, float] | None = None
) -> ClaimRecord:
    """C14 (fine-tuning appendix): per-block CKA before vs after fine-tuning, per seed, averaged over the
    lowest and the top third of blocks. CKA(lowest third) > CKA(top third), robustly. `baselines` (the
    initialisation, seed-to-seed) are printed."""
    a = compare("a", "CKA(lowest third) > CKA(top third)", lowest_third, top_third, paired=True, main=True)
    return _record(
        "C14",
        "fine-tuning appendix",
        "per-block CKA before vs after fine-tuning",
        {"lowest third": lowest_third, "top third": top_third},
        dict(baselines or {}),
        [a],
    )


# --------------------------------------------------------------------------------------------- measuring
# The book-scale measurements behind the rules, on every trained seed of the zoo. Expensive results go
# through `seelike.cache` inside the measures (cka.model_cka, attention distances).

CKA_IMAGES, DISTANCE_IMAGES, CKA_BATCH = 5_000, 2_000, 256
# C6: ERF images; C7: skip-ratio images; C10, C12: probe test images (scored in chunks), shots per class from
# the training split, ridge penalty (relative); C5: heads per subset.
ERF_IMAGES, SKIP_IMAGES, PROBE_IMAGES, PROBE_CHUNK = 32, 5_000, 5_000, 1_000
PROBE_SHOTS, PROBE_L2, HEAD_SUBSET_SIZE = 10, 1e-2, 2
NOSKIP = {"early": "vit-noskip-1", "middle": "vit-noskip-3", "late": "vit-noskip-5"}
FRACTIONS = {"vit-data3": 0.03, "vit-data10": 0.10, "vit-data30": 0.30, "vit": 1.0}
# every zoo entry a claim reads
MODELS = ("vit", "vit-gap", "resnet", "mixer", *FRACTIONS, "vit-noskip-1", "vit-noskip-3", "vit-noskip-5",
          "vit-pretrain04", "vit-finetune59")  # fmt: skip


def zoo_seeds(name: str) -> list[int]:
    """The seeds of `name` to measure: every trained seed in the zoo's manifest."""
    from . import zoo

    return list(zoo.trained(name))


def _load(name: str, seed: int):
    from . import zoo

    return zoo.load(name, seed=seed)


def _init(name: str, seed: int):
    from . import zoo

    return zoo.build(name, seed).eval()


def structure_matrices(
    vit_seeds: Sequence[int],
    resnet_seeds: Sequence[int],
    images: torch.Tensor,
    *,
    init: bool = False,
) -> dict[str, dict]:
    """Every within-model and ViT × ResNet CKA matrix of C1 and C2 (all named layers), from one `joint_cka`.

    Args:
        vit_seeds, resnet_seeds: seeds of `vit` and `resnet`.
        images: (N, 1, 28, 28) test images.
        init: the untrained networks of the same seeds instead of the trained ones.
    Returns:
        {"within": {(name, seed): (matrix, names)}, "cross": {(vit seed, resnet seed): (matrix (Lv, Lr),
        vit names, resnet names)}}.
    """
    entries = [("vit", s) for s in vit_seeds] + [("resnet", s) for s in resnet_seeds]
    models = [(_init if init else _load)(name, seed) for name, seed in entries]
    matrix, names = joint_cka(models, images)
    within = {entry: (joint_block(matrix, names, i, i), names[i]) for i, entry in enumerate(entries)}
    cross = {}
    for i, (_, vit_seed) in enumerate(entries[: len(vit_seeds)]):
        for j in range(len(vit_seeds), len(entries)):
            cross[(vit_seed, entries[j][1])] = (joint_block(matrix, names, i, j), names[i], names[j])
    return {"within": within, "cross": cross}


def measure_c1(vit_seeds, resnet_seeds, images) -> ClaimRecord:
    from .comparisons import mean_off_diagonal

    trained = structure_matrices(vit_seeds, resnet_seeds, images)["within"]
    untrained = structure_matrices(vit_seeds, resnet_seeds, images, init=True)["within"]
    within, between = zip(*(stage_contrast(*trained[("resnet", s)]) for s in resnet_seeds), strict=True)
    u = {key: mean_off_diagonal(m) for key, (m, _) in trained.items()}
    u0 = {key: mean_off_diagonal(m) for key, (m, _) in untrained.items()}
    vit, resnet = (
        [u[(name, s)] for s in seeds] for name, seeds in (("vit", vit_seeds), ("resnet", resnet_seeds))
    )
    vit0, resnet0 = (
        [u0[(n, s)] for s in seeds] for n, seeds in (("vit", vit_seeds), ("resnet", resnet_seeds))
    )
    return judge_c1(vit, resnet, within, between, vit0, resnet0)


def measure_c2(vit_seeds, resnet_seeds, images) -> ClaimRecord:
    """Per (vit, resnet) seed pair, C2's shares and best CKAs; baselines: the same readings of the untrained
    networks of the same seeds (means over pairs) and the mean argmax margin."""
    pairs = list(itertools.product(vit_seeds, resnet_seeds))
    keys = ("lower_half_in_lowest_quarter", "upper_half_in_middle", "top_third_max_cka",
            "lower_two_thirds_max_cka", "mean_margin")  # fmt: skip
    trained = structure_matrices(vit_seeds, resnet_seeds, images)["cross"]
    untrained = structure_matrices(vit_seeds, resnet_seeds, images, init=True)["cross"]
    shares = [best_match_shares(trained[pair][0]) for pair in pairs]
    record = judge_c2(*([s[k] for s in shares] for k in keys))
    at_init = [best_match_shares(untrained[pair][0]) for pair in pairs]
    labels = ("lower half in lowest quarter", "upper half in (0.25, 0.6]")
    for key, label in zip(keys[:2], labels, strict=True):
        record.baselines[f"{label}, at init"] = float(np.mean([s[key] for s in at_init]))
    record.notes.append(f"{len(pairs)} seed pair(s), every named layer of both models, {len(images)} images")
    return record


def head_distances(model, images) -> tuple[torch.Tensor, float]:
    """(blocks, heads) mean attention distances of `model` over `images` (memoized measure, default
    settings: the chapters' views call it the same way and read the same cached result) and the
    uniform-attention distance of its grid."""
    from . import attention

    patch, grid, _ = attention.model_patch_geometry(model)
    distances = attention.dataset_mean_attention_distance(model, images, patch)
    return distances, attention.uniform_attention_distance(grid, patch)


def measure_c3(vit_seeds, images, name: str = "vit") -> ClaimRecord:
    """Head counts per seed of `name` (default the main `vit`; an intervention model such as `vit-localinit`
    gives its own record, reported apart from the main verdicts)."""
    counts = [head_counts(*head_distances(_load(name, s), images)) for s in vit_seeds]
    record = judge_c3(*([c[k] for c in counts] for k in ("local_low", "global_low", "local_top")))
    if name != "vit":
        record.notes.append(f"measured on {name}, not on the main vit")
    return record


def measure_c4(seeds_of: dict[str, list], images) -> ClaimRecord:
    local = {FRACTIONS[name]: [head_counts(*head_distances(_load(name, s), images))["local_low"]
                               for s in seeds] for name, seeds in seeds_of.items()}  # fmt: skip
    return judge_c4(local)


def measure_c13(mixer_seeds, images) -> ClaimRecord:
    from .cka import model_cka

    matrices = [model_cka(_load("mixer", s), None, images, batch_size=CKA_BATCH)[0] for s in mixer_seeds]
    return judge_c13([best_two_group_split(m) for m in matrices])


def _accuracy(name: str, seed: int) -> float:
    from . import zoo

    return float(zoo.manifest_entry(name, seed)["test_accuracy"])


def _label(seed: int) -> str:
    return f"seed {seed}"


def first_stage_modules(resnet) -> list[str]:
    """The module paths of a ResNet's named layers from the stem to the end of its first stage."""
    from . import activations

    names = activations.layer_names(resnet)
    first = next(stage_of(n) for n in names if stage_of(n) != n)
    last = max(i for i, n in enumerate(names) if stage_of(n) == first)
    layers = activations.resolve_layers(resnet, names[: last + 1])
    if any(layer.hook != "output" for layer in layers):
        raise ValueError("expected module outputs up to the end of the first stage")
    return [layer.module for layer in layers]


def head_subset_result(vit, resnet, cka_images, distance_images) -> dict:
    """C5's measurement on one (vit, resnet) pair: block 0's heads sorted by mean distance (on
    `distance_images`), windows of HEAD_SUBSET_SIZE consecutive heads, and each window's CKA (on
    `cka_images`) with the ResNet's layers up to the end of its first stage; cached.

    Returns:
        {"subsets": windows of head indices, "distance": (S,) mean distance of each window, "cka": (S, R)
        CKA with the R ResNet layers, "layers": their module paths, "distances": (blocks, heads)}.
    """
    from . import attention

    distances = head_distances(vit, distance_images)[0]
    subsets = attention.head_subsets(attention.sort_heads(distances)[1][0], size=HEAD_SUBSET_SIZE)
    layers = first_stage_modules(resnet)
    subset_cka = attention.head_subset_cka(vit, resnet, cka_images, subsets, layers, 0, CKA_BATCH)
    distance = attention.subset_distances(distances[0], subsets)
    return {
        "subsets": subsets,
        "distance": distance,
        "cka": subset_cka,
        "layers": layers,
        "distances": distances,
    }


def measure_c5(vit_seeds, resnet_seeds, cka_images, distance_images) -> ClaimRecord:
    """ρ per (vit, resnet) seed pair between each head window's mean distance and its highest CKA with the
    ResNet's early layers (`head_subset_result`)."""
    rhos = []
    for vit_seed, resnet_seed in itertools.product(vit_seeds, resnet_seeds):
        result = head_subset_result(
            _load("vit", vit_seed), _load("resnet", resnet_seed), cka_images, distance_images
        )
        rhos.append(head_subset_rho(result["distance"], result["cka"]))
    record = judge_c5(rhos)
    record.notes.append(
        f"block 0, windows of {HEAD_SUBSET_SIZE} heads; ResNet layers stem to the end of its first stage; "
        f"{len(rhos)} seed pair(s)"
    )
    return record


@memoize
def _erf_radii(model, images, points: dict[str, str]) -> dict[str, float]:
    """Half-mass radius of the effective receptive field at each named point (cached)."""
    from . import receptive_field

    maps = receptive_field.effective_receptive_fields(model, images, points)
    return {label: receptive_field.erf_extent(m) for label, m in maps.items()}


def measure_c6(vit_seeds, resnet_seeds, images) -> ClaimRecord:
    """ERF half-mass radius on `images` (ERF_IMAGES): ViT block 0's attention sublayer before its residual
    add (`blocks.0.attn`) and after it (`blocks.0.norm2:input`); the ResNet's first stage output (its last
    unit)."""
    before, after, resnet_radius = [], [], []
    for seed in vit_seeds:
        points = {"before": "blocks.0.attn", "after": "blocks.0.norm2:input"}
        radii = _erf_radii(_load("vit", seed), images, points)
        before.append(radii["before"]), after.append(radii["after"])
    for seed in resnet_seeds:
        resnet = _load("resnet", seed)
        point = f"layer1.{len(resnet.layer1) - 1}"
        resnet_radius.append(_erf_radii(resnet, images, {"first stage": point})["first stage"])
    record = judge_c6(before, after, resnet_radius)
    record.notes.append(f"{len(images)} images; ResNet first stage = the output of its last layer1 unit")
    return record


@memoize
def _skip_summary(model, images) -> dict[str, float]:
    """`skip_ratio_summary` of the per-image median skip ratios on `images` (cached)."""
    from . import skips

    return skip_ratio_summary(skips.skip_norm_ratio(model, images, batch_size=CKA_BATCH).median_ratios())


def measure_c7(vit_seeds, resnet_seeds, images) -> ClaimRecord:
    """Skip ratios on `images` (SKIP_IMAGES): per block and sublayer, the median over images of each image's
    ‖z‖ / ‖f(z)‖ (`skips.SkipNormStats.median_ratios`); median over blocks and sublayers; CLS − spatial per
    half."""
    vit = [_skip_summary(_load("vit", s), images) for s in vit_seeds]
    resnet = [_skip_summary(_load("resnet", s), images)["median"] for s in resnet_seeds]
    record = judge_c7([v["median"] for v in vit], resnet, [v["cls_minus_spatial_lower"] for v in vit],
                      [v["cls_minus_spatial_upper"] for v in vit])  # fmt: skip
    record.baselines["vit spatial at init"] = float(np.mean([_skip_summary(_init("vit", s), images)["median"]
                                                            for s in vit_seeds]))  # fmt: skip
    record.notes.append(
        "R per block and sublayer: the median over images of each image's ratio of token-mean norms "
        "(skips.SkipNormStats.median_ratios); the ViT median is over blocks and both sublayers"
    )
    return record


def measure_c8(intact: str, seeds_of: dict[str, list], images) -> ClaimRecord:
    """Per seed: within-model CKA (`cka.model_cka` on `images`) between the removed block's input and
    output, intact model (`intact`, same seed) minus no-skip model; test accuracies from the manifest."""
    from . import zoo
    from .cka import model_cka

    def across(name, seed, block):
        matrix, names, _ = model_cka(_load(name, seed), None, images, batch_size=CKA_BATCH)
        return block_pair_cka(matrix, names, block)

    drops, costs, baselines = {}, {}, {}
    for position, name in NOSKIP.items():
        (block,) = zoo.spec(name).no_skip_blocks
        seeds = [s for s in seeds_of[name] if s in seeds_of[intact]]
        intact_cka = [across(intact, s, block) for s in seeds]
        drops[position] = [i - across(name, s, block) for i, s in zip(intact_cka, seeds, strict=True)]
        costs[position] = [100 * (_accuracy(intact, s) - _accuracy(name, s)) for s in seeds]
        baselines[f"{intact} CKA across block {block}"] = float(np.mean(intact_cka))
    record = judge_c8(drops, costs, "middle", baselines)
    record.notes.append(
        f"intact baseline: {intact} of the same seed; early, middle, late = "
        + ", ".join(NOSKIP.values())
        + "; accuracy cost in points of test accuracy"
    )
    return record


def localization_result(model, images, layer: str | None = None) -> dict:
    """`localization.localization` of `model`'s final block (or `layer`) on `images`, in minibatches of
    CKA_BATCH, cached: C9's measurement, shared with chapter 7's figures."""
    from . import localization

    return localization.localization(model, images, layer=layer, batch_size=CKA_BATCH)


def _localisation(model, images) -> float:
    return float(localization_result(model, images)["own_fraction_interior"])


def measure_c9(seeds_of: dict[str, list], images) -> ClaimRecord:
    """Interior own-position share of the final block's token↔patch CKA map (`localization.localization` on
    `images`; the ResNet's final stage), per seed; baseline: the untrained `vit` of the same seeds."""
    shares = {name: [_localisation(_load(name, s), images) for s in seeds_of[name]]
              for name in ("vit", "resnet", "vit-gap")}  # fmt: skip
    init = [_localisation(_init("vit", s), images) for s in seeds_of["vit"]]
    baselines = {"vit at init": float(np.mean(init))}
    record = judge_c9(shares["vit"], shares["resnet"], shares["vit-gap"], baselines)
    record.notes.append("ResNet: its final stage's positions (4×4 grid, interior 2×2); ViTs: the 7×7 grid")
    return record


def probe_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PROBE_SHOTS training images per class (the first of each class in the training split "fit") and the
    first PROBE_IMAGES test images, with labels."""
    from . import data

    train_images, train_labels = data.fashion_mnist("fit")
    chosen = few_shot_indices(train_labels, PROBE_SHOTS)
    test_images, test_labels = data.fashion_mnist("test")
    return train_images[chosen], train_labels[chosen], test_images[:PROBE_IMAGES], test_labels[:PROBE_IMAGES]


def probe_curves(model) -> dict:
    """`probes.probe_layers` in float64, PROBE_SHOTS-shot on `probe_data()`, scored in chunks of PROBE_CHUNK
    test images (the probes are fitted on the same training images each time, so the image-weighted mean of
    the chunks is the accuracy on all PROBE_IMAGES); each chunk is cached.

    Returns:
        as `probes.probe_layers(..., per_token=True)`: "layers", "depth" and, per read-out ("cls", "gap",
        "token", ...), accuracies per block (and per position for "token").
    """
    import copy

    from . import probes

    train_x, train_y, test_x, test_y = probe_data()
    model = copy.deepcopy(model).double()
    totals: dict = {}
    for start in range(0, len(test_x), PROBE_CHUNK):
        x, y = test_x[start : start + PROBE_CHUNK].double(), test_y[start : start + PROBE_CHUNK]
        result = probes.probe_layers(model, train_x.double(), train_y, x, y, l2=PROBE_L2, per_token=True)
        for key, value in result.items():
            if key in ("layers", "depth"):
                totals[key] = value
            else:
                totals[key] = totals.get(key, 0) + value.double() * len(y)
    return {
        key: value if key in ("layers", "depth") else value / len(test_x) for key, value in totals.items()
    }


def _last_block_probes(model) -> dict[str, float]:
    """The last block's CLS / GAP accuracy and the mean over positions of the single-token probes."""
    curves = probe_curves(model)
    return {k: float(curves[k][-1].double().mean()) for k in ("cls", "gap", "token") if k in curves}


def measure_c10(vit_seeds, gap_seeds) -> ClaimRecord:
    """Last-block closed-form ridge probes, PROBE_SHOTS-shot, scored on PROBE_IMAGES test images, per seed."""
    vit = [_last_block_probes(_load("vit", s)) for s in vit_seeds]
    gap = [_last_block_probes(_load("vit-gap", s)) for s in gap_seeds]
    record = judge_c10([v["cls"] for v in vit], [v["token"] for v in vit], [g["gap"] for g in gap],
                       [g["token"] for g in gap])  # fmt: skip
    record.notes.append(
        f"{PROBE_SHOTS} training images per class (the first of each class in the fit split), "
        f"{PROBE_IMAGES} test images, relative ridge penalty {PROBE_L2}"
    )
    return record


def same_layer_curves(models: dict, images, families: Sequence[str] = ("blocks",)) -> Callable:
    """Same-layer CKA between any two of several models of one architecture, from one `joint_cka` pass.

    Every model runs once per minibatch whatever the number of comparisons (pair by pair, with
    `comparisons.same_layer_cka`, a reference model would run once per comparison); the values equal the
    pairwise ones up to rounding.

    Args:
        models: {key: model in eval mode}, all with the same layer names.
        images: (N, C, H, W) images.
        families: layer families of `activations.layer_names` ("blocks": block outputs; "attn": attention
            outputs); one cached pass covers them all.
    Returns:
        curve(key_a, key_b, family) -> (L,) float64 array over the family's layers.
    """
    from . import activations

    keys = list(models)
    layer_sets = [[n for f in families for n in activations.layer_names(m, f)] for m in models.values()]
    matrix, names = joint_cka(list(models.values()), images, layer_sets, batch_size=CKA_BATCH)

    def curve(key_a, key_b, family: str = families[0]) -> np.ndarray:
        if family not in families:
            raise ValueError(f"family {family!r} was not captured; captured: {list(families)}")
        a, b = keys.index(key_a), keys.index(key_b)
        block = joint_block(matrix, names, a, b)
        wanted = activations.layer_names(models[key_a], family)
        return np.array([float(block[names[a].index(n), names[b].index(n)]) for n in wanted])

    return curve


# Fig 12 shows block outputs and attention outputs: one joint pass captures both
FIG12_FAMILIES = ("blocks", "attn")


def fraction_curves(seeds_of: dict[str, list], images, family: str = "blocks") -> dict:
    """Fig 12's curves: same-layer CKA of each data-fraction model (seed s) with a full-data `vit` of
    another seed r, for every pair (s, r); the untrained network of seed s against the same `vit` r; and
    every two full-data seeds against each other (the ceiling). All from one `same_layer_curves` pass.

    Args:
        seeds_of: trained seeds per zoo name (needs "vit" and the fractions).
        images: (N, 1, 28, 28) test images.
        family: the layers compared (a family of `FIG12_FAMILIES` or any of `activations.layer_names`).
    Returns:
        {"pairs": [(s, r)], "curves": {name: [(L,) array per pair]}, "init": [(L,) per pair],
         "ceiling": [(L,) per pair of vit seeds], "notes": [str]}
    """
    fraction_seeds = [s for s in seeds_of["vit-data3"] if s in seeds_of["vit-data30"]]
    pairs = [(s, r) for s in fraction_seeds for r in seeds_of["vit"] if r != s]
    notes = []
    if not pairs:
        pairs = [(s, r) for s in fraction_seeds for r in seeds_of["vit"]]
        notes.append("no full-data vit of another seed: the reference is the vit the fractions share their "
                     "initialisation with (same seed), which inflates every CKA")  # fmt: skip
    names = [n for n in ("vit-data3", "vit-data10", "vit-data30") if all(s in seeds_of[n] for s, _ in pairs)]
    models = {("vit", r): _load("vit", r) for r in seeds_of["vit"]}
    for s in dict.fromkeys(s for s, _ in pairs):
        models |= {(name, s): _load(name, s) for name in names} | {("init", s): _init("vit-data3", s)}
    families = FIG12_FAMILIES if family in FIG12_FAMILIES else (family,)
    curve = same_layer_curves(models, images, families)
    curves = {n: [curve((n, s), ("vit", r), family) for s, r in pairs] for n in names}
    init = [curve(("init", s), ("vit", r), family) for s, r in pairs]
    ceiling = [curve(("vit", a), ("vit", b), family) for a, b in itertools.combinations(seeds_of["vit"], 2)]
    if not ceiling:
        notes.append("no ceiling: it needs two full-data vit seeds")
    return {"pairs": pairs, "curves": curves, "init": init, "ceiling": ceiling, "notes": notes}


def measure_c11(seeds_of: dict[str, list], images) -> ClaimRecord:
    """Per (fraction seed s, full-data `vit` seed r ≠ s): same-layer block CKA of vit-data3 and vit-data30
    (seed s) with `vit` (seed r); gaps over the top and the bottom third. Baselines: the untrained network of
    seed s against `vit` r, and two full-data seeds against each other (mean over blocks)."""
    result = fraction_curves(seeds_of, images, "blocks")
    curves = result["curves"]
    top_gap, bottom_gap = [], []
    for low, high in zip(curves["vit-data3"], curves["vit-data30"], strict=True):
        bottom, top = third_means(high - low)
        top_gap.append(top), bottom_gap.append(bottom)
    init = [float(c.mean()) for c in result["init"]]
    ceiling = [float(c.mean()) for c in result["ceiling"]]
    record = judge_c11(top_gap, bottom_gap, init, ceiling)
    record.notes.extend(result["notes"])
    for name, values in curves.items():
        mean = np.mean(values, axis=0)
        record.notes.append(f"{name} CKA with vit per block: " + " ".join(f"{v:.3f}" for v in mean))
    return record


def depth_probe(model) -> dict:
    """Fig 13's probes: `probes.probe_layers` in float64, PROBE_SHOTS-shot on `probe_data()`, cached.

    Returns:
        {"depth": (L,) relative depth i / (L − 1) of each block, "accuracy": (L,) accuracy of the model's
         own read-out (CLS, else GAP), "readout": "cls" or "gap", and the raw result under "result"}.
    """
    import copy

    from . import probes

    train_x, train_y, test_x, test_y = probe_data()
    model = copy.deepcopy(model).double()
    result = probes.probe_layers(model, train_x.double(), train_y, test_x.double(), test_y, l2=PROBE_L2)
    accuracy, readout = probes.readout_curve(result, "own")
    count = len(accuracy)
    depth = np.arange(count) / (count - 1) if count > 1 else np.zeros(1)
    return {"depth": depth, "accuracy": accuracy.double().numpy(), "readout": readout, "result": result}


def _half_depth_probe(model) -> float:
    """The own read-out's probe accuracy at relative depth 0.5 of the blocks (`depth_probe`)."""
    return value_at_depth(depth_probe(model)["accuracy"].tolist(), 0.5)


def measure_c12(seeds_of: dict[str, list]) -> ClaimRecord:
    """Own-read-out probe accuracy at relative depth 0.5, per fraction and seed; baseline: the untrained
    vit."""
    present = {name: seeds for name, seeds in seeds_of.items() if name in FRACTIONS and seeds}
    values = {FRACTIONS[n]: [_half_depth_probe(_load(n, s)) for s in seeds] for n, seeds in present.items()}
    init = [_half_depth_probe(_init("vit", s)) for s in present["vit"]]
    record = judge_c12(values, {"vit at init": float(np.mean(init))})
    record.notes.append(
        f"{PROBE_SHOTS}-shot probes on {PROBE_IMAGES} test images; depth i / (L − 1) over the blocks, "
        "interpolated between the two blocks around 0.5"
    )
    return record


def finetune_curves(pre_seeds, fine_seeds, images) -> dict:
    """The fine-tuning appendix's curves: per seed, same-layer block CKA of vit-pretrain04 and
    vit-finetune59 of that seed; the untrained network of the seed against the fine-tuned model; every two
    pretrained seeds against each other. All from one `same_layer_curves` pass.

    Returns:
        {"seeds": [s], "curves": [(L,) per seed], "init": [(L,) per seed], "ceiling": [(L,) per pair]}
    """
    seeds = [s for s in fine_seeds if s in pre_seeds]
    models = {("pre", s): _load("vit-pretrain04", s) for s in pre_seeds}
    for s in seeds:
        models |= {("fine", s): _load("vit-finetune59", s), ("init", s): _init("vit-pretrain04", s)}
    curve = same_layer_curves(models, images)
    curves = [curve(("pre", s), ("fine", s)) for s in seeds]
    init = [curve(("init", s), ("fine", s)) for s in seeds]
    ceiling = [curve(("pre", a), ("pre", b)) for a, b in itertools.combinations(pre_seeds, 2)]
    return {"seeds": seeds, "curves": curves, "init": init, "ceiling": ceiling}


def measure_c14(pre_seeds, fine_seeds, images) -> ClaimRecord:
    """Per seed: same-layer block CKA of vit-pretrain04 and vit-finetune59 (same seed) on `images`, averaged
    over the lowest and the top third. Baselines: the fine-tuned model against the untrained network, and two
    pretrained seeds against each other."""
    result = finetune_curves(pre_seeds, fine_seeds, images)
    lowest, top = zip(*(third_means(c) for c in result["curves"]), strict=True)
    init = [third_means(c) for c in result["init"]]
    baselines = {"init vs fine-tuned, lowest third": float(np.mean([i[0] for i in init])),
                 "init vs fine-tuned, top third": float(np.mean([i[1] for i in init]))}  # fmt: skip
    if ceiling := [third_means(c) for c in result["ceiling"]]:
        baselines["seed-to-seed pretrained, lowest third"] = float(np.mean([c[0] for c in ceiling]))
        baselines["seed-to-seed pretrained, top third"] = float(np.mean([c[1] for c in ceiling]))
    return judge_c14(list(lowest), list(top), baselines)


# claim → (figure, chapter that measures it)
CLAIMS = {
    "C1": ("Fig 1", "05_structure"), "C2": ("Fig 2", "05_structure"), "C3": ("Fig 3", "06_local_global"),
    "C4": ("Fig 4", "06_local_global"), "C5": ("Fig 5", "06_local_global"),
    "C6": ("Fig 6", "06_local_global"),
    "C7": ("Fig 7", "07_spatial"), "C8": ("Fig 8", "07_spatial"), "C9": ("Figs 9, 10", "07_spatial"),
    "C10": ("Fig 11", "07_spatial"), "C11": ("Fig 12", "08_data_scale"), "C12": ("Fig 13", "08_data_scale"),
    "C13": ("Mixer appendix", "05_structure"), "C14": ("fine-tuning appendix", "08_data_scale"),
}  # fmt: skip


def evaluate(
    scale: str = "book",
    *,
    claims: Sequence[str] | None = None,
    progress: bool = True,
) -> list[ClaimRecord]:
    """Every claim of claims.md (or the ones named), measured and judged.

    Args:
        scale: "book" (the zoo, offline) or "paper" (timm's public weights; not run offline: every claim is
            `not attempted` with the reason).
        claims: claim ids to evaluate, e.g. ["C1", "C2"]; default all.
        progress: a progress bar over claims.
    Returns:
        one `ClaimRecord` per claim, in order C1..C14.
    """
    wanted = list(CLAIMS) if claims is None else list(claims)
    if unknown := [c for c in wanted if c not in CLAIMS]:
        raise ValueError(f"unknown claim(s) {unknown}; known: {', '.join(CLAIMS)}")
    wanted = [c for c in CLAIMS if c in wanted]
    from tqdm.auto import tqdm

    from . import data

    if scale == "paper":
        reason = "paper scale runs online on a GPU (`seelike reproduce --scale paper`); not run here"
        return [not_attempted(c, CLAIMS[c][0], "", reason) for c in wanted]
    if scale != "book":
        raise ValueError(f"scale must be 'book' or 'paper', got {scale!r}")
    images = data.fashion_mnist("test")[0]
    cka, distance = images[:CKA_IMAGES], images[:DISTANCE_IMAGES]
    seeds = {name: zoo_seeds(name) for name in MODELS}
    fractions = [n for n in FRACTIONS if seeds[n]]
    # claim → (models it needs, measurement)
    steps = {
        "C1": (("vit", "resnet"), lambda: measure_c1(seeds["vit"], seeds["resnet"], cka)),
        "C2": (("vit", "resnet"), lambda: measure_c2(seeds["vit"], seeds["resnet"], cka)),
        "C3": (("vit",), lambda: measure_c3(seeds["vit"], distance)),
        "C4": (("vit-data3", "vit"), lambda: measure_c4({n: seeds[n] for n in fractions}, distance)),
        "C5": (("vit", "resnet"), lambda: measure_c5(seeds["vit"], seeds["resnet"], cka, distance)),
        "C6": (("vit", "resnet"), lambda: measure_c6(seeds["vit"], seeds["resnet"], images[:ERF_IMAGES])),
        "C7": (("vit", "resnet"), lambda: measure_c7(seeds["vit"], seeds["resnet"], images[:SKIP_IMAGES])),
        "C8": (("vit", *NOSKIP.values()), lambda: measure_c8("vit", seeds, cka)),
        "C9": (("vit", "resnet", "vit-gap"), lambda: measure_c9(seeds, cka)),
        "C10": (("vit", "vit-gap"), lambda: measure_c10(seeds["vit"], seeds["vit-gap"])),
        "C11": (("vit-data3", "vit-data30", "vit"), lambda: measure_c11(seeds, cka)),
        "C12": (("vit-data3", "vit"), lambda: measure_c12({n: seeds[n] for n in fractions})),
        "C13": (("mixer",), lambda: measure_c13(seeds["mixer"], cka)),
        "C14": (("vit-pretrain04", "vit-finetune59"),
                lambda: measure_c14(seeds["vit-pretrain04"], seeds["vit-finetune59"], cka)),
    }  # fmt: skip
    records = {}
    for claim in tqdm(wanted, desc="claims", disable=not progress):
        needed, measure = steps[claim]
        if missing := [name for name in needed if not seeds[name]]:
            reason = f"the zoo has no trained {', '.join(missing)}"
            records[claim] = not_attempted(claim, CLAIMS[claim][0], "", reason)
        else:
            records[claim] = measure()
    return list(records.values())


def markdown_table(records: Sequence[ClaimRecord]) -> str:
    """The conclusion's verdict table: one row per claim with its metric, mean ± sd, baselines, verdict."""
    rows = [
        "| claim | figure | metric | per-seed mean ± sd | baselines | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        values = "; ".join(f"{k} {m:.3f}" + ("" if np.isnan(sd) else f" ± {sd:.3f}")
                           for k, (m, sd) in ((k, mean_sd(v)) for k, v in r.per_seed.items()))  # fmt: skip
        baselines = "; ".join(f"{k} {v:.3f}" for k, v in r.baselines.items()) or "—"
        rows.append(f"| {r.claim} | {r.figure} | {r.metric} | {values or '—'} | {baselines} | {r.verdict} |")
    return "\n".join(rows)
