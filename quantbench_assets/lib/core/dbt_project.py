"""The dbt project's parsed manifest, kept in step with the project's files.

dagster-dbt builds the dbt assets from `target/manifest.json` when the definitions are loaded; set-up
writes it (`dbt parse`). A model, test or macro edited afterwards leaves it stale, and the next build
fails on a node the manifest does not know (a KeyError from dagster-dbt's event stream). The CLI calls
`refresh_manifest` before it loads the definitions; `dagster dev` re-parses on its own (prepare_if_dev)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import paths

# What `dbt parse` reads: a change to any of these can add, remove or rename a node.
PROJECT_INPUTS = ("dbt_project.yml", "packages.yml", "selectors.yml", "models", "macros", "seeds", "tests",
                  "snapshots", "analyses")


def dbt_executable() -> str:
    """dbt from PATH, else the one beside this interpreter (a venv's python run without activation)."""
    return shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")


def dbt_manifest_path(project: Path | None = None) -> Path:
    return (project or paths.dbt_project_dir()) / "target" / "manifest.json"


def stale_inputs(project: Path | None = None) -> list[Path]:
    """The project files newer than the manifest (every one of them when there is no manifest)."""
    project = project or paths.dbt_project_dir()
    files = []
    for name in PROJECT_INPUTS:
        entry = project / name
        files += [p for p in entry.rglob("*") if p.is_file()] if entry.is_dir() else [entry] if entry.is_file() else []
    manifest = dbt_manifest_path(project)
    if not manifest.exists():
        return files
    built = manifest.stat().st_mtime
    return [p for p in files if p.stat().st_mtime > built]


def refresh_manifest(project: Path | None = None) -> list[Path]:
    """Re-parse the project when its manifest is older than one of its files; returns those files
    (empty: the manifest was current). Raises RuntimeError with dbt's message when parsing fails."""
    project = project or paths.dbt_project_dir()
    stale = stale_inputs(project)
    if stale:
        proc = subprocess.run([dbt_executable(), "parse", "--profiles-dir", str(project), "--quiet"], cwd=project,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {project} (after changes to {stale[0].relative_to(project)}):\n"
                               + (proc.stdout + proc.stderr).strip()[-2000:])
    return stale
