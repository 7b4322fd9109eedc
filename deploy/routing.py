"""Where a step runs, decided from the asset's own declaration: a step in the `inference` pool opens a
model (GPU work); every other step (acquire, quantize, score, dbt) is CPU work. The Celery and
Kubernetes profiles turn that into their own op tags on copies of the project's assets, so the asset
code is the same for every profile.
"""
from __future__ import annotations

from typing import Callable, Mapping

import dagster as dg
from dagster._core.definitions.assets.definition.assets_definition import AssetsDefinition

GPU_POOL = "inference"

# The profiles' "ladder" job: build one rung, answer TR125's MMLU + ARC-Challenge items with the
# benchmark chain's generate_rescore scorer (the GPU step), score them.
LADDER_ASSETS = ["gguf_variant", "standard_benchmark_samples", "standard_benchmark_scores"]


def ladder_config(limit: int | None = None) -> dict:
    return {"ops": {"standard_benchmark_samples": {"config": {
        "tasks": ["mmlu", "arc_challenge"], "scorers": ["generate_rescore"], "limit": limit}}}}


def is_gpu_step(op: dg.OpDefinition) -> bool:
    return op.pool == GPU_POOL


def with_op_tags(asset: AssetsDefinition, tags: Mapping[str, object]) -> AssetsDefinition:
    """The same asset with `tags` added to its op (Dagster has no public setter for an asset's op tags)."""
    op = asset.node_def
    if not tags or not isinstance(op, dg.OpDefinition):
        return asset
    tagged = dg.OpDefinition.dagster_internal_init(
        name=op.name, ins={i.name: dg.In.from_definition(i) for i in op.input_defs},
        outs={o.name: dg.Out.from_definition(o) for o in op.output_defs}, compute_fn=op.compute_fn,
        config_schema=op.config_schema, description=op.description, tags={**op.tags, **tags},
        required_resource_keys=op.required_resource_keys, retry_policy=op.retry_policy, pool=op.pool,
        code_version=op._version, version=None,  # noqa: SLF001 (what with_replaced_properties copies)
    )
    return AssetsDefinition.dagster_internal_init(**{**asset.get_attributes_dict(), "node_def": tagged})


def routed_definitions(base: dg.Definitions, tags_for: Callable[[dg.OpDefinition], Mapping[str, object]],
                       jobs: list) -> dg.Definitions:
    """`base` with every asset's op tagged by `tags_for(op)`, plus `jobs`."""
    assets = [with_op_tags(a, tags_for(a.node_def)) if isinstance(a, AssetsDefinition)
              and isinstance(a.node_def, dg.OpDefinition) else a for a in (base.assets or [])]
    return dg.Definitions(assets=assets, asset_checks=base.asset_checks, schedules=base.schedules,
                          sensors=base.sensors, jobs=[*(base.jobs or []), *jobs], resources=base.resources)
