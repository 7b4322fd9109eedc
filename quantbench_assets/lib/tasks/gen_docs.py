"""Generation items (GSM8K, IFEval) from lm-eval's own task objects. A generation task
(`data/tasks/<name>.yaml` with `lmeval_task: qb_<name>`) reads its documents, each document's request
(lm-eval's `fewshot_context` + `construct_requests`: the prompt with its few-shot examples, and the
YAML's generation_kwargs: `until`, `max_gen_toks`) and its reference (doc_to_target; IFEval: the
document's instructions) from the lm-eval task YAML in data/lm_eval_tasks, so the generate scorer
sends exactly the request lm-eval would for that document.

Few-shot examples: lm-eval's sampler, seeded with the task's seed before every document, so every
document gets the same examples (a prompt prefix the engine evaluates once); lm-eval itself seeds once
per run and so draws other examples for every document after the first."""
from __future__ import annotations

import json

from .benchmarks import GenItem, TaskError, TaskSpec, subset_path
from .mc_docs import doc_item_ids, docs_where, lmeval_task, split_docs, templates_kept

# The document field holding the question (GSM8K) or the instruction prompt (IFEval).
QUESTION_FIELD = {"gsm8k": "question", "ifeval": "prompt"}
FEWSHOT = "fewshot"  # subsets/<task>__fewshot.txt: the few-shot examples' ids, checked on load


def _request(task, spec: TaskSpec, doc: dict, doc_id: int, num_fewshot: int) -> tuple[str, dict]:
    """lm-eval's (context, generation_kwargs) for the document."""
    if num_fewshot:  # the same seed for every document: the same examples (see the module doc)
        task.set_fewshot_seed(seed=spec.seed)
    context = task.fewshot_context(doc, num_fewshot=num_fewshot, gen_prefix=task.doc_to_prefix(doc))
    request = task.construct_requests(doc=doc, ctx=context, metadata=(spec.lmeval_task, doc_id, 1))
    (request,) = request if isinstance(request, list) else [request]
    context, kwargs = request.arguments[:2]
    return context, dict(kwargs or {})


def _gen_item(task, spec: TaskSpec, doc: dict, item_id: str, doc_id: int, num_fewshot: int) -> GenItem:
    from .lmeval import DEFAULT_MAX_GEN_TOKENS

    context, kwargs = _request(task, spec, doc, doc_id, num_fewshot)
    if kwargs.get("do_sample"):
        raise ValueError("generation_kwargs ask for sampling; the generate scorer decodes greedily")
    until = kwargs.get("until") or []
    until = (until,) if isinstance(until, str) else tuple(until)
    max_gen_toks = int(kwargs.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKENS)  # absent: lm-eval's LM default
    question = doc[QUESTION_FIELD[spec.format]]
    if spec.format == "gsm8k":
        target = str(task.doc_to_target(doc))
        if "####" not in target:
            raise ValueError("answer has no '#### N' line")
        return GenItem(item_id, question, target, None, {}, context, until, max_gen_toks)
    ids, inst_kwargs = list(doc["instruction_id_list"]), list(doc["kwargs"])
    if len(ids) != len(inst_kwargs) or not ids:
        raise ValueError(f"{len(ids)} instruction ids and {len(inst_kwargs)} kwargs")
    meta = {"key": doc["key"], "instruction_id_list": ids, "kwargs": inst_kwargs}  # what the checkers read
    return GenItem(item_id, question, "", None, meta, context, until, max_gen_toks)


def _count(task, num_fewshot: int | None) -> int:
    """The number of few-shot examples: `num_fewshot`, else the lm-eval task's own."""
    return (task.get_config("num_fewshot") or 0) if num_fewshot is None else num_fewshot


def fewshot_items(spec: TaskSpec, num_fewshot: int | None = None) -> list[GenItem]:
    """The examples every document's prompt shows, in order: those lm-eval's sampler draws with the
    task's seed, identified in the few-shot split. A stored id list (subsets/<task>__fewshot.txt)
    must name the task's own examples: a sampler changed in another lm-eval release fails here."""
    task = lmeval_task(spec)
    stored_count = _count(task, None)
    num_fewshot = _count(task, num_fewshot)
    if not num_fewshot:
        return []
    docs, split, same = split_docs(task, fewshot=True)
    if same:  # lm-eval then leaves out the evaluated document: the examples differ per document
        raise TaskError(f"task {spec.name!r}: generation tasks take few-shot examples from a split other "
                        f"than the evaluated one (lm-eval task {spec.lmeval_task!r} uses {split!r} for both)")
    task.set_fewshot_seed(seed=spec.seed)
    drawn = task.sampler.sample(n=num_fewshot)
    position = {}
    for i, doc in enumerate(docs):
        position.setdefault(json.dumps(doc, sort_keys=True, default=str), i)
    ids = doc_item_ids(spec, docs, split)
    shots = []
    for doc in drawn:
        i = position[json.dumps(doc, sort_keys=True, default=str)]
        shots.append(GenItem(ids[i], doc[QUESTION_FIELD[spec.format]], str(task.doc_to_target(doc))))
    stored = subset_path(spec, FEWSHOT)
    if stored.exists() and num_fewshot == stored_count:
        want = [line.strip() for line in stored.read_text().splitlines() if line.strip()]
        if want != [s.item_id for s in shots]:
            raise TaskError(f"{stored}: lists {want}, but lm-eval's sampler (seed {spec.seed}) draws "
                            f"{[s.item_id for s in shots]}")
    return shots


def load_gen_items(spec: TaskSpec, ids: set[str] | None = None,
                   num_fewshot: int | None = None) -> list[GenItem]:
    """The items of the evaluation documents (`ids`: only these). `num_fewshot`: instead of the lm-eval
    task's own number of examples (smoke runs: a shorter prompt)."""
    task = lmeval_task(spec)
    n = _count(task, num_fewshot)
    docs, split, _ = split_docs(task, fewshot=False)
    items = []
    with templates_kept():
        for i, item_id in enumerate(doc_item_ids(spec, docs, split)):
            if ids is not None and item_id not in ids:
                continue
            try:
                items.append(_gen_item(task, spec, docs[i], item_id, i, n))
            except Exception as e:  # noqa: BLE001 - jinja, KeyError, ValueError ...: the row is malformed
                raise TaskError(f"{docs_where(task, spec, split)}: row {i + 1} is malformed "
                                f"({type(e).__name__}: {e})") from None
    return items
