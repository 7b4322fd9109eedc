"""Charts, the report and the Parquet export, from tidy frames shaped like the marts."""
import duckdb
import polars as pl
import pytest
from PIL import Image

from quantbench_assets.lib import charts
from quantbench_assets.lib.export import export_marts
from quantbench_assets.lib.report import build_report

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


def test_a_chart_without_data_says_what_is_missing_instead_of_drawing(tmp_path):
    with pytest.raises(charts.NoData, match="decode_tok_per_s"):
        charts.speed_vs_size(LADDER.drop("decode_tok_per_s"), tmp_path / "x.png")
    with pytest.raises(charts.NoData, match="no rows"):
        charts.accuracy_vs_size(LADDER.with_columns(pl.lit(None).alias("accuracy")), tmp_path / "y.png")
    assert not list(tmp_path.iterdir())


def test_the_report_leads_with_the_decision_and_names_what_was_not_measured():
    board = LADDER.rename({"tier": "quality_tier", "ci_low": "accuracy_ci_low", "ci_high": "accuracy_ci_high"}) \
        .with_columns((pl.col("size_mb") / 1000).alias("size_gb"), pl.Series("cost_per_million_tokens_usd", [0.24, 0.14, 0.11, 0.10]))
    text = build_report({"rpt_quantization_leaderboard": board}, {"accuracy_vs_size": "charts/accuracy_vs_size.png"}, "test")
    summary = text.split("## Leaderboard")[0]
    assert "**Max quality**: m F16" in summary and "**Fastest decode**: m Q2_K" in summary
    assert "**Smallest**: m Q2_K" in summary and "**Best accuracy per dollar**: m Q4_K_M" in summary
    assert "Not available: `fct_variant_distribution_shift`" in text
    assert "![accuracy_vs_size](charts/accuracy_vs_size.png)" in text


def test_marts_export_to_parquet_row_for_row(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema marts; create table marts.fct_a as select range as x from range(7)")
    con.close()
    written = export_marts(db, tmp_path / "out")
    assert written == {"fct_a": 7}
    assert pl.read_parquet(tmp_path / "out" / "fct_a.parquet")["x"].to_list() == list(range(7))
