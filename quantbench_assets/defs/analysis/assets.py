"""Statistics over all variants: every rung against its model's baseline and against its neighbour."""

import dagster as dg
import polars as pl

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.core.snapshot import replace_table

from ..common import md_table
from ..resources import WarehouseResource

# Item-level 0/1 correctness with what each item was scored with: the benchmark chain's primary metric
# (raw.standard_benchmark_scores, where it is per-item 0/1; TR125's generate_rescore reads as its rescored
# letter) and any lm-eval task's 0/1 metrics. `{method}` is the prompt method column where the table has one.
CHAINS = {
    "standard": """
        select scores.variant, inventory.model, inventory.quant_requested as quant, 'standard' as chain,
               scores.task, scores.task_version, scores.scorer, {method} as prompt_method,
               scores.task_size as subset, scores.item_id, scores.correct
        from raw.standard_benchmark_scores as scores
        inner join raw.gguf_inventory as inventory using (variant)
        where scores.correct is not null
    """,
    # Any lm-eval task (defs/scoring/lmeval.py): each metric that is 0/1 on every item, named as lm-eval
    # names it ("acc,none": metric, filter); the number of shots is the prompt method.
    "lmeval": """
        select scores.variant, inventory.model, inventory.quant_requested as quant, 'lmeval' as chain,
               scores.task, scores.task_version, scores.metric || ',' || scores.filter as scorer,
               'lmeval_fewshot_' || coalesce(scores.n_fewshot, 0) as prompt_method,
               scores.subset, scores.item_id, scores.correct
        from raw.lmeval_scores as scores
        inner join raw.gguf_inventory as inventory using (variant)
        where scores.binary and scores.correct is not null
    """,
}
TABLES = {"standard": "standard_benchmark_scores", "lmeval": "lmeval_scores"}


def _has_column(con, table: str, column: str) -> bool:
    return con.execute("select count(*) from information_schema.columns where table_schema = 'raw' "
                       "and table_name = ? and column_name = ?", [table, column]).fetchone()[0] > 0


@dg.asset(
    group_name="analysis", deps=["standard_benchmark_scores", "lmeval_samples", "model_catalog"], pool="warehouse",
    # rebuilt when scores land (warehouse_automation sensor), so the marts and the report follow
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()),
    description="Every rung vs its model's baseline (the catalog's) and vs the next higher rung, on the items "
                "both were scored on (same task version, scorer, prompt method): McNemar, Welch, flip rate, "
                "Cohen's d, Holm/Bonferroni, paired TOST ±3/±5 pp, MDE and the items needed to decide; pairs "
                "that cannot be compared get a row with the reason (raw.variant_comparisons).",
)
def variant_statistics(context: dg.AssetExecutionContext, duckdb: WarehouseResource) -> dg.MaterializeResult:
    # Read, release the lock, compute, write: the tests take seconds that writers need not wait.
    with duckdb.connect(read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "catalog_models") or not _has_column(con, "catalog_models", "baseline_variant"):
            raise dg.Failure(description="raw.catalog_models has no baseline_variant: materialize model_catalog first")
        baselines = dict(con.execute("select model, baseline_variant from raw.catalog_models").fetchall())
        frames = []
        for chain, sql in CHAINS.items():
            table = TABLES[chain]
            if not warehouse.table_exists(con, "raw", table):
                continue
            method = "scores.prompt_method" if _has_column(con, table, "prompt_method") else "null::varchar"
            frames.append(con.execute(sql.format(method=method)).pl())
        if not frames:
            raise dg.Failure(description="no benchmark scores yet: materialize benchmark_scores or standard_benchmark_scores first")
    scores = pl.concat(frames, how="vertical_relaxed")
    # statsmodels/scipy load here, not when the webserver loads the definitions (~1.2 s)
    from quantbench_assets.lib.analysis.comparisons import compare_rungs, comparisons_frame

    comparisons = comparisons_frame(compare_rungs(scores.to_dicts(), baselines))
    with duckdb.connect() as con:
        written = replace_table(con, "variant_comparisons", comparisons)
    if written == 0:
        context.log.warning("no model has two variants scored on the same task: nothing to compare")

    preview = comparisons.filter(pl.col("comparison") == "vs_baseline").sort("model", "task", "variant_b").select(
        "model", "task", "scorer", "variant_b", "n_items", pl.col("delta_pp").round(2),
        pl.col("mcnemar_p_holm").round(4), "tost_equivalent_3pp", "items_needed", "not_comparable_reason",
    ).head(20)
    return dg.MaterializeResult(metadata={
        "rows": written,
        "not_comparable": comparisons.filter(~pl.col("comparable")).height,
        "significant_after_holm": comparisons.filter(pl.col("mcnemar_p_holm") < 0.05).height,
        "equivalent_within_3pp": comparisons.filter(pl.col("tost_equivalent_3pp")).height,
        "underpowered": comparisons.filter(pl.col("underpowered")).height,
        "preview": dg.MetadataValue.md(md_table(preview.to_dicts(), preview.columns)),
    })
