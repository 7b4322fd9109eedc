"""Scorers for the standard benchmarks, on top of the engine seam (lib/engines/llama.py).

  loglikelihood     lm-eval's `multiple_choice`: log p(delimiter + choice | context) for every
                    choice. acc = argmax; acc_norm = argmax of ll / characters of the choice (lm-eval's
                    definition); acc_bytes = argmax of ll / UTF-8 bytes; TruthfulQA MC2 = the
                    normalized probability mass on the true answers.
  letter_logits     the lettered question (tasks.mc_question_text), one forward pass, and the next
                    token's log p(" A"), log p(" B"), ...: one pass per item instead of one per choice.
  generate_rescore  TR125's greedy generation and letter extraction (lib/scoring/tr125.py, reused as is).
  generate          greedy generation: GSM8K answers read "#### N" (strict) or the last number
                    (flexible) with lm-eval's own filters; IFEval with lm-eval's instruction checkers.

Inference (`run_scorer`) and scoring (`score_samples`) are separate, as in evaluate.py: a stored
sample holds the raw output (per-choice loglikelihoods, or text) and is re-scored without a model.
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
import os
import string
import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable

import numpy as np

from ..core import paths
from ..core.cache import SampleCache, sample_key
from ..engines.llama import Engine
from ..scoring.tr125 import SCORER_GENERATE as SCORER_GENERATE_RESCORE
from ..engines.chat import engine_has_chat_template
from ..scoring.tr125 import CHAT_ZERO_SHOT, COMPLETION_ZERO_SHOT, few_shot_method, run_mc_generation, score_mc_generation
from ..core.progress import Progress
from ..tasks.benchmarks import LETTERS, SCORERS_BY_FORMAT, GenItem, MCItem, Task, TaskSpec, mc_question_text

SCORER_LOGLIKELIHOOD = "loglikelihood"
SCORER_LETTER = "letter_logits"
SCORER_GENERATE = "generate"
SCORERS = (SCORER_LOGLIKELIHOOD, SCORER_LETTER, SCORER_GENERATE_RESCORE, SCORER_GENERATE)
# Part of every cache key: bump when a scorer's inference changes, so old samples are not reused.
SCORER_REVISION = "1"

# lm-eval's gsm8k.yaml (v3.0): the two answer filters and the exact_match normalisation.
GSM8K_STRICT = r"#### (\-?[0-9\.\,]+)"
GSM8K_FLEXIBLE = r"(-?[$0-9.,]{2,})|(-?[0-9]+)"
GSM8K_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]

# Columns a scorer may leave empty, with their types: tables keep one schema whichever tasks ran.
SAMPLE_COLUMNS: dict[str, type] = {
    "task_format": str, "item_group": str, "prompt_method": str, "n_fewshot": int, "question": str, "n_choices": int, "gold": str, "reference": str,
    "choice_loglikelihoods": str, "choice_n_tokens": str, "choice_is_greedy": str, "choice_chars": str,
    "choice_bytes": str, "output": str, "finish_reason": str, "prompt_tokens": int,
    "evaluated_tokens": int, "completion_tokens": int, "wall_ms": float, "ttft_ms": float,
    "prompt_eval_ms": float, "eval_ms": float, "generated_at": str,
}
SCORE_COLUMNS: dict[str, type] = {
    "variant": str, "task": str, "task_version": str, "task_size": str, "item_id": str, "scorer": str,
    "prompt_method": str, "failure_reason": str, "metric": str, "gold": str, "prediction": str, "prediction_norm": str, "correct": bool, "score": float,
    "chance_rate": float, "acc": bool, "acc_norm": bool, "acc_bytes": bool, "mc2": float,
    "raw_correct": bool, "rescored_correct": bool, "answer_strict": str, "answer_flexible": str,
    "exact_match_strict": bool, "exact_match_flexible": bool, "prompt_level_strict": bool,
    "prompt_level_loose": bool, "n_instructions": int, "inst_strict_followed": int,
    "inst_loose_followed": int,
}


def label(i: int) -> str:
    """A choice's letter; TruthfulQA has up to 20 choices, more than the lettered formats' ten."""
    return string.ascii_uppercase[i]


# ─── prompts ──────────────────────────────────────────────────────────────────────────────────


def cloze_request(item: MCItem, spec: TaskSpec) -> tuple[str, list[str]]:
    """(context, continuations) exactly as lm-eval builds them for this task's YAML."""
    c = spec.cloze_spec()
    fields = {
        "question": item.question, "question_stripped": item.question.strip(),
        "choices_lettered": "\n".join(f"{label(i)}. {ch}" for i, ch in enumerate(item.choices)),
        "subject": (item.group or "").replace("_", " "),
    }
    context = c.description.format(**fields) + c.template.format(**fields)
    choices = list(LETTERS[: len(item.choices)]) if c.choices == "letters" else list(item.choices)
    return context, [c.target_delimiter + ch for ch in choices]


def cloze_choice_strings(item: MCItem, spec: TaskSpec) -> list[str]:
    """The choice strings acc_norm divides by (lm-eval: without the target delimiter)."""
    return list(LETTERS[: len(item.choices)]) if spec.cloze_spec().choices == "letters" else list(item.choices)


def letter_request(item: MCItem, spec: TaskSpec) -> tuple[str, list[str]]:
    return mc_question_text(item, spec), [f" {LETTERS[i]}" for i in range(len(item.choices))]


def generation_prompt(item: GenItem, task: Task, engine: Engine | None = None, chat: bool | None = None) -> str:
    """lm-eval's few-shot layout: examples and the item joined by the delimiter. The examples are the
    same for every item, so they form a prefix the engine evaluates once. `chat`: wrap it in the
    chat template (default: the task's setting; False for a model without a template)."""
    g = task.spec.generation
    shots = [g.template.format(question=ex.question) + g.target_template.format(target=ex.target)
             for ex in task.fewshot]
    text = g.fewshot_delimiter.join(shots + [g.template.format(question=item.question)])
    if g.chat if chat is None else chat:
        if engine is None:
            raise ValueError(f"task {task.name!r} needs an engine to render its chat template")
        return engine.chat_prompt([{"role": "user", "content": text}])
    return text


# ─── inference ────────────────────────────────────────────────────────────────────────────────


def _evaluated_tokens(engine: Engine) -> int | None:
    """Tokens the engine evaluated for its last request; the rest came from its KV cache
    (engines without a local context, e.g. over HTTP, report None)."""
    llm, common = getattr(engine, "llm", None), getattr(engine, "last_reused_tokens", None)
    if llm is None or common is None:
        return None
    return int(llm.n_tokens) - int(common)


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


def _infer_loglikelihood(engine: Engine, item: MCItem, spec: TaskSpec) -> dict:
    context, continuations = cloze_request(item, spec)
    t0 = time.perf_counter()
    lls, n_tok, greedy, evaluated = [], [], [], 0
    for cont in continuations:  # one request at a time: the context stays cached between choices
        (r,) = engine.loglikelihood([(context, cont)])
        lls.append(r.logprob)
        n_tok.append(r.n_tokens)
        greedy.append(r.is_greedy)
        e = _evaluated_tokens(engine)
        evaluated = None if e is None or evaluated is None else evaluated + e
    strings = cloze_choice_strings(item, spec)
    return {
        "choice_loglikelihoods": json.dumps(lls), "choice_n_tokens": json.dumps(n_tok),
        "choice_is_greedy": json.dumps(greedy), "choice_chars": json.dumps([len(s) for s in strings]),
        "choice_bytes": json.dumps([len(s.encode("utf-8")) for s in strings]),
        "prompt_tokens": _n_tokens(engine, context), "completion_tokens": sum(n_tok),
        "evaluated_tokens": evaluated, "wall_ms": (time.perf_counter() - t0) * 1000, "generated_at": _now(),
    }


def _infer_letters(engine: Engine, item: MCItem, spec: TaskSpec) -> dict:
    prompt, candidates = letter_request(item, spec)
    t0 = time.perf_counter()
    lps = engine.next_token_logprobs(prompt, candidates)
    return {
        "choice_loglikelihoods": json.dumps(lps), "choice_n_tokens": json.dumps([1] * len(lps)),
        "prompt_tokens": _n_tokens(engine, prompt), "completion_tokens": 0,
        "evaluated_tokens": _evaluated_tokens(engine), "wall_ms": (time.perf_counter() - t0) * 1000,
        "generated_at": _now(),
    }


def _infer_generation(engine: Engine, item: GenItem, task: Task, max_tokens: int, chat: bool) -> dict:
    g = engine.generate(generation_prompt(item, task, engine, chat), max_tokens=max_tokens,
                        stop=task.spec.generation.until, temperature=0.0)
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
    if task.spec.generation.chat and has_chat_template:
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
                     "until": task.spec.generation.until, "fewshot": [ex.item_id for ex in task.fewshot]}
    progress = Progress(len(task.items), f"{provenance['variant']} {task.name} {scorer}", log)
    rows = []
    for item in task.items:
        key = sample_key(gguf=provenance["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                         scorer=scorer, decoding=decoding, build=provenance["engine_build"])
        cached = cache.get(key)
        if cached is None:
            if scorer == SCORER_LOGLIKELIHOOD:
                cached = _infer_loglikelihood(engine, item, task.spec)
            elif scorer == SCORER_LETTER:
                cached = _infer_letters(engine, item, task.spec)
            else:
                cached = _infer_generation(engine, item, task, max_tokens, chat)
            cache.put(key, cached)
        rows.append({
            **provenance, **common, "item_id": item.item_id, "item_group": item.group,
            "n_choices": len(item.choices) if isinstance(item, MCItem) else None,
            "gold": _gold(item), "reference": json.dumps(_reference(item)), "sample_key": key, **cached,
        })
        progress.step()
    return rows


# ─── scoring (from stored samples) ────────────────────────────────────────────────────────────


def mc_metrics(lls: list[float], gold: int, choice_chars: list[int], choice_bytes: list[int],
               labels: list[int] | None = None) -> dict:
    """lm-eval's multiple_choice metrics from per-choice loglikelihoods (api/task.py process_results)."""
    ll = np.asarray(lls, dtype=float)
    pred = int(np.argmax(ll))
    pred_norm = int(np.argmax(ll / np.asarray(choice_chars, dtype=float)))
    pred_bytes = int(np.argmax(ll / np.asarray(choice_bytes, dtype=float)))
    true = {i for i, v in enumerate(labels) if v} if labels else {gold}
    out = {"prediction": label(pred), "prediction_norm": label(pred_norm), "acc": pred in true,
           "acc_norm": pred_norm in true, "acc_bytes": pred_bytes in true}
    if labels:
        out["mc2"] = mc2_score(lls, labels)
    return out


def mc2_score(lls: list[float], labels: list[int]) -> float:
    """TruthfulQA MC2: probability mass on the true answers, normalized over all answers
    (lm-eval's process_results_mc2; a stable softmax instead of exp(ll) / sum, same value)."""
    ll = np.asarray(lls, dtype=float)
    p = np.exp(ll - ll.max())
    p /= p.sum()
    return float(p[np.asarray(labels) == 1].sum())


def gsm8k_answers(text: str) -> tuple[str, str]:
    """(strict, flexible) answers with lm-eval's RegexFilter: "#### N", else the last number."""
    from lm_eval.filters.extraction import RegexFilter

    strict = RegexFilter(GSM8K_STRICT, group_select=0).apply([[text]], [None])[0][0]
    flexible = RegexFilter(GSM8K_FLEXIBLE, group_select=-1).apply([[text]], [None])[0][0]
    return strict, flexible


def gsm8k_match(answer: str, target: str) -> bool:
    """lm-eval's exact_match for gsm8k: commas, '$', the worked solution up to '#### ' and a final
    period are ignored on both sides, case-insensitively."""
    from lm_eval.api.metrics import exact_match_hf_evaluate

    r = exact_match_hf_evaluate([answer], [target], regexes_to_ignore=GSM8K_IGNORE, ignore_case=True)
    return bool(r["exact_match"] == 1.0)


@lru_cache(maxsize=1)
def _ifeval():
    """lm-eval's IFEval checkers. Its import calls nltk.download unless punkt_tab is found: point NLTK
    at the shipped copy first (NLTK reads NLTK_DATA when it is imported, so set its path too)."""
    nltk_dir = str(paths.benchmarks_dir() / "nltk_data")
    os.environ.setdefault("NLTK_DATA", nltk_dir)
    import nltk

    if nltk_dir not in nltk.data.path:
        nltk.data.path.insert(0, nltk_dir)
    from lm_eval.tasks.ifeval import utils

    return utils


def ifeval_check(reference: dict, response: str) -> dict:
    """lm-eval's process_results: strict and loose, prompt level (all followed) and per instruction."""
    doc = {"key": reference.get("key"), "instruction_id_list": reference["instruction_id_list"],
           "prompt": reference["prompt"], "kwargs": reference["kwargs"]}
    return _ifeval().process_results(doc, [response])


def _score_row(r: dict) -> dict:
    ref = json.loads(r["reference"])
    out = {k: r.get(k) for k in ("variant", "task", "task_version", "task_size", "item_id", "scorer", "prompt_method",
                                 "gold")}
    scorer, fmt = r["scorer"], r["task_format"]
    if scorer in (SCORER_LOGLIKELIHOOD, SCORER_LETTER):
        lls = json.loads(r["choice_loglikelihoods"])
        k = len(lls)
        if scorer == SCORER_LETTER:  # one token per letter: no length normalisation
            pred = int(np.argmax(lls))
            m = {"prediction": label(pred), "acc": pred == ref["gold"]}
        else:
            m = mc_metrics(lls, ref["gold"], json.loads(r["choice_chars"]), json.loads(r["choice_bytes"]),
                           ref.get("labels"))
        labels = ref.get("labels") if scorer == SCORER_LOGLIKELIHOOD else None
        chance = sum(labels) / k if labels else 1.0 / k
        if "mc2" in m:
            out |= m | {"metric": "mc2", "correct": m["acc"], "score": m["mc2"], "chance_rate": chance}
        else:
            out |= m | {"metric": "acc", "correct": m["acc"], "score": float(m["acc"]), "chance_rate": chance}
    elif scorer == SCORER_GENERATE and fmt == "gsm8k":
        strict, flexible = gsm8k_answers(r["output"] or "")
        em_strict, em_flex = gsm8k_match(strict, ref["target"]), gsm8k_match(flexible, ref["target"])
        out |= {"metric": "exact_match_strict", "prediction": strict, "prediction_norm": flexible,
                "answer_strict": strict, "answer_flexible": flexible, "exact_match_strict": em_strict,
                "exact_match_flexible": em_flex, "correct": em_strict, "score": float(em_strict), "chance_rate": 0.0}
    elif scorer == SCORER_GENERATE and fmt == "ifeval":
        res = ifeval_check(ref, r["output"] or "")
        strict, loose = res["inst_level_strict_acc"], res["inst_level_loose_acc"]
        out |= {"metric": "prompt_level_strict_acc", "prediction": ",".join(str(int(v)) for v in strict),
                "prompt_level_strict": bool(res["prompt_level_strict_acc"]),
                "prompt_level_loose": bool(res["prompt_level_loose_acc"]), "n_instructions": len(strict),
                "inst_strict_followed": int(sum(strict)), "inst_loose_followed": int(sum(loose)),
                "correct": bool(res["prompt_level_strict_acc"]), "score": float(res["prompt_level_strict_acc"]),
                "chance_rate": 0.0}
    else:
        raise ValueError(f"no scoring rule for scorer {scorer!r} on format {fmt!r}")
    return out


def score_samples(rows: list[dict]) -> list[dict]:
    """One score row per stored sample: prediction, gold, the task's metrics, and the primary metric
    as `correct` (0/1, for Wilson intervals) and `score` (its value: MC2's mass is not 0/1)."""
    rescore = [r for r in rows if r["scorer"] == SCORER_GENERATE_RESCORE]
    out = [_score_row(r) for r in rows if r["scorer"] != SCORER_GENERATE_RESCORE]
    sizes = {(r["task"], r["item_id"]): r.get("task_size") for r in rescore}
    for s in score_mc_generation(rescore):
        out.append({**s, "task_size": sizes[(s["task"], s["item_id"])], "metric": "rescored_accuracy",
                    "prediction": s["extracted_letter"], "correct": s["rescored_correct"],
                    "score": float(s["rescored_correct"])})
    return [{k: r.get(k) for k in SCORE_COLUMNS} for r in out]


# ─── summaries ────────────────────────────────────────────────────────────────────────────────

# metric -> (column of successes or values, column of trials or None for one per item, binary?)
METRICS: dict[str, tuple[str, str | None, bool]] = {
    "acc": ("acc", None, True), "acc_norm": ("acc_norm", None, True), "acc_bytes": ("acc_bytes", None, True),
    "mc2": ("mc2", None, False), "raw_accuracy": ("raw_correct", None, True),
    "rescored_accuracy": ("rescored_correct", None, True),
    "exact_match_strict": ("exact_match_strict", None, True),
    "exact_match_flexible": ("exact_match_flexible", None, True),
    "prompt_level_strict_acc": ("prompt_level_strict", None, True),
    "prompt_level_loose_acc": ("prompt_level_loose", None, True),
    "inst_level_strict_acc": ("inst_strict_followed", "n_instructions", True),
    "inst_level_loose_acc": ("inst_loose_followed", "n_instructions", True),
}


def _stats():
    """lib.stats imports statsmodels (~1.5 s): loaded on first use, not when Dagster loads the assets."""
    from ..analysis import stats

    return stats


def at_chance(successes: int, n: int, chance: float) -> bool:
    """True when chance lies inside the 95% Wilson interval: the score cannot be told from guessing."""
    low, high = _stats().wilson_interval(successes, n)
    return low is not None and low <= chance <= high


def chance_check(scores: list[dict]) -> list[dict]:
    """Per task and scorer: the primary 0/1 outcome (`correct`; for MC2 whether the top choice is a
    true one), its 95% Wilson interval, the mean chance rate, and whether chance lies inside."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in scores:
        groups.setdefault((s["task"], s["scorer"]), []).append(s)
    out = []
    for (task, scorer), rows in sorted(groups.items()):
        n, succ = len(rows), int(sum(bool(r["correct"]) for r in rows))
        chance = float(np.mean([r["chance_rate"] for r in rows]))
        low, high = _stats().wilson_interval(succ, n)
        out.append({"task": task, "scorer": scorer, "n": n, "successes": succ, "accuracy": succ / n,
                    "ci_low": low, "ci_high": high, "chance_rate": chance, "at_chance": at_chance(succ, n, chance)})
    return out


def summarize(scores: list[dict]) -> list[dict]:
    """One row per task, scorer and metric: n, value, 95% interval (Wilson for 0/1 outcomes, t for
    MC2's mass), chance rate and whether the score is indistinguishable from chance."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in scores:
        groups.setdefault((s["task"], s["scorer"]), []).append(s)
    out = []
    for (task, scorer), rows in sorted(groups.items()):
        primary = rows[0]["metric"]
        chance = float(np.mean([r["chance_rate"] for r in rows]))
        for metric, (col, trials, binary) in METRICS.items():
            vals = [r.get(col) for r in rows]
            if any(v is None for v in vals):
                continue
            if binary:
                succ = int(sum(int(v) for v in vals))
                n = int(sum(r[trials] for r in rows)) if trials else len(rows)
                low, high = _stats().wilson_interval(succ, n)
                value, flag = succ / n, at_chance(succ, n, chance)
            else:
                iv = _stats().t_interval(vals)
                n, succ, value, low, high = len(vals), None, iv.estimate, iv.low, iv.high
                flag = low is not None and low <= chance <= high
            out.append({"task": task, "scorer": scorer, "metric": metric, "primary": metric == primary,
                        "n": n, "successes": succ, "value": value, "ci_low": low, "ci_high": high,
                        "interval": "wilson" if binary else "t", "chance_rate": chance, "at_chance": flag})
    return out
