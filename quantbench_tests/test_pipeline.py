"""One partition flows from a real GGUF to a dbt mart through Dagster, idempotently; bad input fails
its own partition with a clear message and leaves other partitions' rows intact."""
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from quantbench_assets.defs.resources import StorageResource, WarehouseResource
from quantbench_assets.definitions import defs as load_defs

GOOD = "smollm2-135m-instruct__Q8_0"
RUN_CONFIG = {"ops": {"benchmark_samples": {"config": {"limit": 2}}}}
PARTITION_ASSETS = ["gguf_variant", "benchmark_samples", "benchmark_scores"]


@pytest.fixture
def pipeline(qb_env, smollm_base, catalog_pipeline):
    """Definitions, a temporary instance, warehouse and catalog (the shipped one plus bad entries)."""
    truncated = qb_env / "truncated.gguf"
    with open(smollm_base.path, "rb") as f:
        truncated.write_bytes(f.read(smollm_base.size_bytes // 3))
    wrong_sha = qb_env / "copy.gguf"
    shutil.copyfile(smollm_base.path, wrong_sha)
    materialize = catalog_pipeline(lambda catalog: catalog["models"].extend([
        {"name": "truncated-model", "family": "test", "parameters": 1, "base_quant": "Q4_1", "ladder": ["Q4_1"],
         "source": {"kind": "local", "path": str(truncated)}},
        {"name": "wrong-sha-model", "family": "test", "parameters": 1, "base_quant": "Q4_1", "ladder": ["Q4_1"],
         "source": {"kind": "local", "path": str(wrong_sha), "sha256": "0" * 64}},
    ]))
    assert materialize(["model_catalog"]).success
    yield materialize, qb_env / "warehouse.duckdb"


def counts(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"select variant, count(*) from raw.{t} group by 1 order by 1").fetchall()
                for t in ("gguf_inventory", "benchmark_samples", "benchmark_scores")}
    finally:
        con.close()


def failure_messages(result) -> str:
    return "\n".join(ev.step_failure_data.error.message for ev in result.all_events
                     if ev.is_step_failure and ev.step_failure_data.error)


def test_definitions_load_with_the_asset_graph_from_catalog_to_dbt():
    graph = load_defs().resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"model_catalog", "gguf_base", "gguf_variant", "benchmark_samples", "benchmark_scores",
            "marts/fct_variant_accuracy"} <= keys
    upstream = {k.to_user_string() for k in graph.get(dg.AssetKey(["marts", "fct_variant_accuracy"])).parent_keys}
    assert "staging/stg_benchmark_scores" in upstream


def test_one_partition_materializes_end_to_end_and_again_without_new_rows(pipeline):
    materialize, db = pipeline
    first = materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG)
    assert first.success, failure_messages(first)
    checks = [e for e in first.get_asset_check_evaluations()]
    assert checks and all(c.passed for c in checks)
    assert materialize(dg.AssetSelection.kind("dbt")).success
    before = counts(db)
    assert before["benchmark_samples"] == [(GOOD, 4)]  # 2 MMLU + 2 ARC-Challenge items
    con = duckdb.connect(str(db), read_only=True)
    mart = con.execute("select task, n_items, rescored_accuracy, rescored_accuracy_ci_low, rescored_accuracy_ci_high, "
                       "gguf_sha256 from marts.fct_variant_accuracy where variant = ?", [GOOD]).fetchall()
    con.close()
    assert sorted(r[0] for r in mart) == ["arc_challenge", "mmlu"]
    for task, n, acc, low, high, sha in mart:
        assert n == 2 and low <= acc <= high and len(sha) == 64
    again = materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG)
    assert again.success and counts(db) == before


def test_tr125_samples_are_the_benchmark_chains_generate_rescore_rows(pipeline):
    """TR125's benchmark_samples is the benchmark chain run with generate_rescore alone: the standard
    chain asked for the same scorer answers every item from the cache TR125 filled, and both tables
    hold the same rows (same keys, outputs, prompt, provenance and reference)."""
    materialize, db = pipeline
    assert materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG).success
    standard = materialize(["standard_benchmark_samples"], GOOD, {"ops": {"standard_benchmark_samples": {"config": {
        "tasks": ["mmlu", "arc_challenge"], "scorers": ["generate_rescore"], "limit": 2}}}})
    assert standard.success, failure_messages(standard)
    meta = standard.asset_materializations_for_node("standard_benchmark_samples")[0].metadata
    assert (meta["cache_hits"].value, meta["cache_misses"].value) == (4, 0)
    shared = ("task, task_version, task_format, item_id, scorer, prompt_method, n_fewshot, gold, reference, "
              "sample_key, output, engine, engine_build, gguf_sha256, logits_all")
    con = duckdb.connect(str(db), read_only=True)
    try:
        tr125, chain = (con.execute(f"select {shared} from raw.{t} where variant = ? order by task, item_id",
                                    [GOOD]).fetchall() for t in ("benchmark_samples", "standard_benchmark_samples"))
    finally:
        con.close()
    assert len(tr125) == 4 and tr125 == chain
    assert all(r[2] in ("mmlu", "arc") and r[8] and r[-1] is False for r in tr125)


def test_a_truncated_gguf_and_a_wrong_sha256_fail_their_own_partitions_and_keep_other_rows(pipeline):
    materialize, db = pipeline
    assert materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG).success
    before = counts(db)
    truncated = materialize(["gguf_variant"], "truncated-model__Q4_1")
    assert not truncated.success
    assert "truncated" in failure_messages(truncated) and "truncated-model__Q4_1" in failure_messages(truncated)
    wrong = materialize(["gguf_variant"], "wrong-sha-model__Q4_1")
    assert not wrong.success and "sha256 mismatch" in failure_messages(wrong)
    assert counts(db) == before


def test_a_malformed_catalog_entry_fails_the_catalog_asset_naming_the_field(qb_env):
    bad = qb_env / "bad.yaml"
    bad.write_text("models:\n  - name: x1\n    family: f\n    parameters: -5\n    base_quant: F16\n"
                   "    source: {kind: local, path: /tmp/x.gguf}\n")
    defs = load_defs()
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(qb_env / "w.duckdb")),
                 "storage": StorageResource(catalog_path=str(bad))}
    with dg.instance_for_test() as instance:
        result = dg.materialize(list(defs.assets), selection=["model_catalog"], instance=instance,
                                resources=resources, raise_on_error=False)
    assert not result.success
    msg = failure_messages(result)
    assert "bad.yaml" in msg and "model #1 ('x1')" in msg and "field 'parameters'" in msg
