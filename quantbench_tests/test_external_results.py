"""Only the user's own measurements by default; speed that can be trusted.

On the real CI model, in a private warehouse: results measured elsewhere (the committed H100 runs)
enter only through the opt-in external_results asset, into tables of their own, so re-running
speed_runs never deletes them and the marts that compare rungs (cost, the measurements the
leaderboard and decisions read) hold this machine's figures alone; rpt_leaderboard_by_hardware shows
the external rows, labelled with machine and date. A speed run taken while another process loads
the machine is repeated once and then marked; the speed marts flag it (and overlapping neighbours).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from quantbench_assets.defs.resources import WarehouseResource

from quantbench_assets.lib.measure import external as ext
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse

KEY = "smollm2-135m-instruct__Q8_0"
SPEED = {"reps": 2, "warmup": 1, "n_prompt": 32, "n_gen": 8}


def _counts(db: Path) -> dict[str, int]:
    with warehouse.connect(db, read_only=True) as con:
        return {t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0]
                for t in ext.TABLES.values() if warehouse.table_exists(con, "raw", t)}


def _q(db: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).pl()


def _dbt(db: Path, target: Path, *select: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    project = paths.dbt_project_dir()
    return subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(target / "target"), "--log-path", str(target / "logs"), "--indirect-selection", "cautious",
         "--select", *select],
        env=env, capture_output=True, text=True, timeout=400)


@pytest.fixture(scope="module")
def pipeline(smollm_rung, tmp_path_factory):
    """external_results (opted in), then this machine's catalog, hardware and speed run, then dbt."""
    from quantbench_assets.defs.catalog.assets import model_catalog
    from quantbench_assets.defs.measure.external import external_results
    from quantbench_assets.defs.measure.speed import hardware_profile, speed_runs
    from quantbench_assets.defs.resources import EngineResource, StorageResource
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import write_manifest

    tmp = tmp_path_factory.mktemp("external")
    q8 = smollm_rung("Q8_0")
    store = ArtifactStore(tmp / "artifacts")
    write_manifest(store, KEY, {"variant": KEY, "model": "smollm2-135m-instruct", "requested": "Q8_0",
                                "obtained": "Q8_0", "sha256": q8.stored.sha256, "path": str(q8.stored.path)})
    db = tmp / "warehouse.duckdb"
    resources = {"engine": EngineResource(n_threads=1, n_ctx=256), "storage": StorageResource(artifacts_dir=str(store.root)),
                 "duckdb": WarehouseResource(database=str(db))}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([external_results], resources=resources, instance=instance, run_config={
        "ops": {"external_results": {"config": {"include": True}}}}).success
    before = _counts(db)
    assert dg.materialize([model_catalog], resources=resources, instance=instance).success
    assert dg.materialize([hardware_profile], resources=resources, instance=instance, run_config={
        "ops": {"hardware_profile": {"config": {"bandwidth_array_mib": 64, "bandwidth_reps": 2}}}}).success
    assert dg.materialize([speed_runs], partition_key=KEY, resources=resources, instance=instance,
                          run_config={"ops": {"speed_runs": {"config": SPEED}}}).success
    after = _counts(db)
    with warehouse.connect(db) as con:  # the inventory row gguf_variant would write for this rung
        warehouse.replace_rows(con, "gguf_inventory", pl.DataFrame([{
            "variant": KEY, "model": "smollm2-135m-instruct", "quant_requested": "Q8_0", "quant_obtained": "Q8_0",
            "gguf_sha256": q8.stored.sha256, "size_bytes": q8.stored.size_bytes, "n_parameters": q8.info.n_parameters,
            "bits_per_weight": q8.info.bits_per_weight, "built_at": "2026-12-01T00:00:00+00:00"}]), {"variant": KEY})
    build = _dbt(db, tmp, "+fct_cost_per_million_tokens", "+int_variant_measurements_joined",
                 "+rpt_leaderboard_by_hardware", "+int_speed_measured")
    assert build.returncode == 0, build.stdout[-4000:]
    return {"db": db, "before": before, "after": after, "build": build, "resources": resources,
            "instance": instance, "tmp": tmp}


def test_rematerializing_speed_runs_leaves_external_rows_intact(pipeline):
    before, after = pipeline["before"], pipeline["after"]
    assert before["external_speed_summary"] == 16 and before["external_speed_samples"] > 0
    assert after == before  # speed_runs of the same variant touched none of them
    own = _q(pipeline["db"], "select distinct hardware_id from raw.speed_summary")
    this = _q(pipeline["db"], "select hardware_id from raw.hardware")["hardware_id"].to_list()
    assert own["hardware_id"].to_list() == this  # this machine's table holds this machine only
    ext_ids = set(_q(pipeline["db"], "select distinct hardware_id from raw.external_speed_summary")["hardware_id"])
    assert ext_ids and not ext_ids & set(this)


def test_by_default_cost_and_measurements_are_this_machines_only(pipeline):
    db = pipeline["db"]
    this = _q(db, "select hardware_id from raw.hardware")["hardware_id"][0]
    local_tg = _q(db, "select mean_tok_per_s from raw.speed_summary where test_kind = 'tg'")["mean_tok_per_s"][0]
    cost = _q(db, "select * from marts.fct_cost_per_million_tokens")
    assert cost.height >= 1 and set(cost["speed_hardware_id"]) == {this}
    joined = _q(db, f"select * from intermediate.int_variant_measurements_joined where variant = '{KEY}'").to_dicts()[0]
    assert joined["decode_tok_per_s"] == pytest.approx(local_tg) and joined["speed_hardware_id"] == this
    # the H100 rows are in the per-hardware leaderboard only, labelled with machine and date
    board = _q(db, "select * from marts.rpt_leaderboard_by_hardware")
    external = board.filter(pl.col("origin") == "external")
    assert external.height == 8 and external["measured_on"].str.contains("H100").all()
    assert (external["measured_date"] == "2026-11-22").all()
    mine = board.filter(pl.col("origin") == "this machine")
    assert mine["variant"].to_list() == [KEY] and mine["hardware_id"].to_list() == [this]
    assert mine["measured_on"][0] and mine["measured_date"][0]


def test_a_cpu_speed_without_a_price_of_its_class_has_no_cost_and_says_why(pipeline):
    cost = _q(pipeline["db"], "select * from marts.fct_cost_per_million_tokens").to_dicts()
    cls = cost[0]["hardware_class"]
    import csv

    with open(paths.dbt_project_dir() / "seeds" / "hardware_prices.csv", newline="") as f:
        seeded = {r["hardware_class"] for r in csv.DictReader(f)}
    if cls in seeded:
        pytest.skip(f"this machine's class {cls} has a seed price")
    assert len(cost) == 1 and cost[0]["cost_per_million_tokens_usd"] is None and cost[0]["price_id"] is None
    assert cost[0]["cost_null_reason"].startswith(f"no price for hardware class {cls}")
    joined = _q(pipeline["db"], f"select * from intermediate.int_variant_measurements_joined where variant = '{KEY}'")
    assert joined["cost_per_million_tokens_usd"][0] is None and cls in joined["cost_null_reason"][0]


def test_overlapping_speed_spreads_are_flagged_by_the_sql_the_pipeline_runs(pipeline):
    out = pipeline["build"].stdout
    for name in ("rungs_whose_speed_intervals_overlap_are_flagged", "a_cpu_speed_with_only_a_gpu_price_has_no_cost_and_says_why"):
        assert name in out, name  # the dbt unit tests ran in the build above and passed (returncode 0)
    joined = _q(pipeline["db"], f"select speed_flag, speed_overlaps_neighbour from intermediate.int_variant_measurements_joined "
                                f"where variant = '{KEY}'").to_dicts()[0]
    assert joined["speed_overlaps_neighbour"] is False  # a single rung has no neighbour


def test_not_opting_in_loads_nothing_and_removes_earlier_external_rows(pipeline, monkeypatch):
    from quantbench_assets.defs.measure.external import external_results

    db = pipeline["tmp"] / "copy.duckdb"
    shutil.copy(pipeline["db"], db)
    monkeypatch.delenv("QUANTBENCH_INCLUDE_EXTERNAL", raising=False)
    res = dg.materialize([external_results], resources={**pipeline["resources"], "duckdb": WarehouseResource(database=str(db))},
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success
    assert set(_counts(db).values()) == {0}
    assert _q(db, "select count(*) n from raw.speed_summary")["n"][0] > 0  # this machine's rows stay


def test_a_run_under_load_is_repeated_once_then_marked(smollm_rung):
    """A busy neighbour process (one core of this 2-core machine) during the speed run."""
    from quantbench_assets.lib.engines.llama import EngineSettings
    from quantbench_assets.lib.measure.speed import BenchSpec, measure_speed

    q8 = smollm_rung("Q8_0")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        result = measure_speed(q8.stored.path, EngineSettings(n_threads=1, n_ctx=256),
                               BenchSpec(n_prompt=32, n_gen=8, reps=2, warmup=0), threshold=0.25)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    load = result.load
    assert load["under_load"] is True and load["attempts"] == 2 and load["other_cpu_share"] > 0.25
    rows = result.summary_rows()
    assert all(r["under_load"] is True and r["other_cpu_share"] == load["other_cpu_share"] for r in rows)
