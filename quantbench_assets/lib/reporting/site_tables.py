"""The site's tables: Tabulator grids of the marts (a filter under every header, drop-downs for
model, quant, task and machine), the decision matrix as a page-top table, and the no-data line a missing
mart gets. Columns are selected defensively (only those present)."""
from __future__ import annotations

import html
import json
import math

import polars as pl


# Columns offered as a drop-down filter (exact match) rather than a text box.
LIST_FILTERS = {"model", "quant", "quant_requested", "quant_obtained", "task", "scorer", "metric", "device_kind",
                "device_name", "hardware_id", "quality_tier", "frontier", "comparison", "fits_on", "use_case",
                "budget_label", "verdict"}


def has_columns(df: pl.DataFrame | None, *cols: str) -> bool:
    """The mart is there and has every one of `cols`."""
    return df is not None and set(cols) <= set(df.columns)


def _pick(df: pl.DataFrame, preferred: list[str]) -> tuple[pl.DataFrame, set[str]]:
    """The preferred columns that exist first, then the rest; returns the frame and the columns shown
    at first (all when too few of the preferred exist). The others are a click away."""
    cols = [c for c in preferred if c in df.columns]
    if len(cols) < 3:
        return df, set(df.columns)
    return df.select(cols + [c for c in df.columns if c not in cols]), set(cols)


def no_data(*marts: str) -> str:
    """What stands in for a chart or table whose marts have no rows yet."""
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


# ─── grids ──────────────────────────────────────────────────────────────────────────────────────


def column_docs() -> dict[str, dict[str, str]]:
    """{mart: {column: description}} from dbt's yml files: shown as header tooltips."""
    from .dataset import mart_docs

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


# ─── the decision ────────────────────────────────────────────────────────────────────────────────

USE_CASES = {"smallest": "smallest", "fastest": "fastest", "most_accurate": "most accurate"}
VERDICT_COLOURS = {"baseline": "#2b6cb0", "equivalent": "#1a9850", "better": "#1a9850", "undecided": "#b7791f",
                   "not comparable": "#718096"}


def decision_html(m: dict) -> str:
    """Per memory budget (rows) and use case (columns): the rung to deploy, the verdict of the
    statistics and its evidence in one sentence, and the runner-up."""
    matrix = m.get("fct_decision_matrix")
    if not has_columns(matrix, "use_case", "recommended_variant"):
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


# The columns each grid shows at first; the others are behind its "all columns" switch.
LEADERBOARD_GRID_COLUMNS = ["model", "quant", "device_kind", "device_name", "decode_tok_per_s", "prompt_tok_per_s",
                            "accuracy", "n_benchmark_items", "perplexity", "peak_memory_bytes", "memory_kind",
                            "decode_speedup_vs_cpu", "bandwidth_share_pct", "hardware_id", "variant"]
DECISION_GRID_COLUMNS = ["budget_label", "use_case", "recommended_label", "verdict", "runner_up_label", "evidence",
                         "decode_tok_per_s", "memory_required_bytes", "fits_on", "cost_per_million_tokens_usd", "speed_flag"]
SCORE_GRID_COLUMNS = ["model", "quant_requested", "task", "scorer", "metric", "is_primary", "n", "value", "ci_low", "ci_high",
                      "chance_rate", "at_chance", "bits_per_weight", "variant"]
TIER_GRID_COLUMNS = ["model", "quant_requested", "quality_tier", "benchmark_tier", "generation_tier", "benchmark_delta_pp",
                     "generation_delta_pct", "missing_side", "is_one_sided", "variant"]
COMPARISON_GRID_COLUMNS = ["model", "task", "comparison", "reference_quant", "quant", "n_items", "accuracy_delta_pp",
                           "flip_rate", "mcnemar_p_holm", "tost_equivalent_3pp", "tost_equivalent_5pp", "mde_pp",
                           "underpowered", "not_comparable_reason", "reference_variant", "variant"]
VARIANT_GRID_COLUMNS = ["model", "quant_requested", "quant_obtained", "bits_per_weight", "size_bytes", "ladder_position",
                        "is_baseline", "identical_to", "is_duplicate_rung", "gguf_sha256", "variant"]
SHIFT_GRID_COLUMNS = ["model", "quant_requested", "bits_per_weight", "kld_mean", "kld_p99", "same_top_pct", "ppl_ratio",
                      "perplexity", "perplexity_n_windows", "is_base", "variant"]
PARETO_GRID_COLUMNS = ["frontier", "model", "quant_requested", "quality", "cost", "is_on_frontier", "dominated_by", "variant"]


def with_identity(df: pl.DataFrame | None, dim: pl.DataFrame | None) -> pl.DataFrame | None:
    """Model and quant from dim_model_variants where a mart's own are null (a speed row written
    without them still names its variant)."""
    if not has_columns(df, "variant") or not has_columns(dim, "variant", "model", "quant_requested"):
        return df
    ids = dim.select("variant", pl.col("model").alias("_m"), pl.col("quant_requested").alias("_q"))
    out = df.join(ids, on="variant", how="left")
    fills = [pl.col(c).fill_null(pl.col(src)).alias(c) for c, src in (("model", "_m"), ("quant", "_q")) if c in df.columns]
    return out.with_columns(fills).drop("_m", "_q")


def mart_table(m: dict, table_id: str, mart: str, cols: list[str]) -> str:
    df = m.get(mart)
    if df is None:
        return no_data(mart)
    frame, shown = _pick(df, cols)
    return table_html(table_id, frame, mart, shown)
