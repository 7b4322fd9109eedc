"""Charts, the report and the Parquet export, from tidy frames shaped like the marts."""
import duckdb
import polars as pl
import pytest
from PIL import Image

from quantbench_assets.lib.reporting import charts
from quantbench_assets.lib.reporting.export import export_marts
from quantbench_assets.lib.reporting.report import build_report

LADDER = pl.DataFrame({
    "model": ["m"] * 4, "quant": ["F16", "Q8_0", "Q4_K_M", "Q2_K"], "variant": [f"m__{q}" for q in ["F16", "Q8_0", "Q4_K_M", "Q2_K"]],
    "size_mb": [270.0, 145.0, 105.0, 88.0], "accuracy": [0.40, 0.40, 0.37, 0.25],
    "ci_low": [0.3, 0.3, 0.27, 0.16], "ci_high": [0.5, 0.5, 0.47, 0.36], "decode_tok_per_s": [40.0, 70.0, 90.0, 95.0],
    "tier": ["baseline", "negligible", "negligible", "unacceptable"], "benchmark_delta_pp": [None, 0.0, -3.0, -15.0],
    "is_baseline": [True, False, False, False], "on_frontier": [True, True, True, False],
})


@pytest.mark.parametrize("fn", [charts.accuracy_vs_size, charts.speed_vs_size])
def test_each_chart_writes_a_real_png(tmp_path, fn):
    path = fn(LADDER, tmp_path / "c.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 400 and img.height > 300


def test_the_tier_heatmap_and_bpw_and_kld_charts_draw(tmp_path):
    charts.tier_heatmap(LADDER, tmp_path / "h.png", ["F16", "Q8_0", "Q4_K_M", "Q2_K"])
    per_task = LADDER.with_columns(pl.lit("mmlu").alias("task"), pl.Series("bits_per_weight", [16.0, 8.5, 4.9, 3.4]),
                                   pl.lit(0.25).alias("chance_rate"))
    charts.accuracy_vs_bpw(per_task, tmp_path / "b.png")
    kld = per_task.with_columns(pl.Series("kld_mean", [0.0, 0.003, 0.05, 0.37]), pl.Series("ppl_ratio", [1.0, 1.002, 1.05, 1.37]))
    charts.kld_vs_bpw(kld, tmp_path / "k.png")
    assert all((tmp_path / f).stat().st_size > 10_000 for f in ("h.png", "b.png", "k.png"))


def test_accuracy_vs_bpw_draws_each_rungs_interval(tmp_path, monkeypatch):
    """A rung scored on 20 items and one on 100 must not look equally certain: the 95% intervals
    are drawn as error bars of the lengths the input gives."""
    drawn = []
    monkeypatch.setattr(charts, "_save", lambda fig, path: drawn.append(fig) or path)
    per_task = LADDER.with_columns(pl.lit("mmlu").alias("task"), pl.Series("bits_per_weight", [16.0, 8.5, 4.9, 3.4]))
    charts.accuracy_vs_bpw(per_task, tmp_path / "b.png")
    bars = [c for ax in drawn[0].axes for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(bars) == per_task["model"].n_unique()
    _, _, (segments,) = bars[0]
    spans = sorted(round(float(s[1][1] - s[0][1]), 3) for s in segments.get_segments())
    assert spans == sorted(round(h - lo, 3) for lo, h in zip(per_task["ci_low"], per_task["ci_high"]))


def test_a_chart_without_data_says_what_is_missing_instead_of_drawing(tmp_path):
    with pytest.raises(charts.NoData, match="decode_tok_per_s"):
        charts.speed_vs_size(LADDER.drop("decode_tok_per_s"), tmp_path / "x.png")
    with pytest.raises(charts.NoData, match="no rows"):
        charts.accuracy_vs_size(LADDER.with_columns(pl.lit(None).alias("accuracy")), tmp_path / "y.png")
    assert not list(tmp_path.iterdir())


VERDICTS = pl.DataFrame({
    "model": ["m"] * 4, "variant": [f"m__{q}" for q in ["F16", "Q8_0", "Q4_K_M", "Q2_K"]],
    "quant_requested": ["F16", "Q8_0", "Q4_K_M", "Q2_K"], "rung_label": ["F16", "Q8_0", "Q4_K_M", "Q2_K"],
    "baseline_variant": ["m__F16"] * 4, "task": ["arc_easy"] * 4, "scorer": ["loglikelihood"] * 4,
    "n_shared_items": [200, 200, 50, 200], "baseline_accuracy": [0.6] * 4,
    "variant_accuracy": [0.6, 0.6, 0.56, 0.45], "delta_pp": [0.0, 0.0, -4.0, -15.0],
    "delta_ci_low_pp": [None, -1.5, -14.0, -21.0], "delta_ci_high_pp": [None, 1.5, 6.0, -9.0],
    "mcnemar_p_holm": [None, 1.0, 0.4, 0.0001], "mde_paired_pp": [None, 2.0, 14.0, 3.0],
    "items_needed": [None, None, 1100, None],
    "verdict": ["baseline", "equivalent", "undecided", "worse"],
    "verdict_reason": ["baseline", "TOST", "CI spans", "McNemar"], "kld_mean": [0.0, 0.004, 0.05, 0.38],
    "same_top_p": [1.0, 0.98, 0.9, 0.7],
})
DECISIONS = pl.DataFrame({
    "use_case": ["general", "general"], "budget_label": ["0.1–0.2 GB", "0.2–24 GB"], "budget_low_gb": [0.1, 0.2],
    "budget_high_gb": [0.2, 24.0], "recommended_variant": ["m__Q4_K_M", "m__Q8_0"],
    "recommended_label": ["Q4_K_M", "Q8_0"], "runner_up_variant": ["m__Q2_K", "m__F16"], "runner_up_label": ["Q2_K", "F16"],
    "verdict": ["undecided", "equivalent"], "evidence": ["Δ -4.0 pp [-14, +6] on arc_easy, n=50", "within ±3 pp, n=200"],
    "speed_flag": [None, "CV 14% (busy machine)"], "cost_per_million_tokens_usd": [0.11, 0.14],
})
TIERS = pl.DataFrame({"variant": VERDICTS["variant"], "quality_tier": ["baseline", "negligible", "acceptable", "unacceptable"],
                      "benchmark_delta_pp": [0.0, 0.0, -4.0, -15.0], "generation_delta_pct": [0.0, -1.0, -3.0, -20.0]})


def _marts() -> dict:
    board = LADDER.rename({"tier": "quality_tier", "ci_low": "accuracy_ci_low", "ci_high": "accuracy_ci_high"}) \
        .with_columns((pl.col("size_mb") / 1000).alias("size_gb"), pl.Series("cost_per_million_tokens_usd", [0.24, 0.14, 0.11, 0.10]))
    shift = VERDICTS.select("variant", "kld_mean")
    wide = pl.DataFrame({f"c{i}": [i] for i in range(24)})  # a 24-column cost table goes to the appendix
    return {"rpt_quantization_leaderboard": board, "fct_variant_verdicts": VERDICTS, "fct_decision_matrix": DECISIONS,
            "fct_quality_tiers": TIERS, "fct_variant_distribution_shift": shift, "fct_cost_per_million_tokens": wide}


def test_the_report_answers_first_with_one_sentence_of_evidence_per_rung():
    from quantbench_assets.lib.reporting.report_format import APPENDIX, table_widths

    text = build_report(_marts(), {"accuracy_vs_size": "charts/accuracy_vs_size.png"}, "test")
    sections = [text.index(h) for h in ("## The answer", "## Evidence per rung", "## Per-model findings",
                                         "## Limitations", APPENDIX)]
    assert sections == sorted(sections)
    answer = text[sections[0]:sections[1]]
    # an underpowered budget names no winner; a decided one names its pick with evidence and the speed doubt
    assert "general, 0.1–0.2 GB: undecided between Q4_K_M and Q2_K — Δ -4.0 pp" in answer
    assert "general, 0.2–24 GB: Q8_0 — within ±3 pp, n=200 (speed: CV 14% (busy machine))" in answer
    evidence = text[sections[1]:sections[2]]
    assert "**m Q8_0**: equivalent to F16 within ±3 pp on arc_easy (loglikelihood), n=200" in evidence
    assert "**m Q4_K_M**: undecided vs F16 on arc_easy (loglikelihood): Δ -4.0 pp [-14.0, +6.0], n=50" in evidence
    assert "~1100 items would settle ±3 pp" in evidence and "KLD 0.05" in evidence
    assert "**m Q2_K**: worse than F16 on arc_easy" in evidence and "2.4× decode speed of F16" in evidence
    findings = text[sections[2]:sections[3]]
    assert "**Cliff at Q2_K**" in findings and "KL divergence (0.38" in findings
    assert "Spearman ρ = 0.95" in findings  # ranks (3.5, 3.5, 2, 1) vs (4, 3, 2, 1) and "MMLU vs ARC: not both measured" in findings
    assert "m Q4_K_M on arc_easy: n=50, MDE 14.0 pp → ~1100 items" in text[sections[3]:sections[4]]
    assert table_widths(text) and max(table_widths(text)) <= 8
    assert max(table_widths(text, body_only=False)) == 24  # the wide one is in the appendix
    assert "![accuracy_vs_size](charts/accuracy_vs_size.png)" in text


def test_without_a_verdict_column_an_unsettled_comparison_reads_undecided():
    from quantbench_assets.lib.reporting.report_verdicts import answer_lines, verdict_of, verdict_sentence

    row = VERDICTS.drop("verdict").row(2, named=True)  # p = 0.4, no TOST: nothing settles it
    assert verdict_of(row) == "undecided" and verdict_sentence(row).startswith("undecided vs F16")
    assert verdict_of({**row, "mcnemar_p_holm": 0.001}) == "worse"
    assert verdict_of({**row, "tost_equivalent_3pp": True}) == "equivalent"
    assert answer_lines(None)[0].startswith("no decision yet")


def test_an_old_warehouse_without_the_new_marts_still_renders_what_exists():
    board = _marts()["rpt_quantization_leaderboard"]
    text = build_report({"rpt_quantization_leaderboard": board}, {}, "test")
    assert "Not available: `fct_decision_matrix`" in text and "Not available: `fct_variant_verdicts`" in text
    assert "### m" in text and "| m | F16 |" in text


def test_marts_export_to_parquet_row_for_row(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema marts; create table marts.fct_a as select range as x from range(7)")
    con.close()
    written = export_marts(db, tmp_path / "out")
    assert written == {"fct_a": 7}
    assert pl.read_parquet(tmp_path / "out" / "fct_a.parquet")["x"].to_list() == list(range(7))


def test_each_study_that_ran_gets_a_narrow_section_and_one_that_did_not_says_what_to_materialize():
    import polars as pl

    from quantbench_assets.lib.reporting.report import build_report
    from quantbench_assets.lib.reporting.report_format import table_widths

    code = pl.DataFrame({"variant": ["m__Q8_0"], "model": ["m"], "task": ["code_generation"], "n": [10], "passes": [1],
                         "pass_at_1": [0.1], "pass_at_1_ci_low": [0.018], "pass_at_1_ci_high": [0.404],
                         "delta_vs_baseline_pp": [None], "n_timeout": [0], "n_syntax": [0], "isolation": ["netns"]})
    text = build_report({"fct_code_pass_at_1": code}, {}, "test")
    studies = text.split("## Studies", 1)[1].split("## Charts", 1)[0]
    assert "pass@1" in studies and "| m__Q8_0 | code_generation | 10 | 1 | 0.1 |" in studies
    assert "`fct_imatrix_effect` has no rows" in studies and "`fct_determinism` has no rows" in studies
    assert max(table_widths(text)) <= 8
