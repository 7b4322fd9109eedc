"""Determinism (greedy, repeated, across thread counts) and sampling variance (temperature 0.7,
seeded repetitions) per variant, and the across-rung comparison (Levene). Logic in lib.sampling_study."""
from dataclasses import replace
from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import md_table, partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG
from ..resources import EngineResource, StorageResource, WarehouseResource


class DeterminismConfig(dg.Config):
    tasks: list[str] = Field(default=["qa", "summarization"], description="generation tasks the prompts come from")
    items_per_task: int = Field(default=2, description="prompts per task")
    reps: int = Field(default=3, description="greedy repetitions per prompt per thread count")
    thread_counts: list[int] = Field(default=[1, 2], description="llama.cpp thread counts to compare")
    max_tokens: int = Field(default=64, description="tokens per output")


class SamplingVarianceConfig(dg.Config):
    tasks: list[str] = Field(default=["qa", "summarization", "creative_writing"], description="generation tasks")
    items_per_task: int = Field(default=3, description="prompts per task")
    reps: int = Field(default=5, description="seeded repetitions per prompt (seed_base + r)")
    temperature: float = Field(default=0.7)
    seed_base: int = Field(default=1000, description="the same seeds on every rung")
    max_tokens: int = Field(default=0, description="cap on the task's own budget (0: the task's)")
    rel_precision: float = Field(default=0.05, description="stated precision: 95% interval within +-5% of the mean")


def _items(tasks: list[str], n: int):
    from quantbench_assets.lib.tasks.generation import load_generation_task

    loaded = {t: load_generation_task(t, limit=n) for t in tasks}
    return loaded, [it for t in loaded.values() for it in t.items]


@dg.asset(**ON_A_RUNG,
          check_specs=[dg.AssetCheckSpec("greedy_is_deterministic", asset="determinism_check",
                                         description="every greedy output byte-identical across repetitions and "
                                                     "thread counts (warns: greedy comparisons assume it)")],
          description="Greedy generation repeated and across thread counts: share of byte-identical outputs.")
def determinism_check(context: dg.AssetExecutionContext, config: DeterminismConfig, engine: EngineResource,
                      storage: StorageResource, duckdb: WarehouseResource):
    from quantbench_assets.lib.engines.registry import open_engine
    from quantbench_assets.lib.measure.sampling import determinism_runs, summarize_determinism

    key = context.partition_key
    _, manifest = rung_or_fail(storage, key, "determinism_check")
    with partition_failure("determinism_check", key, ValueError, KeyError):
        _, items = _items(config.tasks, config.items_per_task)
    in_process = engine.kind == "llama_cpp"
    thread_counts = list(config.thread_counts) if in_process else [None]
    if not in_process:
        context.log.warning(f"engine {engine.kind!r}: thread count is the server's; repetitions only")

    def opener(threads):
        if threads is None:
            return engine.open(manifest["path"])
        return open_engine("llama_cpp", manifest["path"], replace(engine.settings(), n_threads=threads))

    run_at = datetime.now(timezone.utc).isoformat()

    def prov(eng) -> dict:
        return provenance(manifest, eng.build, eng.settings.as_dict(), run_at)

    rows = determinism_runs(opener, items, reps=config.reps, thread_counts=thread_counts,
                            max_tokens=config.max_tokens, provenance=prov, log=context.log.info)
    summary = summarize_determinism(rows)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "determinism_runs", pl.DataFrame(rows, infer_schema_length=None),
                                         {"variant": key})
        warehouse.replace_rows(con, "determinism_summary", pl.DataFrame(summary, infer_schema_length=None),
                               {"variant": key})
    verdict = next(r for r in summary if r["item_id"] == "*")
    yield dg.MaterializeResult(metadata={
        "rows": written, "share_identical": verdict["share_identical"],
        "flag_not_deterministic": verdict["flag_not_deterministic"],
        "per_prompt": dg.MetadataValue.md(md_table(
            [r for r in summary if r["item_id"] != "*"],
            ["task", "item_id", "n_outputs", "n_distinct", "share_identical", "identical_within_thread_count"]))})
    yield dg.AssetCheckResult(check_name="greedy_is_deterministic", passed=not verdict["flag_not_deterministic"],
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"share_identical": verdict["share_identical"],
                                        "reason": verdict["reason"] or "every output identical"})


@dg.asset(**ON_A_RUNG,
          description="Seeded repetitions at temperature 0.7: per-repetition metrics, CV per metric and the "
                      "repetitions needed for a stated precision.")
def sampling_variance(context: dg.AssetExecutionContext, config: SamplingVarianceConfig, engine: EngineResource,
                      storage: StorageResource, duckdb: WarehouseResource) -> dg.MaterializeResult:
    from quantbench_assets.lib.measure.sampling import sampling_metrics, sampling_runs, variance_by_rung

    key = context.partition_key
    _, manifest = rung_or_fail(storage, key, "sampling_variance")
    with partition_failure("sampling_variance", key, ValueError, KeyError):
        tasks, items = _items(config.tasks, config.items_per_task)
    with engine.open(manifest["path"]) as eng:
        prov = provenance(manifest, eng.build, eng.settings.as_dict(), datetime.now(timezone.utc).isoformat())
        rows = sampling_runs(eng, items, reps=config.reps, temperature=config.temperature, seed_base=config.seed_base,
                             max_tokens=config.max_tokens or None, provenance=prov, log=context.log.info)
    metrics = sampling_metrics(rows, tasks)
    by_rung = variance_by_rung(metrics, config.rel_precision)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "sampling_samples", pl.DataFrame(rows, infer_schema_length=None),
                                         {"variant": key})
        warehouse.replace_rows(con, "sampling_metrics", pl.DataFrame(metrics, infer_schema_length=None), {"variant": key})
        warehouse.replace_rows(con, "sampling_variance_by_rung", pl.DataFrame(by_rung, infer_schema_length=None),
                               {"variant": key})
    cols = ["task", "metric", "n_items", "reps", "mean", "mean_cv", "reps_needed"]
    table = [{c: (round(r[c], 4) if isinstance(r[c], float) else r[c]) for c in cols} for r in by_rung]
    return dg.MaterializeResult(metadata={"rows": written, "variance": dg.MetadataValue.md(md_table(table, cols))})


@dg.asset(group_name="scoring", deps=[dg.AssetDep("sampling_variance")], pool="warehouse",
          description="Across rungs of each model: between-repetition vs between-rung variance and Levene's test "
                      "(median centre) of equal sampling spread between rungs.")
def sampling_variance_across_rungs(context: dg.AssetExecutionContext, duckdb: WarehouseResource) -> dg.MaterializeResult:
    from quantbench_assets.lib.measure.sampling import variance_across_rungs

    with duckdb.connect(read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "sampling_metrics"):
            raise dg.Failure(description="no sampling_metrics yet: materialize sampling_variance first")
        metrics = con.execute("select * from raw.sampling_metrics").pl()
    out = pl.DataFrame(variance_across_rungs(metrics.to_dicts()), infer_schema_length=None)
    out = out.with_columns(pl.lit("all").alias("scope"))
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "sampling_variance_across_rungs", out, {"scope": "all"})
    return dg.MaterializeResult(metadata={"rows": written})
