"""Code location for the Celery profile: the project's definitions, unchanged, run by Celery workers.

Steps are routed by Dagster's `dagster-celery/queue` op tag, from the rule in deploy/routing.py: GPU
work (the `inference` pool) to the GPU queue, everything else to the CPU queue. Start workers with
deploy/celery/celery.yaml (`dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml
-q cpu` on CPU boxes, `-q gpu` on GPU boxes); docs/DEPLOY.md has the rest.
"""
import os
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster_celery import celery_executor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `deploy` when loaded with -f
from deploy.routing import LADDER_ASSETS, is_gpu_step, ladder_config, routed_definitions  # noqa: E402
from quantbench_assets import definitions as project  # noqa: E402  (a module: -f must find one Definitions)

QUEUE_TAG = "dagster-celery/queue"
CPU_QUEUE = os.environ.get("QUANTBENCH_CPU_QUEUE", "cpu")
GPU_QUEUE = os.environ.get("QUANTBENCH_GPU_QUEUE", "gpu")

CELERY_YAML = Path(__file__).with_name("celery.yaml")
# One file configures both sides: the coordinators' executor here and the workers' `-y` option.
executor = celery_executor.configured(yaml.safe_load(CELERY_YAML.read_text())["execution"]["config"],
                                      name="quantbench_celery")

# A step that raises is retried in a fresh task, on whichever worker takes it.
STEP_RETRIES = dg.RetryPolicy(max_retries=2, delay=2)


def queue_tags(op: dg.OpDefinition) -> dict:
    return {QUEUE_TAG: GPU_QUEUE if is_gpu_step(op) else CPU_QUEUE}


def _job(name: str, selection: list[str], description: str, config: dict | None = None):
    return dg.define_asset_job(name, selection=selection, executor_def=executor, op_retry_policy=STEP_RETRIES,
                               description=description, config=config)


ladder = _job("ladder", LADDER_ASSETS,
              "One variant: build the rung (CPU queue), answer MMLU/ARC-C (GPU queue), score (CPU queue).",
              ladder_config())
rungs = _job("rungs", ["gguf_variant"], "One variant's rung only (CPU queue).")

defs = routed_definitions(project.defs(), queue_tags, [ladder, rungs])
