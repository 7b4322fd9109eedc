"""Writes to the DuckDB warehouse: one writer at a time, idempotent per partition, declared types.

DuckDB allows one writing process per file, and a second process, even read-only, fails with
"Could not set lock on file". Every connection here is taken under an exclusive file lock
(`<db>.lock`) that waits instead of failing, so parallel runs queue for the few milliseconds a write
takes. A partition's rows are replaced in one transaction: delete its rows, insert the new ones.

Every raw table's columns and types are declared once, in lib/core/schemas.py. The writers cast an
incoming frame to that declaration (an all-null column lands with its declared type, not as
INTEGER) and refuse a column that is not declared or whose values are of another kind, naming the
table, the column, the declared type and the type received.

Many-writer mode (a parts root: QUANTBENCH_WAREHOUSE_PARTS or WarehouseResource.parts, a folder or an
fsspec URL; off by default): writers never open the DuckDB file. A partition's rows become one Parquet
file, <root>/raw/<table>/<key>=<value>/.../part.parquet, written under a temporary name and moved over
the old one, so re-running a partition replaces it and a reader sees the old file or the new one.
Connections are in-memory DuckDB with raw.<table> as views over those files (read_parquet), so any
number of processes, on any machine that reaches the root, write and query at once. load_parts()
makes the same views in the DuckDB file for dbt, idempotently (warehouse_parts.py holds this mode).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import duckdb
import polars as pl
from filelock import FileLock

from . import schemas
from . import warehouse_parts as parts

LOCK_TIMEOUT_S = 1800


def lock_for(db_path: Path | str) -> FileLock:
    return FileLock(str(db_path) + ".lock", timeout=LOCK_TIMEOUT_S)


@contextmanager
def connect(db_path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_for(db_path):
        con = duckdb.connect(str(db_path), read_only=read_only and db_path.exists())
        try:
            yield con
        finally:
            con.close()


def _ensure_table(con, schema: str, table: str, declared: Mapping[str, str]) -> None:
    """Create the table with every declared column; bring an older table to the declaration: add
    the columns it lacks (old rows read null) and retype a column created from an all-null frame
    (INTEGER) before types were declared. DuckDB refuses the retype if a stored value cannot cast."""
    con.execute(f'create schema if not exists "{schema}"')
    cols = ", ".join(f'"{c}" {t}' for c, t in declared.items())
    con.execute(f'create table if not exists "{schema}"."{table}" ({cols})')
    existing = dict(con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table]).fetchall())
    for name, dtype in declared.items():
        if name not in existing:
            con.execute(f'alter table "{schema}"."{table}" add column "{name}" {dtype}')
        elif existing[name] != dtype:
            con.execute(f'alter table "{schema}"."{table}" alter column "{name}" type {dtype}')


def replace_rows(con, table: str, df: pl.DataFrame, where: dict[str, object], schema: str = "raw",
                 columns: Mapping[str, str] | None = None) -> int:
    """Replace the rows matching `where` (e.g. {"variant": key}) with `df`, atomically.
    `columns`: the declaration of a table outside lib/core/schemas.py (tests' scratch tables).
    On a many-writer connection the partition becomes a Parquet file instead (warehouse_parts.py)."""
    if df.height == 0:
        raise ValueError(f"refusing to write 0 rows to {schema}.{table} for {where}")
    declared = columns if columns is not None else schemas.columns(schema, table)
    df = schemas.conform(df, schema, table, declared)
    for col, val in where.items():
        if col not in df.columns or df[col].n_unique() != 1 or df[col][0] != val:
            raise ValueError(f"every row written to {schema}.{table} must have {col} = {val!r}")
    root = parts.parts_root(con)
    if root is not None:
        return parts.write_part(con, root, schema, table, schemas.complete(df, declared), where)
    _ensure_table(con, schema, table, declared)
    cond = " and ".join(f'"{c}" = ?' for c in where)
    con.execute("begin transaction")
    try:
        con.execute(f'delete from "{schema}"."{table}" where {cond}', list(where.values()))
        con.register("_incoming", df.to_arrow())
        con.execute(f'insert into "{schema}"."{table}" by name select * from _incoming')
        con.unregister("_incoming")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return df.height


def write_partition(db_path: Path | str, table: str, df: pl.DataFrame, where: dict[str, object],
                    schema: str = "raw", columns: Mapping[str, str] | None = None) -> int:
    with connect(db_path) as con:
        return replace_rows(con, table, df, where, schema, columns)


def read_query(db_path: Path | str, sql: str, params: list | None = None) -> pl.DataFrame:
    with connect(db_path, read_only=True) as con:
        return con.execute(sql, params or []).pl()


def table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table]).fetchone()[0])
