"""Export the marts as Parquet, for people who use other tools than SQL on DuckDB."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ..core import warehouse


def export_marts(db_path: Path, out_dir: Path, schema: str = "marts") -> dict[str, int]:
    """Write every table of `schema` to <out_dir>/<table>.parquet; returns rows per table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with warehouse.connect(db_path, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]).fetchall()]
        for t in tables:
            table = con.execute(f'select * from "{schema}"."{t}"').to_arrow_table()
            pq.write_table(table, out_dir / f"{t}.parquet")
            written[t] = table.num_rows
    return written
