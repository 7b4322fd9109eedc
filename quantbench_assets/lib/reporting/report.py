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

from .report_findings import KLD_WORSE, decode_speedups, model_findings, quant_order
from .report_format import MAX_BODY_COLUMNS, APPENDIX, as_number, md, missing_mart, narrow, pick_columns
from .report_verdicts import answer_lines, rung_label, verdict_of, verdict_sentence


# ─── the report ──────────────────────────────────────────────────────────────────────────────


def build_report(marts: dict[str, pl.DataFrame | None], charts: dict[str, str], generated_by: str) -> str:
    lb = marts.get("rpt_quantization_leaderboard")
    dm = marts.get("fct_decision_matrix")
    vd = marts.get("fct_variant_verdicts")
    shift = marts.get("fct_variant_distribution_shift")
    tiers = marts.get("fct_quality_tiers")
    speed = decode_speedups(lb)
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
        out.append(missing_mart("fct_decision_matrix"))

    out += ["", "## Evidence per rung", ""]
    if vd is not None and vd.height:
        order = [c for c in ("model", "task", "scorer") if c in vd.columns]
        rows = sorted(vd.to_dicts(), key=lambda r: (*(str(r.get(c)) for c in order),
                                                    quant_order(str(r.get("quant_requested") or str(r.get("variant", "")).split("__")[-1]))))
        for r in rows:
            out.append(f"- **{r.get('model', '')} {rung_label(r)}**: {verdict_sentence(r, speed.get(r.get('variant')))}")
    else:
        out.append(missing_mart("fct_variant_verdicts"))

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
            for r in sorted(und, key=lambda r: -(as_number(r.get("items_needed")) or 0))[:10]:
                need = as_number(r.get("items_needed"))
                mde = as_number(r.get("mde_paired_pp"))
                lim.append(f"  - {r.get('model')} {rung_label(r)} on {r.get('task')}: n={r.get('n_shared_items')}"
                           + (f", MDE {mde:.1f} pp" if mde is not None else "")
                           + (f" → ~{int(need)} items" if need is not None else " → items needed not computed"))
        nc = [r for r in vd.to_dicts() if verdict_of(r) == "not comparable"]
        if nc:
            lim.append(f"- {len(nc)} comparison(s) are not comparable (e.g. {nc[0].get('verdict_reason') or 'different items'}).")
    if dm is not None and "speed_flag" in dm.columns and dm["speed_flag"].drop_nulls().len():
        flags = sorted(set(dm["speed_flag"].drop_nulls().to_list()))
        lim.append(f"- Speed is doubtful in {len(flags)} recommendation(s), e.g.: {flags[0]}")
    lim += [
        f"- KLD keeps 256 tokens a position exactly and the rest of the vocabulary in 15 log-probability bands "
        f"(within 1% of llama-perplexity's KLD, benchmarks/RESULTS.md; with tail_bands=0 it is a top-k lower "
        f"bound); the cliff threshold {KLD_WORSE} nats is a convention, not a test.",
        "- Rungs other than a model's source file are requantized from it (no full-precision original is "
        "obtainable here); an F16 rung of a Q4_K_M source is an upcast and carries the source's error.",
        "- Speed and memory were measured on this machine only, possibly while it was busy (see the speed CV check).",
    ]
    out += lim

    out += ["", "## Tables", "", "### Accuracy comparisons vs the baseline", ""]
    out.append(narrow(pick_columns(vd, ["model", "rung_label", "task", "n_shared_items", "delta_pp", "verdict", "kld_mean"]), 80)
               if vd is not None else missing_mart("fct_variant_verdicts"))
    out += ["", "### Leaderboard", ""]
    out.append(narrow(pick_columns(lb, ["model", "quant", "quant_obtained", "size_gb", "accuracy", "quality_tier",
                                 "decode_tok_per_s", "cost_per_million_tokens_usd"]), 60)
               if lb is not None else missing_mart("rpt_quantization_leaderboard"))
    out += ["", "### Distribution shift vs the base rung", ""]
    out.append(narrow(pick_columns(shift, ["variant", "perplexity", "ppl_ratio", "kld_mean", "kld_p99", "same_top_token_pct"]), 60)
               if shift is not None else missing_mart("fct_variant_distribution_shift"))
    out += ["", "### Quality tiers", ""]
    out.append(narrow(pick_columns(tiers, ["variant", "quality_tier", "n_shared_items", "benchmark_delta_pp",
                                    "generation_delta_pct", "tier_reason"]), 60)
               if tiers is not None else missing_mart("fct_quality_tiers"))

    out += ["", "## Studies", ""] + study_sections(marts)

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
    out.append(md(pick_columns(dim, ["variant", "gguf_sha256", "quant_requested", "quant_obtained", "build_method",
                              "bits_per_weight", "size_bytes", "built_at"]), 200)
               if dim is not None else missing_mart("dim_model_variants"))
    hw = marts.get("dim_hardware")
    if hw is not None:
        out += ["", md(hw)]
    prov = marts.get("_samples_provenance")
    if prov is not None and prov.height:
        out += ["", "Engine build and settings per variant:", "", md(prov, 200)]
    return "\n".join(out) + "\n"


# Each study mart, its heading and the columns that carry its finding (at most 8: the body rule).
STUDY_SECTIONS = (
    ("fct_imatrix_effect", "Importance-matrix quants: KL divergence with and without the matrix",
     ["variant_imat", "quant_obtained_imat", "kld_plain", "kld_imat", "delta_kld_pct", "delta_kld_ci_low",
      "delta_kld_ci_high", "same_obtained_type"]),
    ("fct_code_pass_at_1", "Code that runs: pass@1 in the sandbox (Wilson 95%)",
     ["variant", "task", "n", "passes", "pass_at_1", "pass_at_1_ci_low", "pass_at_1_ci_high", "delta_vs_baseline_pp"]),
    ("fct_published_vs_measured", "Published scores vs the baseline rung",
     ["model", "benchmark", "published_pct", "measured_pct", "gap_pp", "interval_half_width_pp", "flag", "reason"]),
    ("fct_determinism", "Determinism at temperature 0 (byte-identical outputs)",
     ["variant", "n_prompts", "share_identical", "n_prompts_differing", "flag_not_deterministic", "likely_cause"]),
    ("fct_sampling_variance", "Sampling variance at temperature 0.7",
     ["variant", "task", "metric", "mean", "mean_cv", "reps_needed", "between_to_within_ratio", "levene_p"]),
)


def study_sections(marts: dict[str, pl.DataFrame | None]) -> list[str]:
    """One short table per study that ran; a study that did not run says which asset to materialize."""
    out: list[str] = []
    for name, title, columns in STUDY_SECTIONS:
        df = marts.get(name)
        out += [f"### {title}", ""]
        if df is None:
            out += [missing_mart(name), ""]
            continue
        present = [c for c in columns if c in df.columns] or df.columns[:MAX_BODY_COLUMNS]
        out += [narrow(df.select(present), 40), ""]
    return out

