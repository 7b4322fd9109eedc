"""Generation tasks on the real CI model: outputs stored once, every metric scored from them, JSON
tasks run free and grammar-constrained side by side."""
import pytest

from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.scoring.generation import run_generation, score_generation, summarize
from quantbench_assets.lib.tasks.generation import load_e2e_task, load_generation_task
from quantbench_assets.lib.scoring.metrics import MetricModels


@pytest.fixture(scope="module")
def outputs(smollm_rung, tmp_path_factory):
    rung = smollm_rung("Q8_0")
    tasks = {"classification": load_generation_task("classification", limit=2),
             "summarization": load_generation_task("summarization", limit=1),
             "e2e_brief_json": load_e2e_task("brief", "json", n=1)}
    prov = {"variant": "smollm2-135m-instruct__Q8_0", "gguf_sha256": rung.stored.sha256}
    cache = SampleCache(tmp_path_factory.mktemp("cache") / "s.sqlite")
    with LlamaCppEngine(rung.stored.path, EngineSettings(n_ctx=1024)) as eng:
        prov["engine_build"] = eng.build
        rows = [r for t in tasks.values() for r in run_generation(eng, t, prov, cache, log=lambda _m: None)]
        again = [r for t in tasks.values() for r in run_generation(eng, t, prov, cache, log=lambda _m: None)]
    cache.close()
    return tasks, rows, again, cache


def test_json_tasks_run_free_and_grammar_constrained_and_reruns_hit_the_cache(outputs):
    tasks, rows, again, cache = outputs
    modes = {(r["task"], r["decoding"]) for r in rows}
    assert ("e2e_brief_json", "free") in modes and ("e2e_brief_json", "grammar") in modes
    assert ("classification", "grammar") not in modes
    assert len(rows) == 2 + 1 + 2
    assert [r["output"] for r in again] == [r["output"] for r in rows] and cache.hits == len(rows)


def test_every_metric_is_a_number_or_null_with_a_reason_and_grammar_output_parses(outputs):
    tasks, rows, _, _ = outputs
    scores = score_generation(rows, tasks, MetricModels())
    assert all(s["value"] is not None or s["null_reason"] for s in scores)
    metrics = {(s["task"], s["metric"]) for s in scores}
    for m in ("rougeL", "bleu", "bertscore", "semscore", "repetition", "length_ratio"):
        assert ("summarization", m) in metrics
    assert ("classification", "label_accuracy") in metrics
    grammar_parse = [s["value"] for s in scores if s["decoding"] == "grammar" and s["metric"] == "json_parse"]
    assert grammar_parse == [1.0]  # the grammar makes the output valid JSON
    summary = summarize(scores)
    row = next(r for r in summary if r["task"] == "classification" and r["metric"] == "label_accuracy")
    assert row["n_values"] == 2 and (row["ci_low"] is None or row["ci_low"] <= row["mean"] <= row["ci_high"])


def test_an_all_empty_output_rung_scores_the_worst_values_not_better_than_real_outputs(outputs):
    """Failures count as failures: a rung whose every output is empty (or holds no JSON where JSON
    was asked for) must not look better than the rung with real outputs on any key-metric component
    or JSON rate, and every aggregate says how many outputs failed."""
    tasks, rows, _, _ = outputs
    empty = [{**r, "variant": "empty-rung", "output": "", "finish_reason": "stop"} for r in rows]
    models = MetricModels()
    summary = summarize(score_generation(rows, tasks, models) + score_generation(empty, tasks, models))
    by = {(r["variant"], r["task"], r["decoding"], r["metric"]): r for r in summary}
    real_variant = rows[0]["variant"]
    compared = 0
    for (variant, task, decoding, metric), r in by.items():
        if variant != "empty-rung" or metric not in ("rougeL", "bertscore", "semscore", "label_accuracy",
                                                      "json_schema_compliance", "json_field_completeness",
                                                      "json_key_accuracy", "json_parse"):
            continue
        real = by[(real_variant, task, decoding, metric)]
        assert r["n_values"] == r["n_samples"] == r["n_failed"], (task, metric)  # no skipped rows
        assert r["mean"] is not None and r["mean"] <= real["mean"], (task, decoding, metric, r["mean"], real["mean"])
        compared += 1
    assert compared >= 6
    assert by[("empty-rung", "summarization", "free", "bertscore")]["mean"] == -1.0
    assert by[("empty-rung", "summarization", "free", "failed")]["mean"] == 1.0
    assert by[(real_variant, "e2e_brief_json", "grammar", "failed")]["mean"] == 0.0  # the grammar output parses
