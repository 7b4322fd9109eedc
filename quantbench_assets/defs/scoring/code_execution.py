"""Executed code: every stored code_generation completion runs against its item's asserts in the
sandbox (lib.sandbox), per variant. pass@1 per rung with its Wilson interval is the dbt mart
fct_code_pass_at_1."""
import dagster as dg
import polars as pl
from pydantic import Field

from quantbench_assets.lib.core import warehouse

from ..common import md_table
from ..partitions import variants
from ..resources import WarehouseResource

CODE_TASK = "code_generation"


class CodeExecutionConfig(dg.Config):
    wall_s: float = Field(default=10.0, description="wall-clock limit per completion (s)")
    cpu_s: int = Field(default=5, description="RLIMIT_CPU per completion (s)")
    memory_mb: int = Field(default=512, description="RLIMIT_AS per completion (MiB)")
    file_mb: int = Field(default=1, description="RLIMIT_FSIZE per completion (MiB), stdout/stderr included")


@dg.asset(partitions_def=variants, group_name="scoring", deps=["generation_samples"], pool="warehouse",
          check_specs=[dg.AssetCheckSpec("every_code_sample_executed", asset="code_execution", blocking=True)],
          description="code_generation completions run against their asserts in a sandbox: pass/fail and "
                      "failure kind (syntax, assertion, exception, timeout, resource limit, blocked call).")
def code_execution(context: dg.AssetExecutionContext, config: CodeExecutionConfig, duckdb: WarehouseResource):
    from quantbench_assets.lib.tasks.generation import load_generation_task
    from quantbench_assets.lib.scoring.sandbox import SandboxLimits, execute_samples

    key = context.partition_key
    with duckdb.connect(read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "generation_samples"):
            raise dg.Failure(description="no generation_samples table yet: materialize generation_samples first")
        samples = con.execute("select * from raw.generation_samples where variant = ? and task = ?",
                              [key, CODE_TASK]).pl()
    if samples.height == 0:
        raise dg.Failure(description=f"code_execution[{key}]: no stored {CODE_TASK} samples (run generation_samples "
                                     f"with {CODE_TASK} in its tasks)")
    task = load_generation_task(CODE_TASK)
    versions = set(samples["task_version"].unique().to_list())
    if versions != {task.version}:
        raise dg.Failure(description=f"code_execution[{key}]: stored samples are {CODE_TASK} {sorted(versions)}, "
                                     f"the task data is {task.version}: re-run generation_samples")
    items = {it.id: {"tests": it.meta.get("tests", []), "entry_point": it.meta.get("entry_point")} for it in task.items}
    limits = SandboxLimits(wall_s=config.wall_s, cpu_s=config.cpu_s, memory_bytes=config.memory_mb * 2**20,
                           file_bytes=config.file_mb * 2**20)
    rows = execute_samples(samples.to_dicts(), items, limits, log=context.log.info)
    df = pl.DataFrame(rows, infer_schema_length=None)
    with duckdb.connect() as con:
        written = warehouse.replace_rows(con, "code_execution", df, {"variant": key})
    outcome = df.group_by(pl.col("failure_kind").fill_null("pass")).len().sort("failure_kind")
    executed = df.filter(pl.col("passed").is_not_null())
    yield dg.MaterializeResult(metadata={
        "rows": written,
        "pass_at_1": float(executed["passed"].mean()) if executed.height else None,
        "isolation": str(df["isolation"].drop_nulls().first() if df["isolation"].drop_nulls().len() else ""),
        "outcomes": dg.MetadataValue.md(md_table(outcome.to_dicts(), outcome.columns))})
    unexplained = df.filter(pl.col("passed").is_null() & pl.col("null_reason").is_null()).height
    yield dg.AssetCheckResult(check_name="every_code_sample_executed",
                              passed=df.height == samples.height and unexplained == 0,
                              metadata={"samples": samples.height, "rows": df.height,
                                        "nulls_without_reason": unexplained})
