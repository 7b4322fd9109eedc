"""The warehouse writer: idempotent partition replacement, growing schemas, typeless null columns."""
import duckdb
import polars as pl
import pytest

from quantbench_assets.lib.core import warehouse


def test_a_partition_whose_column_is_all_null_does_not_fix_the_column_type(tmp_path):
    db = tmp_path / "w.duckdb"
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["a", "a"], "letter": [None, None]}), {"variant": "a"})
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["b"], "letter": ["B"]}), {"variant": "b"})
    rows = duckdb.connect(str(db), read_only=True).execute("select variant, letter from raw.t order by 1, 2").fetchall()
    assert rows == [("a", None), ("a", None), ("b", "B")]


def test_rewriting_a_partition_replaces_its_rows_and_keeps_the_others(tmp_path):
    db = tmp_path / "w.duckdb"
    for key, n in (("a", 3), ("b", 2), ("a", 3), ("a", 1)):
        warehouse.write_partition(db, "t", pl.DataFrame({"variant": [key] * n, "x": list(range(n))}), {"variant": key})
    counts = duckdb.connect(str(db), read_only=True).execute("select variant, count(*) from raw.t group by 1 order by 1").fetchall()
    assert counts == [("a", 1), ("b", 2)]


def test_new_columns_are_added_and_old_rows_read_null(tmp_path):
    db = tmp_path / "w.duckdb"
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["a"], "x": [1]}), {"variant": "a"})
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["b"], "x": [2], "y": [0.5]}), {"variant": "b"})
    rows = duckdb.connect(str(db), read_only=True).execute("select variant, y from raw.t order by 1").fetchall()
    assert rows == [("a", None), ("b", 0.5)]


def test_rows_of_another_partition_are_refused(tmp_path):
    with pytest.raises(ValueError, match="must have variant = 'a'"):
        warehouse.write_partition(tmp_path / "w.duckdb", "t", pl.DataFrame({"variant": ["b"]}), {"variant": "a"})
