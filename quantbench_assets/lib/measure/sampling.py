"""Sampling variance and determinism (TR124 Phase 3).

Determinism: every greedy comparison in quantbench assumes that the same prompt on the same rung
gives the same output. determinism_runs() repeats greedy generation R times at each thread count
(a fresh engine per thread count); summarize_determinism() reports the share of outputs byte-identical
to the reference (first repetition at the first thread count) and flags a rung that is not deterministic.

Sampling variance: at temperature T (0.7), each prompt is repeated N times with seeds seed_base + r.
sampling_metrics() scores every repetition with the per-item generation metrics (the embedding
metrics BERTScore/SemScore are left out: they need the metric models and add no sampling insight
that ROUGE/length do not), plus output length. variance_by_rung() gives per rung x task x metric the
mean coefficient of variation over items and the repetitions needed for a stated relative precision;
variance_across_rungs() gives within-item (between-repetition) vs between-rung variance and
Levene's test (Brown-Forsythe, median centre) of equal spread between rungs on the residuals from each
rung-item mean, so item difficulty does not pass for sampling spread.

Neither goes through the per-sample cache (lib/core/samples.py): repeating the same request is the
measurement, so every repetition must reach the engine.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timezone
from typing import Callable, Iterable

import numpy as np

from ..tasks.generation import GenTaskItem, GenTask
from ..analysis.stats import coefficient_of_variation, levene_test

Z95 = 1.959963984540054
EMBEDDING_FAMILIES = {"bertscore", "semscore"}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


# ------------------------------------------------------------------------------------ determinism
def determinism_runs(open_engine: Callable[[int | None], object], items: list[GenTaskItem], *, reps: int,
                     thread_counts: list[int | None], max_tokens: int, provenance: dict | Callable[[object], dict],
                     log: Callable[[str], None] = print) -> list[dict]:
    """Greedy outputs, `reps` per item per thread count. open_engine(n_threads) returns a context-managed
    Engine (None: the engine's own setting, for engines whose threads are not ours); provenance is a
    dict or a function of the open engine."""
    rows = []
    for threads in thread_counts:
        with open_engine(threads) as eng:
            settings = eng.settings.as_dict() if hasattr(eng, "settings") else {}
            prov = provenance(eng) if callable(provenance) else provenance
            for item in items:
                prompt = eng.chat_prompt(item.prompt)
                for rep in range(reps):
                    g = eng.generate(prompt, max_tokens=max_tokens, temperature=0.0)
                    rows.append({**prov, "task": item.task, "item_id": item.id, "n_threads": settings.get(
                        "n_threads", threads), "rep": rep, "temperature": 0.0, "max_tokens": max_tokens,
                        "output": g.text, "output_sha256": sha256_text(g.text), "completion_tokens": g.completion_tokens,
                        "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
                        "prompt_tokens_evaluated": g.prompt_tokens_evaluated, "generated_at": _now()})
            log(f"{prov.get('variant')}: determinism at n_threads={settings.get('n_threads', threads)} done")
    return rows


def _cause(rs: list[dict]) -> str:
    """Why one prompt's greedy outputs differ: 'prefix_cache_reuse' when outputs are constant within each
    count of prompt tokens actually evaluated (a cached prefix changes the batch shapes, hence the sums)
    and differ between counts; 'thread_count' when constant within each thread count; else 'run_to_run'."""
    def constant_within(key) -> bool:
        groups: dict = defaultdict(set)
        for r in rs:
            groups[key(r)].add(r["output_sha256"])
        return len(groups) > 1 and all(len(g) == 1 for g in groups.values())

    if any(r.get("prompt_tokens_evaluated") is not None for r in rs) and constant_within(
            lambda r: r.get("prompt_tokens_evaluated")):
        return "prefix_cache_reuse"
    if constant_within(lambda r: r["n_threads"]):
        return "thread_count"
    return "run_to_run"


def summarize_determinism(rows: list[dict]) -> list[dict]:
    """Per variant x item: outputs, distinct outputs, share byte-identical to the reference (first
    repetition at the first thread count), whether each thread count agreed with itself and with the
    reference. The variant-level verdict is the row with item_id '*'."""
    by_item: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        by_item[(r["variant"], r["task"], r["item_id"])].append(r)
    out = []
    per_variant: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (variant, task, item_id), rs in sorted(by_item.items()):
        rs = sorted(rs, key=lambda r: (r["n_threads"] if r["n_threads"] is not None else -1, r["rep"]))
        ref = rs[0]["output_sha256"]
        same = sum(r["output_sha256"] == ref for r in rs)
        threads = sorted({r["n_threads"] for r in rs}, key=lambda t: -1 if t is None else t)
        within = all(len({r["output_sha256"] for r in rs if r["n_threads"] == t}) == 1 for t in threads)
        per_variant[variant][0] += same
        per_variant[variant][1] += len(rs)
        cause = None
        if same != len(rs):
            cause = _cause(rs)
        out.append({"variant": variant, "task": task, "item_id": item_id, "n_outputs": len(rs),
                    "likely_cause": cause,
                    "n_distinct": len({r["output_sha256"] for r in rs}), "n_identical_to_reference": same,
                    "share_identical": same / len(rs), "identical_within_thread_count": within,
                    "identical_across_thread_counts": same == len(rs),
                    "thread_counts": ",".join("engine" if t is None else str(t) for t in threads),
                    "reps_per_thread_count": max(r["rep"] for r in rs) + 1})
    for variant, (same, total) in sorted(per_variant.items()):
        items = [r for r in out if r["variant"] == variant]
        causes = sorted({r["likely_cause"] for r in items if r["likely_cause"]})
        deterministic = same == total
        bad = [r["item_id"] for r in items if not r["identical_across_thread_counts"]]
        out.append({"variant": variant, "task": "*", "item_id": "*", "n_outputs": total,
                    "n_distinct": None, "n_identical_to_reference": same, "share_identical": same / total,
                    "identical_within_thread_count": all(r["identical_within_thread_count"] for r in items),
                    "identical_across_thread_counts": deterministic,
                    "thread_counts": items[0]["thread_counts"], "reps_per_thread_count": items[0]["reps_per_thread_count"],
                    "flag_not_deterministic": not deterministic,
                    "reason": None if deterministic else
                    f"greedy outputs differ on {len(bad)} of {len(items)} prompts ({', '.join(bad[:5])}); likely cause: "
                    f"{', '.join(causes)}: greedy comparisons of this rung depend on it",
                    "likely_cause": ",".join(causes) or None})
    for r in out:
        r.setdefault("likely_cause", None)
        r.setdefault("flag_not_deterministic", None)
        r.setdefault("reason", None)
    return out


# ------------------------------------------------------------------------------------ sampling variance
def sampling_runs(engine, items: list[GenTaskItem], *, reps: int, temperature: float, seed_base: int,
                  max_tokens: int | None, provenance: dict, log: Callable[[str], None] = print) -> list[dict]:
    """`reps` sampled outputs per item, seed = seed_base + rep (the same seeds on every rung)."""
    rows = []
    for item in items:
        prompt = engine.chat_prompt(item.prompt)
        budget = min(item.max_tokens, max_tokens) if max_tokens else item.max_tokens
        for rep in range(reps):
            g = engine.generate(prompt, max_tokens=budget, temperature=temperature, seed=seed_base + rep)
            rows.append({**provenance, "task": item.task, "item_id": item.id, "rep": rep, "seed": seed_base + rep,
                         "temperature": temperature, "max_tokens": budget, "output": g.text,
                         "output_sha256": sha256_text(g.text), "completion_tokens": g.completion_tokens,
                         "finish_reason": g.finish_reason, "wall_ms": g.wall_ms, "generated_at": _now()})
        log(f"{provenance.get('variant')} {item.task}/{item.id}: {reps} samples at T={temperature}")
    return rows


def cheap_tasks(tasks: dict[str, GenTask]) -> dict[str, GenTask]:
    """The tasks with their embedding metric families removed (no metric models needed)."""
    return {k: replace(t, metrics=[m for m in t.metrics if m not in EMBEDDING_FAMILIES]) for k, t in tasks.items()}


def sampling_metrics(rows: list[dict], tasks: dict[str, GenTask]) -> list[dict]:
    """Long format: one row per repetition per metric (value or null with reason), plus output length."""
    from ..scoring.generation import score_generation

    cheap = cheap_tasks(tasks)
    out = []
    for r in rows:
        sample = {**r, "decoding": "free", "task_version": tasks[r["task"]].version}
        values = [(s["metric"], s["value"], s["null_reason"]) for s in score_generation([sample], cheap, models=None)]
        values += [("output_chars", float(len(r["output"] or "")), None),
                   ("completion_tokens", float(r["completion_tokens"]), None)]
        for metric, value, reason in values:
            out.append({"variant": r["variant"], "task": r["task"], "item_id": r["item_id"], "rep": r["rep"],
                        "seed": r["seed"], "temperature": r["temperature"], "metric": metric, "value": value,
                        "null_reason": reason})
    return out


def reps_needed(cv: float | None, rel_precision: float, z: float = Z95) -> int | None:
    """Repetitions for a 95% interval of an item's mean within +-rel_precision of the mean:
    n = ceil((z * CV / rel_precision)^2) (normal approximation). None when the CV is undefined."""
    if cv is None or not math.isfinite(cv):
        return None
    return max(2, math.ceil((z * cv / rel_precision) ** 2))


def variance_by_rung(metric_rows: list[dict], rel_precision: float = 0.05) -> list[dict]:
    """Per variant x task x metric: items, repetitions, mean, the mean over items of the between-repetition
    CV, the pooled within-item SD, and the repetitions needed for +-rel_precision (from the mean CV)."""
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in metric_rows:
        if r["value"] is not None:
            groups[(r["variant"], r["task"], r["metric"])][r["item_id"]].append(float(r["value"]))
    out = []
    for (variant, task, metric), items in sorted(groups.items()):
        cvs = [coefficient_of_variation(v) for v in items.values()]
        defined = [c for c in cvs if c is not None]
        variances = [np.var(v, ddof=1) for v in items.values() if len(v) >= 2]
        mean_cv = float(np.mean(defined)) if defined else None
        allv = [x for v in items.values() for x in v]
        out.append({"variant": variant, "task": task, "metric": metric, "n_items": len(items),
                    "reps": max(len(v) for v in items.values()), "mean": float(np.mean(allv)),
                    "mean_cv": mean_cv, "n_items_cv_defined": len(defined),
                    "within_item_sd": float(math.sqrt(np.mean(variances))) if variances else None,
                    "rel_precision": rel_precision, "reps_needed": reps_needed(mean_cv, rel_precision),
                    "null_reason": None if defined else "CV undefined on every item (fewer than 2 values or a mean of 0)"})
    return out


def model_of(variant: str) -> str:
    return variant.split("__", 1)[0]


def variance_across_rungs(metric_rows: list[dict]) -> list[dict]:
    """Per model x task x metric over its rungs: between-repetition variance (mean over rung-items of the
    variance across repetitions), between-rung variance (mean over items of the variance of the rung
    means), their ratio, and Levene's test of equal spread between rungs on within-item residuals."""
    cells: dict[tuple, dict[tuple, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in metric_rows:
        if r["value"] is not None:
            cells[(model_of(r["variant"]), r["task"], r["metric"])][(r["variant"], r["item_id"])].append(float(r["value"]))
    out = []
    for (model, task, metric), cell in sorted(cells.items()):
        variants = sorted({v for v, _ in cell})
        items = sorted({i for _, i in cell})
        within = [np.var(v, ddof=1) for v in cell.values() if len(v) >= 2]
        between = []
        for item in items:
            means = [np.mean(cell[(v, item)]) for v in variants if (v, item) in cell]
            if len(means) >= 2:
                between.append(np.var(means, ddof=1))
        residuals = {v: [x - np.mean(vals) for (vv, _), vals in cell.items() if vv == v for x in vals]
                     for v in variants}
        lev = levene_test([residuals[v] for v in variants])
        w = float(np.mean(within)) if within else None
        b = float(np.mean(between)) if between else None
        reason = None
        if len(variants) < 2:
            reason = "one rung only: between-rung variance and Levene need two"
        elif lev.p_value is None:
            reason = lev.reason
        out.append({"model": model, "task": task, "metric": metric, "n_rungs": len(variants),
                    "rungs": ",".join(variants), "n_items": len(items), "within_rep_variance": w,
                    "between_rung_variance": b,
                    "between_to_within_ratio": (b / w) if (b is not None and w) else None,
                    "levene_statistic": lev.statistic, "levene_p": lev.p_value, "levene_center": "median",
                    "null_reason": reason})
    return out


def fingerprint(values: Iterable[str]) -> str:
    return sha256_text("\n".join(values))[:16]
