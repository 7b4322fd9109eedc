"""One dynamic dimension per grain. Variant keys are "<model>__<quant>" (lib.catalog.variant_key), added
from the catalog, so no partition exists that could never be built (a model x quant cross product
would leave holes: identical fallbacks, rungs a model does not list)."""
import dagster as dg

variants = dg.DynamicPartitionsDefinition(name="variants")
models = dg.DynamicPartitionsDefinition(name="models")

# What every asset that runs a model on one rung shares: a variant partition, the rung as input, the
# `inference` pool (one model in memory at a time per worker unless the pool says otherwise).
ON_A_RUNG = {"partitions_def": variants, "group_name": "evaluation", "deps": ["gguf_variant"], "pool": "inference"}
