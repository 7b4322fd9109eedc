"""Deployment profiles (docs/DEPLOY.md): Dagster's instance on PostgreSQL, the same assets run by Celery
workers on CPU and GPU queues, and the Kubernetes configuration.

Tests marked `services` start a private PostgreSQL and Redis (deploy/local_services.py) and skip, with
the reason, where they cannot start. The Celery tests run real backfills of the CI model's ladder and
compare the warehouse with a single-process run of the same partitions, row for row: two workers; a
worker killed mid-partition; the broker killed and restarted with steps queued and running; an analyst
querying the many-writer parts from another process while the workers write.
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from deploy import local_services
from deploy.local_services import ServiceUnavailable
from quantbench_assets.lib.core import paths, warehouse, warehouse_parts

ROOT = paths.PROJECT_ROOT
DEPLOY = ROOT / "deploy"
MODEL = "smollm2-135m-instruct"
LADDER = ["F16", "Q8_0", "Q4_K_M", "Q2_K"]
LIMIT = 2
TABLES = ("gguf_inventory", "standard_benchmark_samples", "standard_benchmark_scores")
# Values that differ between two runs of the same work by nature: clocks and durations.
VOLATILE_SUFFIXES = ("_at", "_ms", "_s", "_seconds")


def is_volatile(column: str) -> bool:
    return column == "run_id" or column.endswith(VOLATILE_SUFFIXES)


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- Kubernetes: configuration, loaded


def test_the_k8s_profile_loads_and_puts_only_gpu_steps_on_gpu_nodes(monkeypatch, tmp_path):
    from dagster._config import process_config, validate_config
    from dagster_k8s import K8sRunLauncher, k8s_job_executor
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    monkeypatch.setenv("QUANTBENCH_K8S_NAMESPACE", "quantbench")
    monkeypatch.setenv("QUANTBENCH_IMAGE", "registry.example/quantbench:1")
    k8s = load_module(DEPLOY / "k8s" / "definitions.py", "qb_k8s_definitions")
    job = k8s.defs.resolve_job_def("ladder")
    assert job.executor_def.name == "quantbench_k8s" and job.op_retry_policy.max_retries == 2
    executor_check = validate_config(k8s_job_executor.config_schema.config_type, k8s.STEPS["executor"])
    assert executor_check.success, executor_check.errors

    def pod_spec(step: str):
        tags = dict(job.graph.node_named(step).tags)
        manifest = construct_dagster_k8s_job(
            DagsterK8sJobConfig(job_image="registry.example/quantbench:1", dagster_home="/opt/dagster/dagster_home"),
            args=["dagster", "api", "execute_step"], job_name=f"qb-{step}".replace("_", "-"),
            user_defined_k8s_config=get_user_defined_k8s_config(tags))
        return manifest.spec.template.spec

    gpu = pod_spec("standard_benchmark_samples")
    assert gpu.node_selector == {"nvidia.com/gpu.present": "true"}
    assert gpu.containers[0].resources.limits == {"nvidia.com/gpu": "1"}
    assert [t.key for t in gpu.tolerations] == ["nvidia.com/gpu"]
    for cpu_step in ("gguf_variant", "standard_benchmark_scores"):
        cpu = pod_spec(cpu_step)
        assert not cpu.node_selector and not (cpu.containers[0].resources and cpu.containers[0].resources.limits)

    # The instance file: its run launcher's config is valid for dagster-k8s, and the launcher builds
    # from it (a kubeconfig stands in for the cluster's in-pod credentials).
    instance_yaml = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())
    launcher = instance_yaml["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    processed = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert processed.success, processed.errors
    assert processed.value["job_namespace"] == "quantbench"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
        "users": [{"name": "t", "user": {"token": "x"}}]}))
    built = K8sRunLauncher(**{**processed.value, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)})
    assert built.job_namespace == "quantbench" and built.instance_config_map == "quantbench-instance"


def test_the_celery_profile_routes_gpu_steps_to_the_gpu_queue_and_retries_steps(monkeypatch):
    monkeypatch.setenv("QUANTBENCH_CELERY_BROKER", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("QUANTBENCH_CELERY_BACKEND", "redis://127.0.0.1:1/1")
    celery = load_module(DEPLOY / "celery" / "definitions.py", "qb_celery_definitions")
    job = celery.defs.resolve_job_def("ladder")
    queues = {name: node.tags.get("dagster-celery/queue") for name, node in job.graph.node_dict.items()}
    assert queues == {"gguf_variant": "cpu", "standard_benchmark_samples": "gpu", "standard_benchmark_scores": "cpu"}
    assert job.executor_def.name == "quantbench_celery" and job.op_retry_policy.max_retries == 2
    # Every GPU-pool asset of the project is routed to the GPU queue, and nothing else is.
    for asset in celery.defs.assets:
        op = asset.node_def
        if isinstance(op, dg.OpDefinition):
            assert (op.tags["dagster-celery/queue"] == "gpu") == (op.pool == "inference"), op.name
    # The workers' file is valid executor config (what `dagster-celery worker start -y` reads).
    from dagster_celery.cli import get_validated_config

    worker_config = get_validated_config(str(DEPLOY / "celery" / "celery.yaml"))
    assert worker_config["broker"] == "redis://127.0.0.1:1/0"
    assert worker_config["config_source"]["task_acks_late"] is True


# ---------------------------------------------------------------- services: PostgreSQL, Redis


@pytest.fixture(scope="module")
def pg():
    try:
        with local_services.postgres() as env:
            yield env
    except ServiceUnavailable as e:
        pytest.skip(f"PostgreSQL could not start here: {e}")


@pytest.fixture(scope="module")
def broker():
    try:
        with local_services.redis() as url:
            yield url
    except ServiceUnavailable as e:
        pytest.skip(f"Redis could not start here: {e}")


def postgres_home(root: Path) -> Path:
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(DEPLOY / "postgres" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.mark.services
def test_two_machines_on_the_postgres_profile_share_runs_events_partitions_and_schedules(pg, tmp_path, monkeypatch):
    from dagster._core.scheduler.instigation import (InstigatorState, InstigatorStatus, InstigatorType,
                                                    ScheduleInstigatorData)
    from dagster._core.remote_origin import (ManagedGrpcPythonEnvCodeLocationOrigin, RemoteInstigatorOrigin,
                                             RemoteRepositoryOrigin)
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from quantbench_assets.definitions import defs as load_defs

    env = {**pg, "QUANTBENCH_MAX_CONCURRENT_RUNS": "4", "QUANTBENCH_WAREHOUSE": str(tmp_path / "w.duckdb")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    machine_a = dg.DagsterInstance.from_config(str(postgres_home(tmp_path / "a")))
    machine_b = dg.DagsterInstance.from_config(str(postgres_home(tmp_path / "b")))
    assert type(machine_a.run_storage).__name__ == "PostgresRunStorage"
    defs = load_defs()
    result = dg.materialize(list(defs.assets), selection=["model_catalog"], instance=machine_a,
                            resources=defs.resources)
    assert result.success
    run = machine_b.get_run_by_id(result.run_id)
    assert run is not None and run.is_success
    types = {e.dagster_event_type for e in machine_b.all_logs(result.run_id) if e.dagster_event}
    assert {dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.RUN_SUCCESS} <= types
    assert machine_b.has_dynamic_partition("variants", f"{MODEL}__Q8_0")

    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(DEPLOY / "celery" / "definitions.py")), "quantbench")
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), "nightly_ladder")
    machine_a.add_instigator_state(InstigatorState(origin, InstigatorType.SCHEDULE, InstigatorStatus.RUNNING,
                                                   ScheduleInstigatorData("0 2 * * *", time.time())))
    states = machine_b.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    assert [(s.instigator_name, s.status) for s in states] == [("nightly_ladder", InstigatorStatus.RUNNING)]
    machine_a.dispose()
    machine_b.dispose()


# ---------------------------------------------------------------- Celery: backfills on two workers


def rows(db: Path, variants: list[str]) -> dict[str, list[tuple]]:
    """Every row of the tables the ladder writes, for `variants`, without clock and duration columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for table in TABLES:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? "
                "order by column_name", [table]).fetchall()]
            kept = [c for c in cols if not is_volatile(c)]
            quoted = ", ".join(f'"{c}"' for c in kept)
            out[table] = con.execute(
                f'select {quoted} from raw."{table}" where variant in (select unnest(?)) order by all',
                [variants]).fetchall()
        return out
    finally:
        con.close()


def backfill(env: dict, quants: list[str], *, in_process: bool = False, log_dir: Path,
             wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, str(DEPLOY / "celery" / "backfill.py"), "--model", MODEL, "--quants", *quants,
           "--limit", str(LIMIT), "--log-dir", str(log_dir)] + (["--in-process"] if in_process else [])
    full_env = {**os.environ, **env}
    if wait:
        return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=1200)
    log_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_dir / "backfill.out", "w")  # a file, not a pipe: nobody reads while it runs
    # its own session: stop_backfill() ends it and its coordinators, nothing else
    return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def stop_backfill(running: subprocess.Popen) -> None:
    """End a backfill that a failed test left running, with the coordinators it started."""
    if running.poll() is None:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait(30)


def summary(completed_stdout: str) -> dict:
    return json.loads([line for line in completed_stdout.splitlines() if line.startswith('{"partitions"')][-1])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, smollm_rung):
    """The ladder run in one process, one partition after another: what the workers must reproduce."""
    for q in LADDER:
        smollm_rung(q)  # build the rungs once, so both runs take the same (cached) rung files
    root = tmp_path_factory.mktemp("reference")
    (root / "home").mkdir()
    env = {"DAGSTER_HOME": str(root / "home"), "QUANTBENCH_WAREHOUSE": str(root / "warehouse.duckdb")}
    done = backfill(env, LADDER, in_process=True, log_dir=root / "logs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "warehouse.duckdb"


TWO_WORKERS = {"w1": ["cpu", "gpu"], "w2": ["cpu", "gpu"]}


def cluster_env(pg: dict, broker: str, root: Path, **extra: str) -> dict:
    """What coordinators and workers share: the Postgres instance, the broker, the warehouse."""
    import redis

    for db in (0, 1):  # the module's broker serves several tests: no task or result of an earlier one
        redis.Redis.from_url(f"{broker}/{db}").flushdb()
    return {**pg, "DAGSTER_HOME": str(postgres_home(root)), "QUANTBENCH_MAX_CONCURRENT_RUNS": "8",
            "QUANTBENCH_CELERY_BROKER": f"{broker}/0", "QUANTBENCH_CELERY_BACKEND": f"{broker}/1",
            "QUANTBENCH_WAREHOUSE": str(root / "warehouse.duckdb"), **extra}


@contextmanager
def workers_or_skip(env: dict, root: Path):
    try:
        with local_services.celery_workers(TWO_WORKERS, env, root) as workers:
            yield workers
    except ServiceUnavailable as e:
        pytest.skip(f"Celery workers could not start here: {e}")


@pytest.fixture
def cluster(pg, broker, tmp_path):
    """A Postgres-backed instance, a Redis broker and two workers each serving both queues."""
    env = cluster_env(pg, broker, tmp_path)
    with workers_or_skip(env, tmp_path) as workers:
        yield env, workers, tmp_path


def step_events(env: dict, backfill_id: str) -> list:
    """(partition, step key, event type, message, engine metadata) for every event of the backfill's runs."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"quantbench/backfill": backfill_id}))
        out = []
        for run in runs:
            for e in instance.all_logs(run.run_id):
                if e.dagster_event:
                    kind = e.dagster_event_type.value
                    meta = (dict(e.dagster_event.engine_event_data.metadata)
                            if kind == "ENGINE_EVENT" and e.dagster_event.engine_event_data else {})
                    out.append((run.tags["dagster/partition"], e.dagster_event.step_key, kind, e.user_message or "",
                                meta))
        return out


@pytest.mark.services
@pytest.mark.slow
def test_two_celery_workers_backfill_the_ladder_row_for_row_like_one_process(cluster, reference):
    env, workers, root = cluster
    running = backfill(env, LADDER, log_dir=root / "bf", wait=False)
    # An analyst's query while the workers write: it takes the warehouse lock like a writer, so it waits
    # for at most one partition's transaction and always sees whole partitions.
    seen = []
    while running.poll() is None:
        try:
            counts = warehouse.read_query(
                env["QUANTBENCH_WAREHOUSE"],
                "select variant, count(*) as n from raw.standard_benchmark_samples group by 1 order by 1")
            seen.append(dict(counts.iter_rows()))
        except duckdb.CatalogException:
            pass  # no partition has landed yet
        time.sleep(1)
    out = (root / "bf" / "backfill.out").read_text()
    assert running.returncode == 0, out[-4000:]
    assert summary(out)["failed"] == []
    assert seen and all(n == 2 * LIMIT for snapshot in seen for n in snapshot.values())
    variants = [f"{MODEL}__{q}" for q in LADDER]
    got, want = rows(Path(env["QUANTBENCH_WAREHOUSE"]), variants), rows(reference, variants)
    assert len(got["gguf_inventory"]) == 4 and len(got["standard_benchmark_samples"]) == 4 * 2 * LIMIT  # MMLU + ARC-C
    con = duckdb.connect(env["QUANTBENCH_WAREHOUSE"], read_only=True)
    scored = {r[0] for r in con.execute("select distinct variant from raw.standard_benchmark_scores").fetchall()}
    con.close()
    assert scored == set(variants)
    assert got == want

    events = step_events(env, "bf")
    submitted = {(step, msg.rsplit('"', 2)[-2]) for _, step, kind, msg, _ in events
                 if kind == "ENGINE_EVENT" and msg.startswith("Submitting celery task")}
    assert submitted == {("gguf_variant", "cpu"), ("standard_benchmark_samples", "gpu"), ("standard_benchmark_scores", "cpu")}
    hosts = {meta["Celery worker"].text.split("@")[0] for *_, meta in events if "Celery worker" in meta}
    assert hosts == {"w1", "w2"}, "both workers took steps"


@pytest.mark.services
@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_partition_loses_and_duplicates_nothing(cluster, reference):
    env, workers, root = cluster
    quants = ["Q8_0", "Q4_K_M"]
    running = backfill(env, quants, log_dir=root / "kill", wait=False)
    victim, deadline = None, time.monotonic() + 600
    while victim is None and time.monotonic() < deadline and running.poll() is None:
        for worker in workers.values():
            if "gguf_variant - STEP_START" in worker.log_path.read_text():
                victim = worker
                break
        time.sleep(0.05)
    assert victim is not None, "no worker started a partition"
    killed = victim.pool_processes()
    assert killed
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    running.wait(timeout=900)
    assert running.returncode == 0, (root / "kill" / "backfill.out").read_text()[-4000:]
    assert "WorkerLostError" in victim.log_path.read_text() or "signal 9" in victim.log_path.read_text()

    variants = [f"{MODEL}__{q}" for q in quants]
    assert rows(Path(env["QUANTBENCH_WAREHOUSE"]), variants) == rows(reference, variants)
    starts = [(p, step) for p, step, kind, *_ in step_events(env, "kill") if kind == "STEP_START"]
    assert len(starts) > len(set(starts)), "the killed step ran again"


# ---------------------------------------------------------------- Celery: a broker restart


def queued_task_ids(redis_url: str, queue: str) -> set[str]:
    """Ids of the tasks waiting on `queue`: kombu keeps one Redis list per queue and priority step
    (`cpu`, `cpu\x06\x163`, ...), each message a JSON envelope whose headers carry the task id."""
    import redis

    client = redis.Redis.from_url(redis_url)
    ids = set()
    for key in client.scan_iter(match=f"{queue}*"):
        if client.type(key) == b"list":
            ids |= {json.loads(m)["headers"]["id"] for m in client.lrange(key, 0, -1)}
    client.close()
    return ids


@pytest.fixture
def restartable_broker():
    """A broker of this test's own (the module's serves the other tests), persistent, restartable."""
    try:
        with local_services.redis_server() as server:
            yield server
    except ServiceUnavailable as e:
        pytest.skip(f"Redis could not start here: {e}")


@pytest.mark.services
@pytest.mark.slow
def test_a_broker_restart_loses_no_queued_partition(pg, restartable_broker, reference, tmp_path):
    server, quants = restartable_broker, ["Q8_0", "Q2_K"]
    env = cluster_env(pg, server.url, tmp_path)
    out = tmp_path / "restart" / "backfill.out"
    # No worker runs yet: each run's coordinator puts its first step (gguf_variant) on the cpu queue
    # and waits for its result, polling the result store.
    running = backfill(env, quants, log_dir=tmp_path / "restart", wait=False)
    try:
        deadline = time.monotonic() + 300
        while len(queued := queued_task_ids(f"{server.url}/0", "cpu")) < len(quants):
            assert running.poll() is None, out.read_text()[-4000:]
            assert time.monotonic() < deadline, f"{len(queued)} of {len(quants)} partitions queued after 300 s"
            time.sleep(0.5)
        # Killed, not shut down (no save on exit): only the append-only file keeps the queue. Down for
        # 5 s while the coordinators poll.
        server.restart(down_s=5)
        assert queued_task_ids(f"{server.url}/0", "cpu") == queued, "the restart lost queued steps"
        time.sleep(3)
        assert running.poll() is None, "a coordinator gave up during the outage: " + out.read_text()[-4000:]
        with workers_or_skip(env, tmp_path) as workers:
            # Again, with the workers connected and a step running: they reconnect, the running step
            # stores its result through the outage, and the coordinators publish their next steps.
            deadline = time.monotonic() + 300
            while not any("standard_benchmark_samples - STEP_START" in w.log_path.read_text() for w in workers.values()):
                assert running.poll() is None and time.monotonic() < deadline, out.read_text()[-4000:]
                time.sleep(0.1)
            server.restart(down_s=5)
            running.wait(timeout=900)
            reconnected = [w.name for w in workers.values() if "Connection to broker lost" in w.log_path.read_text()]
    finally:
        stop_backfill(running)
    assert running.returncode == 0, out.read_text()[-4000:]
    assert summary(out.read_text())["failed"] == []
    assert sorted(reconnected) == ["w1", "w2"], "both workers lost the broker and carried on"

    variants = [f"{MODEL}__{q}" for q in quants]
    assert rows(Path(env["QUANTBENCH_WAREHOUSE"]), variants) == rows(reference, variants)
    events = step_events(env, "restart")
    assert {p for p, *_ in events} == set(variants), "one run per partition, the ones queued before the restart"
    starts = [(p, step) for p, step, kind, *_ in events if kind == "STEP_START"]
    assert sorted(set(starts)) == sorted((v, s) for v in variants for s in
                                         ("gguf_variant", "standard_benchmark_samples", "standard_benchmark_scores"))
    # the queued steps ran once (a step running during the second restart may run again: DEPLOY.md)
    assert sorted(p for p, step in starts if step == "gguf_variant") == sorted(variants)


# ---------------------------------------------------------------- Celery: an analyst during a backfill

ANALYST = """
import json, pathlib, sys, time
from quantbench_assets.lib.core.warehouse_parts import connect_parts
root, done, log = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
with open(log, "w") as out:
    while not done.exists():
        t0 = time.time()
        with connect_parts(root, read_only=True) as con:
            landed = con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                                 "and table_name = 'standard_benchmark_samples'").fetchone()[0]
            counts = dict(con.execute("select variant, count(*) from raw.standard_benchmark_samples group by 1").fetchall()) \
                if landed else {}
        out.write(json.dumps({"start": t0, "end": time.time(), "counts": counts}) + "\\n")
        out.flush()
        time.sleep(0.5)
"""


@pytest.mark.services
@pytest.mark.slow
def test_an_analyst_queries_while_two_celery_workers_backfill_in_the_many_writer_mode(pg, broker, reference,
                                                                                      tmp_path):
    parts = tmp_path / "parts"
    env = cluster_env(pg, broker, tmp_path, QUANTBENCH_WAREHOUSE_PARTS=str(parts))
    (tmp_path / "analyst.py").write_text(ANALYST)
    done, log = tmp_path / "analyst.done", tmp_path / "analyst.jsonl"
    with workers_or_skip(env, tmp_path):
        # a separate, read-only process: DuckDB in memory over the part files, no lock, no warehouse file
        analyst = subprocess.Popen([sys.executable, str(tmp_path / "analyst.py"), str(parts), str(done), str(log)],
                                   cwd=ROOT, env={**os.environ, **env})
        started = time.time()
        running = backfill(env, LADDER, log_dir=tmp_path / "bf", wait=False)
        try:
            running.wait(timeout=900)
        finally:
            stop_backfill(running)
            ended = time.time()
            done.touch()
    assert analyst.wait(timeout=120) == 0
    out = (tmp_path / "bf" / "backfill.out").read_text()
    assert running.returncode == 0, out[-4000:]
    assert summary(out)["failed"] == []

    queries = [json.loads(line) for line in log.read_text().splitlines()]
    during = [q for q in queries if q["start"] > started and q["end"] < ended]
    assert len(during) >= 3, f"{len(during)} analyst queries during the backfill ({len(queries)} in all)"
    # whole partitions only (each replaced by one file move), and the backfill seen in progress
    assert all(n == 2 * LIMIT for q in queries for n in q["counts"].values())
    assert any(0 < len(q["counts"]) < len(LADDER) for q in during), [q["counts"] for q in during]
    assert not Path(env["QUANTBENCH_WAREHOUSE"]).exists(), "the many-writer mode left the warehouse file alone"
    # loaded into a DuckDB file (what dbt reads), the rows equal the single-process run's
    loaded = tmp_path / "loaded.duckdb"
    warehouse_parts.load_parts(loaded, str(parts))
    variants = [f"{MODEL}__{q}" for q in LADDER]
    assert rows(loaded, variants) == rows(reference, variants)
