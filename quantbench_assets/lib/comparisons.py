"""Every statistical comparison between the rungs of a model's ladder, from per-item correctness.

One family per model × task × scorer: each rung against the model's baseline rung
(tiers.baseline_quant) and each rung against the next higher one (tiers.PRECISION_ORDER). The tests
themselves are stats.compare_variants; this module groups the scores, picks the arms, and shapes
the rows for the warehouse table `raw.variant_comparisons`.
"""
from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone

import polars as pl

from .stats import TOST_MARGINS, _margin_label, compare_variants
from .tiers import PRECISION_ORDER, baseline_quant, precision_rank

# A comparison is underpowered when its design could not detect a loss as large as the narrowest
# tier margin (TR125's 3 pp; the unpaired MDE at 80 % power) and the data did not settle it anyway:
# McNemar found no difference after Holm, and TOST did not show equivalence within ±3 pp. Such a
# row's "no significant difference" says nothing about the tier; more items would.
ALPHA = 0.05
UNDERPOWERED_ABOVE_PP = min(TOST_MARGINS)

# The table's columns and types, fixed so that a run in which a column is all null (no test could
# run) writes the same schema as any other. Keys of stats.compare_variants rows, plus grouping.
COMPARISON_SCHEMA: dict[str, pl.DataType] = {
    "model": pl.String, "task": pl.String, "scorer": pl.String, "comparison": pl.String,
    "baseline_variant": pl.String, "variant_a": pl.String, "variant_b": pl.String,
    "n_items": pl.Int64, "correct_a": pl.Int64, "correct_b": pl.Int64,
    "acc_a": pl.Float64, "acc_b": pl.Float64, "delta_pp": pl.Float64,
    "wilson_low_a": pl.Float64, "wilson_high_a": pl.Float64, "wilson_low_b": pl.Float64, "wilson_high_b": pl.Float64,
    "welch_t": pl.Float64, "welch_df": pl.Float64, "welch_p": pl.Float64,
    "welch_p_holm": pl.Float64, "welch_p_bonferroni": pl.Float64,
    "mcnemar_statistic": pl.Float64, "mcnemar_p": pl.Float64, "mcnemar_exact": pl.Boolean,
    "mcnemar_p_holm": pl.Float64, "mcnemar_p_bonferroni": pl.Float64,
    "only_a_correct": pl.Int64, "only_b_correct": pl.Int64, "flip_rate": pl.Float64, "cohens_d": pl.Float64,
    **{
        name: dtype
        for margin in TOST_MARGINS
        for name, dtype in ((f"tost_p_{_margin_label(margin)}", pl.Float64),
                            (f"tost_equivalent_{_margin_label(margin)}", pl.Boolean))
    },
    "mde_pp": pl.Float64, "mde_paired_pp": pl.Float64, "underpowered": pl.Boolean,
    "notes": pl.String, "computed_at": pl.Datetime("us", "UTC"),
}


@contextmanager
def _heap_frozen():
    """statsmodels' Holm correction calls gc.collect() on every call: ~0.4 s each with Dagster's
    heap loaded, twice per model × task. Freezing the existing heap makes those collections cheap."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _ladder_key(quant: str, variant: str) -> tuple[int, str]:
    rank = precision_rank(quant)
    return (len(PRECISION_ORDER) if rank is None else rank, variant)  # unknown types go last


def compare_benchmark_variants(scores: Iterable[Mapping[str, object]], correct_column: str = "rescored_correct") -> list[dict]:
    """Rows of `raw.variant_comparisons` from rows of `raw.benchmark_scores`.

    `scores` needs variant, model, quant (the requested type), task, scorer, item_id and
    `correct_column`. A model × task × scorer with a single variant yields no rows.
    """
    arms: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    quant_of: dict[str, str] = {}
    for row in scores:
        variant = str(row["variant"])
        quant_of[variant] = str(row["quant"])
        arms[(str(row["model"]), str(row["task"]), str(row["scorer"]))][variant][row["item_id"]] = int(bool(row[correct_column]))

    computed_at = datetime.now(timezone.utc)
    out: list[dict] = []
    with _heap_frozen():
        for key, by_variant in sorted(arms.items()):
            out += _compare_family(*key, by_variant, quant_of, computed_at)
    return out


def _compare_family(model: str, task: str, scorer: str, by_variant: Mapping[str, Mapping], quant_of: Mapping[str, str],
                    computed_at: datetime) -> list[dict]:
    """One Holm/Bonferroni family: every comparison among one model's rungs on one task and scorer."""
    if len(by_variant) < 2:
        return []
    base_quant = baseline_quant(quant_of[v] for v in by_variant)
    baseline = next(v for v in by_variant if quant_of[v] == base_quant)
    rows = compare_variants(
        by_variant[baseline],
        {v: items for v, items in by_variant.items() if v != baseline},
        baseline_name=baseline,
        order=sorted(by_variant, key=lambda v: _ladder_key(quant_of[v], v)),
        alpha=ALPHA,
    )
    return [{**row, "model": model, "task": task, "scorer": scorer, "baseline_variant": baseline,
             "underpowered": _underpowered(row), "computed_at": computed_at} for row in rows]


def _underpowered(row: Mapping[str, object]) -> bool:
    margin = _margin_label(UNDERPOWERED_ABOVE_PP)
    can_detect = row["mde_pp"] is not None and row["mde_pp"] <= UNDERPOWERED_ABOVE_PP
    different = row["mcnemar_p_holm"] is not None and row["mcnemar_p_holm"] < ALPHA
    return not (can_detect or different or row[f"tost_equivalent_{margin}"])


def comparisons_frame(rows: list[dict]) -> pl.DataFrame:
    """The rows in COMPARISON_SCHEMA's column order and types (an empty list gives an empty table)."""
    return pl.DataFrame([{name: row.get(name) for name in COMPARISON_SCHEMA} for row in rows], schema=COMPARISON_SCHEMA)
