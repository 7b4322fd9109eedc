"""Generation tasks per variant: outputs stored once (generation_samples), metrics computed from them
(generation_scores). Metric models (MiniLM for BERTScore/SemScore) load once per run."""
from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import schemas, warehouse
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import md_table, partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG, variants
from ..resources import EngineResource, StorageResource, WarehouseResource

DEFAULT_TASKS = ["summarization", "qa", "code_generation", "creative_writing", "classification",
                 "product_descriptions", "e2e_brief_text", "e2e_brief_json", "e2e_mid_text", "e2e_mid_json",
                 "e2e_strong_text", "e2e_strong_json"]


class GenerationConfig(dg.Config):
    tasks: list[str] = Field(default=DEFAULT_TASKS, description="generation tasks (lib.gentasks)")
    limit: int = Field(default=3, description="items per task (TR125 used 50; 3 keeps the 2-core demo short)")


def load_tasks(config: GenerationConfig) -> dict:
    from quantbench_assets.lib.tasks.generation import load_e2e_task, load_generation_task

    tasks = {}
    for name in config.tasks:
        if name.startswith("e2e_"):
            _, level, fmt = name.split("_")
            tasks[name] = load_e2e_task(level, fmt, n=config.limit)
        else:
            tasks[name] = load_generation_task(name, limit=config.limit)
    return tasks


@dg.asset(**ON_A_RUNG,
          description="Outputs of the generation tasks (free and grammar-constrained for JSON), with timings.")
def generation_samples(context: dg.AssetExecutionContext, config: GenerationConfig, engine: EngineResource,
                       storage: StorageResource, duckdb: WarehouseResource) -> dg.MaterializeResult:
    from quantbench_assets.lib.scoring.generation import run_generation

    key = context.partition_key
    store, manifest = rung_or_fail(storage, key, "generation_samples")
    with partition_failure("generation_samples", key, ValueError):
        tasks = load_tasks(config)
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    rows: list[dict] = []
    try:
        with engine.open(manifest["path"]) as eng:
            prov = provenance(manifest, eng.build, eng.settings.as_dict(), datetime.now(timezone.utc).isoformat())
            for task in tasks.values():
                rows += run_generation(eng, task, prov, cache, log=context.log.info)
    finally:
        cache.close()
    df = pl.DataFrame(rows, infer_schema_length=None)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "generation_samples", df, {"variant": key})
    return dg.MaterializeResult(metadata={"rows": written, "cache_hits": cache.hits, "cache_misses": cache.misses,
                                          "tasks": dg.MetadataValue.json({k: len(t.items) for k, t in tasks.items()})})


@dg.asset(partitions_def=variants, group_name="scoring", deps=["generation_samples"], pool="warehouse",
          check_specs=[dg.AssetCheckSpec("every_sample_scored", asset="generation_scores", blocking=True)],
          description="ROUGE, BLEU, BERTScore, SemScore, length, repetition, refusal, E2E facts and JSON metrics.")
def generation_scores(context: dg.AssetExecutionContext, duckdb: WarehouseResource):
    from quantbench_assets.lib.scoring.generation import score_generation, summarize
    from quantbench_assets.lib.scoring.metrics import MetricModels

    key = context.partition_key
    with duckdb.connect(read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "generation_samples"):
            raise dg.Failure(description="no generation_samples table yet: materialize generation_samples first")
        samples = con.execute("select * from raw.generation_samples where variant = ?", [key]).pl()
    if samples.height == 0:
        raise dg.Failure(description=f"generation_scores[{key}]: no stored generation samples")
    # Reload the items the samples were drawn from (subsets are prefixes, so the largest count covers all).
    per_task = samples.group_by("task").agg(pl.col("item_id").n_unique().alias("n"))
    tasks = load_tasks(GenerationConfig(tasks=per_task["task"].to_list(), limit=int(per_task["n"].max())))
    known = {(t, i.id) for t, task in tasks.items() for i in task.items}
    missing = [(t, i) for t, i in samples.select("task", "item_id").unique().iter_rows() if (t, i) not in known]
    if missing:
        raise dg.Failure(description=f"generation_scores[{key}]: stored samples not in the task data: {missing[:3]}")
    scores = schemas.frame("generation_scores", score_generation(samples.to_dicts(), tasks, MetricModels()))
    summary_rows = schemas.frame("generation_summary", summarize(scores.to_dicts()))
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "generation_scores", scores, {"variant": key})
        warehouse.replace_rows(con, "generation_summary", summary_rows, {"variant": key})
    summary = scores.group_by("task", "decoding", "metric").agg(pl.len().alias("n"),
                                                                 pl.col("failure_reason").is_not_null().sum().alias("failed"),
                                                                 pl.col("value").mean().round(3).alias("mean"),
                                                                 pl.col("value").null_count().alias("nulls")) \
        .sort("task", "decoding", "metric")
    yield dg.MaterializeResult(metadata={"rows": written,
                                         "summary": dg.MetadataValue.md(md_table(summary.to_dicts(), summary.columns))})
    unexplained = scores.filter(pl.col("value").is_null() & pl.col("null_reason").is_null()).height
    scored = scores.select("task", "item_id", "decoding").unique().height
    yield dg.AssetCheckResult(check_name="every_sample_scored", passed=scored == samples.height and unexplained == 0,
                              metadata={"samples": samples.height, "scored_samples": scored,
                                        "nulls_without_reason": unexplained})
