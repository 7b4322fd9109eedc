"""The publishable dataset folder: one Parquet file per mart in a Hugging Face dataset repo's layout,
row for row, and a dataset card whose YAML front-matter lists every table as a config. Built from the
site test's warehouse (test_marts' known data through the real dbt project)."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from quantbench_assets.lib.reporting import dataset
from quantbench_tests.test_site import site_warehouse  # noqa: F401  (the module-scoped fixture)


@pytest.fixture(scope="module")
def exported(site_warehouse, tmp_path_factory) -> tuple[Path, dict[str, int], Path]:  # noqa: F811
    out = tmp_path_factory.mktemp("dataset") / "dataset"
    (out / "data" / "a_mart_that_was_dropped").mkdir(parents=True)
    written = dataset.export_dataset(site_warehouse, out, built_at="2026-12-02 06:00 UTC")
    return out, written, site_warehouse


def mart_rows(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'marts'").fetchall()]
        return {n: con.execute(f'select count(*) from marts."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


def test_one_parquet_file_per_mart_row_for_row(exported):
    out, written, db = exported
    rows = mart_rows(db)
    assert len(rows) >= 8 and written == rows
    folders = sorted(p.name for p in (out / "data").iterdir())
    assert folders == sorted(rows)  # the stale folder is gone
    for mart, n in rows.items():
        files = list((out / "data" / mart).glob("*.parquet"))
        assert [f.name for f in files] == [dataset.PARQUET_NAME]
        assert pl.read_parquet(files[0]).height == n, mart


def test_the_card_front_matter_parses_and_lists_every_config(exported):
    out, written, _ = exported
    card = (out / "README.md").read_text()
    meta = dataset.front_matter(card)
    assert meta["license"] and meta["pretty_name"] and "quantization" in meta["tags"]
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert set(configs) == set(written)
    for name, files in configs.items():
        assert files == [{"split": "train", "path": f"data/{name}/*.parquet"}]
        assert list(out.glob(files[0]["path"])), name


def test_the_card_documents_schema_provenance_licences_and_commands(exported):
    out, written, db = exported
    card = (out / "README.md").read_text()
    for section in ("## Schema", "## Provenance", "## Licences", "## How it was produced"):
        assert section in card
    # every column of every table with its type, and dbt's description where the yml has one
    docs = dataset.mart_docs()
    con = duckdb.connect(str(db), read_only=True)
    n_described = 0
    for mart in written:
        section = card.split(f"### {mart}\n")[1].split("\n### ")[0]
        for column, dtype, *_ in con.execute(f'describe marts."{mart}"').fetchall():
            described = docs.get(mart, {}).get("columns", {}).get(column, "")
            assert f"| `{column}` | {dtype} | {described} |" in section, (mart, column)
            n_described += bool(described)
    con.close()
    assert n_described >= 10
    # provenance from the warehouse: every rung's sha256, the engine build, the machine, the dates
    assert "| tiny-lm | tiny-lm__Q4_K_M | Q4_K_M | Q4_K_M | a3 |" in card
    assert "- `test`" in card and "Test CPU (2 cores)" in card and "Measured between 2026-11-22" in card
    # each benchmark source with its licence, from data/benchmarks/SOURCES.md
    assert "| cais/mmlu (hendrycks test) | MIT |" in card and "CC BY-SA 4.0" in card
    assert "dataset_export" in card


def test_an_empty_warehouse_gives_a_card_and_no_tables(tmp_path):
    written = dataset.export_dataset(tmp_path / "absent.duckdb", tmp_path / "out")
    assert written == {}
    assert dataset.front_matter((tmp_path / "out" / "README.md").read_text())["configs"] == []
