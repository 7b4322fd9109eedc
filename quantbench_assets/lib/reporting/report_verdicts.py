"""Verdicts and the answer: the verdict of a rung's comparison with its baseline, the one-sentence evidence
behind it, and the answer lines (per memory budget and use case) from the decision matrix."""
from __future__ import annotations

import polars as pl

from .report_format import as_number, fmt_cell, pp_text


def verdict_of(row: dict) -> str:
    """The mart's verdict; without one, derived conservatively: TOST ±3 pp → equivalent, Holm-corrected
    McNemar p < 0.05 → worse/better by the sign of Δ, anything else undecided."""
    v = row.get("verdict")
    if v:
        return str(v)
    if row.get("variant") is not None and row.get("variant") == row.get("baseline_variant"):
        return "baseline"
    if row.get("tost_equivalent_3pp"):
        return "equivalent"
    p, d = as_number(row.get("mcnemar_p_holm")), as_number(row.get("delta_pp"))
    if p is not None and d is not None and p < 0.05 and d != 0:
        return "worse" if d < 0 else "better"
    return "undecided"


def rung_label(row: dict, key: str = "variant") -> str:
    """How the report names a rung: its label, else its requested quant, else `key`."""
    return str(row.get("rung_label") or row.get("quant_requested") or row.get(key) or "?")


def _base_label(row: dict) -> str:
    base = row.get("baseline_variant") or ""
    return str(base).split("__")[-1] if base else "the base rung"


def verdict_sentence(row: dict, speedup: float | None = None) -> str:
    """One sentence of evidence for one rung vs its baseline on one task × scorer."""
    v = verdict_of(row)
    task = f"{row.get('task', '?')}" + (f" ({row['scorer']})" if row.get("scorer") else "")
    n = row.get("n_shared_items")
    n_txt = f"n={n}" if n is not None else "n unknown"
    base = _base_label(row)
    ci = ""
    if as_number(row.get("delta_ci_low_pp")) is not None and as_number(row.get("delta_ci_high_pp")) is not None:
        ci = f" [{pp_text(row['delta_ci_low_pp'])}, {pp_text(row['delta_ci_high_pp'])}]"
    delta = f"Δ {pp_text(row.get('delta_pp'))} pp{ci}"
    if v == "baseline":
        s = f"baseline on {task}, accuracy {fmt_cell(as_number(row.get('baseline_accuracy')) or as_number(row.get('variant_accuracy')))}, {n_txt}"
    elif v == "equivalent":
        s = f"equivalent to {base} within ±3 pp on {task}, {n_txt} ({delta})"
    elif v in ("worse", "better"):
        p = as_number(row.get("mcnemar_p_holm"))
        s = f"{v} than {base} on {task}: {delta}, {n_txt}" + (f", Holm p={p:.3g}" if p is not None else "")
    elif v == "undecided":
        need = row.get("items_needed")
        s = f"undecided vs {base} on {task}: {delta}, {n_txt}" + (
            f"; ~{int(need)} items would settle ±3 pp" if as_number(need) is not None else "")
    else:
        s = f"{v} on {task}" + (f": {row['verdict_reason']}" if row.get("verdict_reason") else "")
    kld = as_number(row.get("kld_mean"))
    if kld is not None and v != "baseline":
        s += f"; KLD {kld:.3g}"
    stp = as_number(row.get("same_top_p"))
    if stp is not None and v != "baseline":
        s += f", same top token {stp * 100 if stp <= 1 else stp:.0f}%"
    if speedup is not None and v != "baseline":
        s += f"; {speedup:.1f}× decode speed of {base}"
    return s


# ─── the answer ──────────────────────────────────────────────────────────────────────────────


def answer_lines(dm: pl.DataFrame | None, max_lines: int = 12) -> list[str]:
    """A few lines: the recommendation per use case × memory budget with its evidence (or 'undecided')."""
    if dm is None or dm.height == 0:
        return ["no decision yet: marts.fct_decision_matrix is empty (run dbt after the rungs are evaluated)"]
    cols = set(dm.columns)
    lines = []
    if {"budget_label", "recommended_variant"} <= cols or {"budget_label", "recommended_label"} <= cols:
        for r in dm.iter_rows(named=True):  # the mart's own order (use case, then budget)
            who = r.get("recommended_label") or r.get("recommended_variant")
            head = f"{r.get('use_case') or 'any use'}, {r.get('budget_label')}"
            evidence = str(r.get("evidence") or "")
            if (r.get("verdict") or "") == "undecided" or not who:
                alt = " and ".join(str(x) for x in (who, r.get("runner_up_label") or r.get("runner_up_variant")) if x)
                line = f"{head}: undecided" + (f" between {alt}" if alt else "")
                line += f" — {evidence}" if evidence else ""
            elif evidence.startswith(str(who)):
                line = f"{head}: {evidence}"  # the evidence already names the pick
            else:
                line = f"{head}: {who}" + (f" — {evidence}" if evidence else "")
            if r.get("speed_flag") and str(r["speed_flag"]) not in evidence:
                line += f" (speed: {r['speed_flag']})"
            cost = as_number(r.get("cost_per_million_tokens_usd"))
            if cost is not None:
                line += f"; ${cost:.3g}/1M tokens"
            lines.append(line)
    elif {"memory_budget_gb", "variant"} <= cols:  # the older grain: budget × fitting variant, ranked
        top = dm.filter(pl.col("rank_in_budget") == 1) if "rank_in_budget" in cols else dm
        for r in top.sort("memory_budget_gb").iter_rows(named=True):
            tier = r.get("quality_tier")
            lines.append(f"{r['memory_budget_gb']} GB: {r['variant']}" + (f" (tier {tier})" if tier else ""))
    else:
        return [f"marts.fct_decision_matrix has unexpected columns: {sorted(cols)}"]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… {len(lines) - max_lines} more in the report"]
    return lines or ["marts.fct_decision_matrix has no recommendation rows"]
