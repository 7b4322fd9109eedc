"""The markdown report, answer first: the decision per memory budget and use case with its evidence in
one sentence each, then per-model findings (where the cliff is, which measure showed it first, MMLU vs
ARC, whether generation metrics and benchmarks rank the rungs alike), then limitations and what would
change the answer. Body tables have at most 8 columns; wide tables go to the appendix (and every mart
is exported as Parquet by the `marts_parquet` asset).

Input: the marts as polars DataFrames (a missing mart is None). Columns are read defensively: a mart
built by an older dbt project renders what it has. A comparison whose mart verdict is 'undecided' (or,
without a verdict column, one that neither TOST nor Holm-corrected McNemar settles) is reported as
undecided and never names a winner.
"""
from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

MAX_BODY_COLUMNS = 8
# KL divergence (nats/token, mean vs the base rung) from which a rung counts as visibly shifted. llama.cpp's
# published K-quant tables put Q4_K_M of 7B models near 0.03 and Q2_K above 0.2; 0.1 sits between them.
KLD_WORSE = 0.1
APPENDIX = "## Appendix: wide tables"


# ─── formatting ──────────────────────────────────────────────────────────────────────────────


def md(df: pl.DataFrame | None, max_rows: int = 60) -> str:
    if df is None or df.height == 0:
        return "_no rows_"
    df = df.head(max_rows)
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.iter_rows():
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def narrow(df: pl.DataFrame | None, max_rows: int = 60) -> str:
    """A body table: at most MAX_BODY_COLUMNS columns (the first ones are kept)."""
    if df is not None and df.width > MAX_BODY_COLUMNS:
        df = df.select(df.columns[:MAX_BODY_COLUMNS])
    return md(df, max_rows)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v).replace("|", "\\|")


def _missing(name: str) -> str:
    return f"_Not available: `{name}` has no rows in this warehouse (its assets have not been materialized)._"


def _pick(df: pl.DataFrame | None, cols: list[str]) -> pl.DataFrame | None:
    if df is None:
        return None
    return df.select([c for c in cols if c in df.columns])


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _pp(v, signed: bool = True) -> str:
    f = _num(v)
    return "–" if f is None else (f"{f:+.1f}" if signed else f"{f:.1f}")


def table_widths(text: str, body_only: bool = True) -> list[int]:
    """Column counts of the markdown tables in `text` (before the appendix when body_only)."""
    if body_only:
        text = text.split(APPENDIX)[0]
    widths, inside = [], False
    for line in text.splitlines():
        if line.startswith("|") and not inside:
            widths.append(line.strip().strip("|").count("|") + 1 - line.count("\\|"))
            inside = True
        elif not line.startswith("|"):
            inside = False
    return widths


# ─── verdicts ────────────────────────────────────────────────────────────────────────────────


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
    p, d = _num(row.get("mcnemar_p_holm")), _num(row.get("delta_pp"))
    if p is not None and d is not None and p < 0.05 and d != 0:
        return "worse" if d < 0 else "better"
    return "undecided"


def _label(row: dict, key: str = "variant") -> str:
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
    if _num(row.get("delta_ci_low_pp")) is not None and _num(row.get("delta_ci_high_pp")) is not None:
        ci = f" [{_pp(row['delta_ci_low_pp'])}, {_pp(row['delta_ci_high_pp'])}]"
    delta = f"Δ {_pp(row.get('delta_pp'))} pp{ci}"
    if v == "baseline":
        s = f"baseline on {task}, accuracy {_fmt(_num(row.get('baseline_accuracy')) or _num(row.get('variant_accuracy')))}, {n_txt}"
    elif v == "equivalent":
        s = f"equivalent to {base} within ±3 pp on {task}, {n_txt} ({delta})"
    elif v in ("worse", "better"):
        p = _num(row.get("mcnemar_p_holm"))
        s = f"{v} than {base} on {task}: {delta}, {n_txt}" + (f", Holm p={p:.3g}" if p is not None else "")
    elif v == "undecided":
        need = row.get("items_needed")
        s = f"undecided vs {base} on {task}: {delta}, {n_txt}" + (
            f"; ~{int(need)} items would settle ±3 pp" if _num(need) is not None else "")
    else:
        s = f"{v} on {task}" + (f": {row['verdict_reason']}" if row.get("verdict_reason") else "")
    kld = _num(row.get("kld_mean"))
    if kld is not None and v != "baseline":
        s += f"; KLD {kld:.3g}"
    stp = _num(row.get("same_top_p"))
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
            cost = _num(r.get("cost_per_million_tokens_usd"))
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


# ─── per-model findings ──────────────────────────────────────────────────────────────────────


def _order(quant: str) -> int:
    from quantbench_assets.lib.gguf.ladder import ladder_sort_key

    return ladder_sort_key(quant)[0]


def _speedups(lb: pl.DataFrame | None) -> dict[str, float]:
    """variant → decode tok/s relative to its model's baseline rung (leaderboard)."""
    if lb is None or not {"variant", "model", "decode_tok_per_s"} <= set(lb.columns):
        return {}
    out = {}
    rows = lb.to_dicts()
    base = {}
    for r in rows:
        if r.get("is_baseline") and _num(r.get("decode_tok_per_s")):
            base[r["model"]] = r["decode_tok_per_s"]
    for r in rows:
        b, s = base.get(r["model"]), _num(r.get("decode_tok_per_s"))
        if b and s:
            out[r["variant"]] = s / b
    return out


def spearman(xs: list[float], ys: list[float]) -> tuple[float | None, float | None]:
    """Spearman's ρ and its p-value (scipy); None when fewer than 3 pairs or a constant series."""
    from scipy.stats import spearmanr

    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return None, None
    res = spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
    return float(res.statistic), float(res.pvalue)


def model_findings(model: str, verdicts: pl.DataFrame | None, shift: pl.DataFrame | None,
                   tiers: pl.DataFrame | None) -> list[str]:
    out = []
    vrows = [] if verdicts is None else [r for r in verdicts.to_dicts() if r.get("model") == model]
    non_base = [r for r in vrows if verdict_of(r) != "baseline"]
    kld = {}
    if shift is not None and {"variant", "kld_mean"} <= set(shift.columns):
        for r in shift.to_dicts():
            if str(r["variant"]).startswith(f"{model}__") and _num(r.get("kld_mean")) is not None:
                kld[str(r["variant"]).split("__")[-1]] = r["kld_mean"]
    for r in vrows:
        q = str(r.get("quant_requested") or str(r.get("variant", "")).split("__")[-1])
        if q not in kld and _num(r.get("kld_mean")) is not None:
            kld[q] = r["kld_mean"]
    # the cliff: the first rung (highest precision first) that a measure calls worse
    acc_worse = sorted({str(r.get("quant_requested") or r["variant"].split("__")[-1]) for r in non_base
                        if verdict_of(r) == "worse"}, key=_order)
    kld_worse = sorted([q for q, v in kld.items() if v >= KLD_WORSE], key=_order)
    first_acc, first_kld = (acc_worse[0] if acc_worse else None), (kld_worse[0] if kld_worse else None)
    if first_acc or first_kld:
        cand = [q for q in (first_acc, first_kld) if q]
        cliff = min(cand, key=_order)
        shown_by = []
        if first_kld == cliff:
            shown_by.append(f"KL divergence ({kld[cliff]:.3g} ≥ {KLD_WORSE})")
        if first_acc == cliff:
            shown_by.append("accuracy (a 'worse' verdict)")
        out.append(f"- **Cliff at {cliff}**: the first rung a measure calls worse; shown first by {' and '.join(shown_by)}."
                   + (f" Accuracy first calls a rung worse at {first_acc}." if first_acc and first_acc != cliff else "")
                   + (" No accuracy comparison is decided as worse." if not first_acc else ""))
    elif vrows or kld:
        out.append(f"- **No cliff found**: no rung has KLD ≥ {KLD_WORSE} or an accuracy verdict of 'worse'.")
    if kld:
        out.append("- KL divergence vs the base rung: " + ", ".join(f"{q} {v:.3g}" for q, v in sorted(kld.items(), key=lambda kv: _order(kv[0]))) + ".")
    undecided = [r for r in non_base if verdict_of(r) == "undecided"]
    if non_base:
        out.append(f"- {len(non_base)} accuracy comparison(s) vs the baseline: "
                   + ", ".join(f"{sum(verdict_of(r) == v for r in non_base)} {v}" for v in
                               ("equivalent", "worse", "better", "undecided", "not comparable")
                               if any(verdict_of(r) == v for r in non_base)) + ".")
    # MMLU vs ARC differential, rung by rung
    by = {}
    for r in non_base:
        task = str(r.get("task") or "")
        fam = "mmlu" if task.startswith("mmlu") else "arc" if task.startswith("arc") else None
        if fam and _num(r.get("delta_pp")) is not None:
            by.setdefault(str(r.get("quant_requested") or r["variant"].split("__")[-1]), {}).setdefault(fam, r)
    both = {q: d for q, d in by.items() if {"mmlu", "arc"} <= set(d)}
    if both:
        parts = [f"{q}: MMLU Δ {_pp(d['mmlu']['delta_pp'])} pp vs {d['arc']['task']} Δ {_pp(d['arc']['delta_pp'])} pp"
                 for q, d in sorted(both.items(), key=lambda kv: _order(kv[0]))]
        out.append("- MMLU vs ARC: " + "; ".join(parts) + ".")
    else:
        tasks = sorted({str(r.get("task")) for r in vrows if r.get("task")})
        out.append(f"- MMLU vs ARC: not both measured on this model (tasks: {', '.join(tasks) or 'none'}).")
    # do generation metrics and benchmarks rank the rungs alike?
    if tiers is not None and {"variant", "benchmark_delta_pp", "generation_delta_pct"} <= set(tiers.columns):
        t = [r for r in tiers.to_dicts() if str(r["variant"]).startswith(f"{model}__")]
        rho, p = spearman([_num(r.get("benchmark_delta_pp")) for r in t], [_num(r.get("generation_delta_pct")) for r in t])
        if rho is None:
            out.append("- Generation vs benchmarks: too few rungs with both measures to compare their rankings (need 3).")
        else:
            same = "the same way" if rho >= 0.8 else "differently" if rho < 0.5 else "roughly alike"
            out.append(f"- Generation vs benchmarks rank the rungs {same}: Spearman ρ = {rho:.2f} (p = {p:.2g}, "
                       f"n = {sum(1 for r in t if _num(r.get('benchmark_delta_pp')) is not None and _num(r.get('generation_delta_pct')) is not None)} rungs).")
    else:
        out.append("- Generation vs benchmarks: no generation metrics in this study.")
    if undecided and len(undecided) == len(non_base):
        out.append("- Every accuracy comparison is undecided at this sample size: the KLD column is the "
                   "signal to read; accuracy alone names no winner here.")
    return out


# ─── the report ──────────────────────────────────────────────────────────────────────────────


def build_report(marts: dict[str, pl.DataFrame | None], charts: dict[str, str], generated_by: str) -> str:
    lb = marts.get("rpt_quantization_leaderboard")
    dm = marts.get("fct_decision_matrix")
    vd = marts.get("fct_variant_verdicts")
    shift = marts.get("fct_variant_distribution_shift")
    tiers = marts.get("fct_quality_tiers")
    speed = _speedups(lb)
    out = [
        "# quantbench report: which model, at which quantization",
        f"_Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by {generated_by} from the warehouse marts._",
        "",
        "## The answer",
        "",
    ]
    if dm is not None:
        out += [f"- {line}" for line in answer_lines(dm, max_lines=40)]
    else:
        out.append(_missing("fct_decision_matrix"))

    out += ["", "## Evidence per rung", ""]
    if vd is not None and vd.height:
        order = [c for c in ("model", "task", "scorer") if c in vd.columns]
        rows = sorted(vd.to_dicts(), key=lambda r: (*(str(r.get(c)) for c in order),
                                                    _order(str(r.get("quant_requested") or str(r.get("variant", "")).split("__")[-1]))))
        for r in rows:
            out.append(f"- **{r.get('model', '')} {_label(r)}**: {verdict_sentence(r, speed.get(r.get('variant')))}")
    else:
        out.append(_missing("fct_variant_verdicts"))

    models = []
    for df in (vd, lb, shift):
        if df is not None and "model" in df.columns:
            models += [m for m in df["model"].unique(maintain_order=True).to_list() if m not in models]
        elif df is not None and "variant" in df.columns:
            models += [v.split("__")[0] for v in df["variant"].to_list() if v.split("__")[0] not in models]
    out += ["", "## Per-model findings", ""]
    if not models:
        out.append("_No evaluated model in this warehouse._")
    for m in models:
        out += [f"### {m}", ""] + model_findings(m, vd, shift, tiers) + [""]

    out += ["## Limitations and what would change the answer", ""]
    lim = []
    if vd is not None and vd.height:
        und = [r for r in vd.to_dicts() if verdict_of(r) == "undecided"]
        if und:
            lim.append(f"- {len(und)} of {vd.height} comparisons are **undecided**: the interval of Δ spans both "
                       "a 3 pp loss and no loss. Items needed to settle each at ±3 pp (from the paired MDE):")
            for r in sorted(und, key=lambda r: -(_num(r.get("items_needed")) or 0))[:10]:
                need = _num(r.get("items_needed"))
                mde = _num(r.get("mde_paired_pp"))
                lim.append(f"  - {r.get('model')} {_label(r)} on {r.get('task')}: n={r.get('n_shared_items')}"
                           + (f", MDE {mde:.1f} pp" if mde is not None else "")
                           + (f" → ~{int(need)} items" if need is not None else " → items needed not computed"))
        nc = [r for r in vd.to_dicts() if verdict_of(r) == "not comparable"]
        if nc:
            lim.append(f"- {len(nc)} comparison(s) are not comparable (e.g. {nc[0].get('verdict_reason') or 'different items'}).")
    if dm is not None and "speed_flag" in dm.columns and dm["speed_flag"].drop_nulls().len():
        flags = sorted(set(dm["speed_flag"].drop_nulls().to_list()))
        lim.append(f"- Speed is doubtful in {len(flags)} recommendation(s), e.g.: {flags[0]}")
    lim += [
        f"- KLD is top-k (256 tokens per position), a lower bound on full-vocabulary KL; the cliff threshold "
        f"{KLD_WORSE} nats is a convention, not a test.",
        "- Rungs other than a model's source file are requantized from it (no full-precision original is "
        "obtainable here); an F16 rung of a Q4_K_M source is an upcast and carries the source's error.",
        "- Speed and memory were measured on this machine only, possibly while it was busy (see the speed CV check).",
    ]
    out += lim

    out += ["", "## Tables", "", "### Accuracy comparisons vs the baseline", ""]
    out.append(narrow(_pick(vd, ["model", "rung_label", "task", "n_shared_items", "delta_pp", "verdict", "kld_mean"]), 80)
               if vd is not None else _missing("fct_variant_verdicts"))
    out += ["", "### Leaderboard", ""]
    out.append(narrow(_pick(lb, ["model", "quant", "quant_obtained", "size_gb", "accuracy", "quality_tier",
                                 "decode_tok_per_s", "cost_per_million_tokens_usd"]), 60)
               if lb is not None else _missing("rpt_quantization_leaderboard"))
    out += ["", "### Distribution shift vs the base rung", ""]
    out.append(narrow(_pick(shift, ["variant", "perplexity", "ppl_ratio", "kld_mean", "kld_p99", "same_top_token_pct"]), 60)
               if shift is not None else _missing("fct_variant_distribution_shift"))
    out += ["", "### Quality tiers", ""]
    out.append(narrow(_pick(tiers, ["variant", "quality_tier", "n_shared_items", "benchmark_delta_pp",
                                    "generation_delta_pct", "tier_reason"]), 60)
               if tiers is not None else _missing("fct_quality_tiers"))

    out += ["", "## Charts", ""]
    out += [f"![{name}]({path})" for name, path in charts.items()] if charts else ["_No charts were drawn (no data)._"]

    out += ["", APPENDIX, "",
            "Every mart is also in `data/reports/parquet/` (one Parquet file per mart, `marts_parquet` asset).", ""]
    for name, rows in (("fct_variant_verdicts", 120), ("fct_decision_matrix", 60), ("fct_cost_per_million_tokens", 60),
                       ("fct_variant_distribution_shift", 60), ("fct_variant_comparisons", 80),
                       ("rpt_leaderboard_by_hardware", 60), ("fct_backend_equivalence", 40)):
        df = marts.get(name)
        if df is not None:
            out += [f"### {name}", "", md(df, rows), ""]
    dim = marts.get("dim_model_variants")
    out += ["### Provenance", ""]
    out.append(md(_pick(dim, ["variant", "gguf_sha256", "quant_requested", "quant_obtained", "build_method",
                              "bits_per_weight", "size_bytes", "built_at"]), 200)
               if dim is not None else _missing("dim_model_variants"))
    hw = marts.get("dim_hardware")
    if hw is not None:
        out += ["", md(hw)]
    prov = marts.get("_samples_provenance")
    if prov is not None and prov.height:
        out += ["", "Engine build and settings per variant:", "", md(prov, 200)]
    return "\n".join(out) + "\n"
