"""The many-writer warehouse (lib/core/warehouse_parts.py): with a parts root, writers never open the
DuckDB file; each partition is a Parquet file, replaced on re-run; raw.* are views over the files.
Shown here: the rows equal those of the single-file mode, re-loading duplicates nothing, and an
analyst's queries succeed in a third process while two processes write partitions."""
import subprocess
import sys
from pathlib import Path

import duckdb
import fsspec
import pytest

from quantbench_assets.defs.resources import WarehouseResource
from quantbench_assets.lib.core import schemas, warehouse, warehouse_parts
from quantbench_assets.lib.core.snapshot import replace_table

TABLES = ("speed_summary", "lmeval_scores", "variant_comparisons")


def _writes(res: WarehouseResource) -> None:
    """The same writes, through the resource's connection API the assets use."""
    with res.connect() as con:
        for v, tps in [("a__Q8_0", 10.0), ("a__Q4_K_M", 20.0), ("a__Q8_0", 11.0)]:  # Q8_0 re-run: replaced
            warehouse.replace_rows(con, "speed_summary", schemas.frame("speed_summary", [
                {"variant": v, "model": "a", "mean_tok_per_s": tps}]), {"variant": v})
        for v, task, n in [("a__Q8_0", "arc", 2), ("a__Q8_0", "mmlu", 3), ("a__Q4_K_M", "arc", 1), ("a__Q8_0", "arc", 1)]:
            rows = [{"variant": v, "task": task, "metric": f"acc{i}", "value": i / 10} for i in range(n)]
            warehouse.replace_rows(con, "lmeval_scores", schemas.frame("lmeval_scores", rows),
                                   {"variant": v, "task": task})
        # a null-only column and an unpartitioned snapshot, both with their declared types
        replace_table(con, "variant_comparisons", schemas.frame("variant_comparisons", [{"variant_a": "a__Q8_0"}]))


def _dump(db: Path, table: str, skip: str = ""):
    """Column names and types, and the rows in order (without the column `skip`)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        types = con.execute("select column_name, data_type from information_schema.columns where table_schema = 'raw' "
                            "and table_name = ? order by ordinal_position", [table]).fetchall()
        cols = "* exclude (" + skip + ")" if skip else "*"
        return types, con.execute(f"select {cols} from raw.{table} order by all").fetchall()
    finally:
        con.close()


def test_the_loaded_raw_layer_equals_the_single_file_rows_and_reloading_adds_nothing(tmp_path):
    single, many = tmp_path / "single.duckdb", tmp_path / "many.duckdb"
    _writes(WarehouseResource(database=str(single)))
    res = WarehouseResource(database=str(many), parts=str(tmp_path / "parts"))
    _writes(res)
    assert not many.exists()  # the writers never opened the file
    assert sorted(warehouse_parts.load_parts(many, str(tmp_path / "parts"))) == sorted(TABLES)
    warehouse_parts.load_parts(many, str(tmp_path / "parts"))  # idempotent
    with res.lock():  # what the dbt asset takes: the views are (re)made first
        pass
    for table in TABLES:
        assert _dump(many, table) == _dump(single, table), table
    assert len(_dump(many, "lmeval_scores")[1]) == 1 + 3 + 1  # the re-run arc partition replaced its 2 rows
    parts = sorted(p.relative_to(tmp_path / "parts").as_posix() for p in (tmp_path / "parts").rglob("*.parquet"))
    assert "raw/lmeval_scores/variant=a__Q8_0/task=arc/part.parquet" in parts and len(parts) == 2 + 3 + 1


def test_an_object_store_root_reads_back_the_same_rows(tmp_path):
    root = "memory://qb-parts-test/warehouse"
    try:
        res = WarehouseResource(database=str(tmp_path / "unused.duckdb"), parts=root)
        _writes(res)
        _writes(WarehouseResource(database=str(tmp_path / "single.duckdb")))
        with res.connect(read_only=True) as con:
            got = con.execute("select * from raw.lmeval_scores order by all").fetchall()
        assert got == _dump(tmp_path / "single.duckdb", "lmeval_scores")[1]
        assert not (tmp_path / "unused.duckdb").exists()
    finally:
        fsspec.filesystem("memory").rm("/qb-parts-test", recursive=True)


def test_the_mode_is_off_unless_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("QUANTBENCH_WAREHOUSE_PARTS", raising=False)
    res = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    assert res.parts_root is None
    with res.connect() as con:
        assert warehouse_parts.parts_root(con) is None
    monkeypatch.setenv("QUANTBENCH_WAREHOUSE_PARTS", str(tmp_path / "parts"))
    assert res.parts_root == str(tmp_path / "parts")


def test_a_read_only_connection_reads_marts_from_the_file_and_raw_from_the_parts(tmp_path):
    db = tmp_path / "w.duckdb"
    res = WarehouseResource(database=str(db), parts=str(tmp_path / "parts"))
    _writes(res)
    with res.lock():  # as the dbt asset does; then "dbt" builds a table and a view over raw in the file
        con = duckdb.connect(str(db))
        con.execute("create schema marts; create table marts.fct as select 42 as answer")
        con.execute("create view marts.speeds as select variant from raw.speed_summary")
        con.close()
    with res.connect(read_only=True) as con:
        assert con.execute('select answer from marts."fct"').fetchall() == [(42,)]
        assert con.execute("select count(*) from marts.speeds").fetchone() == (2,)
        assert warehouse.table_exists(con, "marts", "fct") and warehouse.table_exists(con, "raw", "speed_summary")
        assert con.execute("select count(*) from raw.speed_summary").fetchone() == (2,)
    with res.connect() as con:  # a writer's connection never opens the file
        assert not warehouse.table_exists(con, "marts", "fct")


def test_mixed_partition_keys_and_a_file_with_single_file_tables_are_refused(tmp_path):
    root = str(tmp_path / "parts")
    with warehouse_parts.connect_parts(root) as con:
        warehouse.replace_rows(con, "lmeval_scores", schemas.frame("lmeval_scores", [{"variant": "a__Q8_0", "task": "arc"}]),
                               {"variant": "a__Q8_0"})
        with pytest.raises(ValueError, match="same partition keys"):
            warehouse.replace_rows(con, "lmeval_scores", schemas.frame(
                "lmeval_scores", [{"variant": "a__Q8_0", "task": "arc"}]), {"variant": "a__Q8_0", "task": "arc"})
        with pytest.raises(ValueError, match="same partition keys"):  # another key at the top level
            warehouse.replace_rows(con, "lmeval_scores", schemas.frame(
                "lmeval_scores", [{"variant": "a__Q8_0", "task": "arc"}]), {"task": "arc"})
    with warehouse_parts.connect_parts(str(tmp_path / "other")) as con:
        for where in ({"variant": "a__Q8_0", "task": "arc"}, {"task": "arc", "variant": "a__Q8_0"}):  # one partition
            warehouse.replace_rows(con, "lmeval_scores", schemas.frame(
                "lmeval_scores", [{"variant": "a__Q8_0", "task": "arc"}]), where)
        assert con.execute("select count(*) from raw.lmeval_scores").fetchone() == (1,)
    single = tmp_path / "single.duckdb"
    warehouse.write_partition(single, "lmeval_scores", schemas.frame("lmeval_scores", [{"variant": "b__Q8_0"}]),
                              {"variant": "b__Q8_0"})
    with pytest.raises(ValueError, match="single-file mode"):
        warehouse_parts.load_parts(single, root)


WRITER = """
import sys, time
from quantbench_assets.defs.resources import WarehouseResource
from quantbench_assets.lib.core import schemas, warehouse
root, model, n, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
res = WarehouseResource(database=root + "/never.duckdb", parts=root)
start = time.time()
for i in range(n):
    v = f"{model}-{i}__Q8_0"
    with res.connect() as con:
        warehouse.replace_rows(con, "speed_summary", schemas.frame("speed_summary", [
            {"variant": v, "model": model, "mean_tok_per_s": float(i)}]), {"variant": v})
open(log, "w").write(f"{start} {time.time()}")
"""

ANALYST = """
import sys, time, pathlib, duckdb
from quantbench_assets.lib.core.warehouse_parts import connect_parts
root, done, log = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
out = []
while not done.exists():
    t0 = time.time()
    # an analyst on another machine: plain DuckDB over the Parquet files, then the raw views
    n_files = duckdb.sql(f"select count(*) from read_parquet('{root}/raw/speed_summary/**/*.parquet')").fetchone()[0] \
        if list(pathlib.Path(root).glob("raw/speed_summary/*/part.parquet")) else 0
    with connect_parts(root, read_only=True) as con:
        has = con.execute("select count(*) from information_schema.tables where table_name = 'speed_summary'").fetchone()[0]
        rows, distinct = con.execute("select count(*), count(distinct variant) from raw.speed_summary").fetchone() \
            if has else (0, 0)
    out.append(f"{t0} {time.time()} {n_files} {rows} {distinct}")
    time.sleep(0.01)
open(log, "w").write("\\n".join(out))
"""


def test_an_analyst_query_runs_while_two_processes_backfill_partitions(tmp_path):
    root, done = tmp_path / "parts", tmp_path / "done"
    root.mkdir()
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "analyst.py").write_text(ANALYST)
    analyst = subprocess.Popen([sys.executable, str(tmp_path / "analyst.py"), str(root), str(done),
                                str(tmp_path / "analyst.log")])
    n = 25
    writers = [subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(root), model, str(n),
                                 str(tmp_path / f"{model}.log")]) for model in ("alpha", "beta")]
    try:
        assert [w.wait(timeout=300) for w in writers] == [0, 0]
    finally:
        done.touch()
    assert analyst.wait(timeout=120) == 0
    spans = [tuple(map(float, (tmp_path / f"{m}.log").read_text().split())) for m in ("alpha", "beta")]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    queries = [line.split() for line in (tmp_path / "analyst.log").read_text().splitlines()]
    during = [q for q in queries if float(q[0]) > first and float(q[1]) < last]
    assert len(during) >= 3, f"{len(during)} analyst queries during the writes ({len(queries)} in all)"
    assert all(int(q[3]) == int(q[4]) for q in queries)  # never a duplicated partition
    assert any(0 < int(q[3]) < 2 * n for q in during)  # the analyst saw the backfill in progress
    with warehouse_parts.connect_parts(str(root)) as con:
        assert con.execute("select count(*), count(distinct variant) from raw.speed_summary").fetchone() == (2 * n, 2 * n)
    assert not (root / "never.duckdb").exists()


def test_an_asset_writes_its_partition_as_a_part_through_the_resource(catalog_pipeline, qb_env, monkeypatch):
    """model_catalog, unchanged, writes raw.catalog_models: as a Parquet part with the mode on, with
    the same rows as into the file with it off."""
    run = catalog_pipeline(lambda catalog: None)
    assert run(["model_catalog"]).success
    single = _dump(qb_env / "warehouse.duckdb", "catalog_models", skip="loaded_at")  # when each run read it
    (qb_env / "warehouse.duckdb").unlink()
    monkeypatch.setenv("QUANTBENCH_WAREHOUSE_PARTS", str(qb_env / "parts"))
    assert run(["model_catalog"]).success
    assert not (qb_env / "warehouse.duckdb").exists()
    assert (qb_env / "parts/raw/catalog_models/_all=1/part.parquet").is_file()
    warehouse_parts.load_parts(qb_env / "warehouse.duckdb", str(qb_env / "parts"))
    assert _dump(qb_env / "warehouse.duckdb", "catalog_models", skip="loaded_at") == single
