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


def context_fits_check(check_name: str, rows: list[dict], n_ctx: int, table: str) -> dg.AssetCheckResult:
    """WARN when rows' prompts lost tokens from their start to the engine's n_ctx (`context_tokens_dropped`,
    counted where they were answered): their scores are for a shortened prompt. One rule for every chain."""
    cut = [r for r in rows if r.get("context_tokens_dropped")]
    most = max((r["context_tokens_dropped"] for r in cut), default=0)
    where: dict[str, int] = {}
    for r in cut:
        name = r["task"] + (f"/{r['scorer']}" if r.get("scorer") else "")
        where[name] = where.get(name, 0) + 1
    return dg.AssetCheckResult(
        check_name=check_name, passed=not cut, severity=dg.AssetCheckSeverity.WARN,
        description=None if not cut else (
            f"{len(cut)} of {len(rows)} prompts lost up to {most} tokens from their start to n_ctx={n_ctx} "
            f"({', '.join(sorted(where))}): their scores are for a shortened prompt; raise the engine resource's "
            f"n_ctx to at least {n_ctx + most} (raw.{table}.context_tokens_dropped names each one)"),
        metadata={"n_ctx": n_ctx, "prompts_cut": len(cut), "most_tokens_dropped": most,
                  "by_task": dg.MetadataValue.json(where)},
    )
