"""Report formatting: markdown tables (body tables narrowed to 8 columns, wide ones for the appendix),
cells and numbers, and the no-data line of a missing mart."""
from __future__ import annotations

import polars as pl

MAX_BODY_COLUMNS = 8
APPENDIX = "## Appendix: wide tables"


def md(df: pl.DataFrame | None, max_rows: int = 60) -> str:
    """A markdown table of every column (the appendix form)."""
    if df is None or df.height == 0:
        return "_no rows_"
    df = df.head(max_rows)
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.iter_rows():
        lines.append("| " + " | ".join(fmt_cell(v) for v in row) + " |")
    return "\n".join(lines)


def narrow(df: pl.DataFrame | None, max_rows: int = 60) -> str:
    """A body table: at most MAX_BODY_COLUMNS columns (the first ones are kept)."""
    if df is not None and df.width > MAX_BODY_COLUMNS:
        df = df.select(df.columns[:MAX_BODY_COLUMNS])
    return md(df, max_rows)


def fmt_cell(v) -> str:
    """One table cell: 4 significant digits, a dash for null or NaN, pipes escaped."""
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v).replace("|", "\\|")


def missing_mart(name: str) -> str:
    """The line that stands in for a mart with no rows."""
    return f"_Not available: `{name}` has no rows in this warehouse (its assets have not been materialized)._"


def pick_columns(df: pl.DataFrame | None, cols: list[str]) -> pl.DataFrame | None:
    """The columns of `cols` that the mart has, in that order."""
    if df is None:
        return None
    return df.select([c for c in cols if c in df.columns])


def as_number(v) -> float | None:
    """A float, or None for null, NaN and what is not a number."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def pp_text(v, signed: bool = True) -> str:
    """Percentage points to one decimal (signed by default), a dash when missing."""
    f = as_number(v)
    return "–" if f is None else (f"{f:+.1f}" if signed else f"{f:.1f}")


def table_widths(text: str, body_only: bool = True) -> list[int]:
    """Column counts of the markdown tables in `text` (before the appendix when body_only)."""
    if body_only:
        text = text.split(APPENDIX)[0]
    widths, inside = [], False
    for line in text.splitlines():
        if line.startswith("|") and not inside:
            widths.append(line.strip().strip("|").count("|") + 1 - line.count("\\|"))
            inside = True
        elif not line.startswith("|"):
            inside = False
    return widths
