"""The chapters' bridge from claim records to prose: glue names, outcomes in words, record tables."""

from __future__ import annotations

import numpy as np

from seelike import claims, report


def judged() -> claims.ClaimRecord:
    return claims.judge_c12({0.03: [0.60, 0.62], 1.0: [0.80, 0.81]}, {"vit at init": 0.42})


def test_glue_record_names_every_series_criterion_and_baseline():
    report.GLUED.clear()
    report.glue_record("c12", judged())
    assert report.GLUED["c12_verdict"] == "reproduced"
    assert report.GLUED["c12_3_mean"] == np.mean([0.60, 0.62]) and report.GLUED["c12_100_n"] == 2
    assert np.isclose(report.GLUED["c12_100_sd"], np.std([0.80, 0.81], ddof=1))
    assert report.GLUED["c12_a"] == "robust" and report.GLUED["c12_base_0"] == 0.42


def test_glue_turns_numpy_scalars_into_python_numbers():
    report.glue("x", np.float64(0.5))
    assert type(report.GLUED["x"]) is float


def test_outcome_words():
    criterion = claims.compare("a", "x > 0", [0.1], 0.0)
    assert report.outcome(criterion) == "holds in the mean only"  # one seed: no spread to beat
    assert report.outcome(claims.compare("a", "x > 0", [0.5, 0.6], 0.0)) == "robust"
    assert report.outcome(claims.compare("a", "x > 0", [-0.5, 0.1], 0.0)) == "fails"


def test_record_table_lists_series_criteria_and_baselines():
    table = report.record_table(judged())
    first = "**C12** (Fig 13): linear-probe accuracy at relative depth 0.5. Verdict: **reproduced**."
    assert table.splitlines()[0] == first
    assert "| 100% | 0.800 0.810 | 0.805 ± 0.007 |" in table and "| vit at init | 0.420 |" in table


def test_record_table_of_a_claim_not_attempted_gives_only_the_reason():
    record = claims.not_attempted("C14", "fine-tuning appendix", "", "no fine-tuned model")
    table = report.record_table(record)
    assert table.splitlines()[0] == "**C14** (fine-tuning appendix). Verdict: **not attempted**."
    assert "no fine-tuned model" in table and "|" not in table


def test_slug_collapses_other_characters():
    assert report._slug("CLS − spatial, lower half") == "cls_spatial_lower_half"
    assert report._slug("100%") == "100"
