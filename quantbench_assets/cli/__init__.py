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
import sys
from pathlib import Path

from quantbench_assets.lib.core import paths

from .answer import print_answer, print_table
from .console import quiet_to, say
from .instance import configure_pools, ensure_home, materializer
from .project import init_project
from .runs import choose_omp_wait, load_gpu_results, plan_study, rebuild_reports, run

__all__ = ["build_parser", "choose_omp_wait", "configure_pools", "ensure_home", "init_project", "load_gpu_results", "main",
           "materializer", "plan_study", "print_answer", "print_table", "quiet_to", "rebuild_reports", "run", "say"]


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
        p.add_argument("--task", action="append", help="benchmark tasks under data/tasks (run with the study's scorers)")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on a malformed option
    try:
        return _main(args)
    except paths.ProjectNotFound as e:
        print(f"quantbench {args.cmd}: error: {e}", file=sys.stderr)
        return 2


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
        say(f"  {choose_omp_wait()}")
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
