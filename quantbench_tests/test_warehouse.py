"""The warehouse writer: idempotent partition replacement, declared schemas (lib/core/schemas.py)
enforced on every write, typeless null columns landing with their declared type."""
import duckdb
import polars as pl
import pytest

from quantbench_assets.lib.core import schemas, warehouse
from quantbench_assets.lib.core.snapshot import replace_table

# A scratch table declared by the test itself (the `columns` argument), for the generic behaviours.
T = {"variant": "VARCHAR", "letter": "VARCHAR", "x": "BIGINT", "y": "DOUBLE"}


def _types(db, table):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute("select column_name, data_type from information_schema.columns "
                                "where table_schema = 'raw' and table_name = ?", [table]).fetchall())
    finally:
        con.close()


def test_a_partition_whose_column_is_all_null_does_not_fix_the_column_type(tmp_path):
    db = tmp_path / "w.duckdb"
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["a", "a"], "letter": [None, None]}), {"variant": "a"},
                              columns=T)
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["b"], "letter": ["B"]}), {"variant": "b"}, columns=T)
    rows = duckdb.connect(str(db), read_only=True).execute("select variant, letter from raw.t order by 1, 2").fetchall()
    assert rows == [("a", None), ("a", None), ("b", "B")]


def test_an_all_null_column_of_a_raw_table_lands_with_its_declared_type(tmp_path):
    db = tmp_path / "w.duckdb"
    # the first partition has no truncation check: four all-null columns (polars type Null)
    row = {"variant": "m__Q8_0", "kld_mean": 0.01, "check_windows": None, "kld_full_mean_check": None,
           "kld_topk_mean_check": None, "kld_topk_gap_pct": None, "base_variant": None}
    df = pl.DataFrame([row])
    assert df.schema["check_windows"] == pl.Null
    warehouse.write_partition(db, "distribution_shift", df, {"variant": "m__Q8_0"})
    types = _types(db, "distribution_shift")
    assert types["check_windows"] == "BIGINT" and types["kld_topk_gap_pct"] == "DOUBLE"
    assert types["base_variant"] == "VARCHAR" and set(types) == set(schemas.RAW["distribution_shift"])
    # the next partition fills them
    warehouse.write_partition(db, "distribution_shift", pl.DataFrame([{**row, "variant": "m__Q2_K", "check_windows": 1,
                                                                      "kld_topk_gap_pct": -3.5, "base_variant": "m__F16"}]),
                              {"variant": "m__Q2_K"})


def test_a_misnamed_column_is_refused_with_the_table_and_the_column(tmp_path):
    df = pl.DataFrame([{"variant": "m__Q8_0", "kld_maen": 0.01}])
    with pytest.raises(schemas.SchemaError, match=r"raw\.distribution_shift: column 'kld_maen' is not declared"):
        warehouse.write_partition(tmp_path / "w.duckdb", "distribution_shift", df, {"variant": "m__Q8_0"})


def test_a_mistyped_column_is_refused_with_expected_and_received_types(tmp_path):
    df = pl.DataFrame([{"variant": "m__Q8_0", "kld_mean": "0.01"}])
    with pytest.raises(schemas.SchemaError, match=r"raw\.distribution_shift\.kld_mean: expected DOUBLE, got String"):
        warehouse.write_partition(tmp_path / "w.duckdb", "distribution_shift", df, {"variant": "m__Q8_0"})


def test_an_undeclared_table_is_refused(tmp_path):
    with pytest.raises(schemas.SchemaError, match=r"raw\.no_such_table is not a declared table"):
        warehouse.write_partition(tmp_path / "w.duckdb", "no_such_table", pl.DataFrame({"variant": ["a"]}),
                                  {"variant": "a"})


def test_a_column_typed_integer_by_an_old_all_null_write_is_retyped_to_its_declaration(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema raw")
    con.execute("create table raw.generation_scores (variant varchar, metric varchar, value double, null_reason integer)")
    con.execute("insert into raw.generation_scores values ('a', 'bleu', 0.5, null)")
    con.close()
    warehouse.write_partition(db, "generation_scores", pl.DataFrame([{"variant": "b", "metric": "bleu", "value": None,
                                                                      "null_reason": "empty output"}]), {"variant": "b"})
    assert _types(db, "generation_scores")["null_reason"] == "VARCHAR"


def test_an_empty_snapshot_still_has_every_declared_column(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert replace_table(con, "variant_comparisons", pl.DataFrame()) == 0
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_name = 'variant_comparisons'").fetchall())
    assert types["computed_at"] == "TIMESTAMP WITH TIME ZONE" and types["underpowered"] == "BOOLEAN"
    with pytest.raises(schemas.SchemaError, match=r"raw\.variant_comparisons: column 'delta' is not declared"):
        replace_table(con, "variant_comparisons", pl.DataFrame([{"model": "m", "delta": 1.0}]))


def test_rewriting_a_partition_replaces_its_rows_and_keeps_the_others(tmp_path):
    db = tmp_path / "w.duckdb"
    for key, n in (("a", 3), ("b", 2), ("a", 3), ("a", 1)):
        warehouse.write_partition(db, "t", pl.DataFrame({"variant": [key] * n, "x": list(range(n))}), {"variant": key},
                                  columns=T)
    counts = duckdb.connect(str(db), read_only=True).execute("select variant, count(*) from raw.t group by 1 order by 1").fetchall()
    assert counts == [("a", 1), ("b", 2)]


def test_new_columns_are_added_and_old_rows_read_null(tmp_path):
    db = tmp_path / "w.duckdb"
    old = {"variant": "VARCHAR", "x": "BIGINT"}
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["a"], "x": [1]}), {"variant": "a"}, columns=old)
    warehouse.write_partition(db, "t", pl.DataFrame({"variant": ["b"], "x": [2], "y": [0.5]}), {"variant": "b"},
                              columns=T)
    rows = duckdb.connect(str(db), read_only=True).execute("select variant, y from raw.t order by 1").fetchall()
    assert rows == [("a", None), ("b", 0.5)]


def test_rows_of_another_partition_are_refused(tmp_path):
    with pytest.raises(ValueError, match="must have variant = 'a'"):
        warehouse.write_partition(tmp_path / "w.duckdb", "t", pl.DataFrame({"variant": ["b"]}), {"variant": "a"},
                                  columns=T)
