"""Backend equivalence per variant: the in-process engine against the same GGUF served over HTTP by
llama-cpp-python's server, which this asset starts on 127.0.0.1 and stops itself (lib.serve).

Partitioned by variant like the other evaluation assets: a rung's study lands beside its benchmark
rows, and a new rung gets its own without re-running the others. Not cached: timings are half of
what it measures, and a cached sample has none of this run's."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.tasks.benchmarks import TaskError, load_task


from ..common import md_table, partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG
from ..resources import EngineResource, StorageResource, WarehouseResource


class EquivalenceConfig(dg.Config):
    task: str = Field(default="arc_challenge", description="task file under data/tasks")
    size: str = Field(default="demo", description="subset of the task")
    limit: int | None = Field(default=20, description="first N items (each runs twice; ~1 s per item per "
                                                      "engine for SmolLM2-135M on 2 cores)")
    server_start_timeout_s: float = Field(default=120.0, description="bound on waiting for the server")


@dg.asset(
    **ON_A_RUNG,
    check_specs=[dg.AssetCheckSpec("answers_agree", asset="backend_equivalence",
                                   description="both engines give the same benchmark answer on every item")],
    description="Same GGUF in process and over HTTP at temperature 0: identical outputs and answers, "
                "paired tests per metric (Holm), HTTP overhead.",
)
def backend_equivalence(context: dg.AssetExecutionContext, config: EquivalenceConfig, engine: EngineResource,
                        storage: StorageResource, duckdb: WarehouseResource):
    from quantbench_assets.lib.engines.registry import open_engine
    from quantbench_assets.lib.measure.equivalence import comparison_name, run_study
    from quantbench_assets.lib.engines.server import LlamaCppServer, ServerStartError

    key = context.partition_key
    _, manifest = rung_or_fail(storage, key, "backend_equivalence")
    with partition_failure("backend_equivalence", key, TaskError):
        task = load_task(config.task, config.size, config.limit)
    settings = engine.settings()
    run_at = datetime.now(timezone.utc).isoformat()
    with partition_failure("backend_equivalence", key, ServerStartError):
        with LlamaCppServer(manifest["path"], settings, start_timeout_s=config.server_start_timeout_s) as server, \
                open_engine("llama_cpp", manifest["path"], settings) as eng_a, \
                open_engine("openai_http", manifest["path"], settings, base_url=server.url,
                            model_tag=server.model) as eng_b:
            context.log.info(f"server up in {server.startup_s:.1f} s: {eng_b.build}")
            study = run_study(eng_a, eng_b, task, log=context.log.info)
            startup_s = server.startup_s
    comparison = comparison_name(eng_a, eng_b)
    common = {
        "variant": key, "model": manifest["model"], "quant_obtained": manifest["obtained"],
        "gguf_sha256": manifest["sha256"], "comparison": comparison, "engine_a": eng_a.name,
        "engine_b": eng_b.name, "engine_build_a": eng_a.build, "engine_build_b": eng_b.build,
        "n_threads": settings.threads(), "n_ctx": settings.n_ctx, "seed": settings.seed, "run_at": run_at,
    }
    items = pl.DataFrame([{**common, **r} for r in study.items], infer_schema_length=None)
    tests = pl.DataFrame([{**common, "task": task.name, "task_version": task.version, **r} for r in study.tests],
                         infer_schema_length=None)
    where = {"variant": key, "comparison": comparison}
    with duckdb.connect() as con:
        n_items = warehouse.replace_rows(con, "backend_equivalence_items", items, where)
        warehouse.replace_rows(con, "backend_equivalence", tests, where)
    s = study.summary
    yield dg.MaterializeResult(metadata={
        "items": n_items, "comparison": comparison, "engine_build_b": eng_b.build,
        "server_startup_s": round(startup_s, 2),
        "identical_output_share": s["identical_output_share"], "identical_answer_share": s["identical_answer_share"],
        "prompt_identical_share": s["prompt_identical_share"],
        "median_overhead_ms": s["median_overhead_ms"], "median_overhead_pct": s["median_overhead_pct"],
        "native_decode_tok_per_s_a": s["native_decode_tok_per_s_a"],
        "wall_tok_per_s_a": s["wall_tok_per_s_a"], "wall_tok_per_s_b": s["wall_tok_per_s_b"],
        "summary": dg.MetadataValue.json(s),
        "tests": dg.MetadataValue.md(md_table(
            [{**t, **{k: f"{t[k]:.4g}" for k in ("median_diff", "p_value", "p_holm") if t[k] is not None}}
             for t in study.tests],
            ["metric", "test", "n_pairs", "n_differing", "median_diff", "p_value", "p_holm", "reason"])),
    })
    disagree = [r["item_id"] for r in study.items if not r["identical_answer"]]
    yield dg.AssetCheckResult(
        check_name="answers_agree", passed=not disagree, severity=dg.AssetCheckSeverity.WARN,
        metadata={"items": n_items, "items_with_different_answers": len(disagree),
                  "examples": dg.MetadataValue.json(disagree[:10])},
    )
