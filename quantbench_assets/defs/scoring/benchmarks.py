"""Inference per variant. Outputs are stored per sample with timings and provenance; scoring is a
separate asset that reads them back."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.scoring.tr125 import run_mc_generation
from quantbench_assets.lib.tasks.benchmarks import TaskError, load_task
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import partition_failure, rung_or_fail
from ..partitions import variants
from ..resources import EngineResource, StorageResource, WarehouseResource


class BenchmarkConfig(dg.Config):
    tasks: list[str] = Field(default=["mmlu", "arc_challenge"], description="task files under data/tasks")
    size: str = Field(default="demo", description="demo (57 MMLU + 50 ARC-C), seed_study (285 + 200, TR125), full")
    limit: int | None = Field(default=None, description="first N items of each subset (tests, smoke runs)")


@dg.asset(
    partitions_def=variants, group_name="evaluation", deps=["gguf_variant"], pool="inference",
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
    rows: list[dict] = []
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    try:
        with engine.open(manifest["path"]) as eng:
            prov = provenance(manifest, eng.build, eng.settings.as_dict(), datetime.now(timezone.utc).isoformat(),
                              engine=eng.name)
            for task in tasks:
                # the GGUF decides the prompt: chat template -> chat zero-shot, none -> few-shot completion
                rows += run_mc_generation(eng, task, prov, cache, log=context.log.info,
                                          has_chat_template=manifest["has_chat_template"])
    finally:
        cache.close()
    df = pl.DataFrame(rows, infer_schema_length=None)
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
