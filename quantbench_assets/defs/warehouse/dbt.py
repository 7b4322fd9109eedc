"""The dbt project (dbt-duckdb) as Dagster assets; dbt tests surface as asset checks.

dbt writes the same DuckDB file as the Python assets, so the build runs under the warehouse's
file lock: a partition being written and a dbt build never collide ("Could not set lock")."""

import shutil
import tempfile
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core.dbt_project import dbt_executable

from ..resources import WarehouseResource

# Set-up prepares the manifest (`dbt parse`); under `dagster dev` it is refreshed on load. Nothing
# else happens at import: no dbt run, no change to the process environment.
dbt_project = DbtProject(project_dir=paths.dbt_project_dir(), profiles_dir=paths.dbt_project_dir())
dbt_project.prepare_if_dev()

LAST_BUILD = Path("target") / "last_build"  # relative to the dbt project folder

PROFILE = """quantbench:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{path}"
      threads: 1
"""


class Translator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props) -> str:
        # One group per layer, as the project's folders are: staging, intermediate, marts, and seeds.
        # Code that means "every dbt asset" selects by kind (AssetSelection.kind("dbt")), not by group.
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        folders = dbt_resource_props["fqn"][1:-1]  # [project, *folders, name]
        return folders[0] if folders else "dbt"

    def get_automation_condition(self, dbt_resource_props) -> dg.AutomationCondition:
        # Rebuild when any upstream partition lands. eager() would also wait until no upstream
        # partition is missing: with one partition per rung, a single failed or queued rung would hold
        # every mart back, so that clause is dropped (the marts show the variants that have landed).
        return dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


@dbt_assets(
    manifest=dbt_project.manifest_path, project=dbt_project, name="quantbench_dbt", pool="warehouse",
    dagster_dbt_translator=Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def quantbench_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: WarehouseResource):
    # The warehouse file comes from the duckdb resource through a profile written for this run, so the
    # dbt build and the Python assets always share one file (and no environment variable is changed).
    profiles = Path(tempfile.mkdtemp(prefix="quantbench-dbt-profile-"))
    (profiles / "profiles.yml").write_text(PROFILE.format(path=duckdb.path.resolve().as_posix()))
    # dbt opens the file itself, so this process holds the lock alone, around the whole build
    with duckdb.lock():
        missing = missing_sources(dbt_project.manifest_path, duckdb.path)
        args = ["build", "--profiles-dir", str(profiles)]
        if missing:
            # A source whose producing asset has not run yet (e.g. no HTTP-engine study) has no table:
            # skip what is built on it instead of failing the whole build. Staging views of optional
            # inputs read them through optional_source() (an empty view), so what is built on them builds.
            context.log.info(f"raw tables not written yet, their dbt descendants are skipped: {missing}")
            args += ["--exclude", " ".join(exclusions(dbt_project.manifest_path, missing))]
        # One artifacts folder, replaced by each build (dagster-dbt's default, a new folder per build,
        # grows by ~10 MB a build without bound)
        invocation = dbt.cli(args, context=context, target_path=LAST_BUILD)
        try:
            yield from invocation.stream()
        finally:
            # A failure while reading dbt's events leaves dbt running and writing: stop it before the
            # warehouse lock is released, or the next writer collides with it ("Could not set lock").
            if invocation.process.poll() is None:
                invocation.process.terminate()
                invocation.process.wait(timeout=60)
            shutil.rmtree(profiles, ignore_errors=True)


def missing_sources(manifest_path, database) -> list[str]:
    """'source_name.table' for every dbt source whose table is absent from the warehouse."""
    import json

    import duckdb as ddb

    sources = json.loads(Path(manifest_path).read_text())["sources"].values()
    con = ddb.connect(str(database))
    try:
        present = {(s, t) for s, t in con.execute(
            "select table_schema, table_name from information_schema.tables").fetchall()}
    finally:
        con.close()
    return sorted(f"{s['source_name']}.{s['name']}" for s in sources
                  if (s["schema"], s.get("identifier") or s["name"]) not in present)


def exclusions(manifest_path, missing: list[str]) -> list[str]:
    """dbt selectors to skip for absent sources: each source's own tests, and the descendants of the
    models that read it with a plain source() — not those that read it through optional_source(),
    which build without it (a study that runs no generation tasks still gets its decision marts)."""
    import json
    import re

    manifest = json.loads(Path(manifest_path).read_text())
    by_name = {f"{s['source_name']}.{s['name']}": uid for uid, s in manifest["sources"].items()}
    out = []
    for name in missing:
        uid = by_name.get(name)
        out.append(f"source:{name}")
        source_name, table = name.split(".", 1)
        plain = re.compile(r"(?<!optional_)source\(\s*['\"]" + re.escape(source_name) + r"['\"]\s*,\s*['\"]"
                           + re.escape(table) + r"['\"]")
        for child in manifest.get("child_map", {}).get(uid, []):
            node = manifest["nodes"].get(child)
            if node is None or node.get("resource_type") == "test":
                continue
            if plain.search(node.get("raw_code") or ""):
                out.append(f"{node['name']}+")
    return out


@dg.definitions
def dbt_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[quantbench_dbt],
        resources={"dbt": DbtCliResource(project_dir=dbt_project, profiles_dir=str(paths.dbt_project_dir()),
                                         dbt_executable=dbt_executable())},
    )
