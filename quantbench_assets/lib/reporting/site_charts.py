"""The site's charts: Plotly figures from the marts (accuracy and KLD against bits per weight, speed
against size, the tier heat map, the Pareto front), each a `Chart` that says which marts it lacks when
it has no data. The report's PNG charts are charts.py."""
from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass

import polars as pl

from ..gguf.ladder import ladder_sort_key
from .site_tables import has_columns, no_data

# Tier -> colour of the heat map's cells ("no tier": a rung the tier mart could not rate).
HEATMAP_TIER_COLOURS = {"baseline": "#2b6cb0", "negligible": "#1a9850", "acceptable": "#91cf60", "concerning": "#fc8d59",
                        "unacceptable": "#d73027", "no tier": "#bdbdbd"}


@dataclass
class Chart:
    key: str
    title: str
    figure: object | None  # a plotly Figure, or None when its marts have no data
    missing: tuple[str, ...] = ()
    caption: str = ""


def _variants(m: dict) -> pl.DataFrame | None:
    dim = m.get("dim_model_variants")
    if not has_columns(dim, "variant", "model", "bits_per_weight"):
        return None
    cols = [c for c in ("variant", "model", "quant_requested", "bits_per_weight", "size_bytes") if c in dim.columns]
    return dim.select(cols)


class _Lacking(Exception):
    """Raised by a chart builder: these marts had no data for it."""

    def __init__(self, *marts: str):
        super().__init__(*marts)
        self.marts = marts


def _chart(key: str, title: str, caption: str = ""):
    """Makes a builder (marts -> plotly figure, or _Lacking) a function that returns its `Chart`, the
    empty one naming the marts it lacked."""
    def wrap(build):
        @functools.wraps(build)
        def chart(m: dict) -> Chart:
            try:
                return Chart(key, title, build(m), caption=caption)
            except _Lacking as lacking:
                return Chart(key, title, None, lacking.marts)
        return chart
    return wrap


def _need(m: dict, mart: str, *columns: str) -> pl.DataFrame:
    """Mart `mart` when it has rows and `columns`; else the chart lacks it."""
    df = m.get(mart)
    if not has_columns(df, *columns):
        raise _Lacking(mart)
    return df


def _faceted(fig, height: int):
    """A faceted figure's panel titles read the value alone ("mmlu", not "task=mmlu")."""
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(height=height, margin={"t": 40})
    return fig


def _quant_col(df: pl.DataFrame) -> str:
    return "quant_requested" if "quant_requested" in df.columns else "quant"


def _order_by_bpw(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(["model", "bits_per_weight"])


@_chart("accuracy_vs_bpw", "Accuracy vs bits per weight, per task",
        "Primary metric of each task and scorer (95% intervals); dotted: chance. Higher bits per weight = less "
        "quantization.")
def accuracy_vs_bpw_figure(m: dict):
    """Per task and scorer: the benchmark chain's primary metric (TR125's generate_rescore: its rescored
    accuracy) against bits per weight, one line per model, Wilson intervals, chance dotted."""
    import plotly.express as px

    s = _need(m, "fct_variant_benchmark_scores", "model", "task", "bits_per_weight", "value")
    s = s.filter(pl.col("is_primary")) if "is_primary" in s.columns else s
    if "scorer" in s.columns:  # several scorers per task: one panel each
        s = s.with_columns(pl.concat_str([pl.col("task"), pl.lit(" ("), pl.col("scorer"), pl.lit(")")]).alias("task"))
    df = _order_by_bpw(s.select("model", pl.col(_quant_col(s)).alias("quant"), "task", "bits_per_weight",
                                pl.col("value").alias("accuracy"),
                                *(pl.col(c) for c in ("ci_low", "ci_high", "chance_rate") if c in s.columns))
                       .drop_nulls(["bits_per_weight", "accuracy"]))
    if df.height == 0:
        raise _Lacking("fct_variant_benchmark_scores")
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
    return _faceted(fig, max(360, 300 * math.ceil(len(tasks) / wrap)))


@_chart("kld_vs_bpw", "KL divergence vs bits per weight",
        "Mean KL divergence of each rung's next-token distribution from its base rung's, on WikiText-2 (the base "
        "rung itself is omitted).")
def kld_vs_bpw_figure(m: dict):
    import plotly.express as px

    df = _need(m, "fct_variant_distribution_shift", "variant", "kld_mean")
    variants = _variants(m)
    if not has_columns(df, "model", "bits_per_weight") and variants is not None:
        df = df.drop([c for c in ("model", "bits_per_weight", "quant_requested") if c in df.columns and c != "variant"])
        df = df.join(variants, on="variant", how="inner")
    if not has_columns(df, "model", "bits_per_weight"):
        raise _Lacking("dim_model_variants")
    if "is_base" in df.columns:
        df = df.filter(~pl.col("is_base").fill_null(False))
    df = _order_by_bpw(df.filter(pl.col("kld_mean") > 0).drop_nulls(["bits_per_weight"]))
    if df.height == 0:
        raise _Lacking("fct_variant_distribution_shift")
    hover = [c for c in ("quant_requested", "ppl_ratio", "same_top_p", "perplexity") if c in df.columns]
    fig = px.line(df.to_pandas(), x="bits_per_weight", y="kld_mean", color="model", markers=True, log_y=True,
                  hover_data=hover, labels={"kld_mean": "mean KLD vs base rung (log)", "bits_per_weight": "bits per weight"})
    fig.update_layout(height=420, margin={"t": 30})
    return fig


@_chart("speed_vs_size", "Decode speed vs file size, per machine", "tg128 decode rate of the latest run on each machine.")
def speed_vs_size_figure(m: dict):
    import plotly.express as px

    board = _need(m, "rpt_leaderboard_by_hardware", "variant", "decode_tok_per_s")
    variants = _variants(m)
    if variants is None or "size_bytes" not in variants.columns:
        raise _Lacking("dim_model_variants")
    machine = (pl.concat_str([pl.col("device_kind").str.to_uppercase(), pl.lit(": "),
                              pl.col("device_name").fill_null(pl.col("hardware_id"))])
               if has_columns(board, "device_kind", "device_name", "hardware_id") else pl.lit("this machine"))
    df = board.select("variant", "decode_tok_per_s", machine.alias("machine")) \
        .join(variants.select("variant", "model", "quant_requested", (pl.col("size_bytes") / 1e6).alias("size_mb")),
              on="variant", how="inner").drop_nulls(["decode_tok_per_s", "size_mb"]).sort(["machine", "model", "size_mb"])
    if df.height == 0:
        raise _Lacking("rpt_leaderboard_by_hardware")
    machines = df["machine"].unique(maintain_order=True).to_list()
    fig = px.line(df.to_pandas(), x="size_mb", y="decode_tok_per_s", color="model", facet_col="machine",
                  facet_col_wrap=2, markers=True, text="quant_requested", category_orders={"machine": machines},
                  labels={"size_mb": "file size (MB)", "decode_tok_per_s": "decode tok/s (tg128)"})
    fig.update_traces(textposition="top center")
    fig.update_yaxes(matches=None, showticklabels=True)  # a GPU is 10-100x a CPU: one scale each
    return _faceted(fig, max(400, 380 * math.ceil(len(machines) / 2)))


@_chart("tier_heatmap", "Quality tier per model and quant",
        "TR125 tiers; the worse of the benchmark and generation sides decides. Blank: not measured; grey: no tier "
        "(e.g. not comparable with its baseline).")
def tier_heatmap_figure(m: dict):
    import plotly.graph_objects as go

    df = _need(m, "fct_quality_tiers", "variant", "quality_tier")
    if not has_columns(df, "model", "quant_requested"):
        variants = _variants(m)
        if variants is None or "quant_requested" not in variants.columns:
            raise _Lacking("dim_model_variants")
        df = df.select("variant", "quality_tier", *(c for c in ("benchmark_delta_pp",) if c in df.columns)) \
            .join(variants, on="variant", how="inner")
    quants = sorted(df["quant_requested"].drop_nulls().unique().to_list(), key=ladder_sort_key)
    models = sorted(df["model"].unique().to_list())
    codes = {t: i for i, t in enumerate(HEATMAP_TIER_COLOURS)}
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
    n = len(HEATMAP_TIER_COLOURS)
    scale = []
    for i, colour in enumerate(HEATMAP_TIER_COLOURS.values()):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = go.Figure(go.Heatmap(z=z, x=quants, y=models, text=text, texttemplate="%{text}", colorscale=scale,
                               zmin=-0.5, zmax=n - 0.5, showscale=False, xgap=2, ygap=2,
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    fig.update_layout(height=max(260, 70 * len(models) + 120), margin={"t": 30},
                      xaxis={"title": "quant (highest precision left)", "type": "category"},
                      yaxis={"type": "category", "autorange": "reversed"})
    return fig


@_chart("pareto_front", "Pareto front: quality vs size and vs cost",
        "Green: no other rung is both at least as accurate and smaller (or cheaper).")
def pareto_front_figure(m: dict):
    import plotly.express as px

    front = _need(m, "fct_pareto_frontier", "frontier", "variant", "quality", "cost", "is_on_frontier")
    df = front.drop_nulls(["quality", "cost"]).with_columns(
        pl.when(pl.col("is_on_frontier")).then(pl.lit("on the front")).otherwise(pl.lit("dominated")).alias("status"),
        pl.when(pl.col("frontier").str.contains("size")).then(pl.col("cost") / 1e6).otherwise(pl.col("cost")).alias("x"),
    ).sort(["frontier", "x"])
    if df.height == 0:
        raise _Lacking("fct_pareto_frontier")
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
    return _faceted(fig, 420)


CHARTS = (accuracy_vs_bpw_figure, kld_vs_bpw_figure, speed_vs_size_figure, tier_heatmap_figure, pareto_front_figure)


def chart_html(chart: Chart) -> str:
    import plotly.io as pio

    head = f'<h3 id="{chart.key}">{html.escape(chart.title)}</h3>'
    if chart.figure is None:
        return head + no_data(*chart.missing)
    body = pio.to_html(chart.figure, include_plotlyjs=False, full_html=False, div_id=f"chart-{chart.key}",
                       config={"displaylogo": False, "responsive": True})
    caption = f'<p class="caption">{html.escape(chart.caption)}</p>' if chart.caption else ""
    return f'{head}<div class="chart">{body}</div>{caption}'
