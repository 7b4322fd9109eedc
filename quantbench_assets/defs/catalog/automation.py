"""Keeping the results current: a sensor for new models (catalog, drop folder, hub revisions), one for
a new engine build, a weekly re-evaluation, and the sensor that runs the dbt marts' automation
conditions. The decisions are lib.catalog_watch's; this module turns them into Dagster requests.

A new rung gets the study's per-variant assets (lib/core/study.py: the demo study unless QUANTBENCH_STUDY
names another), its KLD once the base logits exist (baseline_sensor), and the statistics, marts and
reports follow through their automation conditions (warehouse_automation).

Everything starts STOPPED: turned on in a fresh instance, the new-model sensor evaluates every rung of
every catalog model (an hour or more on 2 cores). Turn them on in the UI (Automation) once that is what you want.
"""

import hashlib
import json
import os

import dagster as dg

from quantbench_assets.lib.catalog import watch
from quantbench_assets.lib.catalog.entries import Catalog, CatalogError, load_catalog, parse_variant_key
from quantbench_assets.lib.engines.llama import engine_build_string
from quantbench_assets.lib.catalog.hub import current_revision
from quantbench_assets.lib.core.study import PER_VARIANT_ASSETS, Study, get_study, plan_baseline_runs

from ..partitions import models, variants
from ..resources import StorageResource

TRIGGER_TAG = "quantbench/trigger"
HUB_POLL_TIMEOUT_S = 10  # per tracked repo; a sensor tick has 60 s in all

# The study whose per-variant assets and settings a new rung gets (lib/core/study.py, shared with the CLI):
# the demo study unless QUANTBENCH_STUDY names another. Read at each tick, not at load.
STUDY_ENV = "QUANTBENCH_STUDY"
# distribution_shift needs its model's base_logits first: baseline_sensor requests that pair in order.
NEEDS_BASE_LOGITS = ("distribution_shift",)


def sensor_study() -> Study:
    return get_study(os.environ.get(STUDY_ENV, "demo"))


def study_selection(study: Study) -> list[str]:
    """What one rung's run materializes: its GGUF, then every per-variant asset of the study that does
    not wait for the model's base logits."""
    return ["gguf_variant", *[a for a in study.assets if a not in NEEDS_BASE_LOGITS]]


# Partitioned by `variants`: Dagster infers it from the selected assets. The job can run every
# per-variant asset; each request selects its study's subset and carries the study's settings.
evaluate_variant_job = dg.define_asset_job(
    name="evaluate_variant",
    selection=dg.AssetSelection.assets("gguf_variant", *[a for a in PER_VARIANT_ASSETS if a not in NEEDS_BASE_LOGITS]),
    description="One rung end to end: build the GGUF and run the study's per-variant assets on it "
                "(benchmarks, perplexity, speed, memory); the KLD follows once the base logits exist.",
)
# model_catalog records each model's baseline and provenance in the warehouse (the statistics and marts
# read it): a catalog change runs it before the rungs' evaluations.
catalog_job = dg.define_asset_job(
    name="refresh_catalog", selection=dg.AssetSelection.assets("model_catalog"),
    description="Validate the catalog, sync the partitions and record the models in the warehouse.")
base_logits_job = dg.define_asset_job(
    name="refresh_base_logits", selection=dg.AssetSelection.assets("base_logits"),
    description="The base rung's top-k logits of one model (the reference of every rung's KLD).")
distribution_shift_job = dg.define_asset_job(
    name="refresh_distribution_shift", selection=dg.AssetSelection.assets(*NEEDS_BASE_LOGITS),
    description="One rung's KL divergence vs its model's base rung.")


def _catalog(storage: StorageResource) -> Catalog:
    return load_catalog(storage.catalog(), storage.incoming())


# The sensors that watch files and partitions: every minute, off until a user turns them on.
WATCHING = {"minimum_interval_seconds": 60, "default_status": dg.DefaultSensorStatus.STOPPED}


def _run_request(run: watch.VariantRun, **tags: str) -> dg.RunRequest:
    return _variant_request(run.run_key, run.variant, {TRIGGER_TAG: run.reason, **tags})


def _variant_request(run_key: str, variant: str, tags: dict) -> dg.RunRequest:
    study = sensor_study()
    selection = study_selection(study)
    return dg.RunRequest(run_key=run_key, partition_key=variant, job_name=evaluate_variant_job.name,
                         tags={**tags, "quantbench/study": study.name},
                         asset_selection=[dg.AssetKey(a) for a in selection],
                         run_config=study.run_config(selection))


@dg.sensor(
    jobs=[evaluate_variant_job, catalog_job], **WATCHING,
    description="New or changed catalog entries, GGUFs dropped into the incoming folder, and new revisions "
                "of tracked hub repos: adds their partitions, records the catalog and evaluates the rungs.",
)
def new_model_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    previous = watch.WatchState.from_json(context.cursor)
    try:
        catalog = _catalog(storage)
    except CatalogError as e:
        # The cursor stays as it was: once the file is fixed, the changes are seen as if just made.
        return dg.SkipReason(f"the catalog cannot be used, nothing requested:\n{e}")
    revisions, notes = watch.poll_revisions(
        catalog, previous.revisions, lambda repo, branch: current_revision(repo, branch, timeout=HUB_POLL_TIMEOUT_S))
    plan = watch.plan_changes(
        catalog, previous, known_models=context.instance.get_dynamic_partitions(models.name),
        known_variants=context.instance.get_dynamic_partitions(variants.name), revisions=revisions,
        incoming=watch.incoming_files(storage.incoming()),
    )
    for note in notes + plan.notes:
        context.log.info(note)
    partition_requests = []
    if plan.new_models:
        partition_requests.append(models.build_add_request(plan.new_models))
    if plan.new_variants:
        partition_requests.append(variants.build_add_request(plan.new_variants))
    revision_of = {m: new for m, (_old, new) in plan.moved_revisions.items()}
    runs = []
    if plan.runs:  # the warehouse's copy of the catalog first (baselines, provenance), then the rungs
        key = "model_catalog:" + hashlib.sha256(",".join(sorted(r.run_key for r in plan.runs)).encode()).hexdigest()[:16]
        runs.append(dg.RunRequest(run_key=key, job_name=catalog_job.name, tags={TRIGGER_TAG: "catalog_changed"}))
    for run in plan.runs:
        model, _quant = parse_variant_key(run.variant)
        extra = {"quantbench/hub_revision": revision_of[model]} if run.reason == watch.HUB_REVISION else {}
        runs.append(_run_request(run, **extra))
    # A moved branch is shown on the catalog asset too, where a user looks for "is my pin current?".
    observations = [
        dg.AssetObservation(asset_key="model_catalog", metadata={
            "model": m, "branch_revision_before": old, "branch_revision_now": new,
            "pinned_revision": catalog.get(m).source.revision,
        })
        for m, (old, new) in plan.moved_revisions.items()
    ]
    return dg.SensorResult(
        run_requests=runs, dynamic_partitions_requests=partition_requests, asset_events=observations,
        cursor=plan.state.to_json(),
        skip_reason=None if runs else "; ".join(notes + plan.notes) or "no new or changed models",
    )


def _live_variants(instance: dg.DagsterInstance, storage: StorageResource) -> list[str]:
    return watch.live_variants(instance.get_dynamic_partitions(variants.name), _catalog(storage))


@dg.sensor(
    job=evaluate_variant_job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.STOPPED,
    description="Re-evaluates every variant when the llama.cpp build changes (results carry the build; "
                "the per-sample cache is keyed by it).",
)
def engine_build_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    build = engine_build_string()
    previous = json.loads(context.cursor).get("engine_build") if context.cursor else None
    cursor = json.dumps({"engine_build": build})
    if previous is None:
        return dg.SensorResult(skip_reason=f"recorded the engine build: {build}", cursor=cursor)
    if previous == build:
        return dg.SensorResult(skip_reason="engine build unchanged", cursor=cursor)
    try:
        live = _live_variants(context.instance, storage)
    except CatalogError as e:
        return dg.SkipReason(f"engine build changed but the catalog cannot be used:\n{e}")  # cursor kept
    runs = watch.plan_engine_rebuild(previous, build, live)
    context.log.info(f"engine build changed: {previous!r} -> {build!r}; re-evaluating {len(runs)} variants")
    return dg.SensorResult(run_requests=[_run_request(r) for r in runs], cursor=cursor)


@dg.schedule(
    job=evaluate_variant_job, cron_schedule="0 3 * * 1", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekly re-evaluation of every variant. Cheap when nothing changed (the sample cache answers); "
                "it picks up what no sensor watches: task versions, subsets, scoring rules, a lost warehouse.",
)
def weekly_reevaluation(context: dg.ScheduleEvaluationContext, storage: StorageResource):
    try:
        live = _live_variants(context.instance, storage)
    except CatalogError as e:
        return dg.SkipReason(f"the catalog cannot be used:\n{e}")
    if not live:
        return dg.SkipReason("no variant partitions yet (turn on new_model_sensor or run model_catalog)")
    week = context.scheduled_execution_time.strftime("%G-W%V")
    return [_variant_request(f"{k}@{week}", k, {TRIGGER_TAG: "weekly"}) for k in live]


def _latest_storage_id(instance: dg.DagsterInstance, asset: str, partition: str) -> int | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
    return records[0].storage_id if records else None


@dg.sensor(
    jobs=[base_logits_job, distribution_shift_job], **WATCHING,
    description="Once a model's base rung is built, computes its base logits; once those exist, each built "
                "rung's KL divergence against them (again whenever the base or the rung changes).",
)
def baseline_sensor(context: dg.SensorEvaluationContext, storage: StorageResource):
    try:
        catalog = _catalog(storage)
    except CatalogError as e:
        return dg.SkipReason(f"the catalog cannot be used:\n{e}")
    known_models = set(context.instance.get_dynamic_partitions(models.name))
    known_variants = set(context.instance.get_dynamic_partitions(variants.name))
    study = sensor_study()
    requests = []
    jobs = {"base_logits": base_logits_job.name, "distribution_shift": distribution_shift_job.name}
    for asset, partition, run_key in plan_baseline_runs(
            catalog, lambda asset, p: _latest_storage_id(context.instance, asset, p)):
        if partition not in (known_models if asset == "base_logits" else known_variants):
            continue
        selection = [asset]
        requests.append(dg.RunRequest(run_key=run_key, job_name=jobs[asset], partition_key=partition,
                                      run_config=study.run_config(selection),
                                      tags={TRIGGER_TAG: "baseline", "quantbench/study": study.name}))
    if not requests:
        return dg.SkipReason("every built rung has a current KL divergence (or its base rung is not built)")
    return requests


# The dbt models carry AutomationCondition.eager() minus "no dependency missing" (transform/dbt.py's
# Translator); this sensor evaluates them, so the marts rebuild after partitions land.
# The statistics and the reports carry DOWNSTREAM (below) too, so the answer follows the marts.
DOWNSTREAM = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())

warehouse_automation = dg.AutomationConditionSensorDefinition(
    name="warehouse_automation",
    target=dg.AssetSelection.kind("dbt") | dg.AssetSelection.groups("analysis", "reports"),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Rebuilds the statistics, the dbt models and the reports when upstream partitions land.",
)
