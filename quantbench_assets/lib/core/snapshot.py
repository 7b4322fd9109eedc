"""Whole-table writes for unpartitioned analysis assets: each run replaces the table it owns.

warehouse.replace_rows deletes and inserts one partition's rows and refuses an empty frame; an
analysis over all variants owns the whole table, and "no comparisons yet" is a valid result.
"""
from __future__ import annotations

import polars as pl


def replace_table(con, table: str, df: pl.DataFrame, schema: str = "raw") -> int:
    """Replace `schema.table` with `df` (its columns and types) in one transaction."""
    con.execute(f'create schema if not exists "{schema}"')
    con.register("_snapshot", df.to_arrow())
    try:
        con.execute("begin transaction")
        try:
            con.execute(f'create or replace table "{schema}"."{table}" as select * from _snapshot')
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.unregister("_snapshot")
    return df.height
