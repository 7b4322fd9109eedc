"""One partition flows from a real GGUF to a dbt mart through Dagster, idempotently; bad input fails
its own partition with a clear message and leaves other partitions' rows intact."""
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from quantbench_assets.defs.resources import StorageResource, WarehouseResource
from quantbench_assets.definitions import defs as load_defs
from quantbench_assets.lib.core.study import TR125

GOOD = "smollm2-135m-instruct__Q8_0"
# TR125's generation benchmark: the benchmark chain with its generate_rescore scorer, as the tr125 study runs it
PARTITION_ASSETS = ["gguf_variant", "standard_benchmark_samples", "standard_benchmark_scores"]
RUN_CONFIG = TR125.run_config(PARTITION_ASSETS, limit=2)


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
                for t in ("gguf_inventory", "standard_benchmark_samples", "standard_benchmark_scores")}
    finally:
        con.close()


def failure_messages(result) -> str:
    return "\n".join(ev.step_failure_data.error.message for ev in result.all_events
                     if ev.is_step_failure and ev.step_failure_data.error)


def test_definitions_load_with_the_asset_graph_from_catalog_to_dbt():
    graph = load_defs().resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"model_catalog", "gguf_base", "gguf_variant", "standard_benchmark_samples", "standard_benchmark_scores",
            "marts/fct_variant_accuracy"} <= keys
    assert not {"benchmark_samples", "benchmark_scores"} & keys  # one benchmark chain
    upstream = {k.to_user_string() for k in graph.get(dg.AssetKey(["marts", "fct_variant_accuracy"])).parent_keys}
    assert "staging/stg_standard_benchmark_scores" in upstream


def test_one_partition_materializes_end_to_end_and_again_without_new_rows(pipeline):
    materialize, db = pipeline
    first = materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG)
    assert first.success, failure_messages(first)
    # the blocking checks (rows complete, one score per sample); "above chance" only warns at 2 items a task
    checks = [e for e in first.get_asset_check_evaluations() if e.severity == dg.AssetCheckSeverity.ERROR]
    assert len(checks) == 2 and all(c.passed for c in checks)
    assert materialize(dg.AssetSelection.kind("dbt")).success
    before = counts(db)
    assert before["standard_benchmark_samples"] == [(GOOD, 4)]  # 2 MMLU + 2 ARC-Challenge items
    con = duckdb.connect(str(db), read_only=True)
    mart = con.execute("select task, n_items, rescored_accuracy, rescored_accuracy_ci_low, rescored_accuracy_ci_high, "
                       "gguf_sha256 from marts.fct_variant_accuracy where variant = ? order by task", [GOOD]).fetchall()
    quality = con.execute("select chain, task, scorer, n_items, rescored_accuracy from marts.fct_variant_quality "
                          "where variant = ? order by task", [GOOD]).fetchall()
    con.close()
    assert sorted(r[0] for r in mart) == ["arc_challenge", "mmlu"]
    for task, n, acc, low, high, sha in mart:
        assert n == 2 and low <= acc <= high and len(sha) == 64
    # the tiers read each task once, under the one chain, with the accuracy fct_variant_accuracy shows
    assert quality == [("standard", task, "generate_rescore", n, acc) for task, n, acc, *_ in mart]
    again = materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG)
    assert again.success and counts(db) == before


def test_tr125s_generations_are_answered_once_whichever_scorers_run_with_them(pipeline):
    """TR125's generate_rescore is a scorer of the benchmark chain: a later run of the chain with
    another scorer next to it answers those items from the sample cache and stores the same rows
    (keys, outputs, prompt, provenance and reference) again, with the new scorer's rows beside them."""
    materialize, db = pipeline
    assert materialize(PARTITION_ASSETS, GOOD, RUN_CONFIG).success
    shared = ("task, task_version, task_format, item_id, scorer, prompt_method, n_fewshot, gold, reference, "
              "sample_key, output, engine, engine_build, gguf_sha256, logits_all")
    query = (f"select {shared} from raw.standard_benchmark_samples where variant = ? and scorer = 'generate_rescore' "
             "order by task, item_id")
    with duckdb.connect(str(db), read_only=True) as con:
        tr125 = con.execute(query, [GOOD]).fetchall()
    both = materialize(["standard_benchmark_samples"], GOOD, {"ops": {"standard_benchmark_samples": {"config": {
        "tasks": ["mmlu", "arc_challenge"], "scorers": ["generate_rescore", "letter_logits"], "limit": 2}}}})
    assert both.success, failure_messages(both)
    meta = both.asset_materializations_for_node("standard_benchmark_samples")[0].metadata
    # the 4 generations hit (the letter_logits rows may too: the test artifacts' cache outlives a run)
    hits, misses = meta["cache_hits"].value, meta["cache_misses"].value
    assert hits + misses == 8 and hits >= 4
    with duckdb.connect(str(db), read_only=True) as con:
        again = con.execute(query, [GOOD]).fetchall()
        scorers = con.execute("select scorer, count(*) from raw.standard_benchmark_samples where variant = ? "
                              "group by 1 order by 1", [GOOD]).fetchall()
    assert len(tr125) == 4 and tr125 == again
    assert all(r[2] in ("mmlu", "arc") and r[8] and r[-1] is False for r in tr125)
    assert scorers == [("generate_rescore", 4), ("letter_logits", 4)]


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
