"""quantbench command line: run the pipeline through Dagster from a terminal, and print results.

    python -m quantbench_assets.cli demo            # the README's demo: demo models, demo ladder
    python -m quantbench_assets.cli run --model smollm2-135m-instruct --size seed_study
    python -m quantbench_assets.cli table           # print fct_variant_accuracy

Runs go through the persistent Dagster instance (DAGSTER_HOME, default .dagster_home/), so every run
is also visible in the UI afterwards (`dagster dev`).
"""
import argparse
import os
import sys
import time
from pathlib import Path

from quantbench_assets.lib import paths

DEFAULT_HOME = paths.PROJECT_ROOT / ".dagster_home"
INSTANCE_YAML = """# quantbench's Dagster instance. Writers of the DuckDB file share the pool "warehouse" (limit 1);
# inference runs in the pool "inference", as wide as the machine allows.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(INSTANCE_YAML)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home


def say(msg: str) -> None:
    print(f"[quantbench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _materializer():
    """Load the definitions once; return (materialize(selection, partition_key, run_config) -> ok, asset names)."""
    ensure_home()
    import dagster as dg

    from quantbench_assets.definitions import defs as load_defs

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    assets, resources = list(defs.assets or []), dict(defs.resources or {})
    present = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}

    def materialize(selection, partition_key: str | None = None, run_config: dict | None = None) -> bool:
        result = dg.materialize(assets, selection=selection, partition_key=partition_key, instance=instance,
                                resources=resources, run_config=run_config, raise_on_error=False,
                                tags={"quantbench/source": "cli"})
        if not result.success:
            for ev in result.all_events:
                if ev.is_step_failure:
                    err = ev.step_failure_data.error
                    say(f"  FAILED {ev.step_key} [{partition_key}]: {err.message.strip() if err else ''}")
        return result.success

    return materialize, present


PER_RUNG = ["benchmark_samples", "benchmark_scores", "generation_samples", "generation_scores",
            "perplexity", "perplexity_windows", "distribution_shift", "speed_runs", "memory_probe"]
AFTER_ALL = ["variant_statistics"]
REPORTS = ["charts_png", "quantbench_report", "marts_parquet"]


def run(models: list[str] | None, quants: list[str] | None, size: str, limit: int | None, tasks: list[str],
        skip_dbt: bool = False, generation_limit: int = 1, ppl_windows: int = 4, speed_reps: int = 3) -> int:
    import dagster as dg

    from quantbench_assets.lib.catalog import load_catalog

    materialize, present = _materializer()

    def have(names: list[str]) -> list[str]:
        return [n for n in names if n in present]

    def ops_config(selection: list[str]) -> dict:
        config = {
            "benchmark_samples": {"tasks": tasks, "size": size, "limit": limit},
            "generation_samples": {"limit": generation_limit},
            "perplexity": {"n_windows": ppl_windows},
            "distribution_shift": {"n_windows": ppl_windows},
            "base_logits": {"n_windows": ppl_windows},
            "speed_runs": {"reps": speed_reps},
        }
        return {"ops": {k: {"config": v} for k, v in config.items() if k in selection}}

    say(f"Dagster instance: {os.environ['DAGSTER_HOME']}; warehouse: {paths.warehouse_path()}")
    say("validating the catalog and syncing partitions")
    if not materialize(["model_catalog"]):
        return 1
    catalog = load_catalog(paths.catalog_path(), paths.incoming_dir())
    chosen = [m for m in catalog.models if (m.name in models if models else m.demo)]
    if models and len(chosen) != len(models):
        say(f"unknown model(s): {sorted(set(models) - {m.name for m in chosen})}")
        return 2
    failures = []
    if have(["hardware_profile"]):
        say("measuring this machine (CPU, memory bandwidth)")
        materialize(["hardware_profile"])
    per_rung = have(PER_RUNG)
    for m in chosen:
        ladder = [q for q in m.ladder if not quants or q in quants]
        say(f"{m.name}: acquiring the base file ({m.source.kind})")
        if not materialize(["gguf_base"], m.name):
            failures.append(m.name)
            continue
        built = []
        for i, q in enumerate(ladder, 1):
            key = f"{m.name}__{q}"
            say(f"{m.name}: building rung {i}/{len(ladder)} {q}")
            if materialize(["gguf_variant"], key):
                built.append(key)
            else:
                failures.append(key)
        if have(["base_logits"]) and built:
            say(f"{m.name}: base-rung logits for KL divergence")
            if not materialize(["base_logits"], m.name, ops_config(["base_logits"])):
                failures.append(f"{m.name} base_logits")
        for i, key in enumerate(built, 1):
            say(f"{m.name}: evaluating rung {i}/{len(built)} {key.split('__')[1]}: {', '.join(per_rung)}")
            t0 = time.time()
            ok = materialize(per_rung, key, ops_config(per_rung))
            say(f"  {key}: {'done' if ok else 'FAILED'} in {time.time() - t0:.0f}s")
            if not ok:
                failures.append(key)
    if have(AFTER_ALL):
        say("statistics across rungs (Welch, McNemar, Holm/Bonferroni, TOST, MDE)")
        if not materialize(have(AFTER_ALL)):
            failures.append("statistics")
    if not skip_dbt:
        load_gpu_results()
        say("building the dbt marts (dbt build: models, tests, unit tests)")
        if not materialize(dg.AssetSelection.groups("warehouse")):
            failures.append("dbt")
        if have(REPORTS):
            say("drawing the charts and writing the report")
            if not materialize(have(REPORTS)):
                failures.append("reports")
    print_table()
    if failures:
        say(f"finished with failures: {failures}")
        return 1
    return 0


def load_gpu_results() -> None:
    """Merge the committed GPU results (data/gpu_results, measured on a lent H100) into the warehouse,
    beside this machine's rows; they keep their own hardware_id."""
    import subprocess

    files = sorted((paths.data_dir() / "gpu_results").glob("*/*.json"))
    if not files:
        return
    say(f"loading {len(files)} committed GPU result file(s) from data/gpu_results")
    proc = subprocess.run([sys.executable, str(paths.PROJECT_ROOT / "scripts" / "gpu" / "load_results.py"),
                           "--db", str(paths.warehouse_path()), *map(str, files)], capture_output=True, text=True)
    if proc.returncode != 0:
        say(f"  GPU results not loaded: {proc.stderr.strip()[-400:]}")


def rebuild_reports() -> int:
    """Statistics, dbt marts, charts and the report from what the warehouse holds (no inference)."""
    import dagster as dg

    materialize, present = _materializer()
    load_gpu_results()
    ok = True
    for label, selection in (("statistics", [a for a in AFTER_ALL if a in present]),
                             ("dbt marts", dg.AssetSelection.groups("warehouse")),
                             ("charts and report", [a for a in REPORTS if a in present])):
        say(f"building {label}")
        ok = materialize(selection) and ok
    print_table()
    return 0 if ok else 1


def print_table() -> None:
    import polars as pl

    from quantbench_assets.lib import warehouse

    db = paths.warehouse_path()
    if not db.exists():
        say("no warehouse yet")
        return
    with warehouse.connect(db, read_only=True) as con:
        if not warehouse.table_exists(con, "marts", "fct_variant_accuracy"):
            say("marts.fct_variant_accuracy does not exist yet (run dbt)")
            return
        accuracy = con.execute("""
            select model, quant_requested as quant, quant_obtained as obtained, task, n_items as n,
                   round(raw_accuracy, 3) as raw_acc, round(rescored_accuracy, 3) as rescored_acc,
                   '[' || round(rescored_accuracy_ci_low, 3) || ', ' || round(rescored_accuracy_ci_high, 3) || ']' as wilson_95,
                   round(size_bytes / 1e6, 1) as size_mb
            from marts.fct_variant_accuracy where scorer = 'generate_rescore'
            order by model, task, size_bytes desc""").pl()
        board = None
        if warehouse.table_exists(con, "marts", "rpt_quantization_leaderboard"):
            board = con.execute("""
                select l.model, l.quant, round(l.size_gb * 1000, 1) as size_mb, round(l.accuracy, 3) as accuracy,
                       l.quality_tier as tier, round(l.perplexity, 2) as ppl, round(l.kld_mean, 4) as kld,
                       l.decode_tok_per_s as decode_tok_s, t.median_ttft_ms as ttft_ms,
                       round(l.peak_rss_bytes / 1e6, 0) as peak_rss_mb,
                       round(l.cost_per_million_tokens_usd, 4) as usd_per_1m
                from marts.rpt_quantization_leaderboard l
                left join (select variant, round(median(ttft_ms), 1) as median_ttft_ms
                           from raw.benchmark_samples group by 1) t using (variant)
                order by l.model, l.ladder_position""").pl()
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=170, tbl_hide_dataframe_shape=True):
        say("accuracy per rung (marts.fct_variant_accuracy)")
        print(accuracy)
        if board is not None:
            say("per rung: accuracy, distribution shift, speed, memory, cost (marts.rpt_quantization_leaderboard)")
            print(board)
    report = paths.reports_dir() / "report.md"
    if report.exists():
        say(f"report: {report}; charts: {paths.reports_dir() / 'charts'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quantbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("demo", "run"):
        p = sub.add_parser(name)
        p.add_argument("--model", action="append", help="catalog model name (repeatable); default: demo models")
        p.add_argument("--quant", action="append", help="only these rungs (repeatable)")
        p.add_argument("--size", default="demo", help="task subset: demo | seed_study | full")
        p.add_argument("--limit", type=int, default=None, help="first N items per task")
        p.add_argument("--task", action="append", help="task names (default mmlu, arc_challenge)")
        p.add_argument("--skip-dbt", action="store_true")
        p.add_argument("--generation-limit", type=int, default=1, help="items per generation task")
        p.add_argument("--ppl-windows", type=int, default=4, help="WikiText-2 windows of 512 tokens")
        p.add_argument("--speed-reps", type=int, default=3, help="repetitions of pp512 / tg128")
    sub.add_parser("table", help="print the accuracy table and the leaderboard")
    sub.add_parser("report", help="rebuild statistics, marts, charts and the report without inference")
    args = ap.parse_args(argv)
    if args.cmd == "table":
        print_table()
        return 0
    if args.cmd == "report":
        return rebuild_reports()
    rc = run(args.model, args.quant, args.size, args.limit, args.task or ["mmlu", "arc_challenge"], args.skip_dbt,
             args.generation_limit, args.ppl_windows, args.speed_reps)
    if args.cmd == "demo":
        say(f"warehouse (DuckDB): {paths.warehouse_path()}  -> e.g. duckdb {paths.warehouse_path()} "
            "'select * from marts.fct_variant_accuracy'")
        say("open the Dagster UI:  .venv/bin/dagster dev -h 127.0.0.1 -p 3000   then http://127.0.0.1:3000 "
            f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
