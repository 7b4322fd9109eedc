"""The site's charts: Plotly figures from the marts (accuracy and KLD against bits per weight, speed
against size, the tier heat map, the Pareto front), each a `Chart` that says which marts it lacks when
it has no data. The report's PNG charts are charts.py."""
from __future__ import annotations

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


def _lacking(key: str, title: str):
    """The empty chart of `key`, naming the marts that had no data for it."""
    return lambda *marts: Chart(key, title, None, tuple(marts))


def _quant_col(df: pl.DataFrame) -> str:
    return "quant_requested" if "quant_requested" in df.columns else "quant"


def _order_by_bpw(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(["model", "bits_per_weight"])


def accuracy_vs_bpw_figure(m: dict) -> Chart:
    """Per task: the primary metric of each standard benchmark, and the generation study's rescored
    accuracy, against bits per weight, one line per model, Wilson intervals, chance dashed."""
    import plotly.express as px

    frames = []
    scores = m.get("fct_variant_benchmark_scores")
    if has_columns(scores, "model", "task", "bits_per_weight", "value"):
        s = scores.filter(pl.col("is_primary")) if "is_primary" in scores.columns else scores
        if "scorer" in s.columns:  # several scorers per task: one line each
            s = s.with_columns(pl.concat_str([pl.col("task"), pl.lit(" ("), pl.col("scorer"), pl.lit(")")]).alias("task"))
        frames.append(s.select("model", pl.col(_quant_col(s)).alias("quant"), "task", "bits_per_weight",
                               pl.col("value").alias("accuracy"),
                               *(pl.col(c) for c in ("ci_low", "ci_high", "chance_rate") if c in s.columns)))
    acc = m.get("fct_variant_accuracy")
    if has_columns(acc, "model", "task", "bits_per_weight", "rescored_accuracy"):
        ci = [pl.col(f"rescored_accuracy_{e}").alias(e) for e in ("ci_low", "ci_high")
              if f"rescored_accuracy_{e}" in acc.columns]
        frames.append(acc.select("model", pl.col(_quant_col(acc)).alias("quant"),
                                 (pl.col("task") + " (generation)").alias("task"), "bits_per_weight",
                                 pl.col("rescored_accuracy").alias("accuracy"), *ci,
                                 *(pl.col(c) for c in ("chance_rate",) if c in acc.columns)))
    title = "Accuracy vs bits per weight, per task"
    lacking = _lacking("accuracy_vs_bpw", title)
    if not frames:
        return lacking("fct_variant_benchmark_scores", "fct_variant_accuracy")
    df = _order_by_bpw(pl.concat(frames, how="diagonal_relaxed").drop_nulls(["bits_per_weight", "accuracy"]))
    if df.height == 0:
        return lacking("fct_variant_benchmark_scores", "fct_variant_accuracy")
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


def kld_vs_bpw_figure(m: dict) -> Chart:
    import plotly.express as px

    title = "KL divergence vs bits per weight"
    lacking = _lacking("kld_vs_bpw", title)
    shift = m.get("fct_variant_distribution_shift")
    if not has_columns(shift, "variant", "kld_mean"):
        return lacking("fct_variant_distribution_shift")
    df = shift
    variants = _variants(m)
    if not has_columns(df, "model", "bits_per_weight") and variants is not None:
        df = df.drop([c for c in ("model", "bits_per_weight", "quant_requested") if c in df.columns and c != "variant"])
        df = df.join(variants, on="variant", how="inner")
    if not has_columns(df, "model", "bits_per_weight"):
        return lacking("dim_model_variants")
    if "is_base" in df.columns:
        df = df.filter(~pl.col("is_base").fill_null(False))
    df = _order_by_bpw(df.filter(pl.col("kld_mean") > 0).drop_nulls(["bits_per_weight"]))
    if df.height == 0:
        return lacking("fct_variant_distribution_shift")
    hover = [c for c in ("quant_requested", "ppl_ratio", "same_top_p", "perplexity") if c in df.columns]
    fig = px.line(df.to_pandas(), x="bits_per_weight", y="kld_mean", color="model", markers=True, log_y=True,
                  hover_data=hover, labels={"kld_mean": "mean KLD vs base rung (log)", "bits_per_weight": "bits per weight"})
    fig.update_layout(height=420, margin={"t": 30})
    return Chart("kld_vs_bpw", title, fig, caption="Mean KL divergence of each rung's next-token distribution from "
                                                   "its base rung's, on WikiText-2 (the base rung itself is omitted).")


def speed_vs_size_figure(m: dict) -> Chart:
    import plotly.express as px

    title = "Decode speed vs file size, per machine"
    lacking = _lacking("speed_vs_size", title)
    board = m.get("rpt_leaderboard_by_hardware")
    if not has_columns(board, "variant", "decode_tok_per_s"):
        return lacking("rpt_leaderboard_by_hardware")
    variants = _variants(m)
    if variants is None or "size_bytes" not in variants.columns:
        return lacking("dim_model_variants")
    machine = (pl.concat_str([pl.col("device_kind").str.to_uppercase(), pl.lit(": "),
                              pl.col("device_name").fill_null(pl.col("hardware_id"))])
               if has_columns(board, "device_kind", "device_name", "hardware_id") else pl.lit("this machine"))
    df = board.select("variant", "decode_tok_per_s", machine.alias("machine")) \
        .join(variants.select("variant", "model", "quant_requested", (pl.col("size_bytes") / 1e6).alias("size_mb")),
              on="variant", how="inner").drop_nulls(["decode_tok_per_s", "size_mb"]).sort(["machine", "model", "size_mb"])
    if df.height == 0:
        return lacking("rpt_leaderboard_by_hardware")
    machines = df["machine"].unique(maintain_order=True).to_list()
    fig = px.line(df.to_pandas(), x="size_mb", y="decode_tok_per_s", color="model", facet_col="machine",
                  facet_col_wrap=2, markers=True, text="quant_requested", category_orders={"machine": machines},
                  labels={"size_mb": "file size (MB)", "decode_tok_per_s": "decode tok/s (tg128)"})
    fig.update_traces(textposition="top center")
    fig.update_yaxes(matches=None, showticklabels=True)  # a GPU is 10-100x a CPU: one scale each
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(height=max(400, 380 * math.ceil(len(machines) / 2)), margin={"t": 40})
    return Chart("speed_vs_size", title, fig, caption="tg128 decode rate of the latest run on each machine.")


def tier_heatmap_figure(m: dict) -> Chart:
    import plotly.graph_objects as go

    title = "Quality tier per model and quant"
    lacking = _lacking("tier_heatmap", title)
    tiers = m.get("fct_quality_tiers")
    if not has_columns(tiers, "variant", "quality_tier"):
        return lacking("fct_quality_tiers")
    df = tiers
    if not has_columns(df, "model", "quant_requested"):
        variants = _variants(m)
        if variants is None or "quant_requested" not in variants.columns:
            return lacking("dim_model_variants")
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
    return Chart("tier_heatmap", title, fig, caption="TR125 tiers; the worse of the benchmark and generation sides "
                                                     "decides. Blank: not measured; grey: no tier (e.g. not "
                                                     "comparable with its baseline).")


def pareto_front_figure(m: dict) -> Chart:
    import plotly.express as px

    title = "Pareto front: quality vs size and vs cost"
    lacking = _lacking("pareto_front", title)
    front = m.get("fct_pareto_frontier")
    if not has_columns(front, "frontier", "variant", "quality", "cost", "is_on_frontier"):
        return lacking("fct_pareto_frontier")
    df = front.drop_nulls(["quality", "cost"]).with_columns(
        pl.when(pl.col("is_on_frontier")).then(pl.lit("on the front")).otherwise(pl.lit("dominated")).alias("status"),
        pl.when(pl.col("frontier").str.contains("size")).then(pl.col("cost") / 1e6).otherwise(pl.col("cost")).alias("x"),
    ).sort(["frontier", "x"])
    if df.height == 0:
        return lacking("fct_pareto_frontier")
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
