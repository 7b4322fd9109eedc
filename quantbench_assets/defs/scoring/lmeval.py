"""Any lm-eval task per variant: requests built by lm-eval, answered by quantbench's engine through the
per-sample cache, scored by the task's own filters and process_results (lib/tasks/lmeval_runs.py).

A user's task is a YAML (lm-eval's format) in a folder named by `include_path` or
$QUANTBENCH_LMEVAL_TASKS_DIR; relative data files are read from the YAML's folder. Three raw tables,
each replaced per variant and task (a run of other tasks keeps these): lmeval_samples (one row per
request), lmeval_scores (per item, filter and metric) and lmeval_metrics (lm-eval's own aggregates)."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import context_fits_check, md_table, partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG
from ..resources import EngineResource, StorageResource, WarehouseResource

TABLES = {"samples": "lmeval_samples", "scores": "lmeval_scores", "metrics": "lmeval_metrics"}


class LmEvalConfig(dg.Config):
    tasks: list[str] = Field(default=["qb_arc_easy"], description="lm-eval task (or group) names found in the "
                             "task folders: data/lm_eval_tasks, $QUANTBENCH_LMEVAL_TASKS_DIR, include_path")
    include_path: list[str] = Field(default=[], description="more folders of lm-eval task YAMLs (only these "
                                    "are indexed, not lm-eval's built-in configs)")
    num_fewshot: int | None = Field(default=None, description="few-shot examples (default: the task's own)")
    num_fewshot_per_task: dict[str, int] = Field(default={}, description="task name -> few-shot examples, over "
                                                 "num_fewshot for those tasks (e.g. qb_arc_easy: 25, qb_mmlu: 5)")
    fewshot_seed: int = Field(default=1234, description="lm-eval's few-shot sampler seed")
    subset: str | None = Field(default=None, description="a stored id list: subsets/<task>__<subset>.txt "
                               "beside the task's YAML, one document index a line")
    n: int | None = Field(default=None, description="a seeded draw of n documents per task (when no subset)")
    seed: int = Field(default=1234, description="seed of that draw")
    limit: int | None = Field(default=None, description="the first N documents of the selection (smoke runs)")
    bootstrap_iters: int = Field(default=1000, description="lm-eval's bootstrap for the standard errors of "
                                 "non-mean aggregations (0: none)")


# Columns that may be all null in one partition, with their types: each table keeps one schema.
TYPES = {"n_fewshot": pl.Int64, "item_id": pl.String, "request_idx": pl.Int64, "wall_ms": pl.Float64,
         "cached": pl.Boolean, "value": pl.Float64, "value_json": pl.String, "binary": pl.Boolean,
         "correct": pl.Boolean, "stderr": pl.Float64, "stderr_null_reason": pl.String,
         "higher_is_better": pl.Boolean, "aggregation": pl.String, "sample_key": pl.String,
         "context_tokens_dropped": pl.Int64}


def _frame(rows: list[dict]) -> pl.DataFrame:
    columns = set().union(*(r.keys() for r in rows)) if rows else set()
    return pl.DataFrame(rows, schema_overrides={c: t for c, t in TYPES.items() if c in columns},
                        infer_schema_length=None)


@dg.asset(
    **ON_A_RUNG,
    check_specs=[dg.AssetCheckSpec("lmeval_items_scored", asset="lmeval_samples", blocking=True,
                                   description="every selected document of every task has its metrics"),
                 dg.AssetCheckSpec("lmeval_context_fits", asset="lmeval_samples",
                                   description="no loglikelihood request lost context tokens to the engine's "
                                               "n_ctx (a cut prompt is not the prompt lm-eval scores)")],
    description="Any lm-eval task (a YAML in a configured folder): lm-eval's requests answered by the "
                "engine through the per-sample cache, scored by the task's own process_results and filters; "
                "per-request, per-item and per-task rows (raw.lmeval_samples, lmeval_scores, lmeval_metrics).",
)
def lmeval_samples(context: dg.AssetExecutionContext, config: LmEvalConfig, engine: EngineResource,
                   storage: StorageResource, duckdb: WarehouseResource):
    from quantbench_assets.lib.tasks.lmeval import QuantbenchLM  # lm-eval imports in ~3 s
    from quantbench_assets.lib.tasks.lmeval_runs import lmeval_rows, run_tasks

    key = context.partition_key
    store, manifest = rung_or_fail(storage, key, "lmeval_samples")
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    try:
        with engine.open(manifest["path"], logits_all=True) as eng:
            settings = eng.settings.as_dict()
            prov = provenance(manifest, eng.build, settings, datetime.now(timezone.utc).isoformat())
            lm = QuantbenchLM(engine=eng, cache=cache, key_parts={"gguf": manifest["sha256"], "build": eng.build})
            with partition_failure("lmeval_samples", key, KeyError, FileNotFoundError, ValueError):
                run = run_tasks(lm, config.tasks, config.include_path, config.num_fewshot, config.fewshot_seed,
                                config.subset, config.n, config.seed, config.limit, config.bootstrap_iters,
                                config.num_fewshot_per_task)
            tables = lmeval_rows(run, lm.request_log, prov)
    finally:
        cache.close()
    written = {name: 0 for name in TABLES}
    with duckdb.connect() as con:
        for name, table in TABLES.items():
            df = _frame(tables[name])
            for task in run["tasks"]:
                part = df.filter(pl.col("task") == task)
                if part.height:
                    written[name] += warehouse.replace_rows(con, table, part, {"variant": key, "task": task})
    scored = {(r["task"], r["item_id"]) for r in tables["scores"]}
    expected = {(t, str(i)) for t, m in run["tasks"].items() for i in m["doc_ids"]}
    shown = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
              if k in ("task", "filter", "metric", "value", "stderr", "n")} for m in tables["metrics"]]
    hits = sum(r["cached"] for r in tables["samples"])
    yield dg.MaterializeResult(metadata={
        "rows": dg.MetadataValue.json(written), "cache_hits": hits, "cache_misses": len(tables["samples"]) - hits,
        "prompts_cut_to_n_ctx": sum(bool(r.get("context_tokens_dropped")) for r in tables["samples"]),
        "task_index_s": round(run["index_s"], 3), "gguf_sha256": manifest["sha256"], "engine_build": prov["engine_build"],
        "tasks": dg.MetadataValue.json({t: {k: m[k] for k in ("version", "subset", "n_fewshot", "output_type")}
                                        | {"docs": len(m["doc_ids"])} for t, m in run["tasks"].items()}),
        "metrics": dg.MetadataValue.md(md_table(shown, ["task", "filter", "metric", "value", "stderr", "n"])),
    })
    yield context_fits_check("lmeval_context_fits", tables["samples"], settings["n_ctx"], TABLES["samples"])
    yield dg.AssetCheckResult(check_name="lmeval_items_scored", passed=scored == expected,
                              metadata={"expected_items": len(expected), "scored_items": len(scored & expected),
                                        "unscored": dg.MetadataValue.json(sorted(map(list, expected - scored))[:20])})
