"""Standard benchmarks per variant: MMLU, ARC-Challenge, ARC-Easy, HellaSwag, TruthfulQA MC1/MC2, GSM8K
and IFEval, each with the scorers its task file names (lib/scoring/scorers.py).

Two assets: inference stores raw outputs (per-choice loglikelihoods or text), scoring re-reads them,
so a new scoring rule never re-runs a model. The scoring asset sits in the "scoring" group; it lives
here because both read the same config of tasks and tables. TR125's generation benchmark is this
chain run with its generate_rescore scorer (the tr125 study's config): there is no second chain."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import schemas, warehouse
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.scoring.benchmark_scoring import score_samples
from quantbench_assets.lib.scoring.benchmark_summary import chance_check, summarize_benchmark_scores
from quantbench_assets.lib.scoring.scorers import run_scorer
from quantbench_assets.lib.tasks.benchmarks import SCORERS_BY_FORMAT, TaskError, load_task
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import context_fits_check, md_table, partition_failure, rung_or_fail
from ..partitions import ON_A_RUNG, variants
from ..resources import EngineResource, StorageResource, WarehouseResource

SAMPLES_TABLE = "standard_benchmark_samples"
SCORES_TABLE = "standard_benchmark_scores"
STANDARD_TASKS = ["mmlu", "arc_challenge", "arc_easy", "hellaswag", "truthfulqa_mc1", "truthfulqa_mc2", "gsm8k",
                  "ifeval"]


class StandardBenchmarkConfig(dg.Config):
    tasks: list[str] = Field(default=STANDARD_TASKS, description="task files under data/tasks")
    size: str = Field(default="demo", description="demo (20-57 items per task), seed_study (100-285), full")
    limit: int | None = Field(default=None, description="first N items of each subset (tests, smoke runs)")
    scorers: list[str] | None = Field(default=None, description="run only these scorers (each where its task "
                                      "admits it); default: the scorers each task file names")
    max_tokens: int | None = Field(default=None, description="cap on generated tokens (smoke runs); default: "
                                   "each task's own (GSM8K 256, IFEval 1280 as lm-eval)")


def plan(config: StandardBenchmarkConfig) -> list[tuple]:
    """(task, scorer) pairs to run, in order."""
    pairs = []
    for name in config.tasks:
        task = load_task(name, config.size, config.limit)
        wanted = config.scorers if config.scorers is not None else task.spec.scorers
        pairs += [(task, s) for s in wanted if s in SCORERS_BY_FORMAT[task.spec.format]]
    return pairs


@dg.asset(
    **ON_A_RUNG,
    check_specs=[dg.AssetCheckSpec("standard_samples_complete", asset="standard_benchmark_samples", blocking=True,
                                   description="one row per item per task per scorer, each with its output"),
                 dg.AssetCheckSpec("standard_context_fits", asset="standard_benchmark_samples",
                                   description="WARN when a prompt lost tokens from its start to the engine's "
                                               "n_ctx: its score is for a shortened prompt")],
    description="Standard benchmarks (MMLU, ARC, HellaSwag, TruthfulQA, GSM8K, IFEval): per-choice "
                "loglikelihoods, letter logits or generations per item, with tokens, timings, provenance.",
)
def standard_benchmark_samples(context: dg.AssetExecutionContext, config: StandardBenchmarkConfig,
                               engine: EngineResource, storage: StorageResource, duckdb: WarehouseResource):
    key = context.partition_key
    store, manifest = rung_or_fail(storage, key, "standard_benchmark_samples")
    with partition_failure("standard_benchmark_samples", key, TaskError):
        pairs = plan(config)
    if not pairs:
        raise dg.Failure(description=f"standard_benchmark_samples[{key}]: no task admits scorers {config.scorers}")
    rows: list[dict] = []
    cache = SampleCache(store.subdir("cache") / "samples.sqlite")
    try:
        # No logits_all: loglikelihood asks llama.cpp for the rows it reads, and generation on the
        # same engine then computes one output row per step, not one per prompt token.
        with engine.open(manifest["path"], logits_all=False) as eng:
            settings = eng.settings.as_dict()
            prov = provenance(manifest, eng.build, settings, datetime.now(timezone.utc).isoformat(), engine=eng.name)
            prov["logits_all"] = settings["logits_all"]
            for task, scorer in pairs:
                cap = min(config.max_tokens, task.spec.max_tokens) if config.max_tokens else None
                rows += run_scorer(eng, task, scorer, prov, cache, log=context.log.info, max_tokens=cap,
                                   has_chat_template=manifest["has_chat_template"])
    finally:
        cache.close()
    df = schemas.frame(SAMPLES_TABLE, rows)  # every declared column: MC-only runs have no text columns
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, SAMPLES_TABLE, df, {"variant": key})
    expected = sum(len(t.items) for t, _ in pairs)
    missing = df.filter(pl.col("choice_loglikelihoods").is_null() & pl.col("output").is_null()).height
    per_pair = (df.group_by("task", "scorer", "prompt_method").agg(pl.len().alias("items"), pl.col("wall_ms").sum().alias("wall_ms"),
                                                 pl.col("evaluated_tokens").sum().alias("evaluated_tokens"),
                                                 pl.col("prompt_tokens").sum().alias("prompt_tokens"))
                .sort("task", "scorer"))
    yield dg.MaterializeResult(metadata={
        "rows": written, "cache_hits": cache.hits, "cache_misses": cache.misses,
        "gguf_sha256": manifest["sha256"], "engine_build": prov["engine_build"],
        "prompts_cut_to_n_ctx": sum(bool(r.get("context_tokens_dropped")) for r in rows),
        "per_task_scorer": dg.MetadataValue.md(md_table(per_pair.to_dicts(), per_pair.columns)),
    })
    yield dg.AssetCheckResult(
        check_name="standard_samples_complete", passed=written == expected and missing == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"expected_rows": expected, "actual_rows": written, "rows_without_output": missing},
    )
    yield context_fits_check("standard_context_fits", rows, settings["n_ctx"], SAMPLES_TABLE)


SCORE_CHECKS = [
    dg.AssetCheckSpec("standard_scores_match_samples", asset="standard_benchmark_scores", blocking=True,
                      description="one score per stored sample"),
    dg.AssetCheckSpec("accuracy_above_chance", asset="standard_benchmark_scores",
                      description="WARN when a task's accuracy cannot be told from chance: the chance rate "
                                  "(1/k; the share of true answers for MC2; 0 for generation) lies inside the "
                                  "95% Wilson interval of its primary 0/1 outcome"),
]


@dg.asset(partitions_def=variants, group_name="scoring", deps=["standard_benchmark_samples"], pool="warehouse",
          check_specs=SCORE_CHECKS,
          description="acc / acc_norm / MC2 / exact match / IFEval strict and loose per item, from stored samples.")
def standard_benchmark_scores(context: dg.AssetExecutionContext, duckdb: WarehouseResource):
    key = context.partition_key
    with duckdb.connect() as con:
        if not warehouse.table_exists(con, "raw", SAMPLES_TABLE):
            raise dg.Failure(description=f"no {SAMPLES_TABLE} table yet: materialize standard_benchmark_samples first")
        samples = con.execute(f"select * from raw.{SAMPLES_TABLE} where variant = ?", [key]).pl()
        if samples.height == 0:
            raise dg.Failure(description=f"standard_benchmark_scores[{key}]: no stored samples for this variant")
        scores = schemas.frame(SCORES_TABLE, score_samples(samples.to_dicts()))
        written = warehouse.replace_rows(con, SCORES_TABLE, scores, {"variant": key})
    summary = summarize_benchmark_scores(scores.to_dicts())
    shown = [{**s, "value": round(s["value"], 3), "ci": f"[{s['ci_low'] or 0:.3f}, {s['ci_high'] or 0:.3f}]"}
             for s in summary]
    yield dg.MaterializeResult(metadata={
        "rows": written,
        "scores": dg.MetadataValue.md(md_table(shown, ["task", "scorer", "metric", "n", "value", "ci", "chance_rate",
                                                       "at_chance"])),
    })
    yield dg.AssetCheckResult(check_name="standard_scores_match_samples", passed=written == samples.height,
                              metadata={"samples": samples.height, "scores": written})
    chance = chance_check(scores.to_dicts())
    flagged = [f"{c['task']}/{c['scorer']}" for c in chance if c["at_chance"]]
    yield dg.AssetCheckResult(
        check_name="accuracy_above_chance", passed=not flagged, severity=dg.AssetCheckSeverity.WARN,
        metadata={"at_chance": dg.MetadataValue.json(flagged), "checked": len(chance),
                  "wilson_intervals": dg.MetadataValue.json({f"{c['task']}/{c['scorer']}": {
                      k: c[k] for k in ("n", "successes", "ci_low", "ci_high", "chance_rate")} for c in chance})},
    )
