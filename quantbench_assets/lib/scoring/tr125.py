"""Benchmark inference (stored outputs) and scoring (from stored outputs) for multiple-choice tasks.

Inference and scoring are separate on purpose: a new scoring rule re-reads stored outputs and never
re-runs the model. Every sample passes through the per-sample cache, so an interrupted run resumes.

The prompt depends on the model (`prompt_method`, stored with every row):
  chat_zero_shot          TR125's method: the lettered question in the model's chat template. Only for
                          models whose GGUF carries a chat template (instruct models).
  completion_few_shot_k5  for base models (no chat template): lm-eval's few-shot completion layout,
                          k solved examples "Question: ...\\nA. ...\\nAnswer: B" from the lm-eval task's
                          few-shot documents (MMLU: dev; ARC: validation), then the item, stopped at
                          the end of the answer line. A base model asked zero-shot restates the
                          question instead of answering it.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Callable

from ..core.cache import SampleCache, sample_key
from ..engines.chat import engine_has_chat_template
from ..engines.base import Engine
from ..scoring.mc import extract_letter, raw_letter, restatement
from ..core.samples import run_samples
from ..tasks.benchmarks import MCItem, Task, mc_question_text
from ..tasks.mc_docs import item_refs, load_mc_items

SCORER_GENERATE_RESCORE = "generate_rescore"
CHAT_ZERO_SHOT = "chat_zero_shot"
COMPLETION_ZERO_SHOT = "completion_zero_shot"
FEWSHOT_K = 5  # lm-eval's MMLU is 5-shot (its dev split holds exactly 5 per subject)
FEWSHOT_STOP = ["\n"]  # the answer is the rest of the "Answer:" line


def few_shot_method(k: int) -> str:
    return f"completion_few_shot_k{k}" if k else COMPLETION_ZERO_SHOT


def mc_prompt_method(has_chat_template: bool, k: int = FEWSHOT_K) -> str:
    """The generation prompt a model can follow: its chat template if it has one, else few-shot."""
    return CHAT_ZERO_SHOT if has_chat_template else few_shot_method(k)


# ─── few-shot examples ─────────────────────────────────────────────────────────────────────────


def fewshot_examples(task: Task, k: int = FEWSHOT_K) -> dict[str | None, list[MCItem]]:
    """Examples per item group (MMLU: per subject, as lm-eval; others: one list for every item, so
    the block is a shared prefix the engine evaluates once). The first k of the pool (lm-eval's
    first_n sampler for MMLU) of the lm-eval task's few-shot documents; a task without another split
    draws from its own data, never an item it evaluates."""
    refs, same_split = item_refs(task.spec, fewshot=True)
    evaluated = {it.item_id for it in task.items} if same_split else set()
    per_group = task.spec.format == "mmlu"
    chosen: dict[str | None, list[str]] = defaultdict(list)
    for item_id, group in refs:
        g = group if per_group else None
        if item_id not in evaluated and len(chosen[g]) < k:
            chosen[g].append(item_id)
    # only the chosen examples' prompts are rendered (HellaSwag's pool is its 10k evaluation docs)
    wanted = {i for item_ids in chosen.values() for i in item_ids}
    by_id = {it.item_id: it for it in load_mc_items(task.spec, fewshot=True, ids=wanted)}
    out: dict[str | None, list[MCItem]] = defaultdict(list)
    for g, item_ids in chosen.items():
        out[g] = [by_id[i] for i in item_ids]
    return out


def _plain_question(item: MCItem, task: Task) -> str:
    """The lettered question without the chat instruction ("Reply with the letter ...")."""
    return mc_question_text(item, task.spec.model_copy(update={"instruction": ""}))


def fewshot_prompt(item: MCItem, task: Task, shots: list[MCItem]) -> str:
    """lm-eval's layout: the task's description (MMLU's subject line), then solved examples and the
    item joined by a blank line."""
    blocks = [f"{_plain_question(ex, task)} {ex.gold_letter}" for ex in shots] + [_plain_question(item, task)]
    return item.description + "\n\n".join(blocks)


def _fit_shots(engine: Engine, item: MCItem, task: Task, shots: list[MCItem], max_tokens: int) -> list[MCItem]:
    """Drop examples from the front until the prompt fits the context (lm-eval truncates on the left)."""
    tokenize, n_ctx = getattr(engine, "tokenize", None), getattr(getattr(engine, "settings", None), "n_ctx", None)
    if tokenize is None or n_ctx is None:
        return shots
    while shots and len(tokenize(fewshot_prompt(item, task, shots))) + max_tokens > n_ctx:
        shots = shots[1:]
    return shots


# ─── inference ─────────────────────────────────────────────────────────────────────────────────


def run_mc_generation(engine: Engine, task: Task, provenance: dict, cache: SampleCache,
                      log: Callable[[str], None] = print, max_tokens: int | None = None,
                      has_chat_template: bool | None = None) -> list[dict]:
    """Greedy generation for each item. One row per item, outputs not yet scored.
    `has_chat_template`: from the GGUF (the manifest); None asks the engine."""
    max_tokens = max_tokens or task.spec.max_tokens
    if has_chat_template is None:
        has_chat_template = engine_has_chat_template(engine)
    # An engine that cannot say (a remote model without its GGUF) renders chat prompts as before.
    chat = has_chat_template is not False
    examples = {} if chat else fewshot_examples(task)

    def plan(item: MCItem) -> tuple[str, list[MCItem], dict]:
        if chat:
            # TR125's key, unchanged: samples cached before prompt_method existed stay valid
            return CHAT_ZERO_SHOT, [], {"temperature": 0.0, "max_tokens": max_tokens, "chat": True}
        shots = examples.get(item.group if task.spec.format == "mmlu" else None, [])
        method = few_shot_method(len(shots))
        return method, shots, {"temperature": 0.0, "max_tokens": max_tokens, "chat": False, "prompt_method": method,
                               "fewshot": [ex.item_id for ex in shots], "until": FEWSHOT_STOP}

    def key(item: MCItem) -> str:
        return sample_key(gguf=provenance["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                          scorer=SCORER_GENERATE_RESCORE, decoding=plan(item)[2], build=provenance["engine_build"])

    def infer(item: MCItem) -> dict:
        if chat:
            prompt = engine.chat_prompt([{"role": "user", "content": mc_question_text(item, task.spec)}])
            g = engine.generate(prompt, max_tokens=max_tokens, temperature=0.0)
            used = 0
        else:
            fitted = _fit_shots(engine, item, task, plan(item)[1], max_tokens)
            g = engine.generate(fewshot_prompt(item, task, fitted), max_tokens=max_tokens,
                                stop=FEWSHOT_STOP, temperature=0.0)
            used = len(fitted)
        return {
            "output": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens, "wall_ms": g.wall_ms, "ttft_ms": g.ttft_ms,
            "prompt_eval_ms": g.prompt_eval_ms, "eval_ms": g.eval_ms, "n_fewshot": used,
            "generated_at": datetime.now(timezone.utc).isoformat(),
        }

    def row(item: MCItem, k: str, cached: dict) -> dict:
        method, shots, _ = plan(item)
        return {
            **provenance, "task": task.name, "task_version": task.version, "task_size": task.size,
            "item_id": item.item_id, "item_group": item.group, "scorer": SCORER_GENERATE_RESCORE,
            "prompt_method": method, "n_choices": len(item.choices), "gold": item.gold_letter,
            "question": item.question, "sample_key": k, "n_fewshot": len(shots), **cached,
        }

    return run_samples(task.items, cache=cache, key=key, infer=infer, row=row,
                       label=f"{provenance['variant']} {task.name}", log=log)


# ─── scoring ───────────────────────────────────────────────────────────────────────────────────


def score_mc_generation(rows: list[dict]) -> list[dict]:
    """Raw (exact letter) and rescored (extracted letter) correctness for stored outputs. An output
    that restates the prompt is wrong with a `failure_reason`; no letter is read from it."""
    out = []
    for r in rows:
        n = int(r["n_choices"])
        text = r["output"] or ""
        why = restatement(text, r.get("question"))
        raw = raw_letter(text, n)
        rescored = None if why else extract_letter(text, n)
        if why is None and rescored is None:
            why = "empty output" if not text.strip() else "no answer letter found"
        out.append({
            "variant": r["variant"], "task": r["task"], "task_version": r["task_version"], "item_id": r["item_id"],
            "scorer": r["scorer"], "prompt_method": r.get("prompt_method"), "gold": r["gold"],
            "raw_letter": raw, "extracted_letter": rescored,
            "raw_correct": raw == r["gold"], "rescored_correct": rescored == r["gold"],
            "failure_reason": why, "chance_rate": 1.0 / n,
        })
    return out
