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
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..core import warehouse
from ..gguf.ladder import ladder_sort_key

STATIC = Path(__file__).with_name("site_static")

SITE_MARTS = ("fct_decision_matrix", "rpt_leaderboard_by_hardware", "rpt_quantization_leaderboard",
              "dim_model_variants", "fct_variant_benchmark_scores", "fct_variant_accuracy",
              "fct_variant_distribution_shift", "fct_quality_tiers", "fct_pareto_frontier", "fct_variant_comparisons")

TIER_COLOURS = {"baseline": "#2b6cb0", "negligible": "#1a9850", "acceptable": "#91cf60", "concerning": "#fc8d59",
                "unacceptable": "#d73027", "no tier": "#bdbdbd"}
# Columns offered as a drop-down filter (exact match) rather than a text box.
LIST_FILTERS = {"model", "quant", "quant_requested", "quant_obtained", "task", "scorer", "metric", "device_kind",
                "device_name", "hardware_id", "quality_tier", "frontier", "comparison", "fits_on", "use_case",
                "budget_label", "verdict"}


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


# ─── helpers ─────────────────────────────────────────────────────────────────────────────────────


def _has(df: pl.DataFrame | None, *cols: str) -> bool:
    return df is not None and set(cols) <= set(df.columns)


def _pick(df: pl.DataFrame, preferred: list[str]) -> tuple[pl.DataFrame, set[str]]:
    """The preferred columns that exist first, then the rest; returns the frame and the columns shown
    at first (all when too few of the preferred exist). The others are a click away."""
    cols = [c for c in preferred if c in df.columns]
    if len(cols) < 3:
        return df, set(df.columns)
    return df.select(cols + [c for c in df.columns if c not in cols]), set(cols)


def no_data(*marts: str) -> str:
    names = " and ".join(f"<code>marts/{html.escape(m)}</code>" for m in marts)
    return f'<p class="nodata">no data yet: materialize {names}</p>'


def _json_value(v):
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else round(v, 6)
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    return str(v)


def table_rows(df: pl.DataFrame) -> list[dict]:
    return [{k: _json_value(v) for k, v in row.items()} for row in df.to_dicts()]


def _esc_json(obj) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(obj).replace("</", "<\\/")


# ─── tables ──────────────────────────────────────────────────────────────────────────────────────


def column_docs() -> dict[str, dict[str, str]]:
    """{mart: {column: description}} from dbt's yml files: shown as header tooltips."""
    from ..reporting.dataset import mart_docs

    try:
        return {m: d["columns"] for m, d in mart_docs().items()}
    except (OSError, ValueError):
        return {}


def table_html(table_id: str, df: pl.DataFrame | None, mart: str, shown: set[str] | None = None) -> str:
    """A Tabulator grid of `df` with a filter under every header, or the no-data line. Columns not in
    `shown` start hidden behind an "all columns" switch."""
    if df is None or df.height == 0:
        return no_data(mart)
    shown = set(df.columns) if shown is None else shown
    docs = column_docs().get(mart, {})
    columns = []
    for name, dtype in df.schema.items():
        col = {"title": name, "field": name, "headerTooltip": True, "visible": name in shown}
        if dtype.is_numeric():
            col |= {"hozAlign": "right", "sorter": "number", "headerFilter": "number",
                    "headerFilterPlaceholder": "≥", "headerFilterFunc": ">="}
        elif dtype == pl.Boolean:
            col |= {"sorter": "boolean", "formatter": "tickCross", "formatterParams": {"allowEmpty": True},
                    "headerFilter": "tickCross", "headerFilterParams": {"tristate": True}, "headerFilterEmptyCheck":
                    "__EMPTY_CHECK__"}
        elif name in LIST_FILTERS:
            col |= {"headerFilter": "list", "headerFilterParams": {"valuesLookup": True, "clearable": True},
                    "headerFilterPlaceholder": "all"}
        else:
            col |= {"headerFilter": "input", "headerFilterPlaceholder": "contains"}
            longest = df[name].cast(pl.Utf8).str.len_chars().max() if dtype == pl.Utf8 else 0
            if longest and longest > 60:  # sentences (evidence, reasons): wrap in a column of fixed width
                col |= {"formatter": "textarea", "width": 420}
        if docs.get(name):
            col["headerTooltip"] = f"{name}: {docs[name]}"
        columns.append(col)
    spec = {"data": table_rows(df), "columns": columns}
    cols_json = _esc_json(spec).replace('"__EMPTY_CHECK__"', "function(v){return v === null || v === undefined}")
    n_hidden = len(df.columns) - len(shown & set(df.columns))
    toggle = (f' · <label><input type="checkbox" onchange="qbAllColumns(\'{table_id}\', this.checked)"> all '
              f'{len(df.columns)} columns</label>') if n_hidden else ""
    return (f'<div class="table-meta"><span class="count" id="{table_id}-count">{df.height} of {df.height} rows</span>'
            f' · from <code>marts/{html.escape(mart)}</code>{toggle}</div>'
            f'<div class="grid" id="{table_id}"></div>'
            f'<script>qbTable("{table_id}", {cols_json});</script>')


# ─── charts ──────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Chart:
    key: str
    title: str
    figure: object | None  # a plotly Figure, or None when its marts have no data
    missing: tuple[str, ...] = ()
    caption: str = ""


def _variants(m: dict) -> pl.DataFrame | None:
    dim = m.get("dim_model_variants")
    if not _has(dim, "variant", "model", "bits_per_weight"):
        return None
    cols = [c for c in ("variant", "model", "quant_requested", "bits_per_weight", "size_bytes") if c in dim.columns]
    return dim.select(cols)


def _quant_col(df: pl.DataFrame) -> str:
    return "quant_requested" if "quant_requested" in df.columns else "quant"


def _order_by_bpw(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(["model", "bits_per_weight"])


def accuracy_vs_bpw(m: dict) -> Chart:
    """Per task: the primary metric of each standard benchmark, and the generation study's rescored
    accuracy, against bits per weight, one line per model, Wilson intervals, chance dashed."""
    import plotly.express as px

    frames = []
    scores = m.get("fct_variant_benchmark_scores")
    if _has(scores, "model", "task", "bits_per_weight", "value"):
        s = scores.filter(pl.col("is_primary")) if "is_primary" in scores.columns else scores
        if "scorer" in s.columns:  # several scorers per task: one line each
            s = s.with_columns(pl.concat_str([pl.col("task"), pl.lit(" ("), pl.col("scorer"), pl.lit(")")]).alias("task"))
        frames.append(s.select("model", pl.col(_quant_col(s)).alias("quant"), "task", "bits_per_weight",
                               pl.col("value").alias("accuracy"),
                               *(pl.col(c) for c in ("ci_low", "ci_high", "chance_rate") if c in s.columns)))
    acc = m.get("fct_variant_accuracy")
    if _has(acc, "model", "task", "bits_per_weight", "rescored_accuracy"):
        ci = [pl.col(f"rescored_accuracy_{e}").alias(e) for e in ("ci_low", "ci_high")
              if f"rescored_accuracy_{e}" in acc.columns]
        frames.append(acc.select("model", pl.col(_quant_col(acc)).alias("quant"),
                                 (pl.col("task") + " (generation)").alias("task"), "bits_per_weight",
                                 pl.col("rescored_accuracy").alias("accuracy"), *ci,
                                 *(pl.col(c) for c in ("chance_rate",) if c in acc.columns)))
    title = "Accuracy vs bits per weight, per task"
    if not frames:
        return Chart("accuracy_vs_bpw", title, None, ("fct_variant_benchmark_scores", "fct_variant_accuracy"))
    df = _order_by_bpw(pl.concat(frames, how="diagonal_relaxed").drop_nulls(["bits_per_weight", "accuracy"]))
    if df.height == 0:
        return Chart("accuracy_vs_bpw", title, None, ("fct_variant_benchmark_scores", "fct_variant_accuracy"))
    error = {}
    if {"ci_low", "ci_high"} <= set(df.columns):
        df = df.with_columns((pl.col("ci_high") - pl.col("accuracy")).alias("err_plus"),
                             (pl.col("accuracy") - pl.col("ci_low")).alias("err_minus"))
        error = {"error_y": "err_plus", "error_y_minus": "err_minus"}
    tasks = sorted(df["task"].unique().to_list())
    wrap = min(3, len(tasks))
    fig = px.line(df.to_pandas(), x="bits_per_weight", y="accuracy", color="model", facet_col="task",
                  facet_col_wrap=wrap, markers=True, hover_data=["quant"], category_orders={"task": tasks},
                  facet_row_spacing=0.12 if len(tasks) > wrap else 0.03,
                  labels={"bits_per_weight": "bits per weight"}, **error)
    if "chance_rate" in df.columns:
        # one dashed line at chance per panel
        chance = df.group_by("task").agg(pl.col("chance_rate").mean()).drop_nulls()
        lo, hi = df["bits_per_weight"].min(), df["bits_per_weight"].max()
        for task, rate in chance.iter_rows():
            i = tasks.index(task)
            # plotly express numbers facets from the bottom-left
            n_rows = math.ceil(len(tasks) / wrap)
            row, col = n_rows - i // wrap, i % wrap + 1
            fig.add_scatter(x=[lo, hi], y=[rate, rate], mode="lines", line={"dash": "dot", "color": "grey"},
                            name="chance", showlegend=i == 0, hoverinfo="skip", row=row, col=col)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(height=max(360, 300 * math.ceil(len(tasks) / wrap)), margin={"t": 40})
    return Chart("accuracy_vs_bpw", title, fig,
                 caption="Primary metric of each task (95% intervals); dotted: chance. Higher bits per weight = "
                         "less quantization.")


def kld_vs_bpw(m: dict) -> Chart:
    import plotly.express as px

    title = "KL divergence vs bits per weight"
    shift = m.get("fct_variant_distribution_shift")
    if not _has(shift, "variant", "kld_mean"):
        return Chart("kld_vs_bpw", title, None, ("fct_variant_distribution_shift",))
    df = shift
    variants = _variants(m)
    if not _has(df, "model", "bits_per_weight") and variants is not None:
        df = df.drop([c for c in ("model", "bits_per_weight", "quant_requested") if c in df.columns and c != "variant"])
        df = df.join(variants, on="variant", how="inner")
    if not _has(df, "model", "bits_per_weight"):
        return Chart("kld_vs_bpw", title, None, ("dim_model_variants",))
    if "is_base" in df.columns:
        df = df.filter(~pl.col("is_base").fill_null(False))
    df = _order_by_bpw(df.filter(pl.col("kld_mean") > 0).drop_nulls(["bits_per_weight"]))
    if df.height == 0:
        return Chart("kld_vs_bpw", title, None, ("fct_variant_distribution_shift",))
    hover = [c for c in ("quant_requested", "ppl_ratio", "same_top_p", "perplexity") if c in df.columns]
    fig = px.line(df.to_pandas(), x="bits_per_weight", y="kld_mean", color="model", markers=True, log_y=True,
                  hover_data=hover, labels={"kld_mean": "mean KLD vs base rung (log)", "bits_per_weight": "bits per weight"})
    fig.update_layout(height=420, margin={"t": 30})
    return Chart("kld_vs_bpw", title, fig, caption="Mean KL divergence of each rung's next-token distribution from "
                                                   "its base rung's, on WikiText-2 (the base rung itself is omitted).")


def speed_vs_size(m: dict) -> Chart:
    import plotly.express as px

    title = "Decode speed vs file size, per machine"
    board = m.get("rpt_leaderboard_by_hardware")
    if not _has(board, "variant", "decode_tok_per_s"):
        return Chart("speed_vs_size", title, None, ("rpt_leaderboard_by_hardware",))
    variants = _variants(m)
    if variants is None or "size_bytes" not in variants.columns:
        return Chart("speed_vs_size", title, None, ("dim_model_variants",))
    machine = (pl.concat_str([pl.col("device_kind").str.to_uppercase(), pl.lit(": "),
                              pl.col("device_name").fill_null(pl.col("hardware_id"))])
               if _has(board, "device_kind", "device_name", "hardware_id") else pl.lit("this machine"))
    df = board.select("variant", "decode_tok_per_s", machine.alias("machine")) \
        .join(variants.select("variant", "model", "quant_requested", (pl.col("size_bytes") / 1e6).alias("size_mb")),
              on="variant", how="inner").drop_nulls(["decode_tok_per_s", "size_mb"]).sort(["machine", "model", "size_mb"])
    if df.height == 0:
        return Chart("speed_vs_size", title, None, ("rpt_leaderboard_by_hardware",))
    machines = df["machine"].unique(maintain_order=True).to_list()
    fig = px.line(df.to_pandas(), x="size_mb", y="decode_tok_per_s", color="model", facet_col="machine",
                  facet_col_wrap=2, markers=True, text="quant_requested", category_orders={"machine": machines},
                  labels={"size_mb": "file size (MB)", "decode_tok_per_s": "decode tok/s (tg128)"})
    fig.update_traces(textposition="top center")
    fig.update_yaxes(matches=None, showticklabels=True)  # a GPU is 10-100x a CPU: one scale each
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(height=max(400, 380 * math.ceil(len(machines) / 2)), margin={"t": 40})
    return Chart("speed_vs_size", title, fig, caption="tg128 decode rate of the latest run on each machine.")


def tier_heatmap(m: dict) -> Chart:
    import plotly.graph_objects as go

    title = "Quality tier per model and quant"
    tiers = m.get("fct_quality_tiers")
    if not _has(tiers, "variant", "quality_tier"):
        return Chart("tier_heatmap", title, None, ("fct_quality_tiers",))
    df = tiers
    if not _has(df, "model", "quant_requested"):
        variants = _variants(m)
        if variants is None or "quant_requested" not in variants.columns:
            return Chart("tier_heatmap", title, None, ("dim_model_variants",))
        df = df.select("variant", "quality_tier", *(c for c in ("benchmark_delta_pp",) if c in df.columns)) \
            .join(variants, on="variant", how="inner")
    quants = sorted(df["quant_requested"].drop_nulls().unique().to_list(), key=ladder_sort_key)
    models = sorted(df["model"].unique().to_list())
    codes = {t: i for i, t in enumerate(TIER_COLOURS)}
    cell = {(r["model"], r["quant_requested"]): r for r in df.to_dicts()}
    z, text = [], []
    for model in models:
        zr, tr = [], []
        for q in quants:
            r = cell.get((model, q))
            tier = (r["quality_tier"] or "no tier") if r else None
            zr.append(codes.get(tier))
            delta = r.get("benchmark_delta_pp") if r else None
            tr.append("" if r is None else f"{tier}" + (f"<br>{delta:+.1f} pp" if isinstance(delta, (int, float)) else ""))
        z.append(zr)
        text.append(tr)
    n = len(TIER_COLOURS)
    scale = []
    for i, colour in enumerate(TIER_COLOURS.values()):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = go.Figure(go.Heatmap(z=z, x=quants, y=models, text=text, texttemplate="%{text}", colorscale=scale,
                               zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=2, ygap=2,
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=max(260, 70 * len(models) + 120), margin={"t": 30},
                      xaxis={"title": "quant (highest precision left)", "type": "category"},
                      yaxis={"type": "category", "autorange": "reversed"})
    return Chart("tier_heatmap", title, fig, caption="TR125 tiers; the worse of the benchmark and generation sides "
                                                     "decides. Blank: not measured; grey: no tier (e.g. not "
                                                     "comparable with its baseline).")


def pareto_front(m: dict) -> Chart:
    import plotly.express as px

    title = "Pareto front: quality vs size and vs cost"
    front = m.get("fct_pareto_frontier")
    if not _has(front, "frontier", "variant", "quality", "cost", "is_on_frontier"):
        return Chart("pareto_front", title, None, ("fct_pareto_frontier",))
    df = front.drop_nulls(["quality", "cost"]).with_columns(
        pl.when(pl.col("is_on_frontier")).then(pl.lit("on the front")).otherwise(pl.lit("dominated")).alias("status"),
        pl.when(pl.col("frontier").str.contains("size")).then(pl.col("cost") / 1e6).otherwise(pl.col("cost")).alias("x"),
    ).sort(["frontier", "x"])
    if df.height == 0:
        return Chart("pareto_front", title, None, ("fct_pareto_frontier",))
    frontiers = df["frontier"].unique(maintain_order=True).to_list()
    hover = [c for c in ("variant", "dominated_by") if c in df.columns]
    fig = px.scatter(df.to_pandas(), x="x", y="quality", color="status", symbol="model" if "model" in df.columns else None,
                     facet_col="frontier", category_orders={"frontier": frontiers, "status": ["on the front", "dominated"]},
                     color_discrete_map={"on the front": "#1a9850", "dominated": "#9e9e9e"}, hover_data=hover,
                     labels={"quality": "mean accuracy"})
    for i, f in enumerate(frontiers):
        on = df.filter((pl.col("frontier") == f) & pl.col("is_on_frontier")).sort("x")
        fig.add_scatter(x=on["x"].to_list(), y=on["quality"].to_list(), mode="lines", line={"color": "#1a9850"},
                        showlegend=False, hoverinfo="skip", row=1, col=i + 1)
    fig.update_xaxes(matches=None, title_text="")
    for i, f in enumerate(frontiers):
        fig.update_xaxes(title_text="file size (MB)" if "size" in f else "USD per million tokens", row=1, col=i + 1)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(height=420, margin={"t": 40})
    return Chart("pareto_front", title, fig, caption="Green: no other rung is both at least as accurate and smaller "
                                                     "(or cheaper).")


CHARTS = (accuracy_vs_bpw, kld_vs_bpw, speed_vs_size, tier_heatmap, pareto_front)


def chart_html(chart: Chart) -> str:
    import plotly.io as pio

    head = f'<h3 id="{chart.key}">{html.escape(chart.title)}</h3>'
    if chart.figure is None:
        return head + no_data(*chart.missing)
    body = pio.to_html(chart.figure, include_plotlyjs=False, full_html=False, div_id=f"chart-{chart.key}",
                       config={"displaylogo": False, "responsive": True})
    caption = f'<p class="caption">{html.escape(chart.caption)}</p>' if chart.caption else ""
    return f'{head}<div class="chart">{body}</div>{caption}'


# ─── the decision ────────────────────────────────────────────────────────────────────────────────

USE_CASES = {"smallest": "smallest", "fastest": "fastest", "most_accurate": "most accurate"}
VERDICT_COLOURS = {"baseline": "#2b6cb0", "equivalent": "#1a9850", "better": "#1a9850", "undecided": "#b7791f",
                   "not comparable": "#718096"}


def decision_html(m: dict) -> str:
    """Per memory budget (rows) and use case (columns): the rung to deploy, the verdict of the
    statistics and its evidence in one sentence, and the runner-up."""
    matrix = m.get("fct_decision_matrix")
    if not _has(matrix, "use_case", "recommended_variant"):
        return no_data("fct_decision_matrix")
    budget = "budget_label" if "budget_label" in matrix.columns else "use_case"
    order = [c for c in ("budget_low_gb",) if c in matrix.columns]
    budgets = matrix.sort(order or budget).select(budget).unique(maintain_order=True).to_series().to_list()
    cases = [c for c in USE_CASES if c in set(matrix["use_case"])] + \
        sorted(set(matrix["use_case"]) - set(USE_CASES))
    cell = {(r[budget], r["use_case"]): r for r in matrix.to_dicts()}
    rows = []
    for b in budgets:
        cells = []
        for case in cases:
            r = cell.get((b, case))
            if r is None:
                cells.append("<td>—</td>")
                continue
            label = r.get("recommended_label") or r["recommended_variant"]
            verdict = r.get("verdict")
            badge = (f' <span class="verdict" style="background:{VERDICT_COLOURS.get(verdict, "#718096")}">'
                     f"{html.escape(verdict)}</span>") if verdict else ""
            evidence = f'<div class="ev">{html.escape(r["evidence"])}</div>' if r.get("evidence") else ""
            runner = r.get("runner_up_label") or r.get("runner_up_variant")
            runner = f'<div class="ev">runner-up: {html.escape(runner)}</div>' if runner else ""
            cells.append(f"<td><b>{html.escape(label)}</b>{badge}{evidence}{runner}</td>")
        rows.append(f"<tr><th>{html.escape(str(b))}</th>{''.join(cells)}</tr>")
    header = "".join(f"<th>{html.escape(USE_CASES.get(c, c))}</th>" for c in cases)
    return (f'<table class="decision"><thead><tr><th>memory budget</th>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>'
            '<p class="caption">"undecided": the evidence does not separate the pick from the runner-up; the '
            'statistics name no winner. Memory is the measured peak where probed, else TR125\'s estimate.</p>')


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


LEADERBOARD_COLUMNS = ["model", "quant", "device_kind", "device_name", "decode_tok_per_s", "prompt_tok_per_s",
                       "accuracy", "n_benchmark_items", "perplexity", "peak_memory_bytes", "memory_kind",
                       "decode_speedup_vs_cpu", "bandwidth_share_pct", "hardware_id", "variant"]
DECISION_COLUMNS = ["budget_label", "use_case", "recommended_label", "verdict", "runner_up_label", "evidence",
                    "decode_tok_per_s", "memory_required_bytes", "fits_on", "cost_per_million_tokens_usd", "speed_flag"]
SCORE_COLUMNS = ["model", "quant_requested", "task", "scorer", "metric", "is_primary", "n", "value", "ci_low", "ci_high",
                 "chance_rate", "at_chance", "bits_per_weight", "variant"]
TIER_COLUMNS = ["model", "quant_requested", "quality_tier", "benchmark_tier", "generation_tier", "benchmark_delta_pp",
                "generation_delta_pct", "missing_side", "is_one_sided", "variant"]
COMPARISON_COLUMNS = ["model", "task", "comparison", "reference_quant", "quant", "n_items", "accuracy_delta_pp",
                      "flip_rate", "mcnemar_p_holm", "tost_equivalent_3pp", "tost_equivalent_5pp", "mde_pp",
                      "underpowered", "not_comparable_reason", "reference_variant", "variant"]
VARIANT_COLUMNS = ["model", "quant_requested", "quant_obtained", "bits_per_weight", "size_bytes", "ladder_position",
                   "is_baseline", "identical_to", "is_duplicate_rung", "gguf_sha256", "variant"]
SHIFT_COLUMNS = ["model", "quant_requested", "bits_per_weight", "kld_mean", "kld_p99", "same_top_pct", "ppl_ratio",
                 "perplexity", "perplexity_n_windows", "is_base", "variant"]
PARETO_COLUMNS = ["frontier", "model", "quant_requested", "quality", "cost", "is_on_frontier", "dominated_by", "variant"]


def _with_identity(df: pl.DataFrame | None, dim: pl.DataFrame | None) -> pl.DataFrame | None:
    """Model and quant from dim_model_variants where a mart's own are null (a speed row written
    without them still names its variant)."""
    if not _has(df, "variant") or not _has(dim, "variant", "model", "quant_requested"):
        return df
    ids = dim.select("variant", pl.col("model").alias("_m"), pl.col("quant_requested").alias("_q"))
    out = df.join(ids, on="variant", how="left")
    fills = [pl.col(c).fill_null(pl.col(src)).alias(c) for c, src in (("model", "_m"), ("quant", "_q")) if c in df.columns]
    return out.with_columns(fills).drop("_m", "_q")


def _tab(m: dict, table_id: str, mart: str, cols: list[str]) -> str:
    df = m.get(mart)
    if df is None:
        return no_data(mart)
    frame, shown = _pick(df, cols)
    return table_html(table_id, frame, mart, shown)


def build_site(marts: dict[str, pl.DataFrame | None], out_dir: Path, built_at: str = "") -> dict[str, Path]:
    """Write the pages and their assets to out_dir; returns page name -> path."""
    import plotly.offline

    out_dir.mkdir(parents=True, exist_ok=True)
    assets = out_dir / "assets"
    assets.mkdir(exist_ok=True)
    (assets / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    for f in ("tabulator.min.js", "tabulator_simple.min.css", "LICENSE.tabulator"):
        shutil.copyfile(STATIC / f, assets / f)

    marts = {**marts, "rpt_leaderboard_by_hardware": _with_identity(marts.get("rpt_leaderboard_by_hardware"),
                                                                    marts.get("dim_model_variants"))}
    index = ("<h2>Decision: which rung for your memory budget</h2>" + decision_html(marts)
             + "<h2>Leaderboard by machine</h2>" + _tab(marts, "t-leaderboard", "rpt_leaderboard_by_hardware", LEADERBOARD_COLUMNS)
             + "<h2>Decision matrix</h2>" + _tab(marts, "t-decision", "fct_decision_matrix", DECISION_COLUMNS))
    charts = "<h2>Charts</h2>" + "".join(chart_html(fn(marts)) for fn in CHARTS)
    tables = ("<h2>Quality tiers</h2>" + _tab(marts, "t-tiers", "fct_quality_tiers", TIER_COLUMNS)
              + "<h2>Benchmark scores</h2>" + _tab(marts, "t-scores", "fct_variant_benchmark_scores", SCORE_COLUMNS)
              + "<h2>Distribution shift (KLD, perplexity)</h2>"
              + _tab(marts, "t-shift", "fct_variant_distribution_shift", SHIFT_COLUMNS)
              + "<h2>Pairwise comparisons</h2>" + _tab(marts, "t-comparisons", "fct_variant_comparisons", COMPARISON_COLUMNS)
              + "<h2>Pareto front</h2>" + _tab(marts, "t-pareto", "fct_pareto_frontier", PARETO_COLUMNS)
              + "<h2>Model variants</h2>" + _tab(marts, "t-variants", "dim_model_variants", VARIANT_COLUMNS))
    written = {}
    for (filename, title), body in zip(PAGES, (index, charts, tables)):
        path = out_dir / filename
        path.write_text(_page(filename, title, body, built_at), encoding="utf-8")
        written[filename] = path
    return written
