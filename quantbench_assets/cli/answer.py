"""`answer` (the per-budget recommendations) and `table` (the accuracy mart and the leaderboard),
printed from the warehouse's marts."""
from __future__ import annotations

import os
from pathlib import Path

from quantbench_assets.lib.core import paths

from .console import say


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
