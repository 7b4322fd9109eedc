"""Writes to the DuckDB warehouse: one writer at a time, idempotent per partition.

DuckDB allows one writing process per file, and a second process, even read-only, fails with
"Could not set lock on file" (FACTS.md). Every connection here is taken under an exclusive file lock
(`<db>.lock`) that waits instead of failing, so parallel runs queue for the few milliseconds a write
takes. A partition's rows are replaced in one transaction: delete its rows, insert the new ones.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import polars as pl
from filelock import FileLock

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


def _ensure_table(con, schema: str, table: str, df: pl.DataFrame) -> None:
    con.execute(f'create schema if not exists "{schema}"')
    con.register("_incoming", df.to_arrow())
    try:
        con.execute(f'create table if not exists "{schema}"."{table}" as select * from _incoming limit 0')
        existing = {r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, table]).fetchall()}
        described = con.execute("describe select * from _incoming").fetchall()
        for name, dtype, *_ in described:
            if name not in existing:  # schema grows with new metrics; old rows get null
                con.execute(f'alter table "{schema}"."{table}" add column "{name}" {dtype}')
    finally:
        con.unregister("_incoming")


def replace_rows(con, table: str, df: pl.DataFrame, where: dict[str, object], schema: str = "raw") -> int:
    """Replace the rows matching `where` (e.g. {"variant": key}) with `df`, atomically."""
    if df.height == 0:
        raise ValueError(f"refusing to write 0 rows to {schema}.{table} for {where}")
    # A column that is all null in this partition has no type; DuckDB would create it as INTEGER and
    # the next partition's strings would fail to cast. Write such columns as text.
    df = df.with_columns(pl.col(c).cast(pl.String) for c, dt in df.schema.items() if dt == pl.Null)
    for col, val in where.items():
        if col not in df.columns or df[col].n_unique() != 1 or df[col][0] != val:
            raise ValueError(f"every row written to {schema}.{table} must have {col} = {val!r}")
    _ensure_table(con, schema, table, df)
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
                    schema: str = "raw") -> int:
    with connect(db_path) as con:
        return replace_rows(con, table, df, where, schema)


def read_query(db_path: Path | str, sql: str, params: list | None = None) -> pl.DataFrame:
    with connect(db_path, read_only=True) as con:
        return con.execute(sql, params or []).pl()


def table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table]).fetchone()[0])
