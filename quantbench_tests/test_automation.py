"""Automation: the new-model sensor (catalog, drop folder, hub revisions), the engine-build sensor, the
weekly schedule and the dbt marts' automation condition, run against a real Dagster instance, a temporary
copy of the catalog and the loopback Hub server. No inference: only the decisions are exercised here."""
from __future__ import annotations

import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml

from quantbench_assets.defs.catalog.automation import (
    STUDY_ENV,
    TRIGGER_TAG,
    _variant_request,
    baseline_sensor,
    engine_build_sensor,
    new_model_sensor,
    study_selection,
    weekly_reevaluation,
)
from quantbench_assets.defs.resources import StorageResource
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.catalog.entries import load_catalog
from quantbench_assets.lib.engines.llama import engine_build_string
from quantbench_assets.lib.core.study import DEMO, PER_VARIANT_ASSETS
from quantbench_tests.hubserver import HubServer, point_huggingface_hub_at
from quantbench_tests.test_hub import sha256_of, write_tiny_gguf

pytestmark = pytest.mark.timeout(90)

REAL_CATALOG = paths.PROJECT_ROOT / "data" / "catalog" / "models.yaml"


@pytest.fixture
def instance():
    # In-memory storage: instance_for_test()'s sqlite set-up costs ~3 s per test on these machines.
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def catalog_copy(tmp_path, monkeypatch) -> Path:
    """A private copy of the real catalog and an empty drop folder, found through the environment."""
    path = tmp_path / "models.yaml"
    shutil.copy(REAL_CATALOG, path)
    monkeypatch.setenv("QUANTBENCH_CATALOG", str(path))
    monkeypatch.setenv("QUANTBENCH_INCOMING_DIR", str(tmp_path / "incoming"))
    (tmp_path / "incoming").mkdir()
    return path


def tick(sensor, instance, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """One sensor evaluation; partition requests are applied to the instance as the daemon would."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": StorageResource()}) as context:
        result = sensor(context)
    if isinstance(result, dg.SensorResult):
        for req in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result


def requested(result) -> dict[str, str]:
    """{partition key: trigger} of the rung runs a sensor result asks for."""
    return {r.partition_key: r.tags[TRIGGER_TAG] for r in (result.run_requests or []) if r.partition_key}


def added(result, name: str) -> list[str]:
    return [k for req in result.dynamic_partitions_requests or [] if req.partitions_def_name == name
            for k in req.partition_keys]


def edit_catalog(path: Path, change) -> None:
    raw = yaml.safe_load(path.read_text())
    change(raw["models"])
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def local_entry(name: str, file: Path, ladder=("F32", "Q8_0")) -> dict:
    return {"name": name, "family": "test", "parameters": 32, "base_quant": "F32", "ladder": list(ladder),
            "source": {"kind": "local", "path": str(file)}}


def test_a_model_added_to_the_catalog_gets_its_partitions_and_one_run_per_rung(instance, catalog_copy, tmp_path):
    everything = load_catalog(catalog_copy).partition_keys()

    first = tick(new_model_sensor, instance, None)  # a fresh instance: every catalog rung is new
    assert sorted(added(first, "variants")) == sorted(everything)
    assert requested(first) == {k: "new_variant" for k in everything}
    assert sorted(instance.get_dynamic_partitions("models")) == sorted(m.name for m in load_catalog(catalog_copy).models)

    second = tick(new_model_sensor, instance, first.cursor)
    assert not second.run_requests and not second.dynamic_partitions_requests
    assert second.skip_reason is not None

    tiny = write_tiny_gguf(tmp_path / "tiny.gguf")
    edit_catalog(catalog_copy, lambda models: models.append(local_entry("tiny-added", tiny)))
    third = tick(new_model_sensor, instance, second.cursor)

    assert added(third, "models") == ["tiny-added"]
    assert added(third, "variants") == ["tiny-added__F32", "tiny-added__Q8_0"]
    assert requested(third) == {"tiny-added__F32": "new_variant", "tiny-added__Q8_0": "new_variant"}
    # Run keys carry the cursor's generation: a tick retried with the same cursor asks for the same keys
    # (Dagster then launches nothing twice), a later change gets new ones.
    keys = {r.run_key for r in third.run_requests if r.partition_key}
    assert keys == {"tiny-added__F32@g2", "tiny-added__Q8_0@g2"}
    assert {r.run_key for r in tick(new_model_sensor, instance, second.cursor).run_requests} == {
        r.run_key for r in third.run_requests}
    # the catalog's warehouse copy (baselines, provenance) is refreshed first, once per change
    assert [r.job_name for r in third.run_requests][0] == "refresh_catalog"
    assert not tick(new_model_sensor, instance, third.cursor).run_requests


def test_only_a_change_that_affects_results_reruns_the_rungs_already_built(instance, catalog_copy, tmp_path):
    tiny, other = write_tiny_gguf(tmp_path / "tiny.gguf"), write_tiny_gguf(tmp_path / "other.gguf", seed=3)
    edit_catalog(catalog_copy, lambda models: models.append(local_entry("tiny-added", tiny)))
    cursor = tick(new_model_sensor, instance, None).cursor

    def entry(models):
        return next(m for m in models if m["name"] == "tiny-added")

    edit_catalog(catalog_copy, lambda models: entry(models).update(notes="a comment", license="MIT"))
    result = tick(new_model_sensor, instance, cursor)
    assert not result.run_requests, "notes and licence do not change any result"

    edit_catalog(catalog_copy, lambda models: entry(models)["ladder"].append("Q4_0"))
    result = tick(new_model_sensor, instance, result.cursor)
    assert requested(result) == {"tiny-added__Q4_0": "new_variant"}, "a longer ladder builds only the new rung"

    edit_catalog(catalog_copy, lambda models: entry(models)["source"].update(path=str(other)))
    result = tick(new_model_sensor, instance, result.cursor)
    assert requested(result) == {f"tiny-added__{q}": "catalog_entry_changed" for q in ("F32", "Q8_0", "Q4_0")}
    assert not result.dynamic_partitions_requests


def test_a_gguf_dropped_into_the_incoming_folder_becomes_a_model_with_partitions_and_runs(instance, catalog_copy,
                                                                                          tmp_path):
    incoming = Path(os.environ["QUANTBENCH_INCOMING_DIR"])
    cursor = tick(new_model_sensor, instance, None).cursor

    dropped = write_tiny_gguf(incoming / "Tiny-Dropped.F32.gguf")
    result = tick(new_model_sensor, instance, cursor)

    expected = [f"tiny-dropped.f32__{q}" for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K")]  # the demo ladder
    assert added(result, "models") == ["tiny-dropped.f32"]
    assert added(result, "variants") == expected
    assert requested(result) == {k: "new_variant" for k in expected}
    assert json.loads(result.cursor)["incoming"].keys() == {"Tiny-Dropped.F32.gguf"}
    assert not tick(new_model_sensor, instance, result.cursor).run_requests

    # The same name with other bytes (size and mtime change) is a changed source.
    write_tiny_gguf(dropped, seed=7)
    dropped.write_bytes(dropped.read_bytes() + b"\0" * 32)
    again = tick(new_model_sensor, instance, result.cursor)
    assert requested(again) == {k: "catalog_entry_changed" for k in expected}


def test_a_broken_catalog_requests_nothing_and_keeps_the_cursor(instance, catalog_copy):
    cursor = tick(new_model_sensor, instance, None).cursor
    catalog_copy.write_text(catalog_copy.read_text() + "\n  - name: [unclosed\n")

    result = tick(new_model_sensor, instance, cursor)

    assert isinstance(result, dg.SkipReason)
    assert str(catalog_copy) in result.skip_message and "YAML syntax error" in result.skip_message


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with HubServer() as server:
        point_huggingface_hub_at(server.url, tmp_path / "hf-home", monkeypatch)
        yield server


def test_a_new_revision_of_a_tracked_hub_repo_reevaluates_its_rungs(instance, hub, tmp_path, monkeypatch):
    repo, filename = "quantbench-test/tracked-gguf", "tiny.gguf"
    v1, v2 = write_tiny_gguf(tmp_path / "v1.gguf"), write_tiny_gguf(tmp_path / "v2.gguf", seed=1)
    pinned = hub.publish(repo, {filename: v1})
    catalog = tmp_path / "tracked.yaml"
    catalog.write_text(yaml.safe_dump({"models": [{
        "name": "tiny-hub", "family": "test", "parameters": 32, "base_quant": "F32", "ladder": ["F32", "Q8_0"],
        "source": {"kind": "hf", "repo_id": repo, "filename": filename, "revision": pinned,
                   "sha256": sha256_of(v1), "track_branch": "main"},
    }]}))
    monkeypatch.setenv("QUANTBENCH_CATALOG", str(catalog))
    monkeypatch.setenv("QUANTBENCH_INCOMING_DIR", str(tmp_path / "no-incoming"))

    first = tick(new_model_sensor, instance, None)
    assert requested(first) == {"tiny-hub__F32": "new_variant", "tiny-hub__Q8_0": "new_variant"}
    assert json.loads(first.cursor)["revisions"] == {"tiny-hub": pinned}
    quiet = tick(new_model_sensor, instance, first.cursor)
    assert not quiet.run_requests

    head = hub.publish(repo, {filename: v2})
    moved = tick(new_model_sensor, instance, quiet.cursor)

    assert requested(moved) == {"tiny-hub__F32": "hub_revision", "tiny-hub__Q8_0": "hub_revision"}
    assert {r.tags["quantbench/hub_revision"] for r in moved.run_requests if r.partition_key} == {head}
    assert not moved.dynamic_partitions_requests
    [observation] = moved.asset_events
    assert observation.asset_key == dg.AssetKey("model_catalog")
    assert observation.metadata["branch_revision_now"].value == head
    assert observation.metadata["pinned_revision"].value == pinned
    assert json.loads(moved.cursor)["revisions"] == {"tiny-hub": head}
    assert len(hub.requests_to(f"/api/models/{repo}/revision/main")) == 3  # asked every tick, never cached
    assert not tick(new_model_sensor, instance, moved.cursor).run_requests

    hub.stop()  # the hub goes away: the sensor says so, requests nothing, and keeps the last revision
    down = tick(new_model_sensor, instance, moved.cursor)
    assert not down.run_requests and "could not poll" in down.skip_reason.skip_message
    assert json.loads(down.cursor)["revisions"] == {"tiny-hub": head}


def test_a_new_engine_build_reevaluates_every_variant_still_in_the_catalog(instance, catalog_copy):
    tick(new_model_sensor, instance, None)
    instance.add_dynamic_partitions("variants", ["retired-model__Q8_0"])  # no longer in the catalog
    build = engine_build_string()

    first = tick(engine_build_sensor, instance, None)
    assert not first.run_requests and json.loads(first.cursor) == {"engine_build": build}
    assert not tick(engine_build_sensor, instance, first.cursor).run_requests

    changed = tick(engine_build_sensor, instance, json.dumps({"engine_build": "llama-cpp-python 0.3.0 (cpu; old)"}))
    assert requested(changed) == {k: "engine_build" for k in load_catalog(catalog_copy).partition_keys()}
    assert json.loads(changed.cursor) == {"engine_build": build}


def test_the_weekly_schedule_reevaluates_every_live_variant_once_per_week(catalog_copy):
    when = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:  # a schedule context needs an instance that has a ref
        tick(new_model_sensor, instance, None)
        instance.add_dynamic_partitions("variants", ["retired-model__Q8_0"])
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       resources={"storage": StorageResource()}) as context:
            runs = weekly_reevaluation(context)

    assert sorted(r.partition_key for r in runs) == sorted(load_catalog(catalog_copy).partition_keys())
    assert all(r.run_key.endswith("@2026-W48") and r.tags[TRIGGER_TAG] == "weekly" for r in runs)


@pytest.fixture(scope="module")
def definitions():
    with pytest.MonkeyPatch.context() as mp:
        # dagster-dbt needs the dbt executable on PATH, which is the venv's when pytest runs from it.
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        from quantbench_assets.definitions import defs

        yield defs()


def test_definitions_load_with_the_sensors_the_schedule_and_the_evaluation_job(definitions):
    sensors = {s.name for s in definitions.sensors}
    assert {"new_model_sensor", "engine_build_sensor", "warehouse_automation"} <= sensors
    assert "weekly_reevaluation" in {s.name for s in definitions.schedules}
    job = definitions.resolve_job_def("evaluate_variant")
    assert job.partitions_def.name == "variants"
    # the job can run every per-variant asset but the KLD (which waits for the base logits) ...
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
        "gguf_variant", *(a for a in PER_VARIANT_ASSETS if a != "distribution_shift")}
    # every asset partitioned by rung is one of them (lm-eval tasks, code execution and the studies too)
    graph = definitions.resolve_asset_graph()
    per_rung = {k.to_user_string() for k in graph.get_all_asset_keys()
                if graph.get(k).is_materializable and graph.get(k).partitions_def is not None
                and graph.get(k).partitions_def.name == "variants"}
    assert per_rung == {"gguf_variant", *PER_VARIANT_ASSETS}
    # ... and a request runs the study's own: the same list the CLI runs (lib/core/study.py)
    request = _variant_request("k", "smollm2-135m-instruct__Q8_0", {})
    assert {k.to_user_string() for k in request.asset_selection} == {"gguf_variant", *DEMO.assets} - {"distribution_shift"}
    assert request.run_config == DEMO.run_config(study_selection(DEMO))
    assert {"base_logits", "distribution_shift"} <= {
        k.to_user_string() for name in ("refresh_base_logits", "refresh_distribution_shift")
        for k in definitions.resolve_job_def(name).asset_layer.executable_asset_keys}


def test_the_marts_are_requested_when_an_upstream_partition_lands(definitions, instance):
    mart = dg.AssetKey(["marts", "fct_variant_accuracy"])
    graph = definitions.resolve_asset_graph()
    assert graph.get(mart).automation_condition is not None
    key = "smollm2-135m-instruct__Q8_0"
    instance.add_dynamic_partitions("variants", [key, "smollm2-135m-instruct__Q2_K"])
    selection = dg.AssetSelection.kind("dbt")

    first = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection)
    assert first.total_requested == 0  # nothing has landed yet

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="standard_benchmark_scores", partition=key))
    second = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection,
                                               cursor=first.cursor)

    # One partition landed while the other rung is still missing: the marts update anyway.
    assert second.get_num_requested(dg.AssetKey(["staging", "stg_standard_benchmark_scores"])) == 1
    assert second.get_num_requested(mart) == 1
    third = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection,
                                              cursor=second.cursor)
    assert third.get_num_requested(mart) == 0  # handled once, not on every tick


def test_the_report_and_statistics_follow_the_marts_automatically(definitions):
    graph = definitions.resolve_asset_graph()
    for key in ("quantbench_report", "variant_statistics"):
        assert graph.get(dg.AssetKey(key)).automation_condition is not None, key
    target = {s.name: s for s in definitions.sensors}["warehouse_automation"]
    assert dg.AssetKey("quantbench_report") in target.asset_selection.resolve(graph)


@pytest.mark.timeout(1200)
def test_a_gguf_dropped_into_the_incoming_folder_reaches_the_report_through_the_sensors_alone(
        definitions, smollm_base, tmp_path, monkeypatch):
    """No CLI, no manual materialization choice: the sensors decide every run; the test executes what they
    request, as the daemon would, on the CI study (the demo's assets, 4 items per task)."""
    from quantbench_assets.lib.reporting.report_format import table_widths

    monkeypatch.setenv(STUDY_ENV, "ci")
    monkeypatch.setenv("QUANTBENCH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("QUANTBENCH_REPORTS_DIR", str(tmp_path / "reports"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    monkeypatch.setenv("QUANTBENCH_INCOMING_DIR", str(incoming))
    catalog = tmp_path / "models.yaml"  # only the CI model: its rungs are "already known" after the first tick
    raw = yaml.safe_load(REAL_CATALOG.read_text())
    raw["models"] = [m for m in raw["models"] if m["name"] == "smollm2-135m-instruct"]
    catalog.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.setenv("QUANTBENCH_CATALOG", str(catalog))
    assets, resources = list(definitions.assets or []), dict(definitions.resources or {})
    # The definitions were loaded before the environment above was set: their warehouse resource points at
    # the default warehouse. This test must never touch that one.
    from quantbench_assets.defs.resources import WarehouseResource
    resources["duckdb"] = WarehouseResource(database=str(tmp_path / "warehouse.duckdb"))

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        def execute(requests, job_selection=None):
            job_selection = {"refresh_catalog": [dg.AssetKey("model_catalog")], **(job_selection or {})}
            for req in requests:
                selection = req.asset_selection or job_selection[req.job_name]
                result = dg.materialize(assets, selection=selection, partition_key=req.partition_key,
                                        run_config=req.run_config, instance=instance, resources=resources,
                                        tags=req.tags, raise_on_error=False)
                assert result.success, f"{req.job_name} {req.partition_key} failed"

        target = {s.name: s for s in definitions.sensors}["warehouse_automation"].asset_selection
        keys = target.resolve(definitions.resolve_asset_graph())

        def automation_tick(cursor):
            result = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=target,
                                                       cursor=cursor)
            return result, [k for k in keys if result.get_num_requested(k)]

        # Set-up, before the drop: a warehouse that has been built once (seeds; what the demo or any earlier
        # run leaves), and the automation sensor already ticking.
        assert dg.materialize(assets, selection=dg.AssetSelection.kind("dbt"), instance=instance,
                              resources=resources, raise_on_error=False).success
        first, requested = automation_tick(None)
        assert not requested
        auto_cursor = first.cursor
        cursor = tick(new_model_sensor, instance, None).cursor  # the catalog's own rungs: not run here
        shutil.copy(smollm_base.path, incoming / "SmolDrop.Q4_1.gguf")
        new = tick(new_model_sensor, instance, cursor)
        dropped = sorted(r.partition_key for r in new.run_requests if r.partition_key)
        assert new.run_requests[0].job_name == "refresh_catalog"
        assert dropped == sorted(f"smoldrop.q4-1__{q}" for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K"))
        execute(new.run_requests)

        jobs = {"refresh_base_logits": [dg.AssetKey("base_logits")],
                "refresh_distribution_shift": [dg.AssetKey("distribution_shift")]}
        logits = tick(baseline_sensor, instance, None)
        assert [(r.job_name, r.partition_key) for r in logits] == [("refresh_base_logits", "smoldrop.q4-1")]
        execute(logits, jobs)
        shifts = tick(baseline_sensor, instance, None)
        assert sorted(r.partition_key for r in shifts) == dropped
        execute(shifts, jobs)
        assert isinstance(tick(baseline_sensor, instance, None), dg.SkipReason)

        ticks = []
        for _ in range(4):  # statistics → marts → report, however many ticks the conditions take
            result, requested = automation_tick(auto_cursor)
            auto_cursor = result.cursor
            ticks.append(sorted(k.to_user_string() for k in requested))
            if not requested:
                break
            out = dg.materialize(assets, selection=requested, instance=instance, resources=resources,
                                 raise_on_error=False)
            assert out.success, ticks[-1]
        assert any("quantbench_report" in t for t in ticks), ticks
        report = (tmp_path / "reports" / "report.md").read_text()

    assert "smoldrop.q4-1" in report
    assert max(table_widths(report)) <= 8
    assert "undecided" in report.split("## Limitations")[0]  # 4 items per rung decide nothing
