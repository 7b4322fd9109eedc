"""The H100 results committed under data/gpu_results/ load into the warehouse through the opt-in
external_results asset (lib/measure/external.py), into raw.external_* tables of their own, in the
shapes the dbt models read, labelled with machine and date. No GPU needed: the files are data; the
device run that made them is described in their README."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from quantbench_assets.lib.measure import external as external_results
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "data" / "gpu_results").glob("*/*.json"))
LADDERS = {"smollm2-135m-instruct": ["F16", "Q8_0", "Q4_K_M", "Q2_K"],
           "qwen2.5-coder-0.5b-instruct": ["F16", "Q8_0", "Q4_K_M", "Q2_K"]}


def _loader():
    return external_results


def staging_columns(model: str) -> set[str]:
    """The raw columns a staging model selects (its `renamed` CTE)."""
    sql = (paths.dbt_project_dir() / "models" / "staging" / f"{model}.sql").read_text()
    body = sql.split("renamed as (", 1)[1].split("select", 1)[1].split("from source")[0]
    cols = set()
    for line in body.splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        if not line:
            continue
        expr = line.split(" as ")[0]
        # identifiers, less function names (followed by "(") and type names
        cols |= {w for w in re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", expr) if w not in {"timestamp", "double"}}
    if "hardware_columns()" in body:  # the machine columns both hardware views share (macros/hardware.sql)
        macro = (paths.dbt_project_dir() / "macros" / "hardware.sql").read_text()
        cols |= set(re.findall(r"'([a-z_0-9]+)':", macro.split("set merged = {", 1)[1].split("}", 1)[0]))
    return cols


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    assert RESULTS, "no committed GPU results under data/gpu_results/"
    db = tmp_path_factory.mktemp("gpu") / "warehouse.duckdb"
    # a CPU run of one of the same variants, on another machine, already in the warehouse
    with warehouse.connect(db) as con:
        warehouse.replace_rows(con, "speed_summary", pl.DataFrame([{
            "variant": "smollm2-135m-instruct__Q8_0", "hardware_id": "cpu0", "test": "tg128", "test_kind": "tg",
            "mean_tok_per_s": 34.2, "n_gpu_layers": 0, "run_at": "2026-11-22T00:00:00+00:00"}]),
            {"variant": "smollm2-135m-instruct__Q8_0"})
    with warehouse.connect(db) as con:
        external_results.load(con, RESULTS, log=lambda s: None)
        external_results.load(con, RESULTS, log=lambda s: None)  # a second load replaces, never duplicates
    return db


def q(db: Path, sql: str) -> pl.DataFrame:
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(sql).pl()


def test_the_results_files_name_their_device_build_and_commands():
    loader = _loader()
    for f in RESULTS:
        data = loader.read_results(f)
        ann = data["annotations"]
        assert "H100" in ann["device"] and ann["date"] == f.parent.name
        assert "-DGGML_CUDA=on" in ann["build"]["cmake_args"] and "-DCMAKE_CUDA_ARCHITECTURES=90" in ann["build"]["cmake_args"]
        assert ann["device_commands"] and data["meta"]["gpu_offload"] is True
        assert "cuda" in data["meta"]["engine_build"]
    readme = (RESULTS[0].parent / "README.md").read_text()
    assert "scripts/gpu/device_call.sh" in readme and "2026-11-22" in readme


def test_the_h100_has_a_hardware_row_of_its_own(loaded):
    hw = q(loaded, "select * from raw.external_hardware")
    gpu = hw.filter(pl.col("gpu_name").str.contains("H100"))
    assert gpu.height == 1
    row = gpu.to_dicts()[0]
    assert row["device_kind"] == "gpu" and row["gpu_count"] == 1 and row["hardware_id"] != row["host_hardware_id"]
    assert 2000 < row["bandwidth_gb_per_s"] < 3500  # HBM3 copy probe (read + write bytes)
    assert staging_columns("stg_hardware") - {"memory_gib", "hardware_class_source", "price_usd_per_hour",
                                               "price_source", "profiled_at"} <= set(hw.columns)
    # labelled with where and when it was measured
    assert row["hardware_class"] == "gpu-h100" and "H100" in row["measured_on"] and row["measured_date"] == "2026-11-22"
    assert row["source_file"].startswith("data/gpu_results/2026-11-22/")
    assert not warehouse_has(loaded, "hardware")  # nothing written to this machine's own table


def test_every_rung_has_a_positive_decode_rate_and_a_roofline_share(loaded):
    s = q(loaded, "select * from raw.external_speed_summary where n_gpu_layers > 0")
    assert staging_columns("stg_speed_summary") - {"n_outliers", "hardware_class", "load_avg_1m", "other_cpu_share",
                                                   "under_load", "load_threshold", "attempts"} \
        <= set(s.columns) | {"n_outliers_low", "n_outliers_high"}
    assert (s["measured_date"] == "2026-11-22").all() and s["measured_on"].str.contains("H100").all()
    for model, ladder in LADDERS.items():
        for quant in ladder:
            rows = s.filter(pl.col("variant") == f"{model}__{quant}")
            assert sorted(rows["test"]) == ["pp512", "tg128"], (model, quant)
            tg = rows.filter(pl.col("test_kind") == "tg").to_dicts()[0]
            assert tg["mean_tok_per_s"] > 0 and tg["reps"] >= 5 and tg["n_gpu_layers"] == 99
            assert 0 < tg["bandwidth_share_pct"] < 100
    samples = q(loaded, "select * from raw.external_speed_samples where n_gpu_layers > 0")
    assert staging_columns("stg_speed_samples") <= set(samples.columns)
    assert samples.height == s["reps"].sum() and (samples["tok_per_s"] > 0).all()


def test_cpu_rows_are_kept_apart_by_hardware_id(loaded):
    rows = q(loaded, "select hardware_id, mean_tok_per_s from raw.speed_summary "
                     "where variant = 'smollm2-135m-instruct__Q8_0' and test = 'tg128' order by hardware_id")
    assert rows["hardware_id"].to_list() == ["cpu0"]  # this machine's table: its own row, survived both loads
    ext = q(loaded, "select hardware_id from raw.external_speed_summary "
                    "where variant = 'smollm2-135m-instruct__Q8_0' and test = 'tg128'")
    assert ext.height == 1 and ext["hardware_id"][0] != "cpu0"
    for table in ("speed_summary", "external_speed_summary"):
        dup = q(loaded, f"select variant, hardware_id, test, count(*) n from raw.{table} group by all having n > 1")
        assert dup.height == 0


def test_vram_perplexity_and_benchmarks_are_there(loaded):
    mem = q(loaded, "select * from raw.external_memory")
    assert mem.height == sum(len(v) for v in LADDERS.values())
    assert (mem["vram_peak_bytes"] >= mem["tensor_bytes"]).all()  # the weights are on the GPU
    ppl = q(loaded, "select * from raw.external_perplexity")
    assert staging_columns("stg_perplexity") <= set(ppl.columns)
    assert ((ppl["ppl"] > 1) & (ppl["ppl"] < 100)).all() and (ppl["n_windows"] == 8).all()
    scores = q(loaded, "select * from raw.external_benchmark_scores")
    # TR125's item readings, as the benchmark chain's generate_rescore scores carry them (prompt_method and
    # failure_reason came after the 2026-11-22 run)
    assert {"variant", "task", "task_version", "item_id", "scorer", "gold", "raw_letter", "extracted_letter",
            "raw_correct", "rescored_correct", "chance_rate"} <= set(scores.columns)
    per_variant = scores.group_by("variant").len()
    assert per_variant.height == 8 and (per_variant["len"] == 107).all()
    roof = q(loaded, "select * from raw.external_roofline where synthetic")
    assert roof.height >= 1 and (roof["tg_tok_per_s"] > 0).all()


def test_gpu_rows_reach_the_marts(loaded, tmp_path):
    """dim_hardware and rpt_leaderboard_by_hardware show the loaded rows, labelled (that the cost and
    decision marts never do is tested in test_external_results.py)."""
    if not shutil.which("dbt", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")):
        pytest.skip("dbt is not installed")
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(loaded, db)
    project = paths.dbt_project_dir()
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    out = subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
         "--select", "+rpt_leaderboard_by_hardware", "+dim_hardware",
         "--indirect-selection", "cautious"],
        env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout[-4000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        board = con.execute("select * from marts.rpt_leaderboard_by_hardware").pl()
        dims = con.execute("select * from marts.dim_hardware").pl()
    finally:
        con.close()
    gpu = board.filter(pl.col("device_kind") == "gpu")
    assert (gpu["origin"] == "external").all() and (gpu["measured_date"] == "2026-11-22").all()
    assert gpu["measured_on"].str.contains("H100").all()
    assert gpu.height == 8 and (gpu["decode_tok_per_s"] > 0).all() and (gpu["memory_kind"] == "vram").all()
    cpu = board.filter(pl.col("device_kind") == "cpu")
    assert cpu["variant"].to_list() == ["smollm2-135m-instruct__Q8_0"]
    q8 = gpu.filter(pl.col("variant") == "smollm2-135m-instruct__Q8_0").to_dicts()[0]
    assert q8["decode_speedup_vs_cpu"] == pytest.approx(q8["decode_tok_per_s"] / 34.2, rel=1e-2)
    assert dims.filter(pl.col("gpu_name").str.contains("H100"))["n_variants_measured"].to_list() == [8]



def warehouse_has(db: Path, table: str) -> bool:
    with warehouse.connect(db, read_only=True) as con:
        return warehouse.table_exists(con, "raw", table)
