"""Per-model findings: where the quality cliff is, which measure showed it first (KLD before accuracy),
MMLU against ARC, and whether generation metrics and benchmarks rank the rungs alike (Spearman)."""
from __future__ import annotations

import polars as pl

from .report_format import as_number, pp_text
from .report_verdicts import verdict_of

# KL divergence (nats/token, mean vs the base rung) from which a rung counts as visibly shifted. llama.cpp's
# published K-quant tables put Q4_K_M of 7B models near 0.03 and Q2_K above 0.2; 0.1 sits between them.
KLD_WORSE = 0.1


def quant_order(quant: str) -> int:
    """A quant's position on the ladder, for ordering rungs (highest precision first)."""
    from quantbench_assets.lib.gguf.ladder import ladder_sort_key

    return ladder_sort_key(quant)[0]


def decode_speedups(lb: pl.DataFrame | None) -> dict[str, float]:
    """variant → decode tok/s relative to its model's baseline rung (leaderboard)."""
    if lb is None or not {"variant", "model", "decode_tok_per_s"} <= set(lb.columns):
        return {}
    out = {}
    rows = lb.to_dicts()
    base = {}
    for r in rows:
        if r.get("is_baseline") and as_number(r.get("decode_tok_per_s")):
            base[r["model"]] = r["decode_tok_per_s"]
    for r in rows:
        b, s = base.get(r["model"]), as_number(r.get("decode_tok_per_s"))
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
    kld, base = {}, set()
    if shift is not None and {"variant", "kld_mean"} <= set(shift.columns):
        for r in shift.to_dicts():
            if str(r["variant"]).startswith(f"{model}__") and as_number(r.get("kld_mean")) is not None:
                kld[str(r["variant"]).split("__")[-1]] = r["kld_mean"]
                if r.get("is_base"):  # its KLD vs its own cache is compression noise (±1e-5), not a result
                    base.add(str(r["variant"]).split("__")[-1])
    for r in vrows:
        q = str(r.get("quant_requested") or str(r.get("variant", "")).split("__")[-1])
        if q not in kld and as_number(r.get("kld_mean")) is not None:
            kld[q] = r["kld_mean"]
    # the cliff: the first rung (highest precision first) that a measure calls worse
    acc_worse = sorted({str(r.get("quant_requested") or r["variant"].split("__")[-1]) for r in non_base
                        if verdict_of(r) == "worse"}, key=quant_order)
    kld_worse = sorted([q for q, v in kld.items() if v >= KLD_WORSE], key=quant_order)
    first_acc, first_kld = (acc_worse[0] if acc_worse else None), (kld_worse[0] if kld_worse else None)
    if first_acc or first_kld:
        cand = [q for q in (first_acc, first_kld) if q]
        cliff = min(cand, key=quant_order)
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
        out.append("- KL divergence vs the base rung: " + ", ".join(
            f"{q} (base)" if q in base else f"{q} {v:.3g}" for q, v in sorted(kld.items(), key=lambda kv: quant_order(kv[0]))) + ".")
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
        if fam and as_number(r.get("delta_pp")) is not None:
            by.setdefault(str(r.get("quant_requested") or r["variant"].split("__")[-1]), {}).setdefault(fam, r)
    both = {q: d for q, d in by.items() if {"mmlu", "arc"} <= set(d)}
    if both:
        parts = [f"{q}: MMLU Δ {pp_text(d['mmlu']['delta_pp'])} pp vs {d['arc']['task']} Δ {pp_text(d['arc']['delta_pp'])} pp"
                 for q, d in sorted(both.items(), key=lambda kv: quant_order(kv[0]))]
        out.append("- MMLU vs ARC: " + "; ".join(parts) + ".")
    else:
        tasks = sorted({str(r.get("task")) for r in vrows if r.get("task")})
        out.append(f"- MMLU vs ARC: not both measured on this model (tasks: {', '.join(tasks) or 'none'}).")
    # do generation metrics and benchmarks rank the rungs alike?
    if tiers is not None and {"variant", "benchmark_delta_pp", "generation_delta_pct"} <= set(tiers.columns):
        t = [r for r in tiers.to_dicts() if str(r["variant"]).startswith(f"{model}__")]
        rho, p = spearman([as_number(r.get("benchmark_delta_pp")) for r in t], [as_number(r.get("generation_delta_pct")) for r in t])
        if rho is None:
            out.append("- Generation vs benchmarks: too few rungs with both measures to compare their rankings (need 3).")
        else:
            same = "the same way" if rho >= 0.8 else "differently" if rho < 0.5 else "roughly alike"
            out.append(f"- Generation vs benchmarks rank the rungs {same}: Spearman ρ = {rho:.2f} (p = {p:.2g}, "
                       f"n = {sum(1 for r in t if as_number(r.get('benchmark_delta_pp')) is not None and as_number(r.get('generation_delta_pct')) is not None)} rungs).")
    else:
        out.append("- Generation vs benchmarks: no generation metrics in this study.")
    if undecided and len(undecided) == len(non_base):
        out.append("- Every accuracy comparison is undecided at this sample size: the KLD column is the "
                   "signal to read; accuracy alone names no winner here.")
    return out
