"""Code location for the Kubernetes profile: the project's definitions, unchanged; every step runs as
its own Kubernetes Job (dagster-k8s' k8s_job_executor), GPU steps on GPU nodes (deploy/k8s/steps.yaml,
the rule in deploy/routing.py). Serve it from the image with `dagster code-server start -f
deploy/k8s/definitions.py`; docs/DEPLOY.md has the rest.
"""
import json
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster_k8s import k8s_job_executor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `deploy` when loaded with -f
from deploy.routing import LADDER_ASSETS, is_gpu_step, ladder_config, routed_definitions  # noqa: E402
from quantbench_assets import definitions as project  # noqa: E402  (a module: -f must find one Definitions)

K8S_CONFIG_TAG = "dagster-k8s/config"
STEPS = yaml.safe_load(Path(__file__).with_name("steps.yaml").read_text())

executor = k8s_job_executor.configured(STEPS["executor"], name="quantbench_k8s")
STEP_RETRIES = dg.RetryPolicy(max_retries=2, delay=10)


def k8s_tags(op: dg.OpDefinition) -> dict:
    return {K8S_CONFIG_TAG: json.dumps(STEPS["gpu_step_k8s_config"])} if is_gpu_step(op) else {}


ladder = dg.define_asset_job(
    "ladder", selection=LADDER_ASSETS, executor_def=executor, config=ladder_config(),
    op_retry_policy=STEP_RETRIES, description="One variant: build the rung, answer MMLU/ARC-C on a GPU node, score.")

defs = routed_definitions(project.defs(), k8s_tags, [ladder])
