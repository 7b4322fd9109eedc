"""Backend equivalence: the same GGUF through two engines (in process vs over HTTP), the same items,
greedy decoding. Does the serving path change what the model answers, or only how fast it answers?

Per item: both outputs, whether they are identical, the benchmark answer each implies (mc.extract_letter,
the same rule as scoring), timings. Across items: the share of identical outputs and answers (Wilson
intervals), paired tests per metric (Wilcoxon signed-rank for lengths and times, McNemar for
correctness) with Holm's correction over the family, and the HTTP overhead.

Choices, and why:
- Engines alternate which runs first on each item, so neither always gets the warm caches.
- Each engine renders its own chat prompt (chat_prompt), as it would in a real run; whether the
  two prompts were identical is recorded per item, so a renderer difference cannot pass for an
  engine difference.
- Overhead is measured on items with identical outputs only: the same tokens were generated, so
  the wall-time difference is the serving path and not a different amount of work. Token rates
  there use engine A's count for both sides (the in-process engine counts the EOS token, an
  OpenAI server does not: one convention for both).
- No test on completion_tokens for the same reason (a counting convention, not a behaviour);
  output length is compared in characters.
- No per-sample cache (lib/core/samples.py): the study measures both engines live, timings included;
  a stored output would compare an engine with its own past.
"""
from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engines.base import Engine, Generation
from ..scoring.mc import extract_letter, raw_letter
from ..core.progress import Progress
from ..analysis.stats import correct_pvalues, mcnemar_test, wilson_interval
from ..tasks.benchmarks import Task, mc_question_text

ALPHA = 0.05

# (metric, unit, test): the family that Holm's correction runs over.
METRICS = (
    ("output_chars", "characters", "wilcoxon"),
    ("raw_correct", "share", "mcnemar"),
    ("rescored_correct", "share", "mcnemar"),
    ("wall_ms", "ms", "wilcoxon"),
    ("ttft_ms", "ms", "wilcoxon"),
)


def _side(g: Generation, n_choices: int, gold: str) -> dict:
    raw = raw_letter(g.text, n_choices)
    letter = extract_letter(g.text, n_choices)
    stream_rate = None
    if g.ttft_ms is not None and g.completion_tokens > 1 and g.wall_ms > g.ttft_ms:
        stream_rate = (g.completion_tokens - 1) / ((g.wall_ms - g.ttft_ms) / 1000)
    return {
        "output": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens, "output_chars": len(g.text), "wall_ms": g.wall_ms,
        "ttft_ms": g.ttft_ms, "prompt_eval_ms": g.prompt_eval_ms, "eval_ms": g.eval_ms,
        "native_decode_tok_per_s": g.decode_tok_per_s,  # None where the engine reports no native timing
        "stream_decode_tok_per_s": stream_rate,
        "raw_letter": raw, "extracted_letter": letter,
        "raw_correct": raw == gold, "rescored_correct": letter == gold,
    }


def _first_difference(a: str, b: str) -> int | None:
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def run_paired(engine_a: Engine, engine_b: Engine, task: Task, *, max_tokens: int | None = None,
               log: Callable[[str], None] = print) -> list[dict]:
    """One row per item: both engines' outputs and timings side by side (columns *_a, *_b)."""
    max_tokens = max_tokens or task.spec.max_tokens
    progress = Progress(len(task.items), f"equivalence {engine_a.name} vs {engine_b.name} {task.name}", log)
    rows = []
    for i, item in enumerate(task.items):
        messages = [{"role": "user", "content": mc_question_text(item, task.spec)}]
        prompts = {"a": engine_a.chat_prompt(messages), "b": engine_b.chat_prompt(messages)}
        engines = {"a": engine_a, "b": engine_b}
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        gens = {s: engines[s].generate(prompts[s], max_tokens=max_tokens, temperature=0.0) for s in order}
        n = len(item.choices)
        sides = {s: _side(gens[s], n, item.gold_letter) for s in ("a", "b")}
        row = {
            "task": task.name, "task_version": task.version, "item_id": item.item_id, "gold": item.gold_letter,
            "n_choices": n, "max_tokens": max_tokens, "first_engine": engines[order[0]].name,
            "prompt_sha256": hashlib.sha256(prompts["a"].encode()).hexdigest(),
            "prompt_identical": prompts["a"] == prompts["b"],
            "identical_output": sides["a"]["output"] == sides["b"]["output"],
            "identical_answer": sides["a"]["extracted_letter"] == sides["b"]["extracted_letter"],
            "first_difference_char": _first_difference(sides["a"]["output"], sides["b"]["output"]),
        }
        for s in ("a", "b"):
            row.update({f"{k}_{s}": v for k, v in sides[s].items()})
        rows.append(row)
        progress.step()
    return rows


# ─── statistics ──────────────────────────────────────────────────────────────────────────────────


def _pairs(rows: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    kept = [(r[f"{metric}_a"], r[f"{metric}_b"]) for r in rows
            if r[f"{metric}_a"] is not None and r[f"{metric}_b"] is not None]
    a = np.asarray([float(x) for x, _ in kept])
    b = np.asarray([float(y) for _, y in kept])
    return a, b


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> dict:
    from scipy.stats import wilcoxon

    d = b - a
    nonzero = int(np.count_nonzero(d))
    out = {"test": "wilcoxon_signed_rank", "n_pairs": int(d.size), "n_differing": nonzero,
           "statistic": None, "p_value": None, "reason": None}
    if d.size == 0:
        out["reason"] = "no pairs"
    elif nonzero == 0:
        out["reason"] = "all paired differences are zero: nothing to test"
    else:
        # zero_method="wilcox": ties (identical values) carry no information about a shift and are dropped
        res = wilcoxon(d, zero_method="wilcox")
        out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def _mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    res = mcnemar_test(a.astype(int).tolist(), b.astype(int).tolist())
    return {"test": "mcnemar_exact" if res.exact else "mcnemar_chi2", "n_pairs": res.n,
            "n_differing": res.only_a_correct + res.only_b_correct, "statistic": res.statistic,
            "p_value": res.p_value, "reason": res.reason}


def _stat(fn, x: np.ndarray) -> float | None:
    return float(fn(x)) if x.size else None


def metric_tests(rows: list[dict]) -> list[dict]:
    """One row per metric: both arms' means and medians, the paired difference (b - a), the test,
    the raw p-value and Holm's adjusted p-value over the metrics that could be tested."""
    out = []
    for metric, unit, test in METRICS:
        a, b = _pairs(rows, metric)
        result = _wilcoxon(a, b) if test == "wilcoxon" else _mcnemar(a, b)
        out.append({
            "metric": metric, "unit": unit, **result,
            "mean_a": _stat(np.mean, a), "mean_b": _stat(np.mean, b),
            "median_a": _stat(np.median, a), "median_b": _stat(np.median, b),
            "mean_diff": _stat(np.mean, b - a), "median_diff": _stat(np.median, b - a),
        })
    adjusted = correct_pvalues([r["p_value"] for r in out], method="holm")
    for r, p in zip(out, adjusted):
        r["p_holm"] = p
        r["significant_holm"] = p is not None and p < ALPHA
    return out


def _median(values) -> float | None:
    kept = [v for v in values if v is not None]
    return float(statistics.median(kept)) if kept else None


def summarize_equivalence(rows: list[dict]) -> dict:
    """The study's headline figures (shares with 95% Wilson intervals; overhead on identical outputs)."""
    n = len(rows)
    identical = [r for r in rows if r["identical_output"]]
    out: dict = {"n_items": n, "n_identical_output": len(identical)}
    for key, count in (("identical_output", len(identical)),
                       ("identical_answer", sum(r["identical_answer"] for r in rows)),
                       ("prompt_identical", sum(r["prompt_identical"] for r in rows))):
        low, high = wilson_interval(count, n)
        out[f"{key}_share"] = count / n if n else None
        out[f"{key}_share_ci_low"], out[f"{key}_share_ci_high"] = low, high
    out["rescored_accuracy_a"] = sum(r["rescored_correct_a"] for r in rows) / n if n else None
    out["rescored_accuracy_b"] = sum(r["rescored_correct_b"] for r in rows) / n if n else None

    def rate(r, side):  # engine A's token count on both sides (module docstring)
        return r["completion_tokens_a"] / (r[f"wall_ms_{side}"] / 1000) if r[f"wall_ms_{side}"] > 0 else None

    out.update({
        "median_wall_ms_a": _median(r["wall_ms_a"] for r in identical),
        "median_wall_ms_b": _median(r["wall_ms_b"] for r in identical),
        "median_overhead_ms": _median(r["wall_ms_b"] - r["wall_ms_a"] for r in identical),
        "median_overhead_pct": _median(100 * (r["wall_ms_b"] / r["wall_ms_a"] - 1) for r in identical
                                       if r["wall_ms_a"] > 0),
        "median_ttft_overhead_ms": _median(r["ttft_ms_b"] - r["ttft_ms_a"] for r in identical
                                           if r["ttft_ms_a"] is not None and r["ttft_ms_b"] is not None),
        "native_decode_tok_per_s_a": _median(r["native_decode_tok_per_s_a"] for r in rows),
        "native_decode_tok_per_s_b": _median(r["native_decode_tok_per_s_b"] for r in rows),
        "wall_tok_per_s_a": _median(rate(r, "a") for r in identical),
        "wall_tok_per_s_b": _median(rate(r, "b") for r in identical),
        "stream_decode_tok_per_s_a": _median(r["stream_decode_tok_per_s_a"] for r in identical),
        "stream_decode_tok_per_s_b": _median(r["stream_decode_tok_per_s_b"] for r in identical),
    })
    return out


@dataclass
class EquivalenceStudy:
    items: list[dict]
    tests: list[dict]
    summary: dict


def run_study(engine_a: Engine, engine_b: Engine, task: Task, *, max_tokens: int | None = None,
              log: Callable[[str], None] = print) -> EquivalenceStudy:
    items = run_paired(engine_a, engine_b, task, max_tokens=max_tokens, log=log)
    return EquivalenceStudy(items, metric_tests(items), summarize_equivalence(items))


def comparison_name(engine_a: Engine, engine_b: Engine) -> str:
    return f"{engine_a.name}_vs_{engine_b.name}"
