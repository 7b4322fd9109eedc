"""The Dagster instance the CLI sets up: the warehouse's writers queue one at a time, inference does not.

Checked through Dagster's own slot accounting (InstanceConcurrencyContext.claim, what a step calls
before it runs): two steps of one pool claim at once, or the second waits."""
import dagster as dg
import pytest
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from quantbench_assets import cli


def _claims(instance, pool: str, steps: int) -> list[bool]:
    run = instance.add_run(DagsterRun(job_name="pools_probe", run_id=make_new_run_id()))
    with InstanceConcurrencyContext(instance, run) as ctx:
        return [ctx.claim(pool, f"step_{i}") for i in range(steps)]


@pytest.fixture
def cli_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    cli.ensure_home()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        cli.configure_pools(instance)
        yield instance


def test_inference_steps_run_side_by_side_and_warehouse_writers_one_at_a_time(cli_instance):
    assert _claims(cli_instance, "inference", 4) == [True, True, True, True]
    assert _claims(cli_instance, "warehouse", 2) == [True, False]
    limits = {p.name: p.limit for p in cli_instance.event_log_storage.get_pool_limits()}
    assert limits.get("warehouse") == 1 and "inference" not in limits


def test_a_warehouse_limit_set_in_the_ui_is_kept(cli_instance):
    cli_instance.event_log_storage.set_concurrency_slots("warehouse", 2)
    cli.configure_pools(cli_instance)
    assert _claims(cli_instance, "warehouse", 3) == [True, True, False]


def test_an_instance_file_the_cli_wrote_with_default_limit_is_upgraded(tmp_path, monkeypatch):
    old = ("# quantbench's Dagster instance. Writers of the DuckDB file share the pool \"warehouse\" (limit 1);\n"
           "concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n")
    (tmp_path / "dagster.yaml").write_text(old)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    cli.ensure_home()
    assert "default_limit:" not in (tmp_path / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        cli.configure_pools(instance)
        assert _claims(instance, "inference", 2) == [True, True]


def test_an_instance_file_of_the_users_own_is_left_alone(tmp_path, monkeypatch):
    own = "concurrency:\n  pools:\n    default_limit: 3\n"
    (tmp_path / "dagster.yaml").write_text(own)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    cli.ensure_home()
    assert (tmp_path / "dagster.yaml").read_text() == own
