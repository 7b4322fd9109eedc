"""lm-eval runs its own task code on quantbench's engine through the bridge, and agrees item by item
with quantbench's loglikelihood scorer on the same items and model."""
import json

import numpy as np
import pytest

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine, row_log_softmax
from quantbench_assets.lib.tasks.lmeval import QuantbenchLM, local_tasks, task_manager
from quantbench_assets.lib.scoring.benchmark_scoring import mc2_score, score_samples
from quantbench_assets.lib.scoring.scorers import cloze_request, run_scorer
from quantbench_assets.lib.tasks.benchmarks import load_all_items, load_spec, load_task
from quantbench_assets.lib.tasks.mc_docs import load_mc_items

N_ITEMS = 6


@pytest.fixture(scope="module")
def engine(smollm_rung):
    # One thread: the 2 cores here are shared with other jobs (see test_standard_benchmarks.py).
    with LlamaCppEngine(smollm_rung("Q8_0").stored.path, EngineSettings(n_ctx=1024, n_threads=1, logits_all=True)) as e:
        yield e


class _Request:  # what lm-eval hands a model: an Instance; the bridge reads only .args
    def __init__(self, *args):
        self.args = args


def test_lm_eval_through_the_bridge_predicts_what_our_loglikelihood_scorer_predicts(engine, smollm_rung, tmp_path):
    import lm_eval

    task = load_task("arc_easy", "demo", limit=N_ITEMS)
    prov = {"variant": "v", "gguf_sha256": smollm_rung("Q8_0").stored.sha256, "engine_build": engine.build,
            "n_ctx": engine.settings.n_ctx}
    cache = SampleCache(tmp_path / "samples.sqlite")
    ours = {r["item_id"]: r for r in run_scorer(engine, task, "loglikelihood", prov, cache, log=lambda _: None)}
    cache.close()
    ours_scored = {s["item_id"]: s for s in score_samples(list(ours.values()))}

    row_index = {it.item_id: i for i, it in enumerate(load_all_items(task.spec))}
    results = lm_eval.simple_evaluate(
        model=QuantbenchLM(engine=engine), tasks=local_tasks(["qb_arc_easy"]), task_manager=task_manager(),
        samples={"qb_arc_easy": [row_index[it.item_id] for it in task.items]}, log_samples=True,
        bootstrap_iters=0)
    theirs = results["samples"]["qb_arc_easy"]
    assert sorted(s["doc"]["id"] for s in theirs) == sorted(ours)
    for s in theirs:
        item_id = s["doc"]["id"]
        item = next(it for it in task.items if it.item_id == item_id)
        context, continuations = cloze_request(item)
        assert [tuple(a) for a in s["arguments"]] == [(context, c) for c in continuations]  # same prompt
        their_lls = [ll for ll, _ in s["filtered_resps"]]
        assert their_lls == pytest.approx(json.loads(ours[item_id]["choice_loglikelihoods"]), abs=1e-3)
        assert bool(s["acc"]) == ours_scored[item_id]["acc"]
        assert bool(s["acc_norm"]) == ours_scored[item_id]["acc_norm"]
    acc = np.mean([ours_scored[i]["acc"] for i in ours])
    assert results["results"]["qb_arc_easy"]["acc,none"] == pytest.approx(acc)


def test_generate_until_honours_until_and_max_gen_toks(engine):
    lm = QuantbenchLM(engine=engine)
    stopped, capped = lm.generate_until([
        _Request("Count with me: 1, 2, 3,", {"until": [","], "max_gen_toks": 20}),
        _Request("Once upon a time", {"until": [], "max_gen_toks": 3}),
    ])
    assert "," not in stopped and stopped.strip()
    assert 1 <= len(engine.tokenize(capped, add_bos=False)) <= 4  # 3 tokens (re-tokenizing may split one)


def test_loglikelihood_rolling_equals_a_hand_sum_over_tokens_after_the_prefix_token(engine):
    text = "The capital of France is Paris. It lies on the Seine."
    (rolling,) = QuantbenchLM(engine=engine).loglikelihood_rolling([_Request(text)])
    tokens = [engine.llm.token_bos()] + engine.tokenize(text, add_bos=False)
    engine.llm.reset()
    engine.llm.eval(tokens)
    hand = sum(float(row_log_softmax(engine.llm.scores[i])[tokens[i + 1]]) for i in range(len(tokens) - 1))
    assert rolling == pytest.approx(hand, abs=1e-3) and rolling < 0


def test_an_empty_context_conditions_on_the_prefix_token(engine):
    # lm-eval sends ("", continuation) for unconditional scores; the engine alone would read a
    # row before position 0, so the bridge conditions on BOS as lm-eval's HF model does.
    ((ll, _),) = QuantbenchLM(engine=engine).loglikelihood([_Request("", " Paris")])
    tokens = [engine.llm.token_bos()] + engine.tokenize(" Paris", add_bos=False)
    rows, targets = engine.token_logprobs(tokens)
    assert ll == pytest.approx(sum(float(row_log_softmax(rows[i])[targets[i]]) for i in range(len(targets))), abs=1e-4)


def test_mc2_and_the_hellaswag_items_cleaning_equal_lm_evals_own_functions():
    from lm_eval.tasks.hellaswag.utils import preprocess
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    lls, labels = [-3.2, -1.1, -7.5, -2.0], [1, 0, 1, 0]
    ours = mc2_score(lls, labels)
    theirs = process_results_mc2({"mc2_targets": {"labels": labels}}, [(x, False) for x in lls])["acc"]
    assert ours == pytest.approx(theirs)
    with open(paths.benchmarks_dir() / "hellaswag" / "validation.jsonl") as f:
        rows = [json.loads(line) for line in f]
    bracketed = [i for i, r in enumerate(rows) if any("[" in e for e in r["endings"] + [r["ctx_a"]])][:100]
    assert bracketed  # the WikiHow artefacts the cleaning exists for are in these rows
    items = load_mc_items(load_spec("hellaswag"), ids={f"validation/{i}" for i in bracketed})
    assert len(items) == len(bracketed)
    for item in items:  # the standard chain's items: the rows as lm-eval's own cleaning leaves them
        r = rows[int(item.item_id.split("/")[1])]
        assert item.question == preprocess(r["activity_label"] + ": " + r["ctx_a"] + " " + r["ctx_b"].capitalize())
        assert list(item.choices) == list(item.cloze_choices) == [preprocess(e) for e in r["endings"]]
        assert item.continuations == tuple(" " + preprocess(e) for e in r["endings"])
