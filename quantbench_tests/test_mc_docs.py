"""The standard multiple-choice tasks take their documents, cloze prompts, choices and gold from the
lm-eval task YAMLs in data/lm_eval_tasks (lib/tasks/mc_docs.py): the loglikelihood scorer sends, string
for string, the requests lm-eval's own build_all_requests builds for the same documents; a prompt
changed in the YAML changes what the chain sends and the task version; TR125's few-shot examples come
from the lm-eval task's few-shot split. No model: a recording engine sees the requests."""
import json

import pytest
import yaml

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.engines.llama import Engine, LoglikelihoodResult
from quantbench_assets.lib.scoring.scorers import run_scorer
from quantbench_assets.lib.scoring.tr125 import fewshot_examples
from quantbench_assets.lib.tasks.benchmarks import load_task
from quantbench_assets.lib.tasks.lmeval import task_manager
from quantbench_assets.lib.tasks.mc_docs import item_refs

PROV = {"variant": "m__Q8_0", "gguf_sha256": "ab" * 32, "engine_build": "build-x", "n_ctx": 2048}
MC_TASKS = ["arc_easy", "arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc1", "truthfulqa_mc2"]


class RecordingEngine(Engine):
    """Answers every loglikelihood request with -1 and keeps the (context, continuation) pairs."""
    name = "recording"

    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    @property
    def build(self) -> str:
        return "recording"

    def generate(self, prompt, **kwargs):
        raise AssertionError("the loglikelihood scorer generated text")

    def loglikelihood(self, requests):
        self.requests += [tuple(r) for r in requests]
        return [LoglikelihoodResult(-1.0, False, 1) for _ in requests]


def _chain_requests(task, tmp_path) -> dict[str, list[tuple[str, str]]]:
    """What the standard chain (run_scorer, loglikelihood) sends the engine, per item."""
    per_item = {}
    cache = SampleCache(tmp_path / "samples.sqlite")
    for item in task.items:  # one item per call: the engine's log then belongs to that item
        engine = RecordingEngine()
        run_scorer(engine, type(task)(task.spec, [item], task.size, [], task.lmeval_version), "loglikelihood",
                   PROV, cache, log=lambda _: None)
        per_item[item.item_id] = engine.requests
    cache.close()
    return per_item


@pytest.mark.parametrize("name", MC_TASKS)
def test_the_loglikelihood_chain_sends_lm_evals_own_requests_string_for_string(name, tmp_path):
    from lm_eval import utils

    task = load_task(name, "demo", limit=3)
    assert "from_string" not in vars(utils.env)  # lm-eval's jinja environment is left as it was
    sent = _chain_requests(task, tmp_path)
    lm_task = task_manager().load([task.spec.lmeval_task])["tasks"][task.spec.lmeval_task]
    index = {item_id: i for i, (item_id, _) in enumerate(item_refs(task.spec)[0])}
    picked = sorted(index[it.item_id] for it in task.items)
    lm_task.build_all_requests(samples=picked)  # lm-eval's own request building
    theirs: dict[int, list] = {}
    for inst in lm_task.instances:  # doc_id: the position among the sampled documents
        theirs.setdefault(picked[inst.doc_id], []).append((inst.idx, tuple(inst.arguments), inst.doc))
    for item in task.items:
        built = sorted(theirs[index[item.item_id]], key=lambda t: t[0])
        assert sent[item.item_id] == [args for _, args, _ in built]
        doc = built[0][2]
        if "id" in doc:  # ARC names its documents: the same document, not just the same position
            assert doc["id"] == item.item_id
        assert item.gold == lm_task.doc_to_target(doc)


def test_a_prompt_changed_in_the_lm_eval_yaml_changes_the_chains_requests_and_the_task_version(
        tmp_path, data_copy):
    _, edit_yaml = data_copy
    shipped = load_task("arc_easy", "demo", limit=2)
    assert shipped.version == "1.0/qb_arc_easy@1.0"
    edit_yaml("qb_arc_easy", lambda cfg: cfg.update(
        {"doc_to_text": "Q: {{question}}\nA:", "target_delimiter": "  ", "metadata": {"version": 9.0}}))

    changed = load_task("arc_easy", "demo", limit=2)
    assert [it.item_id for it in changed.items] == [it.item_id for it in shipped.items]
    assert changed.version == "1.0/qb_arc_easy@9.0"  # samples cached under the old prompt are not reused
    sent = _chain_requests(changed, tmp_path)
    for item in changed.items:
        assert sent[item.item_id] == [(f"Q: {item.question}\nA:", "  " + c) for c in item.choices]


def test_tr125s_few_shot_examples_come_from_the_lm_eval_tasks_few_shot_split():
    def first_rows(path, n=5):
        with open(path) as f:
            return [json.loads(line) for line in f][:n]

    arc = fewshot_examples(load_task("arc_challenge", "demo", limit=1))[None]  # qb_arc_*: validation_split
    assert [ex.item_id for ex in arc] == [r["id"] for r in first_rows(
        paths.benchmarks_dir() / "arc" / "ARC-Challenge" / "validation.jsonl")]
    mmlu = load_task("mmlu", "demo", limit=2)
    shots = fewshot_examples(mmlu)  # qb_mmlu: fewshot_split dev, per subject
    for item in mmlu.items:
        dev = first_rows(paths.benchmarks_dir() / "mmlu" / "dev" / f"{item.group}.jsonl")
        assert [ex.question for ex in shots[item.group]] == [r["question"] for r in dev]
        assert item.description.startswith("The following are multiple choice questions (with answers) about ")


@pytest.mark.parametrize("subject", ["anatomy", "virology", "high_school_physics"])
def test_qb_mmlus_few_shot_prompts_are_lm_evals_own_mmlu_subject_tasks(subject):
    # lm-eval runs MMLU as one task per subject, so its first_n few-shot examples are the subject's own
    # first dev questions. qb_mmlu keeps the 57 subjects in one task and must give the same prompts
    # (before qb_utils.SubjectFewshotTask every item got abstract algebra's examples).
    from pathlib import Path

    import lm_eval
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    theirs_yaml = Path(lm_eval.__file__).parent / "tasks" / "mmlu" / "default" / f"mmlu_{subject}.yaml"
    cfg = load_yaml(theirs_yaml)  # lm-eval's own config (its include resolved), on the offline copy
    data = paths.benchmarks_dir() / "mmlu"
    cfg.pop("dataset_name")
    cfg.update(dataset_path="json", dataset_kwargs={"data_files": {
        "test": str(data / "test" / f"{subject}.jsonl"), "dev": str(data / "dev" / f"{subject}.jsonl")}})
    theirs = ConfigurableTask(config={k: v for k, v in cfg.items() if k not in ("tag", "task_alias")})
    ours = task_manager().load(["qb_mmlu"])["tasks"]["qb_mmlu"]
    docs = [d for d in ours.eval_docs if d["subject"] == subject][:3]
    for task in (ours, theirs):
        task.set_config(key="num_fewshot", value=5)
        task.set_fewshot_seed(seed=1234)
    their_docs = list(theirs.eval_docs)[:3]
    assert [d["question"] for d in their_docs] == [d["question"] for d in docs]
    for doc, their_doc in zip(docs, their_docs):
        prompt = ours.fewshot_context(doc, num_fewshot=5)
        assert prompt == theirs.fewshot_context(their_doc, num_fewshot=5)
        assert prompt.count("\nAnswer:") == 6  # five solved examples and the question
