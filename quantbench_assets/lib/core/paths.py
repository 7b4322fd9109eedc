"""Where quantbench keeps its files. Every location can be moved with an environment variable."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    return _env_path("QUANTBENCH_DATA_DIR", PROJECT_ROOT / "data")


def catalog_path() -> Path:
    return _env_path("QUANTBENCH_CATALOG", data_dir() / "catalog" / "models.yaml")


def artifacts_dir() -> Path:
    """Big files (GGUF rungs, logit caches, sample caches): git-ignored, content-addressed."""
    return _env_path("QUANTBENCH_ARTIFACTS_DIR", data_dir() / "artifacts")


def incoming_dir() -> Path:
    """Drop folder: a GGUF placed here becomes a `local` model."""
    return _env_path("QUANTBENCH_INCOMING_DIR", data_dir() / "models" / "incoming")


def warehouse_path() -> Path:
    return _env_path("QUANTBENCH_WAREHOUSE", data_dir() / "warehouse" / "quantbench.duckdb")


def benchmarks_dir() -> Path:
    return _env_path("QUANTBENCH_BENCHMARKS_DIR", data_dir() / "benchmarks")


def reports_dir() -> Path:
    return _env_path("QUANTBENCH_REPORTS_DIR", data_dir() / "reports")


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt"
