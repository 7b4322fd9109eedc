"""Scoring stored benchmark samples without a model: lm-eval's multiple-choice metrics (acc, acc_norm,
acc_bytes, TruthfulQA MC2), GSM8K's strict and flexible answers, IFEval's instruction checkers, and
TR125's rescoring for `generate_rescore` samples. One score row per sample (`SCORE_COLUMNS`)."""
from __future__ import annotations

import json
import os
from functools import lru_cache

import numpy as np

from ..core import paths
from .scorers import SCORER_GENERATE, SCORER_LETTER, SCORER_LOGLIKELIHOOD, label
from .tr125 import SCORER_GENERATE_RESCORE, score_mc_generation


# One schema for every score row, whichever tasks ran (columns a scorer leaves empty included).
SCORE_COLUMNS: dict[str, type] = {
    "variant": str, "task": str, "task_version": str, "task_size": str, "item_id": str, "scorer": str,
    "prompt_method": str, "failure_reason": str, "metric": str, "gold": str, "prediction": str, "prediction_norm": str, "correct": bool, "score": float,
    "chance_rate": float, "acc": bool, "acc_norm": bool, "acc_bytes": bool, "mc2": float,
    "raw_correct": bool, "rescored_correct": bool, "answer_strict": str, "answer_flexible": str,
    "exact_match_strict": bool, "exact_match_flexible": bool, "prompt_level_strict": bool,
    "prompt_level_loose": bool, "n_instructions": int, "inst_strict_followed": int,
    "inst_loose_followed": int,
}


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


def gsm8k_rules() -> dict:
    """GSM8K's answer filters and exact_match normalisation, read from its lm-eval task YAML
    (data/lm_eval_tasks/qb_gsm8k.yaml): the task file is the one place they are written."""
    from ..tasks.lmeval import lm_eval_tasks_dir

    path = lm_eval_tasks_dir() / "qb_gsm8k.yaml"
    return _gsm8k_rules(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _gsm8k_rules(path: str, _mtime_ns: int) -> dict:
    from pathlib import Path

    from ..tasks.lmeval import task_config

    cfg = task_config(Path(path))
    filters = {f["name"]: f["filter"][0] for f in cfg["filter_list"]}
    metric = next(m for m in cfg["metric_list"] if m["metric"] == "exact_match")
    return {name: (f["regex_pattern"], int(f.get("group_select", 0))) for name, f in filters.items()} | {
        "ignore": list(metric.get("regexes_to_ignore") or []), "ignore_case": bool(metric.get("ignore_case"))}


def gsm8k_answers(text: str) -> tuple[str, str]:
    """(strict, flexible) answers with lm-eval's RegexFilter: "#### N", else the last number."""
    from lm_eval.filters.extraction import RegexFilter

    rules = gsm8k_rules()
    (strict, s_group), (flexible, f_group) = rules["strict-match"], rules["flexible-extract"]
    return (RegexFilter(strict, group_select=s_group).apply([[text]], [None])[0][0],
            RegexFilter(flexible, group_select=f_group).apply([[text]], [None])[0][0])


def gsm8k_match(answer: str, target: str) -> bool:
    """lm-eval's exact_match for gsm8k: commas, '$', the worked solution up to '#### ' and a final
    period are ignored on both sides, case-insensitively (as the task YAML says)."""
    from lm_eval.api.metrics import exact_match_hf_evaluate

    rules = gsm8k_rules()
    r = exact_match_hf_evaluate([answer], [target], regexes_to_ignore=rules["ignore"], ignore_case=rules["ignore_case"])
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
