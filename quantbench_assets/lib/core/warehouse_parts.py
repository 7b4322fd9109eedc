"""The many-writer warehouse: raw rows as Parquet files in a partitioned layout that any number of
processes, on any machine that reaches the folder or URL, write and query at once.

DuckDB lets one process hold a database file for writing and no other process open it meanwhile (not
even read-only), so in this mode writers never open the file. The layout under the parts root:

    <root>/<schema>/<table>/<key>=<value>[/<key>=<value>...]/part.parquet

one file per partition, the `where` of replace_rows (values URL-quoted). A write uploads the new file
under a temporary name and moves it over the old one (a rename on a filesystem, an atomic put on an
object store): re-running a partition replaces its file, and a reader sees the old rows or the new.
Reading is DuckDB over the files: raw.<table> is a view on read_parquet(<table>/**/*.parquet) with the
declared columns and types (lib/core/schemas.py), so the rows equal those the single-file mode stores.
load_parts() puts the same views in the DuckDB file for dbt and for analysts who open the file;
re-loading is idempotent (views, not copies: no row is loaded twice).
"""
from __future__ import annotations

import io
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import duckdb
import polars as pl

from . import schemas
from .store import local_folder

PARTS_VARIABLE = "quantbench_parts_root"  # set on a many-writer connection: replace_rows writes files
PART_FILE = "part.parquet"


def _fs(root: str):
    """(fsspec filesystem, its path of the root, the root as DuckDB reads it)."""
    import fsspec

    folder = local_folder(root)
    if folder is not None:
        folder = folder.expanduser().resolve()
        return fsspec.filesystem("file"), folder.as_posix(), folder.as_posix()
    fs, path = fsspec.core.url_to_fs(root)
    return fs, path.rstrip("/"), str(root).rstrip("/")


def partition_dir(schema: str, table: str, where: dict[str, object], order: list[str] | None = None) -> str:
    """The partition's folder relative to the root: <schema>/<table>/<key>=<value>/..., the keys in the
    order of `order` (the table's columns), so {"variant", "task"} and {"task", "variant"} are one folder."""
    keys = sorted(where, key=order.index) if order else list(where)
    return "/".join([schema, table, *(f"{quote(str(k), safe='')}={quote(str(where[k]), safe='')}" for k in keys)])


def parts_root(con) -> str | None:
    """The parts root of a many-writer connection, None for a connection on the DuckDB file."""
    try:
        return con.execute(f"select getvariable('{PARTS_VARIABLE}')").fetchone()[0]
    except duckdb.Error:
        return None


def write_part(con, root: str, schema: str, table: str, df: pl.DataFrame, where: dict[str, object]) -> int:
    """Replace the partition `where` of `schema.table` with `df` (conformed, every declared column).
    A narrower `where` replaces every finer partition under it, as a DELETE ... WHERE would."""
    fs, base, _ = _fs(root)
    rel = partition_dir(schema, table, where, df.columns)
    levels = rel.split("/")
    for depth in range(2, len(levels)):
        # a coarser partition's file, or partitions by another key, would hold these rows too
        here = f"{base}/{'/'.join(levels[:depth])}"
        key = levels[depth].split("=", 1)[0] + "="
        names = [_name(p) for p in fs.ls(here, detail=False)] if fs.exists(here) else []
        if any(n.endswith(".parquet") or not n.startswith(key) for n in names if not n.startswith(".")):
            raise ValueError(f"{schema}.{table}: {here} holds parts not partitioned by {levels[depth]!r}'s key, "
                             f"so partition {where} would overlap them; write the table with the same partition "
                             "keys every time")
    folder = f"{base}/{rel}"
    final = f"{folder}/{PART_FILE}"
    buf = io.BytesIO()
    df.write_parquet(buf)
    fs.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{PART_FILE}.{uuid.uuid4().hex[:8]}.partial"
    fs.pipe_file(tmp, buf.getvalue())
    fs.mv(tmp, final)
    for stale in fs.find(folder):  # finer partitions replaced by this one
        if stale.endswith(".parquet") and stale != final:
            fs.rm(stale)
    # the view globs at query time, so a table's first part is the only one that needs it (re)made
    if not con.execute("select count(*) from information_schema.tables where table_catalog = current_database() "
                       "and table_schema = ? and table_name = ?", [schema, table]).fetchone()[0]:
        _view(con, root, schema, table)
    return df.height


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def tables(root: str, schema: str = "raw") -> list[str]:
    """The tables that have at least one part file under `root`."""
    fs, base, _ = _fs(root)
    if not fs.exists(f"{base}/{schema}"):
        return []
    out = []
    for entry in fs.ls(f"{base}/{schema}", detail=True):
        if entry["type"] == "directory" and any(f.endswith(".parquet") for f in fs.find(entry["name"])):
            out.append(_name(entry["name"]))
    return sorted(out)


def _quote_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_sql(con, root: str, schema: str, table: str) -> str:
    """The SELECT that reads a table's part files with its declared columns, in declared order."""
    _, _, reader = _fs(root)
    scan = (f"read_parquet({_quote_sql(f'{reader}/{schema}/{table}/**/*.parquet')}, union_by_name = true, "
            "hive_partitioning = false)")
    try:
        declared = schemas.columns(schema, table)
    except schemas.SchemaError:  # a scratch table: what the files hold
        return f"select * from {scan}"
    present = {r[0] for r in con.execute(f"describe select * from {scan}").fetchall()}
    cols = ", ".join(f'cast("{c}" as {t}) as "{c}"' if c in present else f'cast(null as {t}) as "{c}"'
                     for c, t in declared.items())
    return f"select {cols} from {scan}"


def _view(con, root: str, schema: str, table: str) -> None:
    con.execute(f'create schema if not exists "{schema}"')
    con.execute(f'create or replace view "{schema}"."{table}" as {view_sql(con, root, schema, table)}')


def _register(con, root: str) -> None:
    if local_folder(root) is None:  # DuckDB reads an object store through the same fsspec filesystem
        fs, _, _ = _fs(root)
        if not any(p in con.list_filesystems() for p in ([fs.protocol] if isinstance(fs.protocol, str) else fs.protocol)):
            con.register_filesystem(fs)


def attach_views(con, root: str, schema: str = "raw") -> list[str]:
    """raw.<table> views over the part files on `con`, one per table written so far."""
    _register(con, root)
    names = tables(root, schema)
    for table in names:
        _view(con, root, schema, table)
    return names


@contextmanager
def connect_parts(root: str, db_path: Path | str | None = None,
                  read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A many-writer connection: in memory, raw.* read from the part files, replace_rows writing them.
    The DuckDB file (dbt's marts) is attached read-only, under its lock, for a read-only connection
    only, so a writer never holds it."""
    from .warehouse import lock_for

    con = duckdb.connect(":memory:")
    try:
        con.execute(f"set variable {PARTS_VARIABLE} = {_quote_sql(str(root))}")
        attach_views(con, root)
        con.execute("create schema if not exists raw")
        if read_only and db_path is not None and Path(db_path).exists():
            with lock_for(db_path):
                # under the file's own name: dbt's views in it name their tables by that catalog
                name = Path(db_path).stem
                con.execute(f'attach {_quote_sql(str(Path(db_path)))} as "{name}" (read_only)')
                # raw.* from the parts first; marts.* and the rest from the file
                in_file = [r[0] for r in con.execute("select schema_name from information_schema.schemata "
                                                     "where catalog_name = ?", [name]).fetchall()]
                path = ",".join(["memory.main", "memory.raw", *(f'"{name}"."{s}"' for s in in_file if s != "raw")])
                con.execute(f"set search_path = {_quote_sql(path)}")
                yield con
                return
        yield con
    finally:
        con.close()


def load_parts(db_path: Path | str, root: str, schema: str = "raw") -> list[str]:
    """Make the raw layer of the DuckDB file views over the part files (for dbt and for analysts who
    open the file), under the file's lock. Idempotent: a re-load gives the same views, same rows."""
    from .warehouse import connect

    with connect(db_path) as con:
        _register(con, root)
        existing = dict(con.execute("select table_name, table_type from information_schema.tables "
                                    "where table_schema = ?", [schema]).fetchall())
        names = tables(root, schema)
        clash = [t for t in names if existing.get(t) == "BASE TABLE"]
        if clash:
            raise ValueError(f"{db_path}: {schema}.{', '.join(clash)} are tables written in single-file mode; "
                             "the many-writer mode reads its parts instead: use another database file")
        for table in names:
            _view(con, root, schema, table)
        return names


@contextmanager
def loaded_lock(db_path: Path | str, root: str) -> Iterator[None]:
    """The file's lock, for a tool that opens the file itself (dbt), with the raw views loaded first."""
    from .warehouse import lock_for

    load_parts(db_path, root)
    with lock_for(db_path):
        yield
