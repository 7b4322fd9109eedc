"""The dbt project (dbt-duckdb) as Dagster assets; dbt tests surface as asset checks.

dbt writes the same DuckDB file as the Python assets, so the build runs under the warehouse's
file lock: a partition being written and a dbt build never collide ("Could not set lock")."""

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from quantbench_assets.lib import paths, warehouse

os.environ.setdefault("DO_NOT_TRACK", "1")

dbt_project = DbtProject(project_dir=paths.dbt_project_dir(), profiles_dir=paths.dbt_project_dir())
if not dbt_project.manifest_path.exists():
    # Set-up prepares the manifest; this covers a checkout where it was deleted (dbt parse, ~5 s).
    dbt_project.preparer.prepare(dbt_project)


def dbt_executable() -> str:
    """dbt from PATH, else the one beside this interpreter (a venv's python run without activation)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str:
        return "warehouse"


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, name="quantbench_dbt", pool="warehouse",
    dagster_dbt_translator=Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def quantbench_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
    os.environ["QUANTBENCH_WAREHOUSE"] = str(duckdb.database)
    with warehouse.lock_for(duckdb.database):
        yield from dbt.cli(["build"], context=context).stream()


@dg.definitions
def dbt_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[quantbench_dbt],
        resources={"dbt": DbtCliResource(project_dir=dbt_project, profiles_dir=str(paths.dbt_project_dir()),
                                         dbt_executable=dbt_executable())},
    )
