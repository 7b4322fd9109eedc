"""Bring your own lm-eval task: a YAML and a jsonl written here go through the lmeval_samples asset on
the real CI model into a private warehouse, then dbt's staging and mart and variant_statistics.
lm-eval builds the requests and scores them; quantbench's engine answers through the sample cache."""
import json
import shutil
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource

from quantbench_assets.definitions import defs as load_defs
from quantbench_assets.defs.analysis.assets import variant_statistics
from quantbench_assets.defs.catalog.assets import model_catalog
from quantbench_assets.defs.gguf.assets import gguf_variant
from quantbench_assets.defs.resources import EngineResource, default_resources, WarehouseResource
from quantbench_assets.defs.scoring.lmeval import lmeval_samples
from quantbench_assets.lib.analysis.stats import wilson_interval
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.tasks.lmeval import task_manager
from quantbench_assets.lib.tasks.lmeval_runs import draw_doc_subset, subset_file

GOOD = "smollm2-135m-instruct__Q8_0"
BASE = "smollm2-135m-instruct__F16"  # the catalog's baseline for the CI model
ROWS = [
    {"country": "France", "choices": ["Paris", "Rome", "Berlin"], "gold": 0},
    {"country": "Italy", "choices": ["Madrid", "Rome", "Oslo"], "gold": 1},
    {"country": "Germany", "choices": ["Vienna", "Bern", "Berlin"], "gold": 2},
    {"country": "Spain", "choices": ["Madrid", "Lisbon", "Paris"], "gold": 0},
    {"country": "Japan", "choices": ["Seoul", "Tokyo", "Beijing"], "gold": 1},
    {"country": "Norway", "choices": ["Oslo", "Stockholm", "Helsinki"], "gold": 0},
    {"country": "Egypt", "choices": ["Cairo", "Tunis", "Rabat"], "gold": 0},
    {"country": "Canada", "choices": ["Toronto", "Ottawa", "Vancouver"], "gold": 1},
    {"country": "Poland", "choices": ["Prague", "Warsaw", "Krakow"], "gold": 1},
    {"country": "Greece", "choices": ["Sofia", "Ankara", "Athens"], "gold": 2},
    {"country": "Portugal", "choices": ["Lisbon", "Porto", "Madrid"], "gold": 0},
    {"country": "Ireland", "choices": ["Belfast", "Dublin", "Cork"], "gold": 1},
]
# A stored id list of 10 of the 12 documents: variant_statistics compares rungs on >= 10 shared items.
PICKED = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
YAML = """task: my_capitals
dataset_path: json
dataset_kwargs: {data_files: {test: data/capitals.jsonl}}
output_type: multiple_choice
test_split: test
fewshot_split: test
doc_to_text: "The capital of {{country}} is"
doc_to_choice: "{{choices}}"
doc_to_target: gold
metric_list:
  - {metric: acc, aggregation: mean, higher_is_better: true}
  - {metric: acc_norm, aggregation: mean, higher_is_better: true}
metadata: {version: 3.1}
"""


def write_task(folder: Path) -> Path:
    """A user's task folder: the YAML names its data relative to itself, as a user would write it."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "capitals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "capitals.yaml").write_text(YAML)
    (folder / "subsets").mkdir()
    (folder / "subsets" / "my_capitals__picked.txt").write_text("".join(f"{i}\n" for i in PICKED))
    return folder


def test_only_the_named_folders_are_indexed(tmp_path):
    tm = task_manager([str(write_task(tmp_path / "tasks"))])
    assert "my_capitals" in tm.all_tasks and "qb_arc_easy" in tm.all_tasks
    assert "arc_easy" not in tm.all_tasks  # lm-eval's built-in configs are not indexed
    assert len(tm.all_tasks) < 50


def test_a_seeded_draw_is_stable_and_in_dataset_order():
    assert draw_doc_subset(100, 5, 7) == draw_doc_subset(100, 5, 7) == sorted(draw_doc_subset(100, 5, 7))
    assert draw_doc_subset(100, 5, 7) != draw_doc_subset(100, 5, 8)
    assert draw_doc_subset(3, 5, 7) == [0, 1, 2]


def _materialize(instance, assets, resources, key, config):
    return dg.materialize(assets, selection=["gguf_variant", "lmeval_samples"], partition_key=key,
                          instance=instance, resources=resources, run_config=config)


def test_a_users_lm_eval_task_lands_in_the_warehouse_and_the_marts(qb_env, smollm_base):
    folder = write_task(qb_env / "my_tasks")
    db = qb_env / "warehouse.duckdb"
    assets = [model_catalog, gguf_variant, lmeval_samples, variant_statistics]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(db)),
                 "engine": EngineResource(n_threads=1, n_ctx=512)}
    config = {"ops": {"lmeval_samples": {"config": {
        "tasks": ["my_capitals"], "include_path": [str(folder)], "subset": "picked", "num_fewshot": 1}}}}
    with dg.instance_for_test() as instance:
        dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources)
        first = _materialize(instance, assets, resources, GOOD, config)
        again = _materialize(instance, assets, resources, GOOD, config)
        _materialize(instance, assets, resources, BASE, config)
        stats = dg.materialize(assets, selection=["variant_statistics"], instance=instance, resources=resources)
    check = next(c for c in first.get_asset_check_evaluations() if c.check_name == "lmeval_items_scored")
    assert check.passed and check.metadata["expected_items"].value == len(PICKED)
    fits = next(c for c in first.get_asset_check_evaluations() if c.check_name == "lmeval_context_fits")
    assert fits.passed and fits.metadata["prompts_cut"].value == 0
    meta = next(m.metadata for m in again.asset_materializations_for_node("lmeval_samples"))
    assert meta["cache_misses"].value == 0 and meta["cache_hits"].value == len(PICKED) * 3  # a re-run costs no inference
    assert stats.success

    dbt = DbtCliResource(project_dir=str(paths.dbt_project_dir()), profiles_dir=str(paths.dbt_project_dir()),
                         dbt_executable=shutil.which("dbt") or str(Path(sys.executable).parent / "dbt"))
    dbt.cli(["build", "--select", "+fct_lmeval_task_scores", "--indirect-selection", "cautious"]).wait()
    con = duckdb.connect(str(db), read_only=True)
    try:
        requests = con.execute(
            "select item_id, request_type, arguments, task_version, n_fewshot, subset from raw.lmeval_samples "
            "where variant = ? order by item_id, request_idx", [GOOD]).fetchall()
        items = con.execute(
            "select item_id, metric, value, correct, target, prediction from raw.lmeval_scores "
            "where variant = ? and filter = 'none' order by metric, item_id", [GOOD]).fetchall()
        mart = con.execute(
            "select metric, n, successes, value, ci_low, ci_high, interval_method, lmeval_value, task_version, "
            "subset, n_fewshot from marts.fct_lmeval_task_scores where variant = ? order by metric", [GOOD]).fetchall()
        compared = con.execute(
            "select scorer, prompt_method, n_items, comparable from raw.variant_comparisons where chain = 'lmeval' "
            "and variant_b = ? and comparison = 'vs_baseline' order by scorer", [GOOD]).fetchall()
    finally:
        con.close()
    # lm-eval built the requests: the stored subset's documents x 3 choices, one shot before each.
    assert {r[0] for r in requests} == {str(i) for i in PICKED} and len(requests) == len(PICKED) * 3
    assert {(r[1], r[3], r[4], r[5]) for r in requests} == {("loglikelihood", "3.1", 1, "picked")}
    context, continuation = json.loads(requests[0][2])
    assert context.endswith("The capital of Italy is") and context.count("The capital of") == 2
    assert continuation in (" Madrid", " Rome", " Oslo")
    # lm-eval scored them: acc is the argmax of the stored loglikelihoods against the target.
    acc = [r for r in items if r[1] == "acc"]
    assert len(acc) == len(PICKED)
    for item_id, _, value, correct, target, prediction in acc:
        lls = [ll for ll, _ in json.loads(prediction)]
        assert correct == (lls.index(max(lls)) == int(json.loads(target))) and value == float(correct)
    # The mart: every metric with its Wilson interval and lm-eval's own aggregate, which agree.
    assert [m[0] for m in mart] == ["acc", "acc_norm"]
    for metric, n, successes, value, low, high, method, lmeval_value, version, subset, shots in mart:
        assert (n, method, version, subset, shots) == (len(PICKED), "wilson", "3.1", "picked", 1)
        assert value == pytest.approx(successes / n) == pytest.approx(lmeval_value)
        assert (low, high) == pytest.approx(wilson_interval(successes, n), abs=1e-6)
    # and variant_statistics compares the two rungs on the same items, metric by metric.
    assert compared == [("acc,none", "lmeval_fewshot_1", len(PICKED), True),
                        ("acc_norm,none", "lmeval_fewshot_1", len(PICKED), True)]


def test_a_task_whose_data_lives_on_the_hub_is_fetched_online_and_scored(qb_env, smollm_base, monkeypatch):
    # `dataset_path: <org>/<name>` without data files: lm-eval asks `datasets` to load a Hub dataset repo;
    # here the Hub is the lookalike server on 127.0.0.1 (quantbench_tests/hubserver.py), datasets unmocked.
    from quantbench_tests.hubserver import HubServer, point_datasets_at, point_huggingface_hub_at

    folder = qb_env / "hub_tasks"
    folder.mkdir()
    (folder / "hub_capitals.yaml").write_text(
        YAML.replace("task: my_capitals", "task: hub_capitals")
            .replace("dataset_path: json\ndataset_kwargs: {data_files: {test: data/capitals.jsonl}}\n",
                     "dataset_path: qbtest/capitals\n"))
    rows = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    assets = [model_catalog, gguf_variant, lmeval_samples]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(qb_env / "w.duckdb")),
                 "engine": EngineResource(n_threads=1, n_ctx=512)}
    config = {"ops": {"lmeval_samples": {"config": {"tasks": ["hub_capitals"], "include_path": [str(folder)]}}}}
    with HubServer() as hub:
        hub.publish("qbtest/capitals", {"data/test-00000-of-00001.jsonl": rows}, repo_type="dataset")
        point_huggingface_hub_at(hub.url, qb_env / "hf-home", monkeypatch)
        point_datasets_at(hub.url, qb_env / "hf-home", monkeypatch)
        with dg.instance_for_test() as instance:
            dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources)
            result = _materialize_quiet(instance, assets, resources, config)
        fetched = hub.requests_to("/datasets/qbtest/capitals/resolve/")
    assert result.success, [str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure]
    assert any(r.path.endswith("/data/test-00000-of-00001.jsonl") and r.status == 200 for r in fetched)
    con = duckdb.connect(str(qb_env / "w.duckdb"), read_only=True)
    try:
        stored = con.execute("select count(distinct item_id), count(*) from raw.lmeval_samples "
                             "where task = 'hub_capitals' and variant = ?", [GOOD]).fetchone()
        metrics = con.execute("select metric, value from raw.lmeval_metrics where task = 'hub_capitals' "
                              "and variant = ? and filter = 'none' order by metric", [GOOD]).fetchall()
    finally:
        con.close()
    assert stored == (len(ROWS), len(ROWS) * 3)  # every document of the Hub copy, three choices each
    assert [m for m, _ in metrics] == ["acc", "acc_norm"] and all(0 <= v <= 1 for _, v in metrics)


def test_requests_cut_to_the_context_window_are_counted_and_warned_about(qb_env, smollm_base):
    # A prompt longer than n_ctx loses tokens from its start (lm-eval's convention), so it is not the
    # prompt lm-eval's hf backend scores: each request says how many it lost, and a WARN check says so.
    import llama_cpp

    folder = qb_env / "long_tasks"
    write_task(folder)
    preamble = " ".join(f"Country number {i} has a capital city." for i in range(120))  # ~1,000 tokens
    (folder / "capitals.yaml").write_text(YAML.replace("task: my_capitals", f"task: long_capitals\ndescription: "
                                                       f"\"{preamble}\\n\""))
    db = qb_env / "w.duckdb"
    assets = [model_catalog, gguf_variant, lmeval_samples]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(db)),
                 "engine": EngineResource(n_threads=1, n_ctx=512)}
    config = {"ops": {"lmeval_samples": {"config": {"tasks": ["long_capitals"], "include_path": [str(folder)],
                                                    "limit": 2}}}}
    with dg.instance_for_test() as instance:
        dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources)
        result = _materialize_quiet(instance, assets, resources, config)
    assert result.success  # a warning, not a failure: the rows are kept and say what happened
    fits = next(c for c in result.get_asset_check_evaluations() if c.check_name == "lmeval_context_fits")
    assert not fits.passed and fits.severity == dg.AssetCheckSeverity.WARN
    assert fits.metadata["prompts_cut"].value == 6 and "n_ctx=512" in fits.description
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select arguments, context_tokens_dropped from raw.lmeval_samples "
                           "where task = 'long_capitals' and variant = ?", [GOOD]).fetchall()
    finally:
        con.close()
    vocab = llama_cpp.Llama(model_path=str(smollm_base.path), vocab_only=True, verbose=False)
    assert len(rows) == 6
    for arguments, dropped in rows:  # the request's whole token count beyond the window, counted apart
        context, continuation = json.loads(arguments)
        whole = vocab.tokenize((context + continuation).encode(), add_bos=True)
        assert dropped == len(whole) - 512 > 0


def test_an_unknown_task_fails_the_asset_with_the_folders_it_searched(qb_env, smollm_base):
    assets = [model_catalog, gguf_variant, lmeval_samples]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(qb_env / "w.duckdb")),
                 "engine": EngineResource(n_threads=1, n_ctx=512)}
    config = {"ops": {"lmeval_samples": {"config": {"tasks": ["no_such_task"]}}}}
    with dg.instance_for_test() as instance:
        dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources)
        result = _materialize_quiet(instance, assets, resources, config)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "unknown lm-eval task(s) ['no_such_task']" in str(failure.event_specific_data.error)


def _materialize_quiet(instance, assets, resources, config):
    return dg.materialize(assets, selection=["gguf_variant", "lmeval_samples"], partition_key=GOOD,
                          instance=instance, resources=resources, run_config=config, raise_on_error=False)


def test_the_asset_graph_feeds_the_lmeval_table_to_its_mart_and_the_statistics():
    graph = load_defs().resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["staging", "stg_lmeval_scores"]))
    assert dg.AssetKey("lmeval_samples") in staging.parent_keys
    mart = graph.get(dg.AssetKey(["marts", "fct_lmeval_task_scores"]))
    assert dg.AssetKey(["staging", "stg_lmeval_scores"]) in mart.parent_keys
    assert dg.AssetKey("lmeval_samples") in graph.get(dg.AssetKey("variant_statistics")).parent_keys


@pytest.mark.parametrize("name,qb_name", [("qb_arc_easy", "arc_easy"), ("qb_mmlu", "mmlu")])
def test_the_shipped_tasks_demo_subsets_are_quantbenchs_own_demo_items(name, qb_name):
    # Both task systems score the same documents: the lm-eval subset's docs are the stored items.
    from quantbench_assets.lib.tasks.benchmarks import load_task

    task = task_manager().load([name])["tasks"][name]
    indices = [int(x) for x in subset_file(task, "demo").read_text().split()]
    docs = list(task.eval_docs)
    items = load_task(qb_name, "demo").items
    assert len(indices) == len(items)
    for i, item in zip(indices, items):
        assert docs[i]["question"].strip() == item.question.strip()
        if "id" in docs[i]:
            assert docs[i]["id"] == item.item_id


def test_each_task_of_a_run_can_have_its_own_shots_and_a_stray_name_is_refused(tmp_path, smollm_rung):
    # Leaderboard-style runs mix shots (ARC 25, HellaSwag 10, MMLU 5): one num_fewshot for all could not.
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.tasks.lmeval import QuantbenchLM
    from quantbench_assets.lib.tasks.lmeval_runs import run_tasks

    folder = str(write_task(tmp_path / "tasks"))
    with LlamaCppEngine(smollm_rung("Q8_0").stored.path,
                        EngineSettings(n_ctx=512, n_threads=1, logits_all=True)) as engine:
        lm = QuantbenchLM(engine=engine)
        with pytest.raises(KeyError, match="my_capitalz"):  # a typo is refused before any request
            run_tasks(lm, ["my_capitals"], [folder], fewshot_per_task={"my_capitalz": 2})
        assert not lm.request_log
        run = run_tasks(lm, ["my_capitals", "qb_arc_easy"], [folder], num_fewshot=0,
                        fewshot_per_task={"my_capitals": 2}, limit=1)
    assert {t: m["n_fewshot"] for t, m in run["tasks"].items()} == {"my_capitals": 2, "qb_arc_easy": 0}
    contexts = {r["task"]: r["arguments"][0] for r in lm.request_log}
    assert contexts["my_capitals"].count("The capital of") == 3  # two shots, then the question
    assert contexts["qb_arc_easy"].startswith("Question:") and contexts["qb_arc_easy"].count("Question:") == 1
