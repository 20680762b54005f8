"""What a chapter shows besides figures: values glued into its prose, and claim records as tables.

A chapter states no number it does not compute: each measured value is handed to `glue(name, value)` and the
prose refers to it as ``{glue:text}`name:.3f` `` (myst-nb), so the text and the computation cannot disagree on
any machine. Outside a Jupyter Book build (Colab, plain Jupyter) `glue` only records the value.

`record_table(record)` shows one `claims.ClaimRecord` the way the conclusion does: each sub-criterion with
its per-seed values, whether it holds in the mean and whether it is robust, and the baselines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .claims import ClaimRecord, mean_sd

GLUED: dict[str, Any] = {}


def glue(name: str, value: Any) -> None:
    """Make `value` available to the chapter's prose as `name` (myst-nb's glue, without displaying it).

    Args:
        name: the key the prose uses, e.g. ``{glue:text}`u_vit:.3f` ``.
        value: a number or a string; numpy scalars are turned into Python numbers so the prose formats them.
    """
    if isinstance(value, np.generic):
        value = value.item()
    GLUED[name] = value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or plain Jupyter: nothing renders glued values there
        return
    myst_glue(name, value, display=False)


def glue_record(prefix: str, record: ClaimRecord) -> None:
    """Glue a claim record's verdict and every per-seed series' mean and sd as `<prefix>_<key>_mean/_sd`,
    each sub-criterion's outcome as `<prefix>_<name>` ("robust", "holds in the mean", "fails") and each
    baseline as `<prefix>_base_<i>` in the record's order."""
    glue(f"{prefix}_verdict", record.verdict)
    for key, values in record.per_seed.items():
        mean, sd = mean_sd(values)
        slug = _slug(key)
        glue(f"{prefix}_{slug}_mean", mean)
        glue(f"{prefix}_{slug}_sd", sd)
        glue(f"{prefix}_{slug}_n", len(values))
    for criterion in record.criteria:
        glue(f"{prefix}_{criterion.name}", outcome(criterion))
    for i, value in enumerate(record.baselines.values()):
        if isinstance(value, (int, float, np.generic)):
            glue(f"{prefix}_base_{i}", float(value))


def outcome(criterion) -> str:
    """A sub-criterion's outcome in words."""
    if criterion.robust:
        return "robust"
    if criterion.holds_in_mean:
        return "holds at the weaker threshold only" if criterion.partial_only else "holds in the mean only"
    return "fails"


def record_table(record: ClaimRecord) -> str:
    """One claim record as a markdown table: per-seed series, sub-criteria, baselines, verdict.

    Returns:
        markdown text (display it with `IPython.display.Markdown`).
    """
    metric = f": {record.metric}" if record.metric else ""
    lines = [f"**{record.claim}** ({record.figure}){metric}. Verdict: **{record.verdict}**.", ""]
    if not record.per_seed and not record.criteria:  # not attempted: only the reason (in the notes)
        return "\n".join(lines + [f"- {note}" for note in record.notes])
    lines += ["| series | per seed | mean ± sd |", "|---|---|---|"]
    for key, values in record.per_seed.items():
        lines.append(f"| {key} | {_values(values)} | {_mean_sd(values)} |")
    lines += ["", "| sub-criterion | per seed (claimed sign > 0) | outcome |", "|---|---|---|"]
    for c in record.criteria:
        main = " (main)" if c.main else ""
        lines.append(f"| ({c.name}){main} {c.statement} | {_values(c.values)} | {outcome(c)} |")
    if record.baselines:
        lines += ["", "| baseline | value |", "|---|---|"]
        lines += [f"| {k} | {_number(v)} |" for k, v in record.baselines.items()]
    if record.notes:
        lines += [""] + [f"- {note}" for note in record.notes]
    return "\n".join(lines)


def show_record(record: ClaimRecord):
    """`record_table` as a displayable Markdown object (plain text where IPython is missing)."""
    try:
        from IPython.display import Markdown
    except ImportError:
        return record_table(record)
    return Markdown(record_table(record))


def _slug(key: str) -> str:
    """A glue-name fragment: lower case, every run of other characters one "_" ("CLS − spatial, lower half"
    → "cls_spatial_lower_half")."""
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def _number(value: Any) -> str:
    if isinstance(value, (int, float, np.generic)):
        return f"{float(value):.3f}"
    return str(value)


def _values(values: Sequence[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values) or "—"


def _mean_sd(values: Sequence[float]) -> str:
    if not len(values):
        return "—"
    mean, sd = mean_sd(values)
    return f"{mean:.3f}" + ("" if np.isnan(sd) else f" ± {sd:.3f}")
