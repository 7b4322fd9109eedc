"""Small glue shared by the asset modules: turning library errors into clear Dagster failures."""

from contextlib import contextmanager
from typing import Iterator

import dagster as dg

from quantbench_assets.lib.catalog.entries import Catalog, CatalogError, load_catalog
from quantbench_assets.lib.core.store import ArtifactStore
from quantbench_assets.lib.gguf.rungs import read_manifest

from .resources import StorageResource


def catalog_or_fail(storage: StorageResource) -> Catalog:
    try:
        return load_catalog(storage.catalog(), storage.incoming())
    except CatalogError as e:
        raise dg.Failure(description=str(e)) from None


def store_of(storage: StorageResource) -> ArtifactStore:
    return ArtifactStore(storage.artifacts())


@contextmanager
def partition_failure(asset: str, key: str, *errors: type[Exception]) -> Iterator[None]:
    """The library errors named, raised inside, fail this partition alone with a message that names the
    asset and the partition (a run's other partitions go on)."""
    try:
        yield
    except errors as e:
        raise dg.Failure(description=f"{asset}[{key}]: {e}") from None


def md_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)


def rung_or_fail(storage: StorageResource, key: str, asset: str) -> tuple[ArtifactStore, dict]:
    """The artifact store and the built rung's manifest for a variant partition; a rung that is not
    built fails this partition alone, naming the asset and the partition."""
    store = store_of(storage)
    with partition_failure(asset, key, FileNotFoundError):
        return store, read_manifest(store, key)
