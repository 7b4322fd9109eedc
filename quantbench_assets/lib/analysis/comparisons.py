"""Every paired comparison between the rungs of a model's ladder, from per-item correctness.

One comparison model for the whole warehouse: a rung is compared with its model's baseline rung (the
one the catalog names, lib/gguf/ladder.py) only on the items both were scored on, with the same task
version, scorer and prompt method. A rung that cannot be compared that way gets a row that says why
("not comparable: ...") and no statistics, never a silent verdict. The tier mart reads these same
rows, so the tiers and the statistics cannot disagree about a pair.

One Holm/Bonferroni family per model × chain × task × scorer: each comparable rung vs the baseline,
and each rung vs the next higher one. The tests themselves are stats.compare_variants.
"""
from __future__ import annotations

import gc
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone

import numpy as np
import polars as pl
from scipy import stats as sps

from ..core import schemas
from ..gguf.ladder import ladder_sort_key
from ..analysis.stats import TOST_MARGINS, margin_label, compare_variants

ALPHA = 0.05
POWER = 0.8
# The narrowest tier margin (TR125's 3 pp): a comparison that cannot resolve it is underpowered.
DECISION_MARGIN_PP = min(TOST_MARGINS)


def min_shared_items() -> int:
    """Below this many shared items a pair gets no statistics and no tier, and its row says so.
    The number is stated once, as the dbt project's var `min_shared_items`: the marts apply it to the
    generation side, this module to the benchmark side."""
    import yaml

    from ..core.paths import dbt_project_dir

    project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text())
    return int(project["vars"]["min_shared_items"])


@contextmanager
def _heap_frozen():
    """statsmodels' Holm correction calls gc.collect() on every call: ~0.4 s each with Dagster's
    heap loaded. Freezing the existing heap makes those collections cheap."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Arm:
    """One rung's scores in one family: item -> 0/1, and what they were scored with."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}
        self.versions: set[str] = set()
        self.methods: set[str] = set()
        self.subsets: set[str] = set()

    def describe(self) -> str:
        subset = "/".join(sorted(self.subsets)) or "unnamed subset"
        return f"{subset} ({len(self.items)} items)"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def compare_rungs(scores: Iterable[Mapping[str, object]], baselines: Mapping[str, str],
                  min_shared: int | None = None) -> list[dict]:
    """Rows of `raw.variant_comparisons` from per-item correctness.

    `scores` rows need variant, model, quant, chain, task, scorer, item_id, correct (0/1) and may
    carry task_version, prompt_method and subset. `baselines` maps model -> baseline variant.
    """
    min_shared = min_shared_items() if min_shared is None else min_shared
    families: dict[tuple[str, str, str, str], dict[str, _Arm]] = defaultdict(lambda: defaultdict(_Arm))
    quant_of: dict[str, str] = {}
    for row in scores:
        if row["correct"] is None:
            continue
        variant = str(row["variant"])
        quant_of[variant] = str(row["quant"])
        arm = families[(str(row["model"]), str(row["chain"]), str(row["task"]), str(row["scorer"]))][variant]
        arm.items[str(row["item_id"])] = int(bool(row["correct"]))
        for attr, key in (("versions", "task_version"), ("methods", "prompt_method"), ("subsets", "subset")):
            value = _text(row.get(key))
            if value is not None:
                getattr(arm, attr).add(value)

    computed_at = datetime.now(timezone.utc)
    out: list[dict] = []
    with _heap_frozen():
        for (model, chain, task, scorer), arms in sorted(families.items()):
            out += _compare_family(model, chain, task, scorer, arms, baselines.get(model), quant_of,
                                   min_shared, computed_at)
    return out


def _why_not_comparable(base: _Arm | None, base_name: str | None, arm: _Arm, min_shared: int) -> str | None:
    if base_name is None:
        return "the model has no baseline in the catalog"
    if base is None:
        return f"baseline {base_name} has no scores on this task and scorer"
    if len(base.versions) > 1 or len(arm.versions) > 1:
        return "scores of several task versions are mixed"
    if base.versions != arm.versions:
        return f"task version {'/'.join(arm.versions)} vs the baseline's {'/'.join(base.versions)}"
    if base.methods != arm.methods:
        return (f"prompt method {'/'.join(sorted(arm.methods)) or 'unknown'} vs the baseline's "
                f"{'/'.join(sorted(base.methods)) or 'unknown'}")
    shared = len(base.items.keys() & arm.items.keys())
    if shared < min_shared:
        return (f"not comparable: baseline scored on {base.describe()}, rung on {arm.describe()}; "
                f"{shared} shared items < {min_shared}")
    return None


def _compare_family(model: str, chain: str, task: str, scorer: str, arms: Mapping[str, _Arm],
                    baseline: str | None, quant_of: Mapping[str, str], min_shared: int,
                    computed_at: datetime) -> list[dict]:
    base = arms.get(baseline) if baseline else None
    common = {"model": model, "chain": chain, "task": task, "scorer": scorer, "baseline_variant": baseline,
              "computed_at": computed_at}
    rows, comparable = [], {}
    for variant, arm in arms.items():
        if variant == baseline:
            continue
        reason = _why_not_comparable(base, baseline, arm, min_shared)
        if reason is None:
            comparable[variant] = arm
        else:
            rows.append({**common, **_sides(base, arm), "comparison": "vs_baseline", "variant_a": baseline,
                         "variant_b": variant, "comparable": False, "not_comparable_reason": reason,
                         "n_items": len(base.items.keys() & arm.items.keys()) if base else 0})
    if base is None or not comparable:
        return rows

    order = sorted([baseline, *comparable], key=lambda v: (ladder_sort_key(quant_of[v]), v))
    stats_rows = compare_variants(base.items, {v: a.items for v, a in comparable.items()},
                                  baseline_name=baseline, order=order, alpha=ALPHA, power=POWER)
    arms_all = {baseline: base, **comparable}
    for row in stats_rows:
        a, b = arms_all[row["variant_a"]], arms_all[row["variant_b"]]
        rows.append({**common, **row, **_sides(a, b), "comparable": True,
                     **_paired_delta_ci(a.items, b.items), "items_needed": items_needed(row["flip_rate"]),
                     "underpowered": _underpowered(row)})
    return rows


def _sides(a: _Arm | None, b: _Arm) -> dict:
    return {
        "task_version": "/".join(sorted(b.versions)) or None,
        "prompt_method": "/".join(sorted(b.methods)) or None,
        "subset_a": ("/".join(sorted(a.subsets)) or None) if a else None,
        "subset_b": "/".join(sorted(b.subsets)) or None,
        "n_items_a": len(a.items) if a else 0, "n_items_b": len(b.items),
    }


def _paired_delta_ci(a: Mapping[str, int], b: Mapping[str, int]) -> dict:
    """95% t interval of the mean paired difference (b − a) in pp, on the shared items."""
    shared = sorted(a.keys() & b.keys())
    d = np.array([b[k] - a[k] for k in shared], dtype=float)
    if d.size < 2:
        return {"delta_ci_low_pp": None, "delta_ci_high_pp": None}
    sd = float(d.std(ddof=1))
    half = float(sps.t.ppf(1 - ALPHA / 2, d.size - 1)) * sd / math.sqrt(d.size)
    mean = float(d.mean())
    return {"delta_ci_low_pp": (mean - half) * 100, "delta_ci_high_pp": (mean + half) * 100}


def items_needed(flip_rate: float | None, margin_pp: float = DECISION_MARGIN_PP) -> int | None:
    """Paired items needed to decide at ±`margin_pp`. With flips: McNemar's sample size to detect a
    margin-sized difference at the observed flip rate with 80% power (Connor 1987:
    n = (z_α/2·√ψ + z_β·√(ψ − δ²))² / δ²). With none: the items that, all agreeing, would show
    equivalence by the exact bound (1 − δ)^n < α (stats.tost_paired_binary). None when unknown."""
    if flip_rate is None:
        return None
    delta = margin_pp / 100.0
    if flip_rate <= 0:
        return int(math.floor(math.log(ALPHA) / math.log(1.0 - delta))) + 1
    psi = max(flip_rate, delta)  # at least the margin: a flip rate below it cannot hold a δ-sized shift
    z_a, z_b = sps.norm.ppf(1 - ALPHA / 2), sps.norm.ppf(POWER)
    return int(math.ceil((z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / delta ** 2))


def _underpowered(row: Mapping[str, object]) -> bool:
    """Neither a difference (McNemar after Holm) nor equivalence within the margin (TOST) was shown,
    and the design could not detect a margin-sized loss: the comparison says nothing yet."""
    margin = margin_label(DECISION_MARGIN_PP)
    can_detect = row["mde_pp"] is not None and row["mde_pp"] <= DECISION_MARGIN_PP
    different = row["mcnemar_p_holm"] is not None and row["mcnemar_p_holm"] < ALPHA
    return not (can_detect or different or row[f"tost_equivalent_{margin}"])


def comparisons_frame(rows: list[dict]) -> pl.DataFrame:
    """The rows as raw.variant_comparisons, declared in lib/core/schemas.py: its columns in order and
    types (an empty list gives an empty table)."""
    declared = schemas.columns("raw", "variant_comparisons")
    return schemas.frame("variant_comparisons", [{name: row.get(name) for name in declared} for row in rows])
