"""dbt: fct_code_pass_at_1 and fct_published_vs_measured build on a small private warehouse (code
executions from the real sandbox), their unit tests pass, and the published-scores seed is sane."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.scoring.sandbox import SandboxLimits, execute_samples

MODEL = "smollm2-135m-instruct"
SEED = paths.dbt_project_dir() / "seeds" / "published_scores.csv"


def foundation(db: Path) -> None:
    catalog = pl.DataFrame([{"model": MODEL, "family": "smollm2", "parameters": 135_000_000, "source_kind": "pypi",
                             "source_sha256": None, "base_quant": "Q4_1", "ladder": "F16,Q8_0",
                             "baseline_quant": "F16", "baseline_variant": f"{MODEL}__F16", "demo": True,
                             "engine": "llama_cpp", "license": "apache-2.0", "catalog_path": "test",
                             "loaded_at": "2026-12-02T00:00:00+00:00"}])
    inventory = pl.DataFrame([
        {"variant": f"{MODEL}__{q}", "model": MODEL, "quant_requested": q, "quant_obtained": q, "main_tensor_type": q,
         "method": "requantize", "gguf_sha256": sha, "base_sha256": "base", "size_bytes": size,
         "n_parameters": 134515008, "bits_per_weight": bpw, "architecture": "llama", "context_length": 8192,
         "has_chat_template": True, "n_tensors": 272, "tensor_type_histogram": "{}",
         "built_at": "2026-12-02T00:00:00+00:00"}
        for q, sha, size, bpw in (("F16", "a1", 270_000_000, 16.0), ("Q8_0", "b2", 145_000_000, 8.5))])
    with warehouse.connect(db) as con:
        warehouse.replace_rows(con, "catalog_models", catalog, {"model": MODEL})
        for v in inventory["variant"]:
            warehouse.replace_rows(con, "gguf_inventory", inventory.filter(pl.col("variant") == v), {"variant": v})


def executions(db: Path) -> None:
    limits = SandboxLimits(wall_s=3.0, cpu_s=1)
    tests = {"i1": {"tests": ["assert add(1, 2) == 3"], "entry_point": "add"},
             "i2": {"tests": ["assert add(2, 2) == 4"], "entry_point": "add"}}
    outputs = {"F16": ["```python\ndef add(a, b):\n    return a + b\n```", "def add(a, b): return a + b"],
               "Q8_0": ["```python\ndef add(a, b):\n    return a - b\n```", "def add(a, b) return a + b"]}
    with warehouse.connect(db) as con:
        for q, outs in outputs.items():
            samples = [{"variant": f"{MODEL}__{q}", "task": "code_generation", "task_version": "1.0.0",
                        "item_id": f"i{i + 1}", "output": o} for i, o in enumerate(outs)]
            rows = pl.DataFrame(execute_samples(samples, tests, limits, log=lambda m: None), infer_schema_length=None)
            warehouse.replace_rows(con, "code_execution", rows, {"variant": f"{MODEL}__{q}"})


def studies(db: Path) -> None:
    """Determinism and sampling tables from the lib's summaries of known inputs: F16 deterministic,
    Q8_0 differing across thread counts on one prompt; two rungs of sampled ROUGE values."""
    from quantbench_assets.lib.measure.sampling import summarize_determinism, variance_across_rungs, variance_by_rung

    runs = [{"variant": f"{MODEL}__F16", "task": "qa", "item_id": i, "n_threads": t, "rep": r, "output_sha256": i}
            for i in ("a", "b") for t in (1, 2) for r in range(3)]
    runs += [{"variant": f"{MODEL}__Q8_0", "task": "qa", "item_id": i, "n_threads": t, "rep": r,
              "output_sha256": f"{i}{t if i == 'b' else ''}"} for i in ("a", "b") for t in (1, 2) for r in range(3)]
    metrics = [{"variant": f"{MODEL}__{q}", "task": "qa", "item_id": i, "metric": "rouge1", "rep": r,
                "value": base + spread * (r - 1)}
               for q, spread in (("F16", 0.01), ("Q8_0", 0.05)) for i, base in (("a", 0.5), ("b", 0.3)) for r in range(3)]
    with warehouse.connect(db) as con:
        summary = pl.DataFrame(summarize_determinism(runs), infer_schema_length=None)
        by_rung = pl.DataFrame(variance_by_rung(metrics), infer_schema_length=None)
        for q in ("F16", "Q8_0"):
            v = f"{MODEL}__{q}"
            warehouse.replace_rows(con, "determinism_summary", summary.filter(pl.col("variant") == v), {"variant": v})
            warehouse.replace_rows(con, "sampling_variance_by_rung", by_rung.filter(pl.col("variant") == v), {"variant": v})
        across = pl.DataFrame(variance_across_rungs(metrics), infer_schema_length=None).with_columns(scope=pl.lit("all"))
        warehouse.replace_rows(con, "sampling_variance_across_rungs", across, {"scope": "all"})


def dbt_build(db: Path, tmp: Path) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    project = paths.dbt_project_dir()
    return subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"),
         "--select", "+fct_code_pass_at_1", "+fct_published_vs_measured", "+fct_determinism", "+fct_sampling_variance", "--indirect-selection", "cautious"],
        env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("study_marts")
    db = tmp / "warehouse.duckdb"
    foundation(db)
    executions(db)
    studies(db)
    result = dbt_build(db, tmp)
    assert result.returncode == 0 and "ERROR=0" in result.stdout, result.stdout[-6000:]
    assert "pass_at_1_wilson_and_delta_vs_baseline" in result.stdout
    assert "published_gap_flags_beyond_interval_plus_tolerance" in result.stdout
    return db


def test_pass_at_1_per_rung_with_wilson_interval_and_failure_kinds(built):
    con = duckdb.connect(str(built), read_only=True)
    rows = {r[0]: r[1:] for r in con.execute(
        "select quant_requested, n, passes, pass_at_1, pass_at_1_ci_low, pass_at_1_ci_high, n_assertion, n_syntax, "
        "delta_vs_baseline_pp, is_baseline from marts.fct_code_pass_at_1").fetchall()}
    con.close()
    n, passes, p, lo, hi, n_assert, n_syntax, delta, is_base = rows["F16"]
    assert (n, passes, p, n_assert, n_syntax, delta, is_base) == (2, 2, 1.0, 0, 0, 0.0, True)
    want = proportion_confint(2, 2, method="wilson")
    assert (lo, hi) == pytest.approx(want, abs=1e-6)
    n, passes, p, lo, hi, n_assert, n_syntax, delta, is_base = rows["Q8_0"]
    assert (n, passes, p, n_assert, n_syntax, delta, is_base) == (2, 0, 0.0, 1, 1, -100.0, False)


def test_published_rows_carry_a_reason_and_a_null_flag_when_nothing_was_measured(built):
    con = duckdb.connect(str(built), read_only=True)
    df = con.execute("select * from marts.fct_published_vs_measured").pl()
    con.close()
    with open(SEED, newline="") as f:
        seed = list(csv.DictReader(f))
    assert df.height == len(seed)
    mine = df.filter(pl.col("model") == MODEL)
    assert mine["baseline_variant"].unique().to_list() == [f"{MODEL}__F16"]
    assert mine["flag"].null_count() == mine.height and mine["reason"].str.starts_with("not measured").all()
    assert df.filter(pl.col("model") != MODEL)["reason"].str.contains("no baseline rung").all()


def test_the_published_seed_cites_a_source_and_date_for_every_value():
    with open(SEED, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for r in rows:
        assert r["source_url"].startswith("https://") and r["source"] and r["retrieved"]
        assert 0 <= float(r["value_pct"]) <= 100
        for comp in r["measured_components"].split("|"):
            assert len(comp.split("/")) == 3, comp


def test_determinism_and_sampling_marts(built):
    con = duckdb.connect(str(built), read_only=True)
    det = {r[0]: r[1:] for r in con.execute(
        "select quant_requested, share_identical, flag_not_deterministic, n_prompts, n_prompts_differing "
        "from marts.fct_determinism").fetchall()}
    samp = con.execute("select quant_requested, mean_cv, reps_needed, n_rungs, levene_p, between_rung_variance "
                       "from marts.fct_sampling_variance order by quant_requested").fetchall()
    con.close()
    assert det["F16"] == (1.0, False, 2, 0)
    assert det["Q8_0"] == (pytest.approx(9 / 12), True, 2, 1)
    assert [r[0] for r in samp] == ["F16", "Q8_0"] and samp[0][2] < samp[1][2]
    assert all(r[3] == 2 and r[4] is not None and r[5] is not None for r in samp)
