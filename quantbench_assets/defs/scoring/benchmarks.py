"""TR125's benchmark: the benchmark chain (defs/scoring/standard.py) run with its generate_rescore
scorer alone, written to TR125's own table (raw.benchmark_samples, scored by benchmark_scores) that
fct_variant_accuracy and the leaderboards read. One inference body (`infer_benchmarks`), one sample
loop (run_scorer) and one prompt rule (lib/scoring/tr125.py) serve both chains' assets, so they share
cache keys and a model answers each item once."""

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import schemas, warehouse
from quantbench_assets.lib.scoring.tr125 import SCORER_GENERATE_RESCORE
from quantbench_assets.lib.tasks.benchmarks import SCORERS_BY_FORMAT, TaskError, load_task

from ..common import partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG
from ..resources import EngineResource, StorageResource, WarehouseResource
from .standard import infer_benchmarks


class BenchmarkConfig(dg.Config):
    tasks: list[str] = Field(default=["mmlu", "arc_challenge"], description="task files under data/tasks")
    size: str = Field(default="demo", description="demo (57 MMLU + 50 ARC-C), seed_study (285 + 200, TR125), full")
    limit: int | None = Field(default=None, description="first N items of each subset (tests, smoke runs)")


@dg.asset(
    **ON_A_RUNG,
    check_specs=[dg.AssetCheckSpec("samples_complete", asset="benchmark_samples", blocking=True,
                                   description="one row per item per task, no missing outputs")],
    description="Greedy generations for MMLU and ARC-Challenge items (TR125's method), with timings. A model "
                "without a chat template gets a few-shot completion prompt instead (prompt_method).",
)
def benchmark_samples(context: dg.AssetExecutionContext, config: BenchmarkConfig, engine: EngineResource,
                      storage: StorageResource, duckdb: WarehouseResource):
    key = context.partition_key
    store, manifest = rung_or_fail(storage, key, "benchmark_samples")
    with partition_failure("benchmark_samples", key, TaskError):
        tasks = [load_task(name, config.size, config.limit) for name in config.tasks]
    unfit = [t.name for t in tasks if SCORER_GENERATE_RESCORE not in SCORERS_BY_FORMAT[t.spec.format]]
    if unfit:
        raise dg.Failure(description=f"benchmark_samples[{key}]: TR125's generate_rescore scorer does not apply "
                                     f"to tasks {unfit} (lettered multiple choice only: MMLU, ARC, HellaSwag)")
    # the GGUF decides the prompt: chat template -> chat zero-shot, none -> few-shot completion
    rows, prov, cache = infer_benchmarks(context, store, manifest, [(t, SCORER_GENERATE_RESCORE) for t in tasks],
                                         engine)
    df = schemas.frame("benchmark_samples", rows)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "benchmark_samples", df, {"variant": key})
    expected = sum(len(t.items) for t in tasks)
    empty = df.filter(pl.col("output").is_null()).height
    yield dg.MaterializeResult(metadata={
        "rows": written, "cache_hits": cache.hits, "cache_misses": cache.misses,
        "gguf_sha256": manifest["sha256"], "engine_build": prov["engine_build"],
        "prompt_method": ", ".join(sorted(set(df["prompt_method"]))), "median_ttft_ms": float(df["ttft_ms"].median()), "tasks": dg.MetadataValue.json({t.name: len(t.items) for t in tasks}),
        "preview": dg.MetadataValue.md(df.select("task", "item_id", "gold", "output").head(8).to_pandas().to_markdown(index=False)),
    })
    yield dg.AssetCheckResult(
        check_name="samples_complete", passed=written == expected and empty == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"expected_rows": expected, "actual_rows": written, "null_outputs": empty},
    )
