"""The model catalog as an asset: validates data/catalog/models.yaml (+ the drop folder), keeps the
`models` and `variants` partitions in step with it, and records it in the warehouse."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from quantbench_assets.lib.core import warehouse

from ..common import catalog_or_fail, md_table
from ..partitions import models, variants
from ..resources import StorageResource, WarehouseResource


@dg.asset(group_name="catalog", pool="warehouse", description="Validated model catalog; syncs the partitions.")
def model_catalog(context: dg.AssetExecutionContext, storage: StorageResource, duckdb: WarehouseResource) -> dg.MaterializeResult:
    catalog = catalog_or_fail(storage)
    instance = context.instance
    new_models = [m.name for m in catalog.models if not instance.has_dynamic_partition(models.name, m.name)]
    keys = catalog.partition_keys()
    new_variants = [k for k in keys if not instance.has_dynamic_partition(variants.name, k)]
    if new_models:
        instance.add_dynamic_partitions(models.name, new_models)
    if new_variants:
        instance.add_dynamic_partitions(variants.name, new_variants)
    now = datetime.now(timezone.utc).isoformat()
    rows = [{
        "model": m.name, "family": m.family, "parameters": m.parameters, "source_kind": m.source.kind,
        "source_sha256": m.source.sha256, "base_quant": m.base_quant, "ladder": ",".join(m.ladder),
        "baseline_quant": m.baseline_quant, "baseline_variant": m.baseline_variant,
        "demo": m.demo, "engine": m.engine, "license": m.license, "catalog_path": str(storage.catalog()),
        "loaded_at": now, "_all": 1,
    } for m in catalog.models]
    with duckdb.connect() as con:
        warehouse.replace_rows(con, "catalog_models", pl.DataFrame(rows), {"_all": 1})
    return dg.MaterializeResult(metadata={
        "models": len(catalog.models), "variants": len(keys),
        "new_partitions": dg.MetadataValue.json({"models": new_models, "variants": new_variants}),
        "catalog": dg.MetadataValue.md(md_table(rows, ["model", "family", "parameters", "source_kind", "base_quant", "ladder", "demo"])),
    })
