"""The results site: static HTML pages built from the dbt marts, opened from disk (file://) with no
server and no network.

Charts are Plotly figures (plotly.io.to_html without the library; plotly.js is written once to
assets/plotly.min.js from the `plotly` package). Tables are Tabulator grids (tabulator-tables, MIT,
vendored in site_static/ with its licence): sortable columns, a filter under every header, a drop-down
for model, quant, task and machine. Both load as classic <script src> files, which Chromium and Firefox
allow from file:// (ES modules are not: they would need a server).

A mart that is absent or empty is not an error: its place says "no data yet: materialize marts/<mart>".
Columns are selected defensively (only those present), so marts may gain columns without breaking it.
"""
from __future__ import annotations

import html
import shutil
from pathlib import Path

import polars as pl

from ..core import warehouse
from .site_charts import CHARTS, chart_html
from .site_tables import (COMPARISON_GRID_COLUMNS, DECISION_GRID_COLUMNS, LEADERBOARD_GRID_COLUMNS,
                          PARETO_GRID_COLUMNS, SCORE_GRID_COLUMNS, SHIFT_GRID_COLUMNS, TIER_GRID_COLUMNS,
                          VARIANT_GRID_COLUMNS, decision_html, mart_table, with_identity)

STATIC = Path(__file__).with_name("site_static")

SITE_MARTS = ("fct_decision_matrix", "rpt_leaderboard_by_hardware", "rpt_quantization_leaderboard",
              "dim_model_variants", "fct_variant_benchmark_scores", "fct_variant_accuracy",
              "fct_variant_distribution_shift", "fct_quality_tiers", "fct_pareto_frontier", "fct_variant_comparisons")


def read_marts(db: Path, marts: tuple[str, ...] = SITE_MARTS) -> dict[str, pl.DataFrame | None]:
    """Every mart the site uses, read-only; None for one that is absent or has no rows."""
    out: dict[str, pl.DataFrame | None] = dict.fromkeys(marts)
    if not Path(db).exists():
        return out
    with warehouse.connect(db, read_only=True) as con:
        for m in marts:
            if warehouse.table_exists(con, "marts", m):
                df = con.execute(f'select * from marts."{m}"').pl()
                out[m] = df if df.height else None
    return out


# ─── pages ───────────────────────────────────────────────────────────────────────────────────────

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1a202c; background: #fafafa; }
header { background: #1a365d; color: white; padding: 12px 24px; display: flex; align-items: baseline; gap: 24px; }
header h1 { font-size: 20px; margin: 0; }
header nav a { color: #bee3f8; margin-right: 16px; text-decoration: none; }
header nav a.here { color: white; font-weight: bold; border-bottom: 2px solid white; }
main { padding: 8px 24px 40px; max-width: 1500px; }
h2 { border-bottom: 1px solid #cbd5e0; padding-bottom: 4px; margin-top: 28px; }
.nodata { background: #fffbea; border: 1px solid #f6e05e; padding: 8px 12px; border-radius: 4px; }
.caption, .table-meta { color: #4a5568; font-size: 13px; }
.chart { background: white; border: 1px solid #e2e8f0; border-radius: 4px; }
table.decision { border-collapse: collapse; background: white; }
table.decision th, table.decision td { border: 1px solid #e2e8f0; padding: 6px 10px; text-align: left; vertical-align: top; }
table.decision thead th { background: #edf2f7; }
.ev { color: #4a5568; font-size: 12px; max-width: 420px; }
.verdict { color: white; border-radius: 3px; padding: 0 5px; font-size: 12px; }
.grid { margin-bottom: 12px; max-width: 100%; }
.tabulator { font-size: 13px; }
footer { color: #718096; font-size: 12px; padding: 0 24px 24px; }
"""

JS = """
window.qbTables = {};
function qbTable(id, spec) {
  const count = document.getElementById(id + "-count");
  const total = spec.data.length;
  const table = new Tabulator("#" + id, {data: spec.data, columns: spec.columns, layout: "fitDataTable",
    pagination: true, paginationSize: 15, paginationSizeSelector: [15, 50, 200, true], maxHeight: "640px",
    placeholder: "no rows match the filters"});
  table.on("dataFiltered", function (filters, rows) { count.textContent = rows.length + " of " + total + " rows"; });
  table.qbShown = spec.columns.filter(c => c.visible).map(c => c.field);
  window.qbTables[id] = table;
}
function qbAllColumns(id, all) {
  const table = window.qbTables[id];
  table.getColumns().forEach(c => (all || table.qbShown.includes(c.getField())) ? c.show() : c.hide());
}
"""

PAGES = (("index.html", "Decision"), ("charts.html", "Charts"), ("tables.html", "Tables"))


def _page(filename: str, title: str, body: str, built_at: str) -> str:
    nav = "".join(f'<a href="{f}"{" class=here" if f == filename else ""}>{t}</a>' for f, t in PAGES)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quantbench: {html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/tabulator_simple.min.css">
<style>{CSS}</style>
<script src="assets/plotly.min.js"></script>
<script src="assets/tabulator.min.js"></script>
<script>{JS}</script>
</head><body>
<header><h1>quantbench results</h1><nav>{nav}</nav></header>
<main>
{body}
</main>
<footer>Built {html.escape(built_at)} from the dbt marts of the quantbench warehouse. Charts: Plotly; tables: Tabulator.
Every table is also in the dataset folder as Parquet.</footer>
</body></html>
"""


def build_site(marts: dict[str, pl.DataFrame | None], out_dir: Path, built_at: str = "") -> dict[str, Path]:
    """Write the pages and their assets to out_dir; returns page name -> path."""
    import plotly.offline

    out_dir.mkdir(parents=True, exist_ok=True)
    assets = out_dir / "assets"
    assets.mkdir(exist_ok=True)
    (assets / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    for f in ("tabulator.min.js", "tabulator_simple.min.css", "LICENSE.tabulator"):
        shutil.copyfile(STATIC / f, assets / f)

    marts = {**marts, "rpt_leaderboard_by_hardware": with_identity(marts.get("rpt_leaderboard_by_hardware"),
                                                                    marts.get("dim_model_variants"))}
    index = ("<h2>Decision: which rung for your memory budget</h2>" + decision_html(marts)
             + "<h2>Leaderboard by machine</h2>" + mart_table(marts, "t-leaderboard", "rpt_leaderboard_by_hardware", LEADERBOARD_GRID_COLUMNS)
             + "<h2>Decision matrix</h2>" + mart_table(marts, "t-decision", "fct_decision_matrix", DECISION_GRID_COLUMNS))
    charts = "<h2>Charts</h2>" + "".join(chart_html(fn(marts)) for fn in CHARTS)
    tables = ("<h2>Quality tiers</h2>" + mart_table(marts, "t-tiers", "fct_quality_tiers", TIER_GRID_COLUMNS)
              + "<h2>Benchmark scores</h2>" + mart_table(marts, "t-scores", "fct_variant_benchmark_scores", SCORE_GRID_COLUMNS)
              + "<h2>Distribution shift (KLD, perplexity)</h2>"
              + mart_table(marts, "t-shift", "fct_variant_distribution_shift", SHIFT_GRID_COLUMNS)
              + "<h2>Pairwise comparisons</h2>" + mart_table(marts, "t-comparisons", "fct_variant_comparisons", COMPARISON_GRID_COLUMNS)
              + "<h2>Pareto front</h2>" + mart_table(marts, "t-pareto", "fct_pareto_frontier", PARETO_GRID_COLUMNS)
              + "<h2>Model variants</h2>" + mart_table(marts, "t-variants", "dim_model_variants", VARIANT_GRID_COLUMNS))
    written = {}
    for (filename, title), body in zip(PAGES, (index, charts, tables)):
        path = out_dir / filename
        path.write_text(_page(filename, title, body, built_at), encoding="utf-8")
        written[filename] = path
    return written
