"""The dbt project's layout rules (issue 16), checked on the files and the parsed manifest: no dbt run.

- one sources file, and one yml per model beside its .sql;
- marts and intermediates read staging views only (ref), never a raw table;
- the dbt assets are grouped in Dagster by their folder, and "every dbt asset" is selected by kind.
"""
import json
import re
from pathlib import Path

import dagster as dg
import yaml

from quantbench_assets.lib.core import paths

PROJECT = paths.dbt_project_dir()
RAW_READ = re.compile(r"\b(optional_source|optional_raw_table|source)\s*\(")


def _models() -> list[Path]:
    return sorted((PROJECT / "models").rglob("*.sql"))


def test_one_sources_file_declares_every_source():
    files = [p for p in (PROJECT / "models").rglob("*.yml") if "sources" in yaml.safe_load(p.read_text())]
    assert [p.relative_to(PROJECT).as_posix() for p in files] == ["models/staging/_sources.yml"]


def test_each_model_has_exactly_one_yml_beside_it_describing_it_alone():
    ymls = {p for p in (PROJECT / "models").rglob("*.yml") if p.name != "_sources.yml"}
    for sql in _models():
        yml = sql.with_suffix(".yml")
        assert yml in ymls, f"{sql.relative_to(PROJECT)} has no {yml.name}"
        doc = yaml.safe_load(yml.read_text())
        assert [m["name"] for m in doc.get("models", [])] == [sql.stem], yml.name
        assert {u["model"] for u in doc.get("unit_tests", [])} <= {sql.stem}, yml.name
        ymls.discard(yml)
    assert not ymls, f"yml files without a model: {sorted(p.name for p in ymls)}"


def test_marts_and_intermediates_read_staging_only():
    offenders = [p.relative_to(PROJECT).as_posix() for p in _models()
                 if p.parent.name in ("marts", "intermediate") and RAW_READ.search(p.read_text())]
    assert offenders == []


def test_the_provenance_columns_come_from_one_macro():
    # a staging model that lists the engine settings by hand would drift from the others
    by_hand = [p.name for p in (PROJECT / "models" / "staging").glob("*.sql")
               if "provenance_columns()" not in p.read_text()
               and all(re.search(rf"^\s*{c},", p.read_text(), re.M) for c in ("quant_requested", "engine_build", "n_threads"))]
    assert by_hand == []


def test_dbt_assets_are_grouped_by_folder_and_selected_by_kind():
    from quantbench_assets.defs.warehouse.dbt import Translator, quantbench_dbt

    manifest = json.loads((PROJECT / "target" / "manifest.json").read_text())
    translator = Translator()
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert translator.get_group_name(node) == Path(node["original_file_path"]).parent.name
        elif node["resource_type"] == "seed":
            assert translator.get_group_name(node) == "seeds"
    # AssetSelection.kind("dbt") (the CLI, the automation sensor) picks every dbt asset, seeds included
    specs = list(quantbench_dbt.specs)
    assert specs and all("dbt" in spec.kinds for spec in specs)
    assert {spec.group_name for spec in specs} == {"staging", "intermediate", "marts", "seeds"}


def test_intervals_and_the_machine_columns_come_from_one_macro_each():
    # z written out in a model is an interval computed by hand beside wilson_*/normal_* (macros/)
    assert [p.name for p in _models() if "1.9599" in p.read_text()] == []
    # a staging view that declares the machine columns itself would drift from hardware_types()
    by_hand = [p.name for p in (PROJECT / "models" / "staging").glob("*.sql")
               if re.search(r"'(cpu_simd|bandwidth_1t_gb_per_s)'\s*:", p.read_text())]
    assert by_hand == []


def test_an_edited_dbt_project_is_parsed_again_before_the_definitions_read_it(tmp_path):
    """A model added or changed after set-up's `dbt parse` would fail the next build on a node the
    manifest does not know: refresh_manifest re-parses when a project file is newer than the manifest,
    and only then; a project dbt cannot parse fails with dbt's message and the file that changed."""
    import os
    import shutil

    import pytest

    from quantbench_assets.lib.core.dbt_project import dbt_manifest_path, refresh_manifest, stale_inputs

    project = tmp_path / "dbt"
    shutil.copytree(paths.dbt_project_dir(), project, ignore=shutil.ignore_patterns("target", "logs"))
    assert refresh_manifest(project)  # no manifest yet: parsed
    assert stale_inputs(project) == [] and refresh_manifest(project) == []  # current: nothing to do
    probe = project / "models" / "marts" / "zz_probe.sql"
    probe.write_text("select 1 as one\n")
    later = dbt_manifest_path(project).stat().st_mtime + 5
    os.utime(probe, (later, later))
    assert refresh_manifest(project) == [probe]
    assert "model.quantbench.zz_probe" in json.loads(dbt_manifest_path(project).read_text())["nodes"]
    probe.write_text("select {{ not_a_macro( }}\n")
    os.utime(probe, (later + 5, later + 5))
    with pytest.raises(RuntimeError, match="zz_probe.sql"):
        refresh_manifest(project)
