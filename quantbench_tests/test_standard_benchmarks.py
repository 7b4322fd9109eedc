"""The seven standard benchmarks (MMLU, ARC-Challenge, ARC-Easy, HellaSwag, TruthfulQA MC1/MC2, GSM8K,
IFEval) through quantbench's scorers on the real CI model, a few items each; the scoring rules on
hand-made inputs; and one partition through the Dagster assets into the dbt mart."""
import json
import shutil
import sys
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
from dagster_dbt import DbtCliResource

from quantbench_assets.definitions import defs as load_defs
from quantbench_assets.defs.gguf.assets import gguf_variant
from quantbench_assets.defs.catalog.assets import model_catalog
from quantbench_assets.lib.engines.decoding import MIN_BATCH
from quantbench_assets.defs.scoring.standard import standard_benchmark_samples, standard_benchmark_scores
from quantbench_assets.defs.resources import EngineResource, default_resources, WarehouseResource
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine, row_log_softmax
from quantbench_assets.lib.scoring.benchmark_scoring import (
    gsm8k_answers, gsm8k_match, ifeval_check, mc2_score, mc_metrics, score_samples,
)
from quantbench_assets.lib.scoring.benchmark_summary import at_chance, summarize_benchmark_scores
from quantbench_assets.lib.scoring.scorers import cloze_request, run_scorer
from quantbench_assets.lib.analysis.stats import wilson_interval
from quantbench_assets.lib.tasks.benchmarks import TaskError, TaskSpec, load_spec, load_task

# Each task with a subset of its scorers, to keep the run short: all three MC scorers on ARC-Easy
# (compared there), the one-pass letter scorer on MMLU too (its shared instruction prefix is tested).
SCORERS = {
    "mmlu": ["loglikelihood", "letter_logits"], "arc_challenge": ["loglikelihood"],
    "arc_easy": ["loglikelihood", "letter_logits", "generate_rescore"], "hellaswag": ["loglikelihood"],
    "truthfulqa_mc1": ["loglikelihood"], "truthfulqa_mc2": ["loglikelihood"], "gsm8k": ["generate"],
    "ifeval": ["generate"],
}
TASKS = list(SCORERS)
# Items per task: 4 ARC-Easy items for the scorer comparison; one TruthfulQA question (its 13-20
# choices after a 190-token prompt are the slowest item here), shared by MC1 and MC2.
N_ITEMS = {"arc_easy": 4, "truthfulqa_mc1": 1, "truthfulqa_mc2": 1}
GEN_TOKENS = 16
GOOD = "smollm2-135m-instruct__Q8_0"


@pytest.fixture(scope="module")
def engine(smollm_rung):
    # One thread: the 2 cores here are shared with other jobs, and llama.cpp's spinning worker
    # threads ran 5-10x slower when oversubscribed (measured on this machine).
    settings = EngineSettings(n_ctx=1024, n_threads=1, logits_all=True)
    with LlamaCppEngine(smollm_rung("Q8_0").stored.path, settings) as e:
        yield e


@pytest.fixture(scope="module")
def samples(engine, smollm_rung, tmp_path_factory):
    """Every task with the scorers listed in SCORERS: {(task, scorer): rows}."""
    cache = SampleCache(tmp_path_factory.mktemp("cache") / "samples.sqlite")
    prov = {"variant": GOOD, "gguf_sha256": smollm_rung("Q8_0").stored.sha256, "engine_build": engine.build,
            "n_ctx": engine.settings.n_ctx}
    out = {}
    for name in TASKS:
        # GSM8K: one shot keeps the prompt near 300 tokens (5 shots: 1100)
        task = load_task(name, "demo", limit=N_ITEMS.get(name, 2), num_fewshot=1 if name == "gsm8k" else None)
        assert set(SCORERS[name]) <= set(task.spec.scorers)
        for scorer in SCORERS[name]:
            gen = scorer in ("generate", "generate_rescore")
            out[(name, scorer)] = run_scorer(engine, task, scorer, prov, cache, log=lambda _: None,
                                             max_tokens=GEN_TOKENS if gen else None)
    yield out
    cache.close()


@pytest.fixture(scope="module")
def scores(samples):
    return score_samples([r for rows in samples.values() for r in rows])


def test_every_task_gives_one_row_per_item_and_scorer_and_a_wilson_scored_primary_metric(samples, scores):
    for (task, scorer), rows in samples.items():
        assert len(rows) == N_ITEMS.get(task, 2), (task, scorer)
        for r in rows:
            assert r["variant"] == GOOD and len(r["sample_key"]) == 64 and r["wall_ms"] > 0
            assert r.get("choice_loglikelihoods") or r.get("output") is not None
    summary = summarize_benchmark_scores(scores)
    assert {s["task"] for s in summary} == set(TASKS)
    for task in TASKS:
        wilson = [s for s in summary if s["task"] == task and s["interval"] == "wilson"]
        assert wilson, task
        for s in wilson:
            assert (s["ci_low"], s["ci_high"]) == pytest.approx(wilson_interval(s["successes"], s["n"]))
            assert s["ci_low"] <= s["value"] <= s["ci_high"]
    primaries = {(s["task"], s["scorer"]): s["metric"] for s in summary if s["primary"]}
    assert primaries[("truthfulqa_mc2", "loglikelihood")] == "mc2"
    assert primaries[("gsm8k", "generate")] == "exact_match_strict"
    assert primaries[("ifeval", "generate")] == "prompt_level_strict_acc"


def test_every_sample_and_score_records_how_its_prompt_was_built(samples, scores):
    # the CI model has a chat template: TR125's chat prompt for generate_rescore and IFEval
    methods = {key: {r["prompt_method"] for r in rows} for key, rows in samples.items()}
    assert methods[("arc_easy", "generate_rescore")] == {"chat_zero_shot"}
    assert methods[("ifeval", "generate")] == {"chat_zero_shot"}
    assert methods[("arc_easy", "loglikelihood")] == {"loglikelihood"}
    assert methods[("mmlu", "letter_logits")] == {"completion_zero_shot"}
    assert methods[("gsm8k", "generate")] == {"completion_few_shot_k1"}  # the fixture keeps one shot
    by_sample = {(r["task"], r["item_id"], r["scorer"]): r["prompt_method"] for rows in samples.values() for r in rows}
    assert all(s["prompt_method"] == by_sample[(s["task"], s["item_id"], s["scorer"])] for s in scores)


def test_the_three_mc_scorers_agree_within_their_intervals_on_the_same_items(scores):
    arc = {}
    for s in summarize_benchmark_scores([r for r in scores if r["task"] == "arc_easy"]):
        if s["primary"]:
            arc[s["scorer"]] = s
    assert set(arc) == {"loglikelihood", "letter_logits", "generate_rescore"}
    ids = {sc: sorted(r["item_id"] for r in scores if r["task"] == "arc_easy" and r["scorer"] == sc) for sc in arc}
    assert ids["loglikelihood"] == ids["letter_logits"] == ids["generate_rescore"]
    for a in arc.values():
        for b in arc.values():
            assert a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"], (a, b)


def test_a_choice_loglikelihood_equals_a_hand_computation_from_one_fresh_pass(engine, samples):
    row = samples[("arc_easy", "loglikelihood")][0]
    task = load_task("arc_easy", "demo", limit=1)
    context, continuations = cloze_request(task.items[0])
    assert context.startswith("Question: ") and context.endswith("\nAnswer:")
    stored = json.loads(row["choice_loglikelihoods"])
    for j, cont in enumerate(continuations):
        ctx_tokens = engine.tokenize(context)
        whole = engine.tokenize(context + cont)
        rows, _ = engine.token_logprobs(whole)  # from scratch: no cached prefix involved
        hand = sum(float(row_log_softmax(rows[i - 1])[whole[i]]) for i in range(len(ctx_tokens), len(whole)))
        assert stored[j] == pytest.approx(hand, abs=1e-3)


def test_shared_prefixes_are_evaluated_once_not_once_per_item(samples):
    # GSM8K's few-shot block and the letter prompt's instruction precede every item: from the second
    # item on, the engine evaluates only the item's own tokens.
    for key in [("gsm8k", "generate"), ("arc_easy", "letter_logits"), ("mmlu", "letter_logits")]:
        first, second = samples[key][:2]
        assert first["evaluated_tokens"] >= first["prompt_tokens"] * 0.9, key
        assert second["evaluated_tokens"] < second["prompt_tokens"], key
    # TruthfulQA: its six example QAs are evaluated once per question, then each choice costs its
    # own tokens, or MIN_BATCH if fewer (a short decode would change llama.cpp's numbers): far
    # fewer than (prompt + choice) per choice.
    (tqa,) = samples[("truthfulqa_mc1", "loglikelihood")]
    n_choices = len(json.loads(tqa["choice_loglikelihoods"]))
    assert tqa["prompt_tokens"] > 4 * MIN_BATCH
    assert tqa["evaluated_tokens"] <= tqa["prompt_tokens"] + tqa["completion_tokens"] + n_choices * MIN_BATCH


def test_acc_norm_divides_by_characters_and_acc_bytes_by_utf8_bytes():
    # "éé": 2 characters, 4 bytes; "abc": 3 and 3. ll/char: -1.0 vs -0.8; ll/byte: -0.5 vs -0.8.
    m = mc_metrics([-2.0, -2.4], gold=1, choice_chars=[2, 3], choice_bytes=[4, 3])
    assert (m["prediction"], m["acc"]) == ("A", False)
    assert (m["prediction_norm"], m["acc_norm"]) == ("B", True)
    assert m["acc_bytes"] is False


def test_mc2_is_the_normalised_probability_mass_on_true_answers():
    lls = list(np.log([0.25, 0.15, 0.1]))  # unnormalised: the true choices hold 0.35 of 0.5
    assert mc2_score(lls, [1, 0, 1]) == pytest.approx(0.7)
    assert mc2_score([-1000.0, -1001.0], [0, 1]) == pytest.approx(1 / (1 + np.e))  # no underflow


@pytest.mark.parametrize("text,strict,flexible,correct_strict,correct_flexible", [
    ("She sells 9 * 2 = $18 a day.\n#### 18", "18", "18", True, True),
    ("The answer is 1,234.", "[invalid]", "1,234.", False, True),
    ("#### -5\n\nQuestion", "-5", "-5", False, False),
    ("Maybe $12, or rather 15", "[invalid]", "15", False, False),
    ("no numbers here", "[invalid]", "[invalid]", False, False),
])
def test_gsm8k_answers_are_read_strictly_from_hashes_and_flexibly_from_the_last_number(
        text, strict, flexible, correct_strict, correct_flexible):
    target = {"18": "2 + 16 = <<2+16=18>>18\n#### 18", "1,234.": "#### 1234"}.get(flexible, "so\n#### 12")
    assert gsm8k_answers(text) == (strict, flexible)
    assert gsm8k_match(strict, target) is correct_strict
    assert gsm8k_match(flexible, target) is correct_flexible


def test_ifeval_checks_strict_and_loose_at_prompt_and_instruction_level():
    ref = {"key": 1, "prompt": "Write without commas, at least 5 words.",
           "instruction_id_list": ["punctuation:no_comma", "length_constraints:number_words"],
           "kwargs": [{}, {"relation": "at least", "num_words": 5}]}
    ok = ifeval_check(ref, "This sentence has no commas in it at all")
    assert ok["prompt_level_strict_acc"] and ok["inst_level_strict_acc"] == [True, True]
    bad = ifeval_check(ref, "Hi, you")
    assert not bad["prompt_level_loose_acc"] and bad["inst_level_strict_acc"] == [False, False]
    # A comma only in the first line: strict fails, loose (which also tries without the first line) passes.
    intro = ifeval_check(ref, "Sure, here it is\nseven plain words with no commas here\nbye")
    assert intro["inst_level_strict_acc"][0] is False and intro["inst_level_loose_acc"][0] is True


def test_a_score_is_at_chance_when_chance_lies_inside_its_wilson_interval():
    assert at_chance(13, 50, 0.25)  # 26%: (0.16, 0.40) contains 25%
    assert not at_chance(40, 50, 0.25)
    assert at_chance(0, 10, 0.0)  # nothing right: indistinguishable from zero
    assert not at_chance(5, 10, 0.0)


def test_task_files_reject_a_scorer_their_format_cannot_run():
    spec = load_spec("truthfulqa_mc2").model_dump()
    with pytest.raises(ValueError, match="letter_logits"):
        TaskSpec.model_validate({**spec, "scorers": ["loglikelihood", "letter_logits"]})
    with pytest.raises(TaskError, match="no size"):
        load_task("gsm8k", "huge")


def test_the_asset_graph_feeds_the_standard_tables_to_their_dbt_mart():
    graph = load_defs().resolve_asset_graph()
    mart = graph.get(dg.AssetKey(["marts", "fct_variant_benchmark_scores"]))
    assert {k.to_user_string() for k in mart.parent_keys} >= {"staging/stg_standard_benchmark_scores",
                                                              "staging/stg_gguf_inventory"}
    staging = graph.get(dg.AssetKey(["staging", "stg_standard_benchmark_scores"]))
    assert dg.AssetKey("standard_benchmark_scores") in staging.parent_keys


def test_one_partition_flows_through_the_standard_assets_into_the_dbt_mart(qb_env, smollm_base):
    # The assets this partition needs, and dbt run on its own: the whole graph is tested above.
    db = qb_env / "warehouse.duckdb"
    assets = [model_catalog, gguf_variant, standard_benchmark_samples, standard_benchmark_scores]
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(db)),
                 "engine": EngineResource(n_threads=1)}
    config = {"ops": {"standard_benchmark_samples": {"config": {
        "tasks": ["arc_easy", "mmlu"], "limit": 2, "scorers": ["loglikelihood", "letter_logits"]}}}}
    with dg.instance_for_test() as instance:
        dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources)
        result = dg.materialize(assets, selection=["gguf_variant", "standard_benchmark_samples",
                                                   "standard_benchmark_scores"],
                                partition_key=GOOD, instance=instance, resources=resources, run_config=config)
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["standard_samples_complete"].passed and checks["standard_scores_match_samples"].passed
    chance = checks["accuracy_above_chance"]
    assert chance.severity == dg.AssetCheckSeverity.WARN
    dbt = DbtCliResource(project_dir=str(paths.dbt_project_dir()), profiles_dir=str(paths.dbt_project_dir()),
                         dbt_executable=shutil.which("dbt") or str(Path(sys.executable).parent / "dbt"))
    # cautious: only tests whose every parent is selected (not other marts' tests on stg_gguf_inventory)
    dbt.cli(["build", "--select", "+fct_variant_benchmark_scores", "--indirect-selection", "cautious"]).wait()
    con = duckdb.connect(str(db), read_only=True)
    try:
        n_samples = con.execute("select count(*) from raw.standard_benchmark_samples where variant = ?",
                                [GOOD]).fetchone()
        mart = con.execute(
            "select task, scorer, metric, n, value, ci_low, ci_high, at_chance from marts.fct_variant_benchmark_scores "
            "where variant = ? and is_primary order by task, scorer", [GOOD]).fetchall()
        acc_at_chance = {f"{t}/{s}" for t, s in con.execute(
            "select task, scorer from marts.fct_variant_benchmark_scores where variant = ? and metric = 'acc' "
            "and at_chance", [GOOD]).fetchall()}
    finally:
        con.close()
    assert n_samples == (8,)  # 2 tasks x 2 scorers x 2 items
    assert [(t, s, m) for t, s, m, *_ in mart] == [
        ("arc_easy", "letter_logits", "acc"), ("arc_easy", "loglikelihood", "acc"),
        ("mmlu", "letter_logits", "acc"), ("mmlu", "loglikelihood", "acc")]
    for _, _, _, n, value, low, high, _ in mart:
        assert n == 2 and low <= value <= high
    # The Dagster check and the mart flag the same scores as indistinguishable from chance.
    assert set(chance.metadata["at_chance"].data) == acc_at_chance
    assert chance.passed is (not acc_at_chance)


def test_prompts_cut_to_the_context_window_are_counted_and_warned_about(engine, smollm_rung):
    # Before: a prompt longer than n_ctx lost its start silently (loglikelihood keeps the tail, as
    # lm-eval does; letter logits keep the last n_ctx tokens), and the score looked like any other.
    from quantbench_assets.defs.common import context_fits_check
    from quantbench_assets.lib.core.samples import NoCache

    task = load_task("mmlu", "demo", limit=2)
    prov = {"variant": GOOD, "gguf_sha256": smollm_rung("Q8_0").stored.sha256, "engine_build": engine.build}
    with LlamaCppEngine(smollm_rung("Q8_0").stored.path, EngineSettings(n_ctx=40, n_threads=1)) as small:
        rows = {s: run_scorer(small, task, s, {**prov, "n_ctx": 40}, NoCache(), log=lambda _: None)
                for s in ("loglikelihood", "letter_logits")}
        for row, item in zip(rows["loglikelihood"], task.items):
            context, continuations = cloze_request(item)
            cut = row["context_tokens_dropped"]
            assert cut > 0
            # the stored score is the whole-window engine's score of the prompt without its first `cut` tokens
            for cont, stored in zip(continuations, json.loads(row["choice_loglikelihoods"])):
                ctx, tail = engine._request_tokens(context, cont)
                if len(ctx) + len(tail) - 40 == cut:  # the longest choice loses exactly `cut` tokens
                    assert engine._score((ctx + tail)[cut:len(ctx)], tail).logprob == pytest.approx(stored, abs=0.02)
    full = run_scorer(engine, task, "loglikelihood", {**prov, "n_ctx": 1024}, NoCache(), log=lambda _: None)
    assert [r["context_tokens_dropped"] for r in full] == [0, 0]
    assert all(r["context_tokens_dropped"] > 0 for r in rows["letter_logits"])
    check = context_fits_check("standard_context_fits", rows["loglikelihood"] + rows["letter_logits"] + full, 40,
                               "standard_benchmark_samples")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "4 of 6 prompts" in check.description and "mmlu/letter_logits, mmlu/loglikelihood" in check.description
    assert context_fits_check("standard_context_fits", full, 1024, "standard_benchmark_samples").passed
