"""Statistics over all variants: every rung against its model's baseline and against its neighbour."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from quantbench_assets.lib import warehouse
from quantbench_assets.lib.snapshot import replace_table

from ..common import db_path, md_table

# Item-level correctness joined to each variant's model and requested type (the ladder's names).
SCORES_SQL = """
select scores.variant, inventory.model, inventory.quant_requested as quant,
       scores.task, scores.scorer, scores.item_id, scores.rescored_correct
from raw.benchmark_scores as scores
inner join raw.gguf_inventory as inventory using (variant)
"""


@dg.asset(
    group_name="analysis", deps=["benchmark_scores"], pool="warehouse",
    description="McNemar, Welch, flip rate, Cohen's d, Holm/Bonferroni, TOST ±3/±5 pp and MDE per "
                "model × task: each rung vs the baseline and vs the next higher rung (raw.variant_comparisons).",
)
def variant_statistics(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
    path = db_path(duckdb)
    # Read, release the lock, compute, write: the tests take seconds that writers need not wait.
    with warehouse.connect(path, read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "benchmark_scores"):
            raise dg.Failure(description="no benchmark_scores table yet: materialize benchmark_scores first")
        scores = con.execute(SCORES_SQL).pl()
    # statsmodels/scipy load here, not when the webserver loads the definitions (~1.2 s)
    from quantbench_assets.lib.comparisons import compare_benchmark_variants, comparisons_frame

    comparisons = comparisons_frame(compare_benchmark_variants(scores.to_dicts()))
    with warehouse.connect(path) as con:
        written = replace_table(con, "variant_comparisons", comparisons)
    if written == 0:
        context.log.warning("no model has two variants scored on the same task: nothing to compare")

    preview = comparisons.sort("model", "task", "comparison", "variant_b").select(
        "model", "task", "comparison", "variant_a", "variant_b", "n_items",
        pl.col("delta_pp").round(2), pl.col("mcnemar_p_holm").round(4), "tost_equivalent_3pp",
        pl.col("mde_paired_pp").round(2), "underpowered",
    ).head(20)
    return dg.MaterializeResult(metadata={
        "rows": written,
        "significant_after_holm": comparisons.filter(pl.col("mcnemar_p_holm") < 0.05).height,
        "equivalent_within_3pp": comparisons.filter(pl.col("tost_equivalent_3pp")).height,
        "underpowered": comparisons.filter(pl.col("underpowered")).height,
        "preview": dg.MetadataValue.md(md_table(preview.to_dicts(), preview.columns)),
    })
