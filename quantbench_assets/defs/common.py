"""Small glue shared by the asset modules: turning library errors into clear Dagster failures."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from quantbench_assets.lib.catalog.entries import Catalog, CatalogError, load_catalog
from quantbench_assets.lib.core.store import ArtifactStore
from quantbench_assets.lib.gguf.rungs import read_manifest

from .resources import StorageResource, WarehouseResource


def catalog_or_fail(storage: StorageResource) -> Catalog:
    try:
        return load_catalog(storage.catalog(), storage.incoming())
    except CatalogError as e:
        raise dg.Failure(description=str(e)) from None


def store_of(storage: StorageResource) -> ArtifactStore:
    return ArtifactStore(storage.artifacts())


def db_path(duckdb: DuckDBResource) -> Path:
    """For assets not yet migrated to WarehouseResource.connect() (they reach the same file)."""
    return Path(duckdb.database)


def warehouse_of(duckdb: WarehouseResource | DuckDBResource) -> WarehouseResource:
    """The warehouse resource; tests that still bind a plain DuckDBResource get it wrapped."""
    return duckdb if isinstance(duckdb, WarehouseResource) else WarehouseResource(database=str(duckdb.database))


def md_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)


def rung_or_fail(storage: StorageResource, key: str, asset: str) -> tuple[ArtifactStore, dict]:
    """The artifact store and the built rung's manifest for a variant partition; a rung that is not
    built fails this partition alone, naming the asset and the partition."""
    store = store_of(storage)
    try:
        return store, read_manifest(store, key)
    except FileNotFoundError as e:
        raise dg.Failure(description=f"{asset}[{key}]: {e}") from None
