"""The claims' rules on synthetic inputs whose verdict is known by construction."""

import numpy as np
import pytest
import torch

from seelike import claims
from seelike.claims import NOT, PARTLY, REPRODUCED


def test_compare_robust_mean_only_and_failing():
    robust = claims.compare("a", "x > y", [1.0, 1.1, 0.9], [0.0, 0.1, -0.1])
    assert robust.robust and robust.holds_in_mean
    noisy = claims.compare("a", "x > y", [1.0, -0.5, 2.0], [0.0, 0.1, -0.1])  # one seed has the wrong sign
    assert noisy.holds_in_mean and not noisy.robust
    small = claims.compare("a", "x > y", [0.2, 0.3, 0.25], [0.0, 0.4, 0.1])  # right sign, gap < 2 sd
    assert small.holds_in_mean and not small.robust
    failing = claims.compare("a", "x > y", [0.0, 0.1], [1.0, 1.1])
    assert not failing.holds_in_mean and not failing.robust
    single = claims.compare("a", "x > y", [5.0], [1.0])  # one seed cannot be robust
    assert single.holds_in_mean and not single.robust


def test_compare_pairs_and_thresholds():
    paired = claims.compare("a", "x > y", [2.0, 3.0], [1.0, 2.5], paired=True)
    assert paired.values == [1.0, 0.5]
    unpaired = claims.compare("a", "x > y", [2.0, 3.0], [1.0, 2.5])
    assert sorted(unpaired.values) == [-0.5, 0.5, 1.0, 2.0]  # every seed pair
    at_least = claims.compare("a", "x ≥ 0.8", [0.8, 0.8], 0.8, at_least=True)
    assert at_least.holds_in_mean and not claims.compare("a", "x > 0.8", [0.8, 0.8], 0.8).holds_in_mean
    with pytest.raises(ValueError, match="paired"):
        claims.compare("a", "x > y", [1.0], [1.0, 2.0], paired=True)
    with pytest.raises(ValueError, match="non-finite"):
        claims.compare("a", "x > y", [float("nan")], [1.0])


def test_verdict_rule():
    def c(holds, robust, main=False):
        return claims.Criterion("x", "", [], holds_in_mean=holds, robust=robust, main=main)

    assert claims.verdict([c(True, True, True), c(True, True)]) == REPRODUCED
    assert claims.verdict([c(True, False, True), c(True, False)]) == PARTLY  # all hold in the mean
    assert claims.verdict([c(True, True, True), c(False, False)]) == PARTLY  # some robust, the other fails
    assert claims.verdict([c(False, False, True), c(True, True)]) == NOT  # the main one fails
    assert claims.verdict([c(True, False, True), c(False, False)]) == NOT  # nothing robust, one fails
    # that last case is the one claims.md names no verdict for; no other case is it
    assert claims.unnamed_by_rule([c(True, False, True), c(False, False)])
    assert not any(
        claims.unnamed_by_rule(criteria)
        for criteria in ([c(True, True, True), c(True, True)], [c(True, False, True), c(True, False)],
                         [c(True, True, True), c(False, False)], [c(False, False, True), c(True, True)], [])
    )  # fmt: skip


def _staged_matrix(stages=(3, 3, 3), within=0.9, between=0.2):
    n = sum(stages)
    matrix = torch.full((n, n), between, dtype=torch.float64)
    start = 0
    for size in stages:
        matrix[start : start + size, start : start + size] = within
        start += size
    return matrix.fill_diagonal_(1.0)


def test_c1_on_matrices_with_and_without_stages():
    names = [f"layer{s + 1}.{b}" for s in range(3) for b in range(3)]
    staged = _staged_matrix()
    within, between = claims.stage_contrast(staged, names)
    assert within == pytest.approx(0.9) and between == pytest.approx(0.2)
    uniform = torch.full((9, 9), 0.8, dtype=torch.float64).fill_diagonal_(1.0)
    assert claims.stage_contrast(uniform, names) == pytest.approx((0.8, 0.8))
    with pytest.raises(ValueError, match="two stages"):
        claims.stage_contrast(staged[:3, :3], names[:3])

    def record(vit_u, resnet_u, stage_pairs):
        return claims.judge_c1(vit_u, resnet_u, [w for w, _ in stage_pairs], [b for _, b in stage_pairs],
                               init_vit=[0.9, 0.9], init_resnet=[0.5, 0.5])  # fmt: skip

    clear = record([0.80, 0.81, 0.79], [0.40, 0.42, 0.41], [(0.9, 0.2), (0.88, 0.25), (0.91, 0.22)])
    assert clear.verdict == REPRODUCED and "already holds" in clear.notes[0]
    no_stages = record([0.80, 0.81, 0.79], [0.40, 0.42, 0.41], [(0.8, 0.8), (0.7, 0.75), (0.8, 0.81)])
    assert no_stages.verdict == PARTLY  # (a) robust, (b) fails
    reversed_ = record([0.40, 0.41, 0.42], [0.80, 0.82, 0.81], [(0.9, 0.2)] * 3)
    assert reversed_.verdict == NOT


def test_c2_on_constructed_cross_matrices():
    # 9 ViT layers (rows, depth 0..1 in eighths) × 6 ResNet layers: lower-half ResNet layers match ViT layers
    # 0-2 (depth ≤ 0.25), upper-half ones ViT layers 3-4 (depth 0.375, 0.5); the top third matches nothing.
    cross = torch.full((9, 6), 0.1, dtype=torch.float64)
    for resnet_layer, vit_layer in enumerate([0, 1, 2, 3, 4, 4]):
        cross[vit_layer, resnet_layer] = 0.9
    shares = claims.best_match_shares(cross)
    assert shares["lower_half_in_lowest_quarter"] == 1.0 and shares["upper_half_in_middle"] == 1.0
    assert shares["top_third_max_cka"] == pytest.approx(0.1) and shares["mean_margin"] == pytest.approx(0.8)
    good = claims.judge_c2([1.0, 1.0], [1.0, 0.9], [0.1, 0.12], [0.9, 0.85])
    assert good.verdict == REPRODUCED
    halfway = claims.judge_c2([0.6, 0.6], [1.0, 0.9], [0.1, 0.12], [0.9, 0.85])
    assert halfway.verdict == PARTLY and halfway.criteria[0].partial_only
    assert claims.judge_c2([0.2, 0.3], [1.0, 0.9], [0.1, 0.12], [0.9, 0.85]).verdict == NOT


def test_c3_heads_at_known_distances():
    uniform = 14.4
    distances = torch.tensor([[3.0, 14.0, 14.2], [14.0, 14.3, 14.1], [13.9, 14.1, 14.2]] + [[14.0] * 3] * 3)
    counts = claims.head_counts(distances, uniform)
    assert counts == {"local_low": 1, "global_low": 5, "local_top": 0}
    assert claims.judge_c3([1, 1], [5, 4], [0, 0]).verdict == REPRODUCED
    assert claims.judge_c3([1, 0], [5, 4], [0, 0]).verdict == NOT  # one seed of two: not in the mean
    assert claims.judge_c3([1, 1], [5, 4], [1, 1]).verdict == PARTLY  # (a) robust, (b) fails


def test_c4_and_c12_data_fractions():
    grows = {0.03: [0, 0], 0.1: [1, 1], 0.3: [2, 2], 1.0: [3, 3]}  # seeds agree exactly: sd 0
    assert claims.judge_c4(grows).verdict == REPRODUCED
    bumpy = {0.03: [0, 2], 0.1: [3, 3], 0.3: [1, 2], 1.0: [1, 3]}  # (a) in the mean only, (b) fails
    assert claims.judge_c4(bumpy).verdict == NOT
    ends_only = {0.03: [0, 0], 0.1: [3, 3], 0.3: [1, 1], 1.0: [2, 2]}  # (a) robust, (b) fails
    assert claims.judge_c4(ends_only).verdict == PARTLY
    spread = {0.03: [0, 1], 0.1: [1, 2], 0.3: [2, 3], 1.0: [4, 5]}
    assert claims.judge_c4(spread).verdict == REPRODUCED
    nothing = claims.judge_c4({0.03: [0, 0], 1.0: [0, 0]})
    assert nothing.verdict == NOT and "no fraction" in nothing.notes[0]
    assert claims.judge_c12({0.03: [0.60, 0.62], 0.3: [0.70, 0.71], 1.0: [0.75, 0.76]}).verdict == REPRODUCED
    assert claims.judge_c12({0.03: [0.60, 0.62], 0.3: [0.78, 0.79], 1.0: [0.75, 0.76]}).verdict == PARTLY
    assert claims.judge_c12({0.03: [0.80, 0.82], 1.0: [0.75, 0.76]}).verdict == NOT


def test_c5_spearman_rule():
    assert claims.spearman([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert claims.spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="constant"):
        claims.spearman([1, 1, 1], [1, 2, 3])
    assert claims.judge_c5([-0.9, -1.0]).verdict == REPRODUCED
    assert claims.judge_c5([-0.9, -0.3]).verdict == PARTLY
    assert claims.judge_c5([0.2, -0.1]).verdict == NOT


def test_c13_split_of_a_two_stage_matrix():
    assert claims.best_two_group_split(_staged_matrix((3, 9))) == pytest.approx(3 / 11)
    assert claims.best_two_group_split(_staged_matrix((6, 6))) == pytest.approx(6 / 11)
    assert claims.judge_c13([3 / 11]).verdict == REPRODUCED
    assert claims.judge_c13([5 / 11]).verdict == PARTLY
    assert claims.judge_c13([8 / 11]).verdict == NOT


@pytest.mark.parametrize(
    ("judge", "good", "bad"),
    [
        (claims.judge_c6, ([9.0, 9.5], [3.0, 3.2], [4.0, 4.1]), ([2.0, 2.1], [3.0, 3.2], [4.0, 4.1])),
        (claims.judge_c9, ([0.9, 0.95], [0.3, 0.35], [0.5, 0.55]), ([0.5, 0.55], [0.3, 0.35], [0.4, 0.45])),
        (claims.judge_c10, ([0.8, 0.82], [0.5, 0.52], [0.8, 0.81], [0.6, 0.62]),
         ([0.5, 0.52], [0.8, 0.82], [0.8, 0.81], [0.6, 0.62])),
        (claims.judge_c11, ([0.2, 0.25], [0.01, 0.02]), ([-0.2, -0.25], [0.01, 0.02])),
        (claims.judge_c14, ([0.95, 0.96], [0.5, 0.55]), ([0.5, 0.55], [0.95, 0.96])),
    ],
)  # fmt: skip
def test_pairwise_claims_reproduce_and_fail(judge, good, bad):
    assert judge(*good).verdict == REPRODUCED
    assert judge(*bad).verdict == NOT


def test_c7_phase_change_and_c8_no_skip_costs():
    good = claims.judge_c7([50.0, 55.0], [2.0, 2.2], [3.0, 3.5], [-4.0, -4.5])
    assert good.verdict == REPRODUCED
    backwards = claims.judge_c7([50.0, 55.0], [2.0, 2.2], [-3.0, -3.5], [4.0, 4.5])
    assert backwards.verdict == PARTLY and not backwards.criteria[1].holds_in_mean
    drops = {"early": [0.3, 0.35], "middle": [0.4, 0.45], "late": [0.2, 0.25]}
    costs = {"early": [0.5, 0.6], "middle": [3.0, 3.2], "late": [0.4, 0.5]}
    assert claims.judge_c8(drops, costs, "middle").verdict == REPRODUCED
    flat = {"early": [3.0, 3.2], "middle": [0.5, 0.6], "late": [0.4, 0.5]}
    assert claims.judge_c8(drops, flat, "middle").verdict == PARTLY
    assert claims.judge_c8({k: [0.01, 0.02] for k in drops}, costs, "middle").verdict == NOT


def test_record_serialises_and_summarises():
    record = claims.judge_c5([-0.9, -1.0])
    assert record.summary("rho") == pytest.approx((-0.95, 0.0707106781))
    assert record.to_dict()["criteria"][0]["robust"] is True
    assert claims.not_attempted("C9", "Fig 9", "x", "offline").verdict == claims.NOT_ATTEMPTED


def test_evaluate_runs_every_claim_on_the_zoo(monkeypatch):
    """Every claim measured on the committed zoo (at most two seeds per model, few images: the protocol, not
    the verdicts)."""
    from seelike import zoo

    monkeypatch.setattr(claims, "CKA_IMAGES", 24)
    monkeypatch.setattr(claims, "DISTANCE_IMAGES", 8)
    monkeypatch.setattr(claims, "ERF_IMAGES", 4)
    monkeypatch.setattr(claims, "SKIP_IMAGES", 16)
    monkeypatch.setattr(claims, "PROBE_IMAGES", 40)
    monkeypatch.setattr(claims, "PROBE_CHUNK", 24)  # two chunks, the second smaller
    monkeypatch.setattr(claims, "PROBE_SHOTS", 2)
    monkeypatch.setattr(claims, "zoo_seeds", lambda name: list(zoo.trained(name))[:2])
    records = claims.evaluate(progress=False)
    assert [r.claim for r in records] == [f"C{i}" for i in range(1, 15)]
    assert {r.verdict for r in records} <= {REPRODUCED, PARTLY, NOT, claims.NOT_ATTEMPTED}
    by_claim = {r.claim: r for r in records}
    for claim in [f"C{i}" for i in range(1, 15)]:
        assert by_claim[claim].verdict != claims.NOT_ATTEMPTED, (claim, by_claim[claim].notes)
        assert by_claim[claim].per_seed and all(1 <= len(v) <= 4 for v in by_claim[claim].per_seed.values())
    assert len(by_claim["C3"].per_seed["local heads, lowest third"]) == min(2, len(zoo.trained("vit")))
    assert "ceiling" in by_claim["C11"].baselines and "init" in by_claim["C11"].baselines
    assert "intact baseline: vit of the same seed" in by_claim["C8"].notes[0]
    table = claims.markdown_table(records)
    assert table.count("\n") == 15 and "| C13 | Mixer appendix |" in table
    assert all(r.verdict == claims.NOT_ATTEMPTED for r in claims.evaluate("paper", progress=False))
    with pytest.raises(ValueError, match="scale"):
        claims.evaluate("huge")


def test_halves_thirds_and_depth_readings():
    lower, upper = claims.halves(6)
    assert lower.tolist() == [True] * 3 + [False] * 3 and upper.tolist() == [False] * 3 + [True] * 3
    lower, upper = claims.halves(5)  # the middle block belongs to neither half
    assert lower.tolist() == [True, True, False, False, False] and upper.tolist()[2:] == [False, True, True]
    assert claims.third_means([1.0, 3.0, 9.0, 9.0, 5.0, 7.0]) == pytest.approx((2.0, 6.0))
    assert claims.value_at_depth([0.1, 0.2, 0.4, 0.6, 0.7, 0.9], 0.5) == pytest.approx(0.5)  # blocks 2-3
    assert claims.value_at_depth([0.0, 1.0, 4.0], 0.5) == pytest.approx(1.0)  # an odd count hits a block
    assert claims.value_at_depth([2.0, 4.0], 1.0) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        claims.value_at_depth([1.0], 0.5)


def test_head_subset_rho_reads_the_best_layer_of_each_subset():
    cka = torch.tensor([[0.9, 0.2], [0.1, 0.7], [0.5, 0.3]])  # best per subset: 0.9, 0.7, 0.5
    assert claims.head_subset_rho([8.0, 10.0, 14.0], cka) == pytest.approx(-1.0)
    assert claims.head_subset_rho([14.0, 10.0, 8.0], cka) == pytest.approx(1.0)
    assert claims.judge_c5([claims.head_subset_rho([8.0, 10.0, 14.0], cka)] * 2).verdict == REPRODUCED


def test_skip_ratio_summary_of_known_ratios():
    blocks = 4
    vit = {
        "attention": torch.tensor([4.0, 5.0, 6.0, 7.0], dtype=torch.float64),
        "mlp": torch.tensor([8.0, 9.0, 10.0, 11.0], dtype=torch.float64),
        "attention-cls": torch.tensor([6.0, 7.0, 4.0, 5.0], dtype=torch.float64),  # +2, +2, -2, -2
        "mlp-cls": torch.tensor([9.0, 10.0, 9.0, 10.0], dtype=torch.float64),  # +1, +1, -1, -1
    }
    summary = claims.skip_ratio_summary(vit)
    assert summary["median"] == pytest.approx(7.5)  # median of 4..11
    assert summary["cls_minus_spatial_lower"] == pytest.approx(1.5)
    assert summary["cls_minus_spatial_upper"] == pytest.approx(-1.5)
    resnet = claims.skip_ratio_summary({"block": torch.arange(1.0, blocks + 2, dtype=torch.float64)})
    assert resnet == {"median": pytest.approx(3.0)}
    record = claims.judge_c7([summary["median"]] * 2, [3.0, 3.1], [1.5, 1.6], [-1.5, -1.4])
    assert record.verdict == REPRODUCED


def test_block_pair_cka_and_few_shot_indices():
    names = ["stem", "blocks.0.attn", "blocks.0", "blocks.1.attn", "blocks.1", "blocks.2", "norm"]
    matrix = torch.arange(49.0).reshape(7, 7)
    assert claims.block_pair_cka(matrix, names, 1) == float(matrix[2, 4])
    assert claims.block_pair_cka(matrix, names, 2) == float(matrix[4, 5])
    with pytest.raises(ValueError, match="stem"):
        claims.block_pair_cka(matrix, names, 0)
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 0, 1, 2, 2])
    assert claims.few_shot_indices(labels, 2).tolist() == [0, 1, 2, 3, 4, 5]
    assert claims.few_shot_indices(labels, 3).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="fewer"):
        claims.few_shot_indices(labels, 4)


def test_judges_print_the_baselines_they_are_given():
    record = claims.judge_c9([0.9, 0.95], [0.3, 0.35], [0.5, 0.55], {"vit at init": 1.0})
    assert record.baselines == {"vit at init": 1.0} and "vit at init 1.000" in claims.markdown_table([record])
    assert claims.judge_c12({0.03: [0.6, 0.61], 1.0: [0.7, 0.71]}, {"init": 0.5}).baselines == {"init": 0.5}
    assert claims.judge_c14([0.9, 0.91], [0.5, 0.52], {"seed-to-seed": 0.8}).verdict == REPRODUCED


def test_evaluate_takes_a_subset_of_claims():
    records = claims.evaluate("paper", claims=["C13", "C2"], progress=False)
    assert [r.claim for r in records] == ["C2", "C13"]
    with pytest.raises(ValueError, match="unknown claim"):
        claims.evaluate(claims=["C99"])


def test_joint_cka_blocks_equal_pairwise_cka(tmp_path, monkeypatch):
    """One pass over several models gives the same within- and cross-model matrices as cka_matrix per pair."""
    from seelike import cka, zoo

    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))
    torch.manual_seed(0)
    images = torch.rand(24, 1, 28, 28)
    vit, resnet = zoo.build("vit", 0).eval(), zoo.build("resnet", 1).eval()
    layers = [["blocks.0", "blocks.0.attn", "blocks.5"], ["layer1.0", "layer4.1"]]
    matrix, names = claims.joint_cka([vit, resnet], images, layers, batch_size=8)
    assert names == layers and matrix.shape == (5, 5) and matrix.dtype == torch.float64
    cross = cka.cka_matrix(vit, resnet, images, *layers, batch_size=8, progress=False)[0]
    within = cka.cka_matrix(vit, None, images, layers[0], batch_size=8, progress=False)[0]
    torch.testing.assert_close(claims.joint_block(matrix, names, 0, 1), cross, rtol=0, atol=1e-12)
    torch.testing.assert_close(claims.joint_block(matrix, names, 0, 0), within, rtol=0, atol=1e-12)
    torch.testing.assert_close(claims.joint_block(matrix, names, 1, 0), cross.T, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="one non-empty layer list per model"):
        claims.joint_cka([vit, resnet], images, layers[:1])


def test_same_layer_curves_equal_pairwise_curves(tmp_path, monkeypatch):
    """One joint pass over several ViTs gives each pair's same-layer curve, per family, as pair by pair."""
    from seelike import activations, comparisons, zoo

    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))
    torch.manual_seed(0)
    images = torch.rand(24, 1, 28, 28)
    models = {seed: zoo.build("vit", seed).eval() for seed in (0, 1, 2)}
    curve = claims.same_layer_curves(models, images, ("blocks", "attn"))
    assert claims.CKA_BATCH == 256  # the joint pass's minibatch, used pair by pair below
    for a, b in ((0, 1), (2, 0)):
        for family in ("blocks", "attn"):
            layers = activations.layer_names(models[a], family)
            pair = comparisons.same_layer_cka(models[a], models[b], images, layers, batch_size=256)
            expected = pair[0].numpy()
            assert curve(a, b, family).shape == expected.shape == (6,)
            np.testing.assert_allclose(curve(a, b, family), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve(1, 1, "blocks"), np.ones(6), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="was not captured"):
        curve(0, 1, "mlp")
