"""The report's charts (matplotlib, headless). Each takes a tidy DataFrame from the marts and writes
one PNG. A chart with no data to draw is not drawn: the caller records why instead of an empty image.

Reader-facing choices: quant labels on the points (a line through 4 unlabeled dots says nothing),
sizes in MB below 1 GB, Wilson intervals as error bars, the tier colours fixed across charts.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

TIER_COLOURS = {"baseline": "#2b6cb0", "negligible": "#1a9850", "acceptable": "#91cf60", "concerning": "#fc8d59",
                "unacceptable": "#d73027", None: "#9e9e9e"}
TIER_ORDER = ["negligible", "acceptable", "concerning", "unacceptable"]


class NoData(ValueError):
    """Raised when a chart's input has no rows; the message says what was missing."""


def _require(df: pl.DataFrame, cols: list[str], what: str) -> pl.DataFrame:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise NoData(f"{what}: columns {missing} not in the input")
    df = df.drop_nulls(cols)
    if df.height == 0:
        raise NoData(f"{what}: no rows with {cols} all present")
    return df


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path


def _size_axis(ax, sizes_mb) -> str:
    return "file size (MB)" if max(sizes_mb) < 1000 else "file size (GB)"


def accuracy_vs_size(df: pl.DataFrame, path: Path, task_label: str = "mean over tasks") -> Path:
    """One line per model through its quant levels; Pareto-frontier points ringed."""
    df = _require(df, ["model", "quant", "size_mb", "accuracy"], "accuracy vs size")
    big = df["size_mb"].max() >= 1000
    fig, ax = plt.subplots(figsize=(8, 5))
    for model, g in df.sort("size_mb").group_by("model", maintain_order=True):
        x = g["size_mb"] / (1000 if big else 1)
        yerr = None
        if {"ci_low", "ci_high"} <= set(g.columns) and g["ci_low"].null_count() == 0:
            yerr = [(g["accuracy"] - g["ci_low"]).to_list(), (g["ci_high"] - g["accuracy"]).to_list()]
        ax.errorbar(x, g["accuracy"], yerr=yerr, marker="o", capsize=3, label=model[0])
        for xi, yi, q in zip(x, g["accuracy"], g["quant"]):
            ax.annotate(q, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if "on_frontier" in g.columns:
            front = g.filter(pl.col("on_frontier"))
            ax.scatter(front["size_mb"] / (1000 if big else 1), front["accuracy"], s=160, facecolors="none",
                       edgecolors="black", linewidths=1.2, zorder=5)
    if "on_frontier" in df.columns:
        ax.scatter([], [], s=160, facecolors="none", edgecolors="black", label="Pareto frontier")
    ax.set_xlabel("file size (GB)" if big else "file size (MB)")
    ax.set_ylabel(f"accuracy ({task_label})")
    ax.set_title("Accuracy vs file size (95% Wilson intervals)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def accuracy_vs_bpw(df: pl.DataFrame, path: Path) -> Path:
    """One panel per task: accuracy against bits per weight, one line per model, 95% intervals as error
    bars where the input has them (ci_low, ci_high)."""
    df = _require(df, ["model", "quant", "task", "bits_per_weight", "accuracy"], "accuracy vs bits per weight")
    tasks = sorted(df["task"].unique().to_list())
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 4.2), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for model, g in df.filter(pl.col("task") == task).sort("bits_per_weight").group_by("model", maintain_order=True):
            if {"ci_low", "ci_high"} <= set(g.columns) and g["ci_low"].null_count() == 0:
                # 95% intervals: rungs scored on few items must not read as clear winners
                ax.errorbar(g["bits_per_weight"], g["accuracy"], marker="o", label=model[0], capsize=3,
                            yerr=[(g["accuracy"] - g["ci_low"]).to_list(), (g["ci_high"] - g["accuracy"]).to_list()])
            else:
                ax.plot(g["bits_per_weight"], g["accuracy"], marker="o", label=model[0])
            for xi, yi, q in zip(g["bits_per_weight"], g["accuracy"], g["quant"]):
                ax.annotate(q, (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7)
        if "chance_rate" in df.columns:
            chance = df.filter(pl.col("task") == task)["chance_rate"].mean()
            if chance is not None:
                ax.axhline(chance, ls=":", color="grey", lw=1, label="chance")
        ax.set_title(task)
        ax.set_xlabel("bits per weight")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Accuracy vs bits per weight")
    return _save(fig, path)


def speed_vs_size(df: pl.DataFrame, path: Path) -> Path:
    """Decode tokens/s against size, coloured by quality tier; one marker shape per machine
    (`device` column, e.g. CPU vs H100) so GPU results sit beside CPU ones on a log axis."""
    df = _require(df, ["model", "quant", "size_mb", "decode_tok_per_s"], "decode speed vs size")
    devices = df["device"].unique(maintain_order=True).to_list() if "device" in df.columns else [None]
    markers = ["o", "^", "s", "D"]
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    tiers_seen = set()
    for k, device in enumerate(devices):
        part = df if device is None else df.filter(pl.col("device") == device)
        tiers = part["tier"].to_list() if "tier" in part.columns else [None] * part.height
        tiers_seen |= set(tiers)
        ax.scatter(part["size_mb"], part["decode_tok_per_s"], c=[TIER_COLOURS.get(t, "#9e9e9e") for t in tiers],
                   marker=markers[k % len(markers)], s=70, edgecolors="black", linewidths=0.5)
        for row in part.iter_rows(named=True):
            ax.annotate(f"{row['model'].split('-')[0]} {row['quant']}", (row["size_mb"], row["decode_tok_per_s"]),
                        textcoords="offset points", xytext=(4, 3), fontsize=7)
        if device is not None:
            ax.scatter([], [], marker=markers[k % len(markers)], color="white", edgecolors="black", label=device)
    for t in TIER_ORDER + ["baseline", None]:
        if t in tiers_seen:
            ax.scatter([], [], color=TIER_COLOURS.get(t, "#9e9e9e"), label=t or "no tier")
    if len(devices) > 1:
        ax.set_yscale("log")
    ax.set_xlabel("file size (MB)")
    ax.set_ylabel("decode tokens/s (tg128)" + (", log scale" if len(devices) > 1 else ""))
    ax.set_title("Decode speed vs size, coloured by quality tier" + (", per machine" if len(devices) > 1 else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def tier_heatmap(df: pl.DataFrame, path: Path, quant_order: list[str]) -> Path:
    """Model x quant, coloured by tier, the benchmark delta (pp) written in each cell."""
    df = _require(df, ["model", "quant", "tier"], "tier heatmap")
    models = sorted(df["model"].unique().to_list())
    quants = [q for q in quant_order if q in set(df["quant"].to_list())]
    fig, ax = plt.subplots(figsize=(1.6 * len(quants) + 2.5, 0.9 * len(models) + 1.6))
    from matplotlib.colors import to_rgb

    grid = [[(1, 1, 1)] * len(quants) for _ in models]
    for r in df.iter_rows(named=True):
        i, j = models.index(r["model"]), quants.index(r["quant"])
        grid[i][j] = to_rgb(TIER_COLOURS.get(r["tier"], "#9e9e9e"))
        # both deltas: the tier is the worse of the two, and a reader must see which one decided it
        bench, gen = r.get("benchmark_delta_pp"), r.get("generation_delta_pct")
        if r.get("is_baseline"):
            label = "reference"
        else:
            label = (f"bench {bench:+.1f} pp" if bench is not None else "bench n/a") + "\n" + \
                    (f"gen {gen:+.1f} %" if gen is not None else "gen n/a")
        ax.text(j, i, f"{r['tier'] or '-'}\n{label}", ha="center", va="center", fontsize=7)
    ax.imshow(grid, aspect="auto")
    ax.set_xticks(range(len(quants)), quants)
    ax.set_yticks(range(len(models)), models)
    ax.set_title("Quality tier by model and quant: the worse of benchmark (pp) and generation (%) deltas")
    return _save(fig, path)


def kld_vs_bpw(df: pl.DataFrame, path: Path) -> Path:
    """Mean KL divergence and PPL ratio against bits per weight, one line per model."""
    df = _require(df, ["model", "quant", "bits_per_weight", "kld_mean", "ppl_ratio"], "KLD / PPL ratio vs bits per weight")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, g in df.sort("bits_per_weight").group_by("model", maintain_order=True):
        a1.plot(g["bits_per_weight"], g["kld_mean"], marker="o", label=model[0])
        a2.plot(g["bits_per_weight"], g["ppl_ratio"], marker="o", label=model[0])
        for xi, yi, q in zip(g["bits_per_weight"], g["kld_mean"], g["quant"]):
            a1.annotate(q, (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7)
    a1.set_yscale("symlog", linthresh=1e-3)
    a1.set_ylabel("mean KL divergence vs base (nats)")
    a2.axhline(1.0, ls=":", color="grey", lw=1)
    a2.set_ylabel("PPL ratio vs base")
    for a in (a1, a2):
        a.set_xlabel("bits per weight")
        a.grid(alpha=0.3)
    a1.legend(fontsize=8)
    fig.suptitle("Distribution shift vs bits per weight (WikiText-2)")
    return _save(fig, path)


# ─── inline previews for the Dagster UI ──────────────────────────────────────────────────────────
# Dagster 1.13's asset page renders a markdown metadata value in place only when it is shorter than
# 1,000 characters (MetadataEntry.tsx: `expandSmallValues && mdStr.length < 1000`); longer ones, like
# a PNG as a data: URI, hide behind "[Show Markdown]". A data: URI image is rendered (raw <img> HTML
# is dropped), and there is no image metadata type. So each chart also gets a compact SVG preview,
# drawn from the same frame, that fits in the limit; the full PNG stays one click away.

MD_INLINE_LIMIT = 1000
SERIES_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
PREVIEWS = {  # chart -> (x, y, log y)
    "accuracy_vs_size": ("size_mb", "accuracy", False),
    "speed_vs_size": ("size_mb", "decode_tok_per_s", False),
    "accuracy_vs_bpw": ("bits_per_weight", "accuracy", False),
    "kld_vs_bpw": ("bits_per_weight", "kld_mean", True),
}


def _svg_markdown(name: str, svg: str) -> str:
    from urllib.parse import quote

    return f"![{name}](data:image/svg+xml;utf8,{quote(svg, safe=':/=,.-_;')})"


def preview_markdown(name: str, df: pl.DataFrame, limit: int = MD_INLINE_LIMIT) -> str | None:
    """A markdown image (SVG data: URI) of the chart's lines, one per model, under `limit` characters;
    None when the chart has no preview or even the smallest one does not fit."""
    if name == "tier_heatmap":
        return _heatmap_preview(df, limit)
    if name not in PREVIEWS:
        return None
    x, y, log = PREVIEWS[name]
    if not {"model", x, y} <= set(df.columns):
        return None
    d = df.drop_nulls([x, y])
    if log:
        d = d.filter(pl.col(y) > 0).with_columns(pl.col(y).log10())
    d = d.group_by("model", x).agg(pl.col(y).mean()).sort("model", x)
    if d.height == 0:
        return None
    (x0, x1), (y0, y1) = (d[x].min(), d[x].max()), (d[y].min(), d[y].max())
    w, plot_h, pad = 240, 100, 8

    def px(v, lo, hi, size, flip=False):
        f = 0.5 if hi == lo else (v - lo) / (hi - lo)
        return round(pad + (1 - f if flip else f) * (size - 2 * pad))

    series = [(m[0], list(zip(g[x], g[y]))) for m, g in d.group_by("model", maintain_order=True)]
    for legend in (True, False):
        h = plot_h + (14 if legend else 0)  # the legend is a strip under the plot, never over a line
        parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}'>"
                 f"<rect width='{w}' height='{plot_h}' fill='white' stroke='#ccc'/>"]
        for k, (model, pts) in enumerate(series):
            c = SERIES_COLOURS[k % len(SERIES_COLOURS)]
            points = " ".join(f"{px(a, x0, x1, w)},{px(b, y0, y1, plot_h, True)}" for a, b in pts)
            if len(pts) == 1:  # a lone rung: a dot (a one-point line with round caps)
                points, width = f"{points} {points}", "6' stroke-linecap='round"
            else:
                width = "2"
            parts.append(f"<polyline points='{points}' fill='none' stroke='{c}' stroke-width='{width}'/>")
            if legend:
                parts.append(f"<text x='{2 + k * w // len(series)}' y='{h - 3}' font-size='10' fill='{c}'>"
                             f"{model[:40 // len(series) + 4]}</text>")
        md = _svg_markdown(name, "".join(parts) + "</svg>")
        if len(md) < limit:
            return md
    return None


def _heatmap_preview(df: pl.DataFrame, limit: int) -> str | None:
    if not {"model", "quant", "tier"} <= set(df.columns) or df.height == 0:
        return None
    models = sorted(df["model"].unique().to_list())
    quants = df["quant"].unique(maintain_order=True).to_list()
    if "size_mb" in df.columns:  # highest precision (largest) first
        quants = df.group_by("quant").agg(pl.col("size_mb").mean()).sort("size_mb", descending=True)["quant"].to_list()
    cw, ch = min(40, 240 // max(1, len(quants))), min(24, 120 // max(1, len(models)))
    # one cell size for all (CSS geometry properties, which Chromium and Firefox honour): fewer characters
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{cw * len(quants)}' height='{ch * len(models)}'>"
             f"<style>rect{{width:{cw - 1}px;height:{ch - 1}px}}</style>"]
    for r in df.iter_rows(named=True):
        i, j = models.index(r["model"]), quants.index(r["quant"])
        parts.append(f"<rect x='{j * cw}' y='{i * ch}' fill='{TIER_COLOURS.get(r['tier'], '#9e9e9e')}'/>")
    md = _svg_markdown("tier_heatmap", "".join(parts) + "</svg>")
    return md if len(md) < limit else None
