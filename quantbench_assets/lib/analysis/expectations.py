"""Great Expectations suites for the warehouse marts, validated on pandas frames.

GE's SQL datasource fails on DuckDB (docs/PLATFORM_NOTES.md), so a mart is read into pandas and validated in an
ephemeral context: nothing is written to disk and nothing is sent anywhere. great_expectations
takes ~4 s to import, so it is imported inside `validate_mart`, never at module import.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

# A tier outside the seed's set, or an interval that misses its own estimate, is not a thin-data
# warning: something computed it wrongly.
ACCURACY_COLUMNS = {
    "fct_variant_quality": [("rescored_accuracy", "rescored_accuracy_ci_low", "rescored_accuracy_ci_high")],
    "rpt_quantization_leaderboard": [("accuracy", "accuracy_ci_low", "accuracy_ci_high")],
}


@dataclass(frozen=True)
class MartValidation:
    mart: str
    success: bool
    rows: int
    failures: list[dict] = field(default_factory=list)  # one per failed expectation, with examples


def _accuracy_expectations(gx, columns: Sequence[tuple[str, str, str]]) -> list:
    out = []
    for estimate, low, high in columns:
        out += [gx.expectations.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1) for c in (estimate, low, high)]
        # The interval contains its estimate: low <= estimate <= high (rows without an estimate skip).
        out += [
            gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing")
            for a, b in ((estimate, low), (high, estimate))
        ]
    return out


def _tier_or_reason(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(tier_or_reason=df["quality_tier"].fillna(df["tier_reason"]))


def _baselines_per_model(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby("model", as_index=False).agg(n_baselines=("is_baseline", "sum"))


@dataclass(frozen=True)
class MartSuite:
    """What to expect of one mart; `prepare` turns the mart into the frame the expectations see."""

    expectations: Callable[..., list]
    prepare: Callable[[pd.DataFrame], pd.DataFrame] = lambda df: df


def _suites(tiers: Sequence[str]) -> dict[str, MartSuite]:
    return {
        "fct_variant_quality": MartSuite(lambda gx: _accuracy_expectations(gx, ACCURACY_COLUMNS["fct_variant_quality"])),
        "rpt_quantization_leaderboard": MartSuite(lambda gx: [
            *_accuracy_expectations(gx, ACCURACY_COLUMNS["rpt_quantization_leaderboard"]),
            gx.expectations.ExpectColumnValuesToBeInSet(column="quality_tier", value_set=[*tiers, "baseline"]),
        ]),
        # A variant without a tier must say why: never a silent gap.
        "fct_quality_tiers": MartSuite(lambda gx: [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="tier_or_reason"),
            *[gx.expectations.ExpectColumnValuesToBeInSet(column=c, value_set=list(tiers))
              for c in ("quality_tier", "benchmark_tier", "generation_tier")],
        ], prepare=_tier_or_reason),
        # Exactly one baseline per model: every delta in the marts is measured against it.
        "dim_model_variants": MartSuite(
            lambda gx: [gx.expectations.ExpectColumnValuesToBeBetween(column="n_baselines", min_value=1, max_value=1)],
            prepare=_baselines_per_model,
        ),
    }


MARTS = ("fct_variant_quality", "fct_quality_tiers", "dim_model_variants", "rpt_quantization_leaderboard")


def validate_mart(mart: str, df: pd.DataFrame, tiers: Sequence[str]) -> MartValidation:
    """Validate one mart's rows against its suite. `tiers` is the allowed tier set (from the seed)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    suite_spec = _suites(tiers)[mart]
    frame = suite_spec.prepare(df)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (
        context.data_sources.add_pandas(f"{mart}_source")
        .add_dataframe_asset(mart)
        .add_batch_definition_whole_dataframe("all_rows")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=mart, expectations=suite_spec.expectations(gx))
    result = batch.validate(suite)
    failures = [
        {
            "expectation": r.expectation_config.type,
            "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
            "unexpected_count": r.result.get("unexpected_count"),
            "examples": [str(x) for x in (r.result.get("partial_unexpected_list") or [])[:5]],
        }
        for r in result.results if not r.success
    ]
    return MartValidation(mart=mart, success=bool(result.success), rows=len(frame), failures=failures)
