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


def run(models: list[str] | None, quants: list[str] | None, size: str, limit: int | None, tasks: list[str],
        skip_dbt: bool = False) -> int:
    ensure_home()
    import dagster as dg

    from quantbench_assets.definitions import defs as load_defs
    from quantbench_assets.lib.catalog import load_catalog

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    assets = list(defs.assets or [])
    resources = dict(defs.resources or {})

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
    config = {"ops": {"benchmark_samples": {"config": {"tasks": tasks, "size": size, "limit": limit}}}}
    for m in chosen:
        ladder = [q for q in m.ladder if not quants or q in quants]
        say(f"{m.name}: acquiring the base file ({m.source.kind})")
        if not materialize(["gguf_base"], m.name):
            failures.append(m.name)
            continue
        for i, q in enumerate(ladder, 1):
            key = f"{m.name}__{q}"
            say(f"{m.name}: rung {i}/{len(ladder)} {q}: build GGUF, run {'+'.join(tasks)} ({size}), score")
            t0 = time.time()
            ok = materialize(["gguf_variant", "benchmark_samples", "benchmark_scores"], key, config)
            say(f"  {key}: {'done' if ok else 'FAILED'} in {time.time() - t0:.0f}s")
            if not ok:
                failures.append(key)
    if not skip_dbt:
        say("building the dbt marts")
        if not materialize(dg.AssetSelection.groups("warehouse")):
            failures.append("dbt")
    print_table()
    if failures:
        say(f"finished with failures: {failures}")
        return 1
    return 0


def print_table() -> None:
    from quantbench_assets.lib import warehouse

    db = paths.warehouse_path()
    if not db.exists():
        say("no warehouse yet")
        return
    with warehouse.connect(db, read_only=True) as con:
        if not warehouse.table_exists(con, "marts", "fct_variant_accuracy"):
            say("marts.fct_variant_accuracy does not exist yet (run dbt)")
            return
        df = con.execute("""
            select model, quant_requested as quant, quant_obtained as obtained, task, n_items as n,
                   round(raw_accuracy, 3) as raw_acc, round(rescored_accuracy, 3) as rescored_acc,
                   '[' || round(rescored_accuracy_ci_low, 3) || ', ' || round(rescored_accuracy_ci_high, 3) || ']' as wilson_95,
                   round(size_bytes / 1e6, 1) as size_mb
            from marts.fct_variant_accuracy order by model, task, size_bytes desc""").pl()
    import polars as pl

    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(df)


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
    sub.add_parser("table")
    args = ap.parse_args(argv)
    if args.cmd == "table":
        print_table()
        return 0
    rc = run(args.model, args.quant, args.size, args.limit, args.task or ["mmlu", "arc_challenge"], args.skip_dbt)
    if args.cmd == "demo":
        say(f"warehouse (DuckDB): {paths.warehouse_path()}  -> e.g. duckdb {paths.warehouse_path()} "
            "'select * from marts.fct_variant_accuracy'")
        say("open the Dagster UI:  .venv/bin/dagster dev -h 127.0.0.1 -p 3000   then http://127.0.0.1:3000 "
            f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
