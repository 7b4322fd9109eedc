"""Charts and the markdown report, drawn from the marts; shown in the UI as asset metadata."""
import base64
from pathlib import Path

import dagster as dg
import polars as pl

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.reporting.export import export_marts
from quantbench_assets.lib.reporting.report import build_report
from quantbench_assets.lib.reporting.site import SITE_MARTS, read_marts
from quantbench_assets.lib.gguf.ladder import PRECISION_ORDER

from ..catalog.automation import DOWNSTREAM
from ..resources import WarehouseResource

MARTS = ["rpt_leaderboard_by_hardware", "rpt_quantization_leaderboard", "fct_variant_accuracy",
         "fct_variant_benchmark_scores", "fct_decision_matrix", "fct_cost_per_million_tokens",
         "fct_variant_distribution_shift", "fct_variant_comparisons", "fct_backend_equivalence", "dim_model_variants",
         "dim_hardware", "fct_quality_tiers", "fct_pareto_frontier", "fct_variant_verdicts",
         # the studies (issue 19): present only where those assets ran
         "fct_imatrix_effect", "fct_code_pass_at_1", "fct_published_vs_measured", "fct_determinism",
         "fct_sampling_variance"]
UPSTREAM = [dg.AssetKey(["marts", m]) for m in ["rpt_quantization_leaderboard", "fct_variant_accuracy", "fct_quality_tiers"]]


def report_inputs(db: WarehouseResource) -> dict[str, pl.DataFrame | None]:
    """The report's marts (read as the site reads its own) and the samples' provenance."""
    out = read_marts(db.path, tuple(MARTS))
    with db.connect(read_only=True) as con:
        if warehouse.table_exists(con, "raw", "standard_benchmark_samples"):
            out["_samples_provenance"] = con.execute(
                "select distinct variant, engine_build, n_threads, n_ctx, seed, use_mmap, n_gpu_layers, "
                "min(run_at) over (partition by variant) as first_run_at from raw.standard_benchmark_samples "
                "order by variant").pl()
    return out


def chart_inputs(m: dict) -> dict[str, tuple]:
    """Each chart's tidy input, joined from the marts."""
    from quantbench_assets.lib.reporting import charts  # matplotlib loads when charts are drawn, not with the definitions

    lb, scores, dim, shift = (m.get(k) for k in ("rpt_quantization_leaderboard", "fct_variant_benchmark_scores",
                                                   "dim_model_variants", "fct_variant_distribution_shift"))
    inputs = {}
    if lb is not None:
        front = m.get("fct_pareto_frontier")
        size = lb.select("model", "quant", "variant", (pl.col("size_gb") * 1000).alias("size_mb"), "accuracy",
                         pl.col("accuracy_ci_low").alias("ci_low"), pl.col("accuracy_ci_high").alias("ci_high"),
                         "decode_tok_per_s", pl.col("quality_tier").alias("tier"), "benchmark_delta_pp",
                         "generation_delta_pct", "is_baseline")
        if front is not None and {"variant", "frontier", "is_on_frontier"} <= set(front.columns):
            # the chart plots quality against size: ring the points of that frontier
            f = front.filter(pl.col("frontier") == "quality_vs_size").select(
                "variant", pl.col("is_on_frontier").alias("on_frontier"))
            size = size.join(f, on="variant", how="left").with_columns(pl.col("on_frontier").fill_null(False))
        inputs["accuracy_vs_size"] = (charts.accuracy_vs_size, size)
        inputs["speed_vs_size"] = (charts.speed_vs_size, size)
        by_hw = m.get("rpt_leaderboard_by_hardware")
        if by_hw is not None and {"variant", "device_name", "decode_tok_per_s"} <= set(by_hw.columns):
            # CPU and GPU rows side by side: size and tier from the CPU leaderboard, speed per machine
            speed = by_hw.select("variant", pl.concat_str([pl.col("device_kind").str.to_uppercase(), pl.lit(": "),
                                                           pl.col("device_name")]).alias("device"),
                                 pl.col("decode_tok_per_s").alias("hw_tok_s"))
            joined = size.drop("decode_tok_per_s").join(speed, on="variant", how="inner") \
                .rename({"hw_tok_s": "decode_tok_per_s"})
            if joined.height:
                inputs["speed_vs_size"] = (charts.speed_vs_size, joined)
        inputs["tier_heatmap"] = (lambda df, p: charts.tier_heatmap(df, p, list(PRECISION_ORDER)), size)
    if scores is not None:
        # every task's primary metric, one panel per task and scorer (TR125's generate_rescore among them)
        inputs["accuracy_vs_bpw"] = (charts.accuracy_vs_bpw, scores.filter(pl.col("is_primary")).select(
            "model", pl.col("quant_requested").alias("quant"),
            pl.concat_str([pl.col("task"), pl.lit(" ("), pl.col("scorer"), pl.lit(")")]).alias("task"),
            "bits_per_weight", pl.col("value").alias("accuracy"), "ci_low", "ci_high", "chance_rate"))
    if shift is not None and dim is not None and "bits_per_weight" in dim.columns:
        cols = [c for c in ("variant", "kld_mean", "ppl_ratio") if c in shift.columns]
        joined = dim.select("variant", "model", pl.col("quant_requested").alias("quant"), "bits_per_weight") \
            .join(shift.select(cols), on="variant", how="inner")
        inputs["kld_vs_bpw"] = (charts.kld_vs_bpw, joined)
    return inputs


@dg.asset(group_name="reports", deps=UPSTREAM, automation_condition=DOWNSTREAM,
          description="The report's five charts as PNG files (data/reports/charts/); each is previewed in place "
                      "here, the full PNG in its `_full` entry.")
def charts_png(context: dg.AssetExecutionContext, duckdb: WarehouseResource) -> dg.MaterializeResult:
    out_dir = paths.reports_dir() / "charts"
    marts = report_inputs(duckdb)
    from quantbench_assets.lib.reporting import charts

    metadata, skipped = {}, {}
    inputs = chart_inputs(marts)
    for name in ["accuracy_vs_size", "accuracy_vs_bpw", "speed_vs_size", "tier_heatmap", "kld_vs_bpw"]:
        fn_df = inputs.get(name)
        if fn_df is None:
            skipped[name] = "its marts are empty"
            continue
        fn, df = fn_df
        try:
            path = fn(df, out_dir / f"{name}.png")
        except charts.NoData as e:
            skipped[name] = str(e)
            continue
        # Shown in place on the asset page: a compact SVG preview (the UI renders markdown inline only
        # under 1,000 characters; see lib/reporting/charts.py). The full PNG is the "_full" entry, one click away.
        preview = charts.preview_markdown(name, df)
        b64 = base64.b64encode(path.read_bytes()).decode()
        full = dg.MetadataValue.md(f"![{name}](data:image/png;base64,{b64})")
        metadata[name] = dg.MetadataValue.md(preview) if preview else full
        if preview:
            metadata[f"{name}_full"] = full
        metadata[f"{name}_path"] = dg.MetadataValue.path(str(path))
    metadata["not_drawn"] = dg.MetadataValue.json(skipped)
    for name, why in skipped.items():
        context.log.warning(f"chart {name} not drawn: {why}")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name="reports",
          deps=[charts_png, *UPSTREAM, *[dg.AssetKey(["marts", m]) for m in ("fct_variant_verdicts", "fct_decision_matrix")
                                         if (paths.dbt_project_dir() / "models" / "marts" / f"{m}.sql").exists()]],
          automation_condition=DOWNSTREAM,
          description="The markdown report in data/reports/: the answer per budget and use case first, then "
                      "per-model findings, limitations; wide tables in its appendix.")
def quantbench_report(duckdb: WarehouseResource) -> dg.MaterializeResult:
    out = paths.reports_dir()
    charts_dir = out / "charts"
    drawn = {p.stem: f"charts/{p.name}" for p in sorted(charts_dir.glob("*.png"))}
    text = build_report(report_inputs(duckdb), drawn, "quantbench")
    path = out / "report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)),
                                          "report": dg.MetadataValue.md(text[:60000])})


class ExportConfig(dg.Config):
    out_dir: str = ""


@dg.asset(group_name="reports", deps=UPSTREAM, description="Every mart as a Parquet file (data/reports/parquet/).")
def marts_parquet(config: ExportConfig, duckdb: WarehouseResource) -> dg.MaterializeResult:
    out = Path(config.out_dir) if config.out_dir else paths.reports_dir() / "parquet"
    written = export_marts(duckdb.path, out)
    return dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(written), "folder": dg.MetadataValue.path(str(out))})


# ─── the results site and the publishable dataset ───────────────────────────────────────────────


def _mart_keys(names) -> list[dg.AssetKey]:
    """Keys of the dbt marts among `names` (only those the dbt project defines)."""
    defined = {p.stem for p in (paths.dbt_project_dir() / "models" / "marts").glob("*.sql")}
    return [dg.AssetKey(["marts", m]) for m in names if m in defined]


ALL_MARTS = sorted(p.stem for p in (paths.dbt_project_dir() / "models" / "marts").glob("*.sql"))


@dg.asset(group_name="reports", deps=_mart_keys(SITE_MARTS), automation_condition=DOWNSTREAM,
          description="The results site (data/reports/site/): decision, leaderboard, interactive charts and "
                      "filterable tables; open index.html from disk, no server or network needed.")
def results_site(context: dg.AssetExecutionContext, duckdb: WarehouseResource) -> dg.MaterializeResult:
    from datetime import datetime, timezone

    from quantbench_assets.lib.reporting import site

    out = paths.reports_dir() / "site"
    marts = site.read_marts(duckdb.path)
    empty = sorted(m for m, df in marts.items() if df is None)
    for m in empty:
        context.log.warning(f"marts/{m} is absent or empty: the site says 'no data yet' in its place")
    pages = site.build_site(marts, out, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return dg.MaterializeResult(metadata={
        "index": dg.MetadataValue.path(str(pages["index.html"])),
        "open": dg.MetadataValue.url(pages["index.html"].resolve().as_uri()),
        "pages": dg.MetadataValue.json(sorted(pages)),
        "marts_without_data": dg.MetadataValue.json(empty),
    })


@dg.asset(group_name="reports", deps=_mart_keys(ALL_MARTS), automation_condition=DOWNSTREAM,
          description="Every mart as Parquet plus a dataset card, in the layout of a Hugging Face dataset repo "
                      "(data/reports/dataset/).")
def dataset_export(duckdb: WarehouseResource) -> dg.MaterializeResult:
    from quantbench_assets.lib.reporting.dataset import export_dataset

    out = paths.reports_dir() / "dataset"
    written = export_dataset(duckdb.path, out)
    return dg.MaterializeResult(metadata={
        "folder": dg.MetadataValue.path(str(out)),
        "tables": dg.MetadataValue.json(written),
        "dagster/row_count": sum(written.values()),
    })
