"""A library error fails its own partition with a message naming the asset and the partition: one rule
(defs/common.py's partition_failure) for every per-variant asset, including those that read the rung's
manifest through rung_or_fail."""
import dagster as dg
import pytest

from quantbench_assets.defs.common import partition_failure
from quantbench_assets.defs.partitions import variants
from quantbench_assets.defs.resources import StorageResource, WarehouseResource
from quantbench_assets.definitions import defs as load_defs

KEY = "smollm2-135m-instruct__Q8_0"


def test_the_errors_named_become_a_failure_naming_asset_and_partition_and_others_pass_through():
    with pytest.raises(dg.Failure) as failure:
        with partition_failure("speed_runs", KEY, ValueError, KeyError):
            raise ValueError("reps must be ≥ 2")
    assert failure.value.description == f"speed_runs[{KEY}]: reps must be ≥ 2"
    with pytest.raises(RuntimeError, match="not named"):
        with partition_failure("speed_runs", KEY, ValueError):
            raise RuntimeError("not named")
    with partition_failure("speed_runs", KEY, ValueError):
        pass  # nothing raised: nothing to fail


@pytest.mark.parametrize("asset", ["speed_runs", "memory_probe", "determinism_check", "sampling_variance"])
def test_an_unbuilt_rung_fails_the_partition_naming_the_asset(qb_env, asset):
    defs = load_defs()
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(qb_env / "warehouse.duckdb")),
                 "storage": StorageResource(artifacts_dir=str(qb_env / "artifacts"))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(variants.name, [KEY])
        result = dg.materialize(list(defs.assets), selection=[asset], partition_key=KEY, instance=instance,
                                resources=resources, raise_on_error=False)
    assert not result.success
    messages = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    assert any(f"{asset}[{KEY}]: variant {KEY!r} has not been built" in m for m in messages), messages
    assert not (qb_env / "warehouse.duckdb").exists()  # failed before touching the warehouse
