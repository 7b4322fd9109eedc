"""Shared fixtures: the real CI model (SmolLM2-135M from its PyPI wheel), rungs built from it, and a
temporary warehouse / Dagster instance per test. Model files live in the project's content-addressed
artifact store, so they are built once per machine and reused across runs."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NLTK_DATA", str(Path(__file__).resolve().parents[1] / "data" / "benchmarks" / "nltk_data"))

from quantbench_assets.lib.core import paths  # noqa: E402
from quantbench_assets.lib.catalog.acquire import acquire_base  # noqa: E402
from quantbench_assets.lib.catalog.entries import load_catalog  # noqa: E402
from quantbench_assets.lib.gguf.quantize import build_rung  # noqa: E402
from quantbench_assets.lib.core.store import ArtifactStore  # noqa: E402

CI_MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def artifact_store() -> ArtifactStore:
    return ArtifactStore(paths.artifacts_dir())


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(paths.PROJECT_ROOT / "data" / "catalog" / "models.yaml")


@pytest.fixture(scope="session")
def smollm_base(artifact_store, catalog):
    """The CI model's published GGUF (Q4_1), sha256-verified."""
    return acquire_base(catalog.get(CI_MODEL), artifact_store)


@pytest.fixture(scope="session")
def smollm_rung(artifact_store, smollm_base, catalog):
    """Factory: smollm_rung("Q8_0") -> Rung, built once per session (and cached in the store)."""
    built = {}
    base_quant = catalog.get(CI_MODEL).base_quant

    def make(quant: str):
        if quant not in built:
            built[quant] = build_rung(smollm_base, base_quant, quant, artifact_store)
        return built[quant]

    return make


@pytest.fixture
def qb_env(tmp_path, monkeypatch):
    """A private warehouse and Dagster home for one test; the model store stays shared."""
    monkeypatch.setenv("QUANTBENCH_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return tmp_path
