"""Shared fixtures: the real CI model (SmolLM2-135M from its PyPI wheel), rungs built from it, a
temporary warehouse / Dagster instance per test, and the definitions run against a catalog of a test's own. Model files live in the project's content-addressed
artifact store, so they are built once per machine and reused across runs."""
import contextlib
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml

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


@pytest.fixture
def catalog_pipeline(qb_env):
    """Factory: catalog_pipeline(edit) writes the shipped catalog changed in place by `edit` to
    qb_env/models.yaml and returns materialize(selection, partition_key=None, run_config=None), which
    runs the project's definitions (raise_on_error=False) on one temporary instance, with the warehouse
    qb_env/warehouse.duckdb and that catalog; model_catalog is not yet materialized."""
    import dagster as dg

    from quantbench_assets.defs.resources import StorageResource, WarehouseResource
    from quantbench_assets.definitions import defs as load_defs

    with contextlib.ExitStack() as stack:
        def start(edit: Callable[[dict], None]):
            catalog = yaml.safe_load((paths.PROJECT_ROOT / "data/catalog/models.yaml").read_text())
            edit(catalog)
            catalog_path = qb_env / "models.yaml"
            catalog_path.write_text(yaml.safe_dump(catalog))
            defs = load_defs()
            resources = {
                **defs.resources,
                "duckdb": WarehouseResource(database=str(qb_env / "warehouse.duckdb")),
                "storage": StorageResource(catalog_path=str(catalog_path), incoming_dir=str(qb_env / "incoming")),
            }
            instance = stack.enter_context(dg.instance_for_test())

            def materialize(selection, partition_key=None, run_config=None):
                return dg.materialize(list(defs.assets), selection=selection, partition_key=partition_key,
                                      instance=instance, resources=resources, run_config=run_config,
                                      raise_on_error=False)
            return materialize

        yield start


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ (task files and lm-eval task YAMLs; the benchmark data linked) made the
    data folder. Returns (folder, edit_yaml): edit_yaml(name, change) rewrites data/lm_eval_tasks/<name>.yaml
    through change(cfg)."""
    data = tmp_path / "data"
    shutil.copytree(paths.data_dir() / "tasks", data / "tasks")
    shutil.copytree(paths.data_dir() / "lm_eval_tasks", data / "lm_eval_tasks")
    (data / "benchmarks").symlink_to(paths.benchmarks_dir())
    monkeypatch.setenv("QUANTBENCH_BENCHMARKS_DIR", str(paths.benchmarks_dir()))
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(data))
    monkeypatch.delenv("QUANTBENCH_LMEVAL_TASKS_DIR", raising=False)

    def edit_yaml(name: str, change: Callable[[dict], None]) -> None:
        path = data / "lm_eval_tasks" / f"{name}.yaml"
        cfg = yaml.safe_load(path.read_text())
        change(cfg)
        path.write_text(yaml.safe_dump(cfg))

    return data, edit_yaml
