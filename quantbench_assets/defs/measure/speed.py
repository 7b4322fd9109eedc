"""Speed, memory and the machine they were measured on. Thin wrappers: the measuring is in lib.speed,
lib.memory and lib.hardware. All three run in the "inference" pool, so two of this pipeline's
measurements never share the cores; other processes still can: speed_runs records the machine's
load during each run, repeats a loaded run once and marks it if still loaded (lib.speed.measure_speed).
speed_runs and memory_probe re-measure by design on every materialization (a measurement is of the
machine as it is now); they write only this machine's rows (results measured elsewhere come in
through external_results, into tables of their own)."""

from dataclasses import replace
from datetime import datetime, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.measure.hardware import capture_hardware, configured_price, memory_bandwidth
from quantbench_assets.lib.gguf.rungs import provenance

from ..common import md_table, partition_failure, rung_or_fail
from ..partitions import variants
from ..resources import EngineResource, StorageResource, WarehouseResource


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, infer_schema_length=None)  # the writer types all-null columns (lib/core/schemas.py)


def _stored_bandwidth(con, hardware_id: str) -> float | None:
    if not warehouse.table_exists(con, "raw", "hardware"):
        return None
    row = con.execute("select bandwidth_gb_per_s from raw.hardware where hardware_id = ?", [hardware_id]).fetchone()
    return row[0] if row else None


# ─── hardware ─────────────────────────────────────────────────────────────────────────────────


class HardwareConfig(dg.Config):
    bandwidth_array_mib: int = Field(default=1024, description="per array; far above the LLC (480 MiB on the CI host)")
    bandwidth_reps: int = Field(default=5, description="copies timed; the best is kept")
    remeasure: bool = Field(default=False, description="probe bandwidth again although this machine has a row")


@dg.asset(group_name="evaluation", pool="inference",
          description="This machine (CPU, cores, memory, GPU, hardware_id, hardware_class, its configured price) "
                      "and its memory bandwidth (probed once per machine).")
def hardware_profile(context: dg.AssetExecutionContext, config: HardwareConfig, duckdb: WarehouseResource):
    profile = capture_hardware()
    hid = profile["hardware_id"]
    try:
        price, price_source = configured_price()
    except ValueError as e:
        raise dg.Failure(description=str(e)) from None
    # class and price are configuration: refreshed on every run, even when the bandwidth is kept
    current = {"hardware_class": profile["hardware_class"], "hardware_class_source": profile["hardware_class_source"],
               "price_usd_per_hour": price, "price_source": price_source, "profiled_at": _now()}
    with duckdb.connect() as con:
        stored = None
        if warehouse.table_exists(con, "raw", "hardware"):
            stored = con.execute("select * from raw.hardware where hardware_id = ?", [hid]).pl()
    if stored is not None and stored.height and not config.remeasure:
        row = {**stored.to_dicts()[0], **current}
        context.log.info(f"hardware {hid} already probed at {row['probed_at']}: keeping its bandwidth")
    else:
        # All cores (what decode threads can pull) and one core; the ceiling is the better of the two,
        # because on a shared machine a busy neighbour can make the all-core copy the slower one.
        all_cores = memory_bandwidth(config.bandwidth_array_mib * 2**20, config.bandwidth_reps, profile["usable_cores"])
        one_core = memory_bandwidth(config.bandwidth_array_mib * 2**20, config.bandwidth_reps, 1)
        best = max((all_cores, one_core), key=lambda b: b["bandwidth_gb_per_s"])
        row = {**profile, "bandwidth_gb_per_s": best["bandwidth_gb_per_s"], "bandwidth_threads": best["threads"],
               "bandwidth_all_cores_gb_per_s": all_cores["bandwidth_gb_per_s"],
               "bandwidth_1t_gb_per_s": one_core["bandwidth_gb_per_s"],
               "bandwidth_samples_gb_per_s": all_cores["samples_gb_per_s"] + one_core["samples_gb_per_s"],
               "bandwidth_array_bytes": all_cores["array_bytes"], "bandwidth_method": all_cores["method"],
               "probed_at": _now(), **current}
    with duckdb.connect() as con:
        warehouse.replace_rows(con, "hardware", _frame([row]), {"hardware_id": hid})
    if price is None:
        context.log.warning(f"no price configured for this machine ({row['hardware_class']}): its speed has a cost "
                            "only if dbt/seeds/hardware_prices.csv has a row of this class; set QUANTBENCH_PRICE_PER_HOUR")
    return dg.MaterializeResult(metadata={
        "hardware_id": hid, "hardware_class": row["hardware_class"],
        "price_usd_per_hour": row["price_usd_per_hour"] if row["price_usd_per_hour"] is not None else "not configured",
        "cpu_model": row["cpu_model"], "usable_cores": row["usable_cores"],
        "memory_gib": round(row["memory_total_bytes"] / 2**30, 1), "gpu": row["gpu_name"] or "none",
        "bandwidth_gb_per_s": round(row["bandwidth_gb_per_s"], 2),
        "bandwidth_1t_gb_per_s": round(row["bandwidth_1t_gb_per_s"], 2),
    })


# ─── speed ────────────────────────────────────────────────────────────────────────────────────


class SpeedConfig(dg.Config):
    reps: int = Field(default=5, description="timed repetitions per test (llama-bench's default)")
    warmup: int = Field(default=1, description="untimed repetitions first")
    n_prompt: int = Field(default=512, description="pp test size (pp512)")
    n_gen: int = Field(default=128, description="tg test size (tg128)")
    threads: int = Field(default=0, description="0: the engine resource's setting (all cores)")
    load_threshold: float = Field(default=0.25, description="other processes' share of the machine's CPU above "
                                  "which a run counts as under load: it is repeated once, then marked")


SPEED_CHECKS = [
    dg.AssetCheckSpec("speed_samples_complete", asset="speed_runs", blocking=True,
                      description="every repetition stored, every rate positive"),
    dg.AssetCheckSpec("speed_spread_below_10pct", asset="speed_runs",
                      description="CV of tok/s under 10%: above it the machine was busy, re-run"),
    dg.AssetCheckSpec("speed_not_under_load", asset="speed_runs",
                      description="other processes stayed under the load threshold (after one repeat)"),
]


@dg.asset(partitions_def=variants, group_name="evaluation", pool="inference",
          deps=["gguf_variant", "hardware_profile"], check_specs=SPEED_CHECKS,
          description="llama-bench's pp512 and tg128 on this variant: every repetition, mean ± sd, 95% CI, the "
                      "machine's load (repeated once if loaded), roofline share. Re-measures on every run, by design: "
                      "a timing is a property of the machine at that moment, so it never comes from the sample cache.")
def speed_runs(context: dg.AssetExecutionContext, config: SpeedConfig, engine: EngineResource,
               storage: StorageResource, duckdb: WarehouseResource):
    from quantbench_assets.lib.measure.speed import BenchSpec, decode_roofline, measure_speed, weight_bytes_read_per_token

    key = context.partition_key
    if engine.kind != "llama_cpp":
        raise dg.Failure(description=f"speed_runs drives llama.cpp's decode directly; engine kind {engine.kind!r} has no such path")
    _, manifest = rung_or_fail(storage, key, "speed_runs")
    with partition_failure("speed_runs", key, ValueError):
        spec = BenchSpec(n_prompt=config.n_prompt, n_gen=config.n_gen, reps=config.reps, warmup=config.warmup)
    settings = engine.settings()
    settings = replace(settings, n_threads=config.threads or settings.n_threads)
    hw = capture_hardware()
    result = measure_speed(manifest["path"], settings, spec, log=context.log.info,  # n_ctx per test, as llama-bench
                           threshold=config.load_threshold)
    prov = provenance(manifest, result.engine_build, settings.as_dict(), _now())
    prov.update({k: result.settings[k] for k in ("n_batch", "n_ubatch", "flash_attn", "type_k")})
    prov["hardware_id"], prov["hardware_class"] = hw["hardware_id"], hw["hardware_class"]

    samples = _frame([{**prov, **r} for r in result.sample_rows()])
    with duckdb.connect() as con:
        bandwidth = _stored_bandwidth(con, hw["hardware_id"])
    weight_bytes = weight_bytes_read_per_token(manifest["path"])
    summary_rows = []
    for r in result.summary_rows():
        roof = decode_roofline(weight_bytes, r["mean_tok_per_s"], bandwidth) if r["test_kind"] == "tg" else {}
        summary_rows.append({**prov, **r, "weight_bytes_per_token": roof.get("weight_bytes_per_token"),
                             "effective_bandwidth_gb_per_s": roof.get("effective_bandwidth_gb_per_s"),
                             "bandwidth_gb_per_s": bandwidth if roof else None,
                             "bandwidth_share_pct": roof.get("bandwidth_share_pct")})
    summary = _frame(summary_rows)
    with duckdb.connect() as con:
        n_samples = warehouse.replace_rows(con, "speed_samples", samples, {"variant": key})
        warehouse.replace_rows(con, "speed_summary", summary, {"variant": key})
    if bandwidth is None:
        context.log.warning(f"no bandwidth stored for hardware {hw['hardware_id']}: materialize hardware_profile for the roofline")

    load = result.load
    shown = [{"test": r["test"], "tok/s": f"{r['mean_tok_per_s']:.2f} ± {r['sd_tok_per_s']:.2f}",
              "CV %": round(r["cv_pct"], 1), "outliers": r["n_outliers_low"] + r["n_outliers_high"],
              "bandwidth share %": round(r["bandwidth_share_pct"], 1) if r["bandwidth_share_pct"] else ""}
             for r in summary_rows]
    yield dg.MaterializeResult(metadata={
        "samples": n_samples, "engine_build": result.engine_build, "hardware_id": hw["hardware_id"],
        "n_threads": settings.threads(), "extra_buffers": settings.extra_buffers,
        "hardware_class": hw["hardware_class"], "other_cpu_share": round(load["other_cpu_share"] or 0, 3),
        "load_avg_1m": load["load_avg_1m"], "under_load": load["under_load"], "attempts": load["attempts"],
        **{f"{r['test']}_tok_per_s": round(r["mean_tok_per_s"], 2) for r in summary_rows},
        "summary": dg.MetadataValue.md(md_table(shown, list(shown[0]))),
    })
    expected = spec.reps * len(result.tests())
    bad = samples.filter(pl.col("tok_per_s") <= 0).height
    yield dg.AssetCheckResult(check_name="speed_samples_complete", passed=n_samples == expected and bad == 0,
                              severity=dg.AssetCheckSeverity.ERROR,
                              metadata={"expected_rows": expected, "actual_rows": n_samples, "non_positive_rates": bad})
    worst = max(r["cv_pct"] for r in summary_rows)
    yield dg.AssetCheckResult(check_name="speed_spread_below_10pct", passed=worst < 10,
                              severity=dg.AssetCheckSeverity.WARN, metadata={"max_cv_pct": round(worst, 2)})
    yield dg.AssetCheckResult(check_name="speed_not_under_load", passed=not load["under_load"],
                              severity=dg.AssetCheckSeverity.WARN,
                              metadata={"other_cpu_share": round(load["other_cpu_share"] or 0, 3),
                                        "threshold": load["load_threshold"], "attempts": load["attempts"]})


# ─── memory ───────────────────────────────────────────────────────────────────────────────────


class MemoryConfig(dg.Config):
    n_ctx: int = Field(default=2048, description="context whose KV cache is allocated (the engine's default)")
    n_prompt: int = Field(default=512, description="workload: prompt tokens")
    n_gen: int = Field(default=128, description="workload: single-token decodes after the prompt")
    mmap_modes: list[int] = Field(default=[0, 1], description="1: weights mmapped (file-backed), 0: copied")
    threads: int = Field(default=0, description="0: all cores")


@dg.asset(partitions_def=variants, group_name="evaluation", pool="inference", deps=["gguf_variant"],
          check_specs=[dg.AssetCheckSpec("peak_rss_covers_weights", asset="memory_probe", blocking=True,
                                         description="without mmap the peak RSS holds at least the tensor bytes")],
          description="Peak RSS of loading this variant and running a fixed workload, in an isolated process. "
                      "Re-measures on every run, by design: memory is measured, never read from a cache.")
def memory_probe(context: dg.AssetExecutionContext, config: MemoryConfig, engine: EngineResource,
                 storage: StorageResource, duckdb: WarehouseResource):
    from quantbench_assets.lib.measure.memory import probe_memory

    key = context.partition_key
    _, manifest = rung_or_fail(storage, key, "memory_probe")
    hid = capture_hardware()["hardware_id"]
    rows = []
    for mmap in config.mmap_modes:
        try:
            m = probe_memory(manifest["path"], bool(mmap), config.n_ctx, config.n_prompt, config.n_gen,
                             config.threads or None)
        except RuntimeError as e:
            raise dg.Failure(description=f"memory_probe[{key}] mmap={mmap}: {e}") from None
        settings = replace(engine.settings(), n_ctx=m["n_ctx"], n_threads=m["n_threads"], use_mmap=bool(mmap))
        prov = provenance(manifest, m.pop("engine_build"), settings.as_dict(), _now())
        m.pop("pid")
        rows.append({**prov, **m, "hardware_id": hid})
    df = _frame(rows)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "memory_probe", df, {"variant": key})
    mb = 1e6
    shown = [{"mmap": r["use_mmap"], "peak RSS MB": round(r["peak_rss_bytes"] / mb, 1),
              "model RSS MB": round(r["model_rss_bytes"] / mb, 1), "file MB": round(r["file_size_bytes"] / mb, 1),
              "KV MB": round(r["kv_cache_bytes"] / mb, 1), "seeds' estimate MB": round(r["seeds_estimate_bytes"] / mb, 1)}
             for r in rows]
    yield dg.MaterializeResult(metadata={"rows": written, "hardware_id": hid,
                                         "memory": dg.MetadataValue.md(md_table(shown, list(shown[0])))})
    no_mmap = [r for r in rows if not r["use_mmap"]]
    passed = all(r["model_rss_bytes"] >= r["tensor_bytes"] for r in no_mmap)
    yield dg.AssetCheckResult(check_name="peak_rss_covers_weights", passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                              metadata={f"mmap{int(r['use_mmap'])}_model_rss_bytes": r["model_rss_bytes"] for r in rows}
                              | {"tensor_bytes": rows[0]["tensor_bytes"]})
