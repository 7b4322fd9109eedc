"""Whole-table writes for unpartitioned analysis assets: each run replaces the table it owns.

warehouse.replace_rows deletes and inserts one partition's rows and refuses an empty frame; an
analysis over all variants owns the whole table, and "no comparisons yet" is a valid result. The
table is recreated from its declaration (lib/core/schemas.py), so an empty result still has every
column with its type.
"""
from __future__ import annotations

import polars as pl

from . import schemas
from .warehouse_parts import parts_root, write_part


def replace_table(con, table: str, df: pl.DataFrame, schema: str = "raw") -> int:
    """Replace `schema.table` with `df`, cast to the table's declared columns, in one transaction."""
    declared = schemas.columns(schema, table)
    df = schemas.complete(schemas.conform(df, schema, table, declared), declared)
    root = parts_root(con)
    if root is not None:  # many-writer mode: the whole table is one part file
        return write_part(con, root, schema, table, df, {})
    cols = ", ".join(f'"{c}" {t}' for c, t in declared.items())
    con.execute(f'create schema if not exists "{schema}"')
    con.register("_snapshot", df.to_arrow())
    try:
        con.execute("begin transaction")
        try:
            con.execute(f'create or replace table "{schema}"."{table}" ({cols})')
            con.execute(f'insert into "{schema}"."{table}" by name select * from _snapshot')
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_snapshot")
    return df.height
