"""Where quantbench keeps its files: one project folder (the "home"), every location movable by an
environment variable.

The home holds the inputs the code reads (the dbt project `dbt/`, the catalog, task definitions and
benchmark data under `data/`) and, by default, what the runs write (`data/artifacts`, the warehouse,
reports). It is found, in order:

1. `QUANTBENCH_HOME`, when set (it must be a project folder: `dbt/dbt_project.yml` inside);
2. the source checkout the package sits in (an editable install or `python -m` from the checkout).

An installed package (`pip install .`) has no checkout around it: `quantbench init DIR` copies the
shipped project files into DIR, then QUANTBENCH_HOME=DIR. Nothing else depends on the current
directory. Single locations still move on their own (QUANTBENCH_DATA_DIR, QUANTBENCH_CATALOG,
QUANTBENCH_DBT_PROJECT_DIR, ...); only what is not set that way needs the home.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "QUANTBENCH_HOME"
# The folder that contains the package: a checkout's root, or site-packages when installed.
_PACKAGE_PARENT = Path(__file__).resolve().parents[3]
# What `pip install .` ships beside the code ([tool.setuptools.data-files] in pyproject.toml).
SHIPPED_PROJECT = Path(sys.prefix) / "share" / "quantbench"


class ProjectNotFound(RuntimeError):
    """No project folder: the message says how to get one."""


def is_project(folder: Path) -> bool:
    return (folder / "dbt" / "dbt_project.yml").is_file()


def project_root() -> Path:
    value = os.environ.get(HOME_ENV)
    if value:
        home = Path(value).expanduser().resolve()
        if not is_project(home):
            raise ProjectNotFound(f"{HOME_ENV}={value} is not a quantbench project folder (no dbt/dbt_project.yml "
                                  f"there): run `quantbench init {value}` or point it at a quantbench checkout")
        return home
    if is_project(_PACKAGE_PARENT):
        return _PACKAGE_PARENT
    raise ProjectNotFound(f"quantbench cannot find its project folder (dbt project, catalog, task data): set "
                          f"{HOME_ENV} to a quantbench checkout or run `quantbench init DIR`")


def __getattr__(name: str):
    # PROJECT_ROOT stays importable, but is resolved when read: importing the package (e.g. for
    # `quantbench --help`) never fails for want of a project folder.
    if name == "PROJECT_ROOT":
        return project_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _env_path(var: str, default) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default()


def data_dir() -> Path:
    return _env_path("QUANTBENCH_DATA_DIR", lambda: project_root() / "data")


def catalog_path() -> Path:
    return _env_path("QUANTBENCH_CATALOG", lambda: data_dir() / "catalog" / "models.yaml")


def artifacts_dir() -> Path:
    """Big files (GGUF rungs, logit caches, sample caches): git-ignored, content-addressed."""
    return _env_path("QUANTBENCH_ARTIFACTS_DIR", lambda: data_dir() / "artifacts")


def artifacts_location() -> Path | str:
    """Where the artifact store is: QUANTBENCH_ARTIFACTS_URL (a folder, a file:// URL or any fsspec URL
    such as s3://bucket/prefix, shared by every machine), else the folder artifacts_dir()."""
    return os.environ.get("QUANTBENCH_ARTIFACTS_URL") or artifacts_dir()


def artifacts_cache_dir() -> Path:
    """A remote artifact store's local mirror on this machine (GGUFs llama.cpp loads, caches read)."""
    return _env_path("QUANTBENCH_ARTIFACTS_CACHE", lambda: data_dir() / "artifacts-cache")


def warehouse_parts() -> str | None:
    """QUANTBENCH_WAREHOUSE_PARTS: a folder or fsspec URL that turns on the many-writer warehouse mode
    (raw rows as Parquet files there, lib/core/warehouse.py); unset: the single DuckDB file."""
    return os.environ.get("QUANTBENCH_WAREHOUSE_PARTS") or None


def incoming_dir() -> Path:
    """Drop folder: a GGUF placed here becomes a `local` model."""
    return _env_path("QUANTBENCH_INCOMING_DIR", lambda: data_dir() / "models" / "incoming")


def warehouse_path() -> Path:
    return _env_path("QUANTBENCH_WAREHOUSE", lambda: data_dir() / "warehouse" / "quantbench.duckdb")


def benchmarks_dir() -> Path:
    return _env_path("QUANTBENCH_BENCHMARKS_DIR", lambda: data_dir() / "benchmarks")


def reports_dir() -> Path:
    return _env_path("QUANTBENCH_REPORTS_DIR", lambda: data_dir() / "reports")


def dbt_project_dir() -> Path:
    return _env_path("QUANTBENCH_DBT_PROJECT_DIR", lambda: project_root() / "dbt")


def dagster_home() -> Path:
    """The Dagster instance folder when DAGSTER_HOME is not set: the project's `.dagster_home`."""
    return _env_path("DAGSTER_HOME", lambda: project_root() / ".dagster_home")


# The project files an installed package ships and `quantbench init` copies: the inputs under dbt/ and
# data/, never what runs write (model files, the warehouse, reports, dbt's target/ and logs/).
PROJECT_DIRS = ("dbt", "data")
NOT_SHIPPED = {"target", "logs", "dbt_packages", ".user.yml", "artifacts", "artifacts-cache", "warehouse", "reports",
               "results", "incoming", "__pycache__", ".gitkeep"}
NOT_SHIPPED_SUFFIXES = (".gguf", ".duckdb", ".wal", ".lock", ".pyc")


def project_files(root: Path) -> list[Path]:
    """The project files under `root`, relative to it (setup.py ships exactly these)."""
    out = []
    for top in PROJECT_DIRS:
        for f in sorted((root / top).rglob("*")):
            rel = f.relative_to(root)
            if f.is_file() and not NOT_SHIPPED & set(rel.parts) and not f.name.endswith(NOT_SHIPPED_SUFFIXES):
                out.append(rel)
    return out


def init_project(dest: Path, source: Path | None = None) -> Path:
    """Copy the shipped project files (or a checkout's) into `dest`, which must not be a project yet."""
    import shutil

    dest = Path(dest).expanduser().resolve()
    if source is None:
        source = SHIPPED_PROJECT if is_project(SHIPPED_PROJECT) else (
            _PACKAGE_PARENT if is_project(_PACKAGE_PARENT) else None)
    if source is None or not is_project(source):
        raise ProjectNotFound(f"no project files shipped with this installation (looked in {SHIPPED_PROJECT}): "
                              "reinstall with `pip install .` from a quantbench checkout")
    if is_project(dest):
        raise FileExistsError(f"{dest} is already a quantbench project folder")
    for rel in project_files(source):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / rel)
    (dest / "data" / "models" / "incoming").mkdir(parents=True, exist_ok=True)
    # Dagster finds the defs module through a project file; a checkout has pyproject.toml's [tool.dg]
    (dest / "dg.toml").write_text(DG_TOML)
    return dest


DG_TOML = """directory_type = "project"

[project]
root_module = "quantbench_assets"
defs_module = "quantbench_assets.defs"
code_location_name = "quantbench"
"""
