"""One dynamic dimension per grain. Variant keys are "<model>__<quant>" (lib.catalog.variant_key), added
from the catalog, so no partition exists that could never be built (a model x quant cross product
would leave holes: identical fallbacks, rungs a model does not list)."""
import dagster as dg

variants = dg.DynamicPartitionsDefinition(name="variants")
models = dg.DynamicPartitionsDefinition(name="models")
