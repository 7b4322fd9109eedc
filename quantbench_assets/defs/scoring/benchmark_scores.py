"""Scores computed from stored outputs: changing a rule re-reads samples and never re-runs a model.
TR125's raw and rescored letters come from score_mc_generation (lib/scoring/tr125.py), the one rule
the benchmark chain's scoring (score_samples) also applies to its generate_rescore samples."""

import dagster as dg
import polars as pl

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.scoring.tr125 import score_mc_generation

from ..common import md_table
from ..partitions import variants
from ..resources import WarehouseResource

CHECKS = [
    dg.AssetCheckSpec("scores_match_samples", asset="benchmark_scores", blocking=True,
                      description="one score per stored sample, no null keys"),
    dg.AssetCheckSpec("accuracy_in_unit_interval", asset="benchmark_scores", blocking=True,
                      description="raw and rescored accuracy within [0, 1]"),
]


@dg.asset(partitions_def=variants, group_name="scoring", deps=["benchmark_samples"], pool="warehouse",
          check_specs=CHECKS, description="Raw (exact letter) and rescored (regex) correctness per item.")
def benchmark_scores(context: dg.AssetExecutionContext, duckdb: WarehouseResource):
    key = context.partition_key
    with duckdb.connect() as con:
        if not warehouse.table_exists(con, "raw", "benchmark_samples"):
            raise dg.Failure(description="no benchmark_samples table yet: materialize benchmark_samples first")
        samples = con.execute("select * from raw.benchmark_samples where variant = ?", [key]).pl()
        if samples.height == 0:
            raise dg.Failure(description=f"benchmark_scores[{key}]: no stored samples for this variant")
        scores = pl.DataFrame(score_mc_generation(samples.to_dicts()))
        written = warehouse.replace_rows(con, "benchmark_scores", scores, {"variant": key})
    summary = (scores.group_by("task").agg(
        pl.len().alias("n"), pl.col("raw_correct").mean().round(3).alias("raw_accuracy"),
        pl.col("rescored_correct").mean().round(3).alias("rescored_accuracy")).sort("task"))
    yield dg.MaterializeResult(metadata={
        "rows": written, "accuracy": dg.MetadataValue.md(md_table(summary.to_dicts(), summary.columns)),
    })
    null_keys = scores.filter(pl.any_horizontal(pl.col("variant", "task", "item_id").is_null())).height
    yield dg.AssetCheckResult(check_name="scores_match_samples", passed=written == samples.height and null_keys == 0,
                              metadata={"samples": samples.height, "scores": written, "null_keys": null_keys})
    bad = summary.filter(~pl.col("raw_accuracy").is_between(0, 1) | ~pl.col("rescored_accuracy").is_between(0, 1)).height
    yield dg.AssetCheckResult(check_name="accuracy_in_unit_interval", passed=bad == 0,
                              metadata={"tasks_out_of_range": bad})
