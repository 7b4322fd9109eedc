"""The markdown report, in the spirit of TR125: the decision first, then the evidence, then its limits.

Input: the marts as polars DataFrames (a missing mart is None). A section whose data is missing says
so and why, rather than being silently left out: readers should see what was not measured.
"""
from __future__ import annotations

from datetime import datetime, timezone

import polars as pl


def md(df: pl.DataFrame, max_rows: int = 60) -> str:
    if df is None or df.height == 0:
        return "_no rows_"
    df = df.head(max_rows)
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.iter_rows():
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v).replace("|", "\\|")


def _missing(name: str) -> str:
    return f"_Not available: `{name}` has no rows in this warehouse (its assets have not been materialized)._"


def _pick(df: pl.DataFrame | None, cols: list[str]) -> pl.DataFrame | None:
    if df is None:
        return None
    return df.select([c for c in cols if c in df.columns])


def build_report(marts: dict[str, pl.DataFrame | None], charts: dict[str, str], generated_by: str) -> str:
    lb = marts.get("rpt_quantization_leaderboard")
    dm = marts.get("fct_decision_matrix")
    out = [
        "# quantbench report: which model, at which quantization",
        f"_Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by {generated_by} from the warehouse marts._",
        "",
        "## Executive summary",
    ]
    if lb is not None and lb.height:
        ranked = lb.filter(pl.col("accuracy").is_not_null())
        lines = []
        if ranked.height:
            best = ranked.sort("accuracy", descending=True).row(0, named=True)
            lines.append(f"- **Max quality**: {best['model']} {best['quant']} — accuracy {best['accuracy']:.3f} "
                         f"[{_fmt(best.get('accuracy_ci_low'))}, {_fmt(best.get('accuracy_ci_high'))}]")
        fast = lb.filter(pl.col("decode_tok_per_s").is_not_null())
        if fast.height:
            f = fast.sort("decode_tok_per_s", descending=True).row(0, named=True)
            lines.append(f"- **Fastest decode**: {f['model']} {f['quant']} — {f['decode_tok_per_s']:.1f} tok/s")
        cheap = lb.filter(pl.col("cost_per_million_tokens_usd").is_not_null() & pl.col("accuracy").is_not_null())
        if cheap.height:
            c = cheap.with_columns((pl.col("accuracy") / pl.col("cost_per_million_tokens_usd")).alias("_apd")) \
                .sort("_apd", descending=True).row(0, named=True)
            lines.append(f"- **Best accuracy per dollar**: {c['model']} {c['quant']} — "
                         f"${c['cost_per_million_tokens_usd']:.4f} per 1M tokens at accuracy {c['accuracy']:.3f}")
        small = lb.sort("size_gb").row(0, named=True)
        lines.append(f"- **Smallest**: {small['model']} {small['quant']} — {small['size_gb'] * 1000:.0f} MB "
                     f"(tier: {small.get('quality_tier') or 'n/a'})")
        out += lines
    else:
        out.append(_missing("rpt_quantization_leaderboard"))
    if dm is not None and dm.height:
        out += ["", "Per memory budget, the top-ranked variant that fits and is negligible or acceptable:", ""]
        top = dm.filter(pl.col("rank_in_budget") == 1) if "rank_in_budget" in dm.columns else dm
        if "memory_budget_gb" in top.columns:
            top = top.sort("memory_budget_gb")
        out.append(md(_pick(top, ["memory_budget_gb", "variant", "quality_tier", "fits_on", "decode_tok_per_s",
                                  "cost_per_million_tokens_usd"])))
    out += ["", "## Leaderboard", ""]
    out.append(md(_pick(lb, ["model", "quant", "quant_obtained", "size_gb", "accuracy", "accuracy_ci_low",
                             "accuracy_ci_high", "benchmark_delta_pp", "generation_delta_pct", "quality_tier",
                             "decode_tok_per_s", "cost_per_million_tokens_usd", "peak_rss_bytes", "kld_mean",
                             "perplexity", "identical_to"])) if lb is not None else _missing("rpt_quantization_leaderboard"))
    hw = marts.get("rpt_leaderboard_by_hardware")
    out += ["", "## Per machine: CPU and GPU side by side", ""]
    out.append(md(_pick(hw, ["model", "quant", "device_kind", "device_name", "n_gpu_layers", "decode_tok_per_s",
                             "prompt_tok_per_s", "decode_speedup_vs_cpu", "bandwidth_share_pct", "memory_kind",
                             "peak_memory_bytes", "perplexity", "perplexity_windows", "accuracy"]), 100)
               if hw is not None else _missing("rpt_leaderboard_by_hardware"))
    acc = marts.get("fct_variant_accuracy")
    out += ["", "## Accuracy per task (95% Wilson intervals)", ""]
    out.append(md(_pick(acc, ["model", "quant_requested", "task", "scorer", "n_items", "raw_accuracy",
                              "rescored_accuracy", "rescored_accuracy_ci_low", "rescored_accuracy_ci_high"]), 200)
               if acc is not None else _missing("fct_variant_accuracy"))
    out += ["", "## Decision matrix", ""]
    out.append(md(dm, 120) if dm is not None else _missing("fct_decision_matrix"))
    cost = marts.get("fct_cost_per_million_tokens")
    out += ["", "## Cost per 1M tokens", ""]
    out.append(md(cost, 80) if cost is not None else _missing("fct_cost_per_million_tokens"))
    shift = marts.get("fct_variant_distribution_shift")
    out += ["", "## Perplexity and KL divergence vs the base rung", ""]
    out.append(md(shift, 60) if shift is not None else _missing("fct_variant_distribution_shift"))
    comp = marts.get("fct_variant_comparisons")
    out += ["", "## Statistics and their caveats", ""]
    if comp is not None and comp.height:
        if "underpowered" in comp.columns:
            under = comp.filter(pl.col("underpowered").fill_null(False))
            out.append(f"{under.height} of {comp.height} comparisons are **underpowered**: the tier margin is below "
                       "the minimum detectable effect at α = 0.05, power 0.8 — their tier is a point estimate, "
                       "not a finding.")
        out += ["", md(comp, 80)]
    else:
        out.append(_missing("fct_variant_comparisons"))
    eq = marts.get("fct_backend_equivalence")
    out += ["", "## Backend equivalence (in-process vs HTTP)", ""]
    out.append(md(eq) if eq is not None else _missing("fct_backend_equivalence"))
    out += ["", "## Charts", ""]
    if charts:
        out += [f"![{name}]({path})" for name, path in charts.items()]
    else:
        out.append("_No charts were drawn (no data)._")
    dim = marts.get("dim_model_variants")
    hw = marts.get("dim_hardware")
    out += ["", "## Provenance", ""]
    out.append(md(_pick(dim, ["variant", "gguf_sha256", "quant_requested", "quant_obtained", "build_method",
                              "bits_per_weight", "size_bytes", "built_at"]), 200)
               if dim is not None else _missing("dim_model_variants"))
    if hw is not None:
        out += ["", md(hw)]
    prov = marts.get("_samples_provenance")
    if prov is not None and prov.height:
        out += ["", "Engine build and settings per variant:", "", md(prov, 200)]
    return "\n".join(out) + "\n"
