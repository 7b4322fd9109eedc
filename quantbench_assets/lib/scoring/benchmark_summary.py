"""Benchmark summaries: per task, scorer and metric the value with its 95% interval (Wilson for 0/1
outcomes, t for MC2's mass), and whether it can be told from chance."""
from __future__ import annotations

import numpy as np


# metric -> (column of successes or values, column of trials or None for one per item, binary?)
SUMMARY_METRICS: dict[str, tuple[str, str | None, bool]] = {
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


def summarize_benchmark_scores(scores: list[dict]) -> list[dict]:
    """One row per task, scorer and metric: n, value, 95% interval (Wilson for 0/1 outcomes, t for
    MC2's mass), chance rate and whether the score is indistinguishable from chance."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in scores:
        groups.setdefault((s["task"], s["scorer"]), []).append(s)
    out = []
    for (task, scorer), rows in sorted(groups.items()):
        primary = rows[0]["metric"]
        chance = float(np.mean([r["chance_rate"] for r in rows]))
        for metric, (col, trials, binary) in SUMMARY_METRICS.items():
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
