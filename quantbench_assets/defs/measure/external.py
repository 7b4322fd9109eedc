"""Results measured on other machines (e.g. the committed H100 runs under data/gpu_results/), opt-in.

They go into tables of their own (raw.external_*, lib.external_results), keyed by the machine's
hardware_id and labelled with machine and date on every row, so this machine's assets never delete
them and they never enter this machine's leaderboard, cost or decisions; rpt_leaderboard_by_hardware
shows them beside this machine's rows, labelled. Nothing is loaded unless the user opts in: asset
config `include: true` or QUANTBENCH_INCLUDE_EXTERNAL=1. Materializing it without opting in removes
external rows loaded earlier, so the warehouse holds only this machine's measurements by default.
"""
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from quantbench_assets.lib.measure import external as ext

from ..resources import WarehouseResource

INCLUDE_ENV = "QUANTBENCH_INCLUDE_EXTERNAL"


class ExternalResultsConfig(dg.Config):
    include: bool | None = Field(default=None, description=f"load results measured elsewhere; unset: {INCLUDE_ENV}=1")
    files: list[str] = Field(default=[], description="results files (default: data/gpu_results/*/*.json)")


def opted_in(config: ExternalResultsConfig) -> bool:
    if config.include is not None:
        return config.include
    return os.environ.get(INCLUDE_ENV, "").strip().lower() in ("1", "true", "yes")


@dg.asset(group_name="evaluation", pool="warehouse",
          description="Opt-in: results measured on other machines (data/gpu_results) into raw.external_* tables, "
                      "keyed by hardware_id, labelled with machine and date. Never mixed into this machine's tables.")
def external_results(context: dg.AssetExecutionContext, config: ExternalResultsConfig, duckdb: WarehouseResource):
    if not opted_in(config):
        with duckdb.connect() as con:
            removed = ext.clear(con)
        context.log.info(f"results from other machines not included (set {INCLUDE_ENV}=1 or config include: true)")
        return dg.MaterializeResult(metadata={"included": False, "rows_removed": dg.MetadataValue.json(removed)})
    files = [Path(f) for f in config.files] or ext.default_files()
    if not files:
        raise dg.Failure(description="include is on but no results files were found under data/gpu_results/")
    try:
        with duckdb.connect() as con:
            written = ext.load(con, files, log=context.log.info)
    except (ext.ResultsError, FileNotFoundError) as e:
        raise dg.Failure(description=f"external_results: {e}") from None
    return dg.MaterializeResult(metadata={"included": True, "files": dg.MetadataValue.json([str(f) for f in files]),
                                          "rows": dg.MetadataValue.json(written)})
