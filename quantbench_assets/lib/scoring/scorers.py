"""Scorers for the standard benchmarks, on top of the engine seam (lib/engines/llama.py).

  loglikelihood     lm-eval's `multiple_choice`: log p(delimiter + choice | context) for every
                    choice, the requests built by lm-eval's own task object from the task's lm-eval
                    YAML (lib/tasks/mc_docs.py). acc = argmax; acc_norm = argmax of ll / characters of the choice (lm-eval's
                    definition); acc_bytes = argmax of ll / UTF-8 bytes; TruthfulQA MC2 = the
                    normalized probability mass on the true answers.
  letter_logits     the lettered question (tasks.mc_question_text), one forward pass, and the next
                    token's log p(" A"), log p(" B"), ...: one pass per item instead of one per choice.
  generate_rescore  TR125's greedy generation and letter extraction (lib/scoring/tr125.py, reused as is).
  generate          greedy generation of lm-eval's generate_until request for the document (prompt
                    with its few-shot examples, `until`, max_gen_toks: lib/tasks/gen_docs.py): GSM8K
                    answers read "#### N" (strict) or the last number (flexible) with lm-eval's own
                    filters; IFEval with lm-eval's instruction checkers.

Inference (`run_scorer`, here) and scoring (`score_samples`, benchmark_scoring.py; summaries in
benchmark_summary.py) are separate: a stored sample holds the raw output (per-choice loglikelihoods,
or text) and is re-scored without a model.
Every sample passes through the SampleCache.

Every sample records its `prompt_method` (lib/scoring/tr125.py names them): loglikelihood (lm-eval's cloze
prompt, made for base models), completion_zero_shot (the lettered question as plain text:
letter_logits, and chat tasks on a model without a chat template), chat_zero_shot (the model's chat
template), completion_few_shot_k<n> (GSM8K; generate_rescore on a base model).

Shared prompt prefixes: every prompt is <shared prefix><item part> (few-shot block, instruction,
subject line), items run in order, and the engine keeps the KV cache of the longest common prefix, so
a shared block is evaluated once per run and each choice costs only its own tokens. `evaluated_tokens`
records what was actually evaluated.
"""
from __future__ import annotations

import json
import string
import time
from datetime import datetime, timezone
from typing import Callable, Sequence

from ..core.cache import SampleCache, sample_key
from ..engines.base import Engine
from ..scoring.tr125 import SCORER_GENERATE_RESCORE
from ..engines.chat import engine_has_chat_template
from ..scoring.tr125 import CHAT_ZERO_SHOT, COMPLETION_ZERO_SHOT, few_shot_method, run_mc_generation
from ..core.samples import run_samples
from ..tasks.benchmarks import LETTERS, SCORERS_BY_FORMAT, GenItem, MCItem, Task, TaskSpec, mc_question_text

SCORER_LOGLIKELIHOOD = "loglikelihood"
SCORER_LETTER = "letter_logits"
SCORER_GENERATE = "generate"
SCORERS = (SCORER_LOGLIKELIHOOD, SCORER_LETTER, SCORER_GENERATE_RESCORE, SCORER_GENERATE)
# Part of every cache key: bump when a scorer's inference changes, so old samples are not reused.
SCORER_REVISION = "1"


def label(i: int) -> str:
    """A choice's letter; TruthfulQA has up to 20 choices, more than the lettered formats' ten."""
    return string.ascii_uppercase[i]


# ─── prompts ──────────────────────────────────────────────────────────────────────────────────


def cloze_request(item: MCItem) -> tuple[str, list[str]]:
    """(context, continuations): the requests lm-eval's task object built for this document
    (lib/tasks/mc_docs.py), so the cloze prompt lives only in the lm-eval task YAML."""
    if not item.continuations:
        raise ValueError(f"item {item.item_id!r} carries no lm-eval cloze requests")
    return item.context, list(item.continuations)


def cloze_choice_strings(item: MCItem) -> list[str]:
    """The choice strings acc_norm divides by (lm-eval: doc_to_choice, without the target delimiter)."""
    return list(item.cloze_choices)


def letter_request(item: MCItem, spec: TaskSpec) -> tuple[str, list[str]]:
    return mc_question_text(item, spec), [f" {LETTERS[i]}" for i in range(len(item.choices))]


def generation_prompt(item: GenItem, task: Task, engine: Engine | None = None, chat: bool | None = None) -> str:
    """lm-eval's context for the document (its few-shot examples are the same for every item, so
    they form a prefix the engine evaluates once). `chat`: wrap it in the chat template (default:
    the task's setting; False for a model without a template)."""
    if not item.context:
        raise ValueError(f"item {item.item_id!r} carries no lm-eval generation request")
    text = item.context
    if task.spec.chat if chat is None else chat:
        if engine is None:
            raise ValueError(f"task {task.name!r} needs an engine to render its chat template")
        return engine.chat_prompt([{"role": "user", "content": text}])
    return text


# ─── inference ────────────────────────────────────────────────────────────────────────────────


def _evaluated_tokens(engine: Engine) -> int | None:
    """Tokens the engine evaluated for its last request; the rest came from its KV cache
    (engines without a local context, e.g. over HTTP, report None)."""
    n = getattr(engine, "last_evaluated_tokens", None)
    return None if n is None else int(n)


def _n_tokens(engine: Engine, text: str) -> int | None:
    tokenize = getattr(engine, "tokenize", None)
    return len(tokenize(text)) if tokenize else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _reference(item: MCItem | GenItem) -> dict:
    if isinstance(item, MCItem):
        return {"gold": item.gold, "labels": list(item.labels) if item.labels else None}
    if item.meta:  # IFEval: the checkers need the instructions and the prompt
        return {**item.meta, "prompt": item.question}
    return {"target": item.target}


def _gold(item: MCItem | GenItem) -> str:
    if isinstance(item, MCItem):
        if item.labels:
            return ",".join(label(i) for i, v in enumerate(item.labels) if v)
        return label(item.gold)
    if item.meta:
        return ",".join(item.meta["instruction_id_list"])
    return item.target.split("####")[-1].strip()


def _infer_loglikelihood(engine: Engine, item: MCItem) -> dict:
    context, continuations = cloze_request(item)
    t0 = time.perf_counter()
    # All choices in one call: the engine evaluates the shared context once for them
    results = engine.loglikelihood([(context, cont) for cont in continuations])
    lls = [r.logprob for r in results]
    n_tok = [r.n_tokens for r in results]
    greedy = [r.is_greedy for r in results]
    evaluated = _evaluated_tokens(engine)
    strings = cloze_choice_strings(item)
    return {
        "choice_loglikelihoods": json.dumps(lls), "choice_n_tokens": json.dumps(n_tok),
        "choice_is_greedy": json.dumps(greedy), "choice_chars": json.dumps([len(s) for s in strings]),
        "choice_bytes": json.dumps([len(s.encode("utf-8")) for s in strings]),
        "prompt_tokens": _n_tokens(engine, context), "completion_tokens": sum(n_tok),
        "evaluated_tokens": evaluated, "wall_ms": (time.perf_counter() - t0) * 1000, "generated_at": _now(),
        "context_tokens_dropped": _tokens_dropped(engine, context, continuations),
    }


def _tokens_dropped(engine: Engine, context: str = "", continuations: Sequence[str] = (),
                    prompt: str | None = None) -> int | None:
    """Tokens a prompt loses from its start to fit the engine's window: loglikelihood cuts the context
    (lm-eval's convention; the most any choice loses), letter logits keep the last n_ctx tokens of
    `prompt`. Stored with the sample, so a cached re-run needs no model. None where not measured: an
    engine that cannot say (HTTP), generation (a prompt that does not fit fails the item)."""
    try:
        if prompt is not None:
            return max(0, len(engine.tokenize(prompt)) - engine.settings.n_ctx)
        return max(engine.request_overflow(context, c) for c in continuations)
    except (NotImplementedError, AttributeError):  # the seam's default, or an engine without a window
        return None


def _infer_letters(engine: Engine, item: MCItem, spec: TaskSpec) -> dict:
    prompt, candidates = letter_request(item, spec)
    t0 = time.perf_counter()
    lps = engine.next_token_logprobs(prompt, candidates)
    return {
        "choice_loglikelihoods": json.dumps(lps), "choice_n_tokens": json.dumps([1] * len(lps)),
        "prompt_tokens": _n_tokens(engine, prompt), "completion_tokens": 0,
        "evaluated_tokens": _evaluated_tokens(engine), "wall_ms": (time.perf_counter() - t0) * 1000,
        "generated_at": _now(), "context_tokens_dropped": _tokens_dropped(engine, prompt=prompt),
    }


def _infer_generation(engine: Engine, item: GenItem, task: Task, max_tokens: int, chat: bool) -> dict:
    g = engine.generate(generation_prompt(item, task, engine, chat), max_tokens=max_tokens,
                        stop=list(item.until), temperature=0.0)
    return {
        "output": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
        "evaluated_tokens": g.prompt_tokens_evaluated, "completion_tokens": g.completion_tokens,
        "wall_ms": g.wall_ms, "ttft_ms": g.ttft_ms, "prompt_eval_ms": g.prompt_eval_ms, "eval_ms": g.eval_ms,
        "generated_at": _now(),
    }


def prompt_method(task: Task, scorer: str, has_chat_template: bool | None) -> str:
    """How `scorer` prompts a model on `task` (generate_rescore decides in lib/scoring/tr125.py)."""
    if scorer == SCORER_LOGLIKELIHOOD:
        return SCORER_LOGLIKELIHOOD
    if scorer == SCORER_LETTER:
        return COMPLETION_ZERO_SHOT
    if task.spec.chat and has_chat_template:
        return CHAT_ZERO_SHOT
    return few_shot_method(len(task.fewshot))


def run_scorer(engine: Engine, task: Task, scorer: str, provenance: dict, cache: SampleCache,
               log: Callable[[str], None] = print, max_tokens: int | None = None,
               has_chat_template: bool | None = None) -> list[dict]:
    """Inference for one task with one scorer: one row per item with the raw output, tokens, timings
    and provenance (not yet scored). `has_chat_template`: from the GGUF (the manifest); None asks
    the engine. A model without one never gets a chat prompt."""
    if scorer not in SCORERS_BY_FORMAT[task.spec.format]:
        raise ValueError(f"scorer {scorer!r} does not apply to task {task.name!r} ({task.spec.format})")
    if has_chat_template is None and scorer == SCORER_GENERATE:  # only generation renders chat prompts
        has_chat_template = engine_has_chat_template(engine) is not False
    common = {"task": task.name, "task_version": task.version, "task_size": task.size,
              "task_format": task.spec.format, "scorer": scorer}
    if scorer == SCORER_GENERATE_RESCORE:  # TR125's path, reused as is (and sharing its cache keys)
        rows = run_mc_generation(engine, task, provenance, cache, log, max_tokens, has_chat_template)
        by_id = {it.item_id: it for it in task.items}
        return [{**r, **common, "reference": json.dumps(_reference(by_id[r["item_id"]]))} for r in rows]
    max_tokens = max_tokens or task.spec.max_tokens
    method = prompt_method(task, scorer, has_chat_template)
    common |= {"prompt_method": method,
               "n_fewshot": len(task.fewshot) if method.startswith("completion_few_shot") else 0}
    decoding = {"revision": SCORER_REVISION, "n_ctx": provenance.get("n_ctx")}
    chat = scorer == SCORER_GENERATE and method == CHAT_ZERO_SHOT
    if scorer == SCORER_GENERATE:
        decoding |= {"temperature": 0.0, "max_tokens": max_tokens, "chat": chat,
                     "fewshot": [ex.item_id for ex in task.fewshot]}

    def key(item: MCItem | GenItem) -> str:
        until = {"until": list(item.until)} if scorer == SCORER_GENERATE else {}  # the request's own
        return sample_key(gguf=provenance["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                          scorer=scorer, decoding=decoding | until, build=provenance["engine_build"])

    def infer(item: MCItem | GenItem) -> dict:
        if scorer == SCORER_LOGLIKELIHOOD:
            return _infer_loglikelihood(engine, item)
        if scorer == SCORER_LETTER:
            return _infer_letters(engine, item, task.spec)
        return _infer_generation(engine, item, task, max_tokens, chat)

    def row(item: MCItem | GenItem, k: str, cached: dict) -> dict:
        return {
            **provenance, **common, "item_id": item.item_id, "item_group": item.group,
            "n_choices": len(item.choices) if isinstance(item, MCItem) else None,
            "gold": _gold(item), "reference": json.dumps(_reference(item)), "sample_key": k, **cached,
        }

    return run_samples(task.items, cache=cache, key=key, infer=infer, row=row,
                       label=f"{provenance['variant']} {task.name} {scorer}", log=log)
