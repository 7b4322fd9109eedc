"""quantbench command line: run a study through Dagster from a terminal, and print the answer.

    python -m quantbench_assets.cli demo                 # the README's demo (≤ 10 min on 2 cores after set-up)
    python -m quantbench_assets.cli demo --study tr125   # TR125's generation study (~47 min on 2 cores)
    python -m quantbench_assets.cli run --model smollm2-135m-instruct --quant Q8_0 --limit 5
    python -m quantbench_assets.cli answer               # print the per-budget recommendations again
    python -m quantbench_assets.cli table                # print the accuracy mart and the leaderboard
    quantbench init DIR                                  # installed package: copy the project files to DIR,
                                                         #   then export QUANTBENCH_HOME=DIR

Studies (lib/core/study.py):
  demo   SmolLM2-135M (F16, Q8_0, Q4_K_M, Q2_K) and Qwen2.5-Coder-1.5B (source Q4_K_M, Q3_K_M, Q2_K):
         ARC-Easy by loglikelihood, KL divergence vs the base rung, perplexity, speed, memory.
  tr125  TR125's study: MMLU + ARC-Challenge by generation, five generation tasks, PPL/KLD, speed, memory
         on SmolLM2-135M and Qwen2.5-Coder-0.5B; ~47 min on 2 cores (measured 2026-11-22).

Every option is checked before any work starts (exit 2 with the reason). The terminal gets one line per
step; llama.cpp's own output and Dagster's event log go to the log file the run names
(data/reports/<command>.log). Runs go through the persistent Dagster instance (DAGSTER_HOME, default
.dagster_home/), so every run is also visible in the UI afterwards (`dagster dev`).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from quantbench_assets.lib.core import paths

INSTANCE_YAML = """# quantbench's Dagster instance. Writers of the DuckDB file share the pool "warehouse", limited to 1
# (DuckDB takes one writer per file) by quantbench's CLI; inference runs in the pool "inference", as
# wide as the machine allows. No default limit for all pools: it would throttle "inference" too.
telemetry:
  enabled: false
python_logs:
  python_log_level: INFO
"""
# Per-pool limits live in the instance's storage, not in dagster.yaml; configure_pools sets them.
POOL_LIMITS = {"warehouse": 1}
_OLD_HEADER = "# quantbench's Dagster instance."  # files this CLI wrote (and may upgrade)

# Dagster's console logger at INFO: the DEBUG event stream (one line per engine event) is not useful in
# the log file either; everything is still stored in the instance and shown in the UI.
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

_TERM = None  # the terminal, kept while fd 1/2 point at the log file


def ensure_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home())))
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    # an instance file this CLI wrote earlier had default_limit: 1, which throttled "inference" to 1
    if not cfg.exists() or (cfg.read_text().startswith(_OLD_HEADER) and "default_limit:" in cfg.read_text()):
        cfg.write_text(INSTANCE_YAML)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home


def say(msg: str) -> None:
    line = f"[quantbench {time.strftime('%H:%M:%S')}] {msg}"
    if _TERM is not None:
        _TERM.write(line + "\n")
        _TERM.flush()
        print(line, flush=True)  # and into the log file, beside what it summarizes
    else:
        print(line, flush=True)


@contextlib.contextmanager
def quiet_to(log_path: Path):
    """Point fd 1 and fd 2 at the log file (so llama.cpp's C-level prints and Dagster's logs land there)
    while `say` keeps writing to the terminal."""
    global _TERM
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    _TERM = os.fdopen(os.dup(saved_out), "w", buffering=1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        _TERM.close()
        _TERM = None


def configure_pools(instance) -> None:
    """Set POOL_LIMITS where the instance has no limit of its own (one set in the UI is kept); pools not
    named stay unlimited."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    explicit = {p.name for p in storage.get_pool_limits() if not getattr(p, "from_default", False)}
    for pool, limit in POOL_LIMITS.items():
        if pool not in explicit:
            storage.set_concurrency_slots(pool, limit)


def _materializer():
    """Load the definitions once; return (materialize(selection, partition_key, run_config) -> error or None, asset names)."""
    ensure_home()
    import dagster as dg

    from quantbench_assets.definitions import defs as load_defs

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    configure_pools(instance)
    assets, resources = list(defs.assets or []), dict(defs.resources or {})
    present = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}

    def materialize(selection, partition_key: str | None = None, run_config: dict | None = None) -> str | None:
        """None on success, else the first failure's message (one line)."""
        config = {**(run_config or {}), **QUIET_LOGGERS}
        result = dg.materialize(assets, selection=selection, partition_key=partition_key, instance=instance,
                                resources=resources, run_config=config, raise_on_error=False,
                                tags={"quantbench/source": "cli"})
        if result.success:
            return None
        for ev in result.all_events:
            if ev.is_step_failure:
                err = ev.step_failure_data.error
                root = err
                while root is not None and root.cause is not None:  # the innermost cause says what went wrong
                    root = root.cause
                msg = (root.message.strip().splitlines() or [""])[0] if root else ""
                print(f"FAILED {ev.step_key} [{partition_key}]: {err.to_string() if err else ''}", flush=True)
                return f"{ev.step_key}: {msg[:200]}"
        return "run failed (see the log)"

    return materialize, present


# ─── arguments: every one checked before any work ─────────────────────────────────────────────


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low} (got {value})")
        return value
    parse.__name__ = f"integer ≥ {low}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    from quantbench_assets.lib.core.study import SIZES, STUDIES

    ap = argparse.ArgumentParser(prog="quantbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, help_ in (("demo", "run a study (default: the demo) and print the answer"),
                        ("run", "the same, usually narrowed with --model / --quant / --limit")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--study", choices=sorted(STUDIES), default="demo",
                       help="; ".join(f"{s.name}: {s.estimate}" for s in STUDIES.values()))
        p.add_argument("--model", action="append", help="catalog model name (repeatable); default: the study's")
        p.add_argument("--quant", action="append", help="only these rungs (repeatable)")
        p.add_argument("--task", action="append", help="standard tasks (demo) / generation-benchmark tasks (tr125)")
        p.add_argument("--scorer", action="append", help="standard-task scorers: loglikelihood, letter_logits, ...")
        p.add_argument("--size", choices=SIZES, default=None, help="task subset")
        p.add_argument("--limit", type=_int_at_least(1), default=None, help="first N items per task")
        p.add_argument("--generation-limit", type=_int_at_least(1), default=None, help="items per generation task")
        p.add_argument("--ppl-windows", type=_int_at_least(1), default=None, help="WikiText-2 windows of 512 tokens")
        p.add_argument("--speed-reps", type=_int_at_least(2), default=None,
                       help="timed repetitions of the speed test (≥ 2: a spread needs two)")
        p.add_argument("--skip-dbt", action="store_true", help="stop after the per-rung assets")
        p.add_argument("--log", type=Path, default=None, help="log file (default data/reports/<command>.log)")
    sub.add_parser("table", help="print the accuracy table and the leaderboard")
    sub.add_parser("answer", help="print the per-budget recommendations from marts.fct_decision_matrix")
    sub.add_parser("report", help="rebuild statistics, marts, charts and the report without inference")
    p = sub.add_parser("init", help="copy the project files (dbt project, catalog, tasks, benchmark data) "
                                    "into DIR, the folder to name in QUANTBENCH_HOME")
    p.add_argument("dir", type=Path)
    return ap


def plan_study(args):
    """The study with the command line's overrides, validated against the catalog (no Dagster, no
    warehouse). Raises StudyError with every problem found."""
    from quantbench_assets.lib.catalog.entries import CatalogError, load_catalog
    from quantbench_assets.lib.core.study import ModelPlan, StudyError, get_study

    study = get_study(args.study)
    try:
        catalog = load_catalog(paths.catalog_path(), paths.incoming_dir())
    except CatalogError as e:
        raise StudyError(str(e)) from None
    from quantbench_assets.lib.gguf.ladder import baseline_quant

    known = {m.name for m in catalog.models}
    plans = {p.model: p for p in study.models}
    notes: list[str] = []
    if args.model:
        unknown = [m for m in args.model if m not in known]
        if unknown:
            raise StudyError(f"unknown model(s) {unknown} (catalog: {', '.join(sorted(known))})")
        chosen = [plans.get(m) or ModelPlan(m, tuple(catalog.get(m).ladder)) for m in dict.fromkeys(args.model)]
    else:
        chosen = list(study.models)
    if args.quant:
        from quantbench_assets.lib.catalog.entries import KNOWN_QUANTS, is_known_rung

        bad = [q for q in args.quant if not is_known_rung(q)]
        if bad:
            raise StudyError(f"unknown quant(s) {bad} (known: {', '.join(KNOWN_QUANTS)})")
        narrowed = []
        for p in chosen:
            ladder = catalog.get(p.model).ladder
            rungs = [q for q in p.rungs if q in args.quant]
            if not rungs:
                raise StudyError(f"--quant {args.quant} leaves no rung of {p.model} (its rungs: {list(p.rungs)})")
            base = baseline_quant(ladder)
            if base not in rungs:  # every comparison and the KLD need the baseline rung: evaluate it too
                notes.append(f"{p.model}: adding its baseline rung {base} (comparisons and KLD are against it)")
                rungs.insert(0, base)
            narrowed.append(ModelPlan(p.model, tuple(rungs), p.limit))
        chosen = narrowed
    if args.limit is not None:  # an explicit limit applies to every model
        chosen = [ModelPlan(p.model, p.rungs, args.limit) for p in chosen]
    overrides = {"models": tuple(chosen), "size": args.size, "limit": args.limit,
                 "generation_limit": args.generation_limit, "ppl_windows": args.ppl_windows,
                 "speed_reps": args.speed_reps}
    if args.task:
        key = "standard_tasks" if "standard_benchmark_samples" in study.assets else "benchmark_tasks"
        overrides[key] = tuple(args.task)
    if args.scorer:
        overrides["standard_scorers"] = tuple(args.scorer)
    study = study.with_overrides(**overrides)
    study.validate(catalog)
    return study, catalog, notes


# ─── running a study ─────────────────────────────────────────────────────────────────────────


def _weights(study, catalog) -> dict:
    """Rough seconds per step on 2 cores, so the ETA scales with the work left (not the step count)."""
    out = {}
    for p in study.models:
        size_b = max(catalog.get(p.model).parameters / 1e9, 0.05)
        items = (p.limit or study.limit or 50) * len(study.standard_tasks) if "standard_benchmark_samples" in study.assets else 0
        items += (p.limit or study.limit or 55) * len(study.benchmark_tasks) * 8 if "benchmark_samples" in study.assets else 0
        items += study.generation_limit * 5 * 40 if "generation_samples" in study.assets else 0
        out[p.model] = {"base": 10 + 30 * size_b, "build": 5 + 25 * size_b,
                        "logits": 3 + study.ppl_windows * 8 * size_b,
                        "eval": 5 + size_b * (1.3 * items + study.ppl_windows * 16 + study.speed_reps * 8 + 10)}
    return out


def run(study, catalog, skip_dbt: bool = False) -> int:
    import dagster as dg

    from quantbench_assets.lib.core.progress import Steps

    t_start = time.time()
    materialize, present = _materializer()
    per_rung = [a for a in study.assets if a in present]
    weights = _weights(study, catalog)
    steps: list[tuple[str, float]] = [("catalog: validate, sync partitions", 5)]
    if "hardware_profile" in present:
        steps.append(("this machine: CPU, memory bandwidth", 10))
    for p in study.models:
        w = weights[p.model]
        steps.append((f"{p.model}: base file ({catalog.get(p.model).source.kind})", w["base"]))
        steps += [(f"{p.model} {q}: build rung", w["build"]) for q in p.rungs]
        if "distribution_shift" in per_rung and "base_logits" in present:
            steps.append((f"{p.model}: base-rung logits for KLD", w["logits"]))
        steps += [(f"{p.model} {q}: evaluate", w["eval"]) for q in p.rungs]
    after = [a for a in ("variant_statistics",) if a in present]
    if after:
        steps.append(("statistics across rungs", 10))
    if not skip_dbt:
        steps += [("dbt marts (build + tests)", 60), ("charts, report, site, parquet", 20)]
    progress = Steps([w for _, w in steps], say)
    labels = iter([label for label, _ in steps])
    failures: list[str] = []

    def step(selection, partition=None, config=None) -> bool:
        label = next(labels)
        progress.start()
        err = materialize(selection, partition, config)
        progress.done(label, ok=err is None, note=err or "")
        if err:
            failures.append(f"{label}: {err}")
        return err is None

    step(["model_catalog"])
    if "hardware_profile" in present:
        step(["hardware_profile"])
    for p in study.models:
        if not step(["gguf_base"], p.model):
            for _ in range(len(p.rungs) * 2 + ("distribution_shift" in per_rung and "base_logits" in present)):
                progress.skip(next(labels), "no base file")
            continue
        built = [q for q in p.rungs if step(["gguf_variant"], f"{p.model}__{q}")]
        rung_assets = per_rung
        if "distribution_shift" in per_rung and "base_logits" in present:
            if not built:
                progress.skip(next(labels), "no rung built")
            if not built or not step(["base_logits"], p.model, study.run_config(["base_logits"])):
                rung_assets = [a for a in per_rung if a != "distribution_shift"]
        for q in p.rungs:
            if q not in built:
                progress.skip(next(labels), "rung not built")
                continue
            step(rung_assets, f"{p.model}__{q}", study.run_config(rung_assets, p.limit))
    if after:
        step(after)
    if not skip_dbt:
        load_gpu_results(materialize, present)
        step(dg.AssetSelection.kind("dbt"))
        step(dg.AssetSelection.groups("reports"))
    say(f"finished in {(time.time() - t_start) / 60:.1f} min" + (f" with {len(failures)} failure(s):" if failures else ""))
    for f in failures:
        say(f"  {f}")
    return 1 if failures else 0


def load_gpu_results(materialize, present) -> None:
    """Results measured elsewhere (data/gpu_results, a lent H100) enter only when the user opts in
    (QUANTBENCH_INCLUDE_EXTERNAL=1), through the external_results asset, into tables of their own."""
    if "external_results" not in present or os.environ.get("QUANTBENCH_INCLUDE_EXTERNAL", "").strip().lower() \
            not in ("1", "true", "yes"):
        return
    say("loading results measured on other machines (QUANTBENCH_INCLUDE_EXTERNAL=1): external_results")
    err = materialize(["external_results"])
    if err:
        say(f"  external results not loaded: {err}")


def rebuild_reports() -> int:
    """Statistics, dbt marts, charts and the report from what the warehouse holds (no inference)."""
    import dagster as dg

    materialize, present = _materializer()
    load_gpu_results(materialize, present)
    ok = True
    for label, selection in (("statistics", [a for a in ("variant_statistics",) if a in present]),
                             ("dbt marts", dg.AssetSelection.kind("dbt")),
                             ("charts, report, site", dg.AssetSelection.groups("reports"))):
        say(f"building {label}")
        err = materialize(selection)
        if err:
            say(f"  FAILED: {err}")
        ok = err is None and ok
    return 0 if ok else 1


# ─── the answer ──────────────────────────────────────────────────────────────────────────────


def print_answer(log_path: Path | None = None) -> None:
    """The per-budget recommendations (marts.fct_decision_matrix) and where to look."""
    from quantbench_assets.lib.core import warehouse
    from quantbench_assets.lib.reporting.report_verdicts import answer_lines

    db = paths.warehouse_path()
    dm = None
    if db.exists():
        with warehouse.connect(db, read_only=True) as con:
            if warehouse.table_exists(con, "marts", "fct_decision_matrix"):
                dm = con.execute("select * from marts.fct_decision_matrix").pl()
    say("the answer (marts.fct_decision_matrix; full evidence in the report):")
    for line in answer_lines(dm):
        say("  " + (line if len(line) <= 240 else line[:239] + "…"))
    reports = paths.reports_dir()
    say("where to look:")
    say(f"  report     {reports / 'report.md'}")
    site = reports / "site" / "index.html"
    if site.exists():
        say(f"  site       {site}  (open in a browser, no server needed)")
    say(f"  warehouse  {db}  (marts.*; e.g. .venv/bin/python -m quantbench_assets.cli table)")
    say(f"  UI         DAGSTER_HOME={os.environ.get('DAGSTER_HOME') or paths.dagster_home()} "
        ".venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000  → http://127.0.0.1:3000")
    if log_path is not None:
        say(f"  log        {log_path}  (llama.cpp and Dagster output)")


def print_table() -> None:
    import polars as pl

    from quantbench_assets.lib.core import warehouse

    db = paths.warehouse_path()
    if not db.exists():
        say("no warehouse yet")
        return
    with warehouse.connect(db, read_only=True) as con:
        if not warehouse.table_exists(con, "marts", "fct_variant_accuracy"):
            say("marts.fct_variant_accuracy does not exist yet (run dbt)")
            return
        accuracy = con.execute("""
            select model, quant_requested as quant, quant_obtained as obtained, task, scorer, n_items as n,
                   round(rescored_accuracy, 3) as accuracy,
                   '[' || round(rescored_accuracy_ci_low, 3) || ', ' || round(rescored_accuracy_ci_high, 3) || ']' as wilson_95
            from marts.fct_variant_accuracy
            order by model, task, size_bytes desc""").pl()
        board = None
        if warehouse.table_exists(con, "marts", "rpt_quantization_leaderboard"):
            board = con.execute("""
                select model, quant, round(size_gb * 1000, 1) as size_mb, round(accuracy, 3) as accuracy,
                       quality_tier as tier, round(kld_mean, 4) as kld, decode_tok_per_s as decode_tok_s,
                       round(cost_per_million_tokens_usd, 4) as usd_per_1m
                from marts.rpt_quantization_leaderboard order by model, ladder_position""").pl()
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=170, tbl_hide_dataframe_shape=True):
        say("accuracy per rung (marts.fct_variant_accuracy)")
        print(accuracy)
        if board is not None:
            say("per rung (marts.rpt_quantization_leaderboard)")
            print(board)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a malformed option
    try:
        return _main(args)
    except paths.ProjectNotFound as e:
        print(f"quantbench {args.cmd}: error: {e}", file=sys.stderr)
        return 2


def init_project(folder: Path) -> int:
    try:
        home = paths.init_project(folder)
    except (paths.ProjectNotFound, FileExistsError) as e:
        print(f"quantbench init: error: {e}", file=sys.stderr)
        return 2
    # dagster-dbt loads the dbt project from its manifest: parse it once here, as set-up does in a checkout
    import shutil
    import subprocess

    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    try:
        proc = subprocess.run([dbt, "parse", "--profiles-dir", ".", "--quiet"], cwd=home / "dbt",
                              env={**os.environ, "DO_NOT_TRACK": "1"}, capture_output=True, text=True)
    except FileNotFoundError:
        print(f"quantbench init: files copied to {home}, but no dbt executable was found (PATH, or {dbt}) "
              "to parse the dbt project", file=sys.stderr)
        return 1
    if proc.returncode != 0:
        print(f"quantbench init: `dbt parse` failed in {home / 'dbt'}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}",
              file=sys.stderr)
        return 1
    print(f"quantbench project files copied to {home}\nuse it with:  export {paths.HOME_ENV}={home}")
    return 0


def _main(args) -> int:
    from quantbench_assets.lib.core.study import StudyError

    if args.cmd == "init":
        return init_project(args.dir)
    if args.cmd == "table":
        print_table()
        return 0
    if args.cmd == "answer":
        print_answer()
        return 0
    log_path = paths.reports_dir() / f"{args.cmd}.log"
    if args.cmd in ("demo", "run"):
        try:
            study, catalog, notes = plan_study(args)
        except StudyError as e:
            print(f"quantbench {args.cmd}: error: {e}", file=sys.stderr)
            return 2
        log_path = args.log or log_path
        n = len(study.variant_keys())
        say(f"study {study.name!r}: {n} rungs of {len(study.models)} model(s); {study.estimate}")
        say("  " + ", ".join(f"{p.model} [{' '.join(p.rungs)}]" for p in study.models))
        say(f"  per rung: {', '.join(study.assets)}; log: {log_path}")
        for note in notes:
            say(f"  {note}")
        with quiet_to(log_path):
            try:
                rc = run(study, catalog, args.skip_dbt)
                if not args.skip_dbt:
                    print_answer(log_path)
            except Exception as e:  # noqa: BLE001 - the traceback goes to the log, one line to the terminal
                rc = _crashed(e, log_path)
        return rc
    with quiet_to(log_path):
        try:
            rc = rebuild_reports()
            print_answer(log_path)
        except Exception as e:  # noqa: BLE001
            rc = _crashed(e, log_path)
    return rc


def _crashed(e: Exception, log_path: Path) -> int:
    import traceback

    traceback.print_exc()  # fd 2 is the log file here
    first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
    say(f"stopped: {type(e).__name__}: {first[:300]} (traceback in {log_path})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
