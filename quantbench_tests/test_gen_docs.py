"""GSM8K and IFEval take their documents, prompts (few-shot examples included), `until`, max_gen_toks and
references from the lm-eval task YAMLs in data/lm_eval_tasks (lib/tasks/gen_docs.py): the generate
scorer sends the request lm-eval's own build_all_requests builds for the same document; the shipped
prompts are those of quantbench's former templates; a prompt changed in the YAML changes what the
chain sends and the task version; the scores mean what lm-eval's own filters and process_results
mean. No model: a recording engine sees the requests."""
import json

import pytest
import yaml

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import Engine, Generation
from quantbench_assets.lib.scoring.benchmark_scoring import score_samples
from quantbench_assets.lib.scoring.scorers import run_scorer
from quantbench_assets.lib.tasks.benchmarks import TaskError, load_task, subset_path
from quantbench_assets.lib.tasks.lmeval import QuantbenchLM, task_manager
from quantbench_assets.lib.tasks.mc_docs import item_refs

PROV = {"variant": "m__Q8_0", "gguf_sha256": "ab" * 32, "engine_build": "build-x", "n_ctx": 2048}


class RecordingEngine(Engine):
    """Answers every generation with a fixed text and keeps (prompt, max_tokens, stop)."""
    name = "recording"

    def __init__(self, answer: str = "#### 0"):
        self.answer = answer
        self.requests: list[tuple[str, int, list[str]]] = []

    @property
    def build(self) -> str:
        return "recording"

    def generate(self, prompt, *, max_tokens, stop=(), temperature=0.0, seed=None, grammar=None):
        assert temperature == 0.0
        self.requests.append((prompt, max_tokens, list(stop)))
        return Generation(self.answer, "stop", 1, 1, 1.0, 1.0)


def _chain_requests(task, tmp_path) -> dict[str, tuple[str, int, list[str]]]:
    """What the standard chain (run_scorer, generate) sends the engine, per item."""
    sent = {}
    cache = SampleCache(tmp_path / "samples.sqlite")
    for item in task.items:  # one item per call: the engine's log then belongs to that item
        engine = RecordingEngine()
        run_scorer(engine, type(task)(task.spec, [item], task.size, task.fewshot, task.lmeval_version),
                   "generate", PROV, cache, log=lambda _: None, has_chat_template=False)
        (sent[item.item_id],) = engine.requests
    cache.close()
    return sent


def _scored(task, output: str, tmp_path) -> list[dict]:
    """The chain's score rows when the model answers every item with `output`."""
    cache = SampleCache(tmp_path / "scored.sqlite")
    rows = run_scorer(RecordingEngine(output), task, "generate", PROV, cache, log=lambda _: None,
                      has_chat_template=False)
    cache.close()
    return score_samples(rows)


def _rows(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_gsm8k_chain_sends_lm_evals_own_generate_until_request(tmp_path):
    task = load_task("gsm8k", "demo", limit=3)
    sent = _chain_requests(task, tmp_path)
    lm_task = task_manager().load(["qb_gsm8k"])["tasks"]["qb_gsm8k"]
    index = {item_id: i for i, (item_id, _) in enumerate(item_refs(task.spec)[0])}
    default_budget = QuantbenchLM(engine=RecordingEngine()).max_gen_toks  # what the bridge gives lm-eval
    for item in task.items:
        # lm-eval seeds its sampler once per run: the first document it builds gets the seed's draw
        lm_task.set_fewshot_seed(seed=task.spec.seed)
        lm_task.build_all_requests(samples=[index[item.item_id]])
        (inst,) = lm_task.instances
        context, kwargs = inst.arguments
        assert inst.doc["question"] == item.question
        assert sent[item.item_id] == (context, kwargs.get("max_gen_toks", default_budget), kwargs["until"])
    assert task.spec.max_tokens == 256 and task.version == "1.0/qb_gsm8k@3.0"


def test_the_shipped_prompts_and_items_are_those_of_the_former_templates(tmp_path):
    # Before the lm-eval YAMLs: "Question: {question}\nAnswer:", each stored few-shot example
    # followed by " {answer}", joined by "\n\n"; until ["Question:", "</s>", "<|im_end|>"], 256 tokens.
    gsm8k = load_task("gsm8k", "demo")
    test_rows = _rows(paths.benchmarks_dir() / "gsm8k" / "test.jsonl")
    train_rows = _rows(paths.benchmarks_dir() / "gsm8k" / "train.jsonl")
    stored_shots = subset_path(gsm8k.spec, "fewshot").read_text().split()
    assert [ex.item_id for ex in gsm8k.fewshot] == stored_shots
    shots = [f"Question: {train_rows[int(i.split('/')[1])]['question']}\nAnswer: "
             f"{train_rows[int(i.split('/')[1])]['answer']}" for i in stored_shots]
    assert [it.item_id for it in gsm8k.items] == subset_path(gsm8k.spec, "demo").read_text().split()
    sent = _chain_requests(gsm8k, tmp_path)
    for item in gsm8k.items:
        row = test_rows[int(item.item_id.split("/")[1])]
        assert (item.question, item.target) == (row["question"], row["answer"])
        prompt = "\n\n".join(shots + [f"Question: {row['question']}\nAnswer:"])
        assert sent[item.item_id] == (prompt, 256, ["Question:", "</s>", "<|im_end|>"])

    ifeval = load_task("ifeval", "demo")
    by_key = {str(r["key"]): r for r in _rows(paths.benchmarks_dir() / "ifeval" / "input_data.jsonl")}
    assert [it.item_id for it in ifeval.items] == subset_path(ifeval.spec, "demo").read_text().split()
    assert ifeval.spec.max_tokens == 1280 and ifeval.spec.chat and not ifeval.fewshot
    for item in ifeval.items:
        row = by_key[item.item_id]
        assert item.context == item.question == row["prompt"] and item.until == ()
        assert item.meta["instruction_id_list"] == row["instruction_id_list"]
        # `datasets` gives every instruction every kwarg (None where absent); the checkers drop those
        assert [{k: v for k, v in kw.items() if v is not None} for kw in item.meta["kwargs"]] == row["kwargs"]


def test_a_prompt_changed_in_the_lm_eval_yaml_changes_the_chains_request_and_the_task_version(
        tmp_path, data_copy):
    _, edit_yaml = data_copy
    shipped = load_task("gsm8k", "demo", limit=2)

    def change(cfg):
        cfg["doc_to_text"] = "Q: {{question}}\nA:"
        cfg["generation_kwargs"] |= {"until": ["Q:"], "max_gen_toks": 64}
        cfg["metadata"] = {"version": 9.0}
    edit_yaml("qb_gsm8k", change)

    changed = load_task("gsm8k", "demo", limit=2)
    assert [it.item_id for it in changed.items] == [it.item_id for it in shipped.items]
    assert [ex.item_id for ex in changed.fewshot] == [ex.item_id for ex in shipped.fewshot]
    assert changed.version == "1.0/qb_gsm8k@9.0"  # samples cached under the old prompt are not reused
    shots = "".join(f"Q: {ex.question}\nA: {ex.target}\n\n" for ex in changed.fewshot)
    sent = _chain_requests(changed, tmp_path)
    for item in changed.items:
        assert sent[item.item_id] == (f"{shots}Q: {item.question}\nA:", 64, ["Q:"])


def test_a_stored_few_shot_list_that_lm_evals_sampler_does_not_draw_is_an_error(data_copy):
    data, _ = data_copy
    (data / "tasks" / "subsets" / "gsm8k__fewshot.txt").write_text("train/0\ntrain/1\ntrain/2\ntrain/3\ntrain/4\n")
    with pytest.raises(TaskError, match=r"gsm8k__fewshot.txt: lists \['train/0'.*sampler \(seed 1234\) draws"):
        load_task("gsm8k", "demo", limit=1)


@pytest.mark.parametrize("output", [
    "She sells 9 * 2 = $18 a day.\n#### 18", "The answer is 1,234.", "#### -5\n\nQuestion", "Maybe $12, or 15",
    "no numbers here", "so 3 + 4 = 7.\n#### 7.", "#### $1,000",
])
def test_gsm8k_scores_equal_the_lm_eval_tasks_own_filters_and_process_results(output, tmp_path):
    from lm_eval.api.instance import Instance

    task = load_task("gsm8k", "demo", limit=4, num_fewshot=0)
    lm_task = task_manager().load(["qb_gsm8k"])["tasks"]["qb_gsm8k"]
    index = {item_id: i for i, (item_id, _) in enumerate(item_refs(task.spec)[0])}
    docs = lm_task.eval_docs
    ours = {s["item_id"]: s for s in _scored(task, output, tmp_path)}
    for item in task.items:
        doc = docs[index[item.item_id]]
        inst = Instance("generate_until", doc, ("", {}), 0, ("qb_gsm8k", index[item.item_id], 1))
        inst.resps = [output]
        theirs = {}
        for ensemble in lm_task._filters:  # the YAML's filter_list, as lm-eval built it
            ensemble.apply([inst])
            theirs[ensemble.name] = lm_task.process_results(doc, [inst.filtered_resps[ensemble.name]])
        assert ours[item.item_id]["exact_match_strict"] == bool(theirs["strict-match"]["exact_match"])
        assert ours[item.item_id]["exact_match_flexible"] == bool(theirs["flexible-extract"]["exact_match"])


def test_ifeval_scores_equal_the_lm_eval_tasks_own_process_results(tmp_path):
    task = load_task("ifeval", "demo", limit=4)
    lm_task = task_manager().load(["qb_ifeval"])["tasks"]["qb_ifeval"]
    index = {item_id: i for i, (item_id, _) in enumerate(item_refs(task.spec)[0])}
    output = "Sure, here it is\nA short answer, all in lower case, with no title. P.S. bye"
    for s in _scored(task, output, tmp_path):
        theirs = lm_task.process_results(lm_task.eval_docs[index[s["item_id"]]], [output])
        assert s["prompt_level_strict"] == theirs["prompt_level_strict_acc"]
        assert s["prompt_level_loose"] == theirs["prompt_level_loose_acc"]
        assert s["inst_strict_followed"] == sum(theirs["inst_level_strict_acc"])
        assert s["inst_loose_followed"] == sum(theirs["inst_level_loose_acc"])


def test_gsm8k_answers_follow_the_filters_written_in_the_task_yaml(data_copy):
    # The strict filter and the exact_match normalisation live in qb_gsm8k.yaml only: edit them there
    # and the scorer follows.
    from quantbench_assets.lib.scoring.benchmark_scoring import gsm8k_answers, gsm8k_match

    _, edit_yaml = data_copy
    output = "Step by step... ANSWER: 42"
    assert gsm8k_answers(output)[0] == "[invalid]"  # the shipped strict filter wants "#### N"
    assert not gsm8k_match("42apples", "42")

    def change(cfg):
        strict = next(f for f in cfg["filter_list"] if f["name"] == "strict-match")
        strict["filter"][0]["regex_pattern"] = r"ANSWER: (\-?[0-9]+)"
        cfg["metric_list"][0]["regexes_to_ignore"] = [",", "\\$", "(?s).*#### ", "\\.$", "apples"]
    edit_yaml("qb_gsm8k", change)
    assert gsm8k_answers(output)[0] == "42"
    assert gsm8k_match("42apples", "42")
