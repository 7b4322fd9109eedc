"""Resources: the engine seam, the warehouse, and where files live. Defaults reproduce the demo."""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.engines.base import Engine, EngineSettings


class EngineResource(dg.ConfigurableResource):
    """Which engine runs inference, and how. Every field lands in each result's provenance."""

    kind: str = "llama_cpp"  # llama_cpp (in process) | openai_http | ollama (lib.engines.ENGINE_KINDS)
    base_url: str = ""  # HTTP kinds: the server's root URL ("" for ollama: OLLAMA_HOST or its default)
    model_tag: str = ""  # openai_http: served model id ("" = server default); ollama: the tag (required)
    n_ctx: int = 2048
    n_threads: int = 0  # 0: all cores
    n_batch: int = 512
    seed: int = 1234
    use_mmap: bool = True
    n_gpu_layers: int = 0
    main_gpu: int = 0
    extra_buffers: bool = False

    def settings(self, logits_all: bool = False) -> EngineSettings:
        return EngineSettings(
            n_ctx=self.n_ctx, n_threads=self.n_threads or None, n_batch=self.n_batch, seed=self.seed,
            use_mmap=self.use_mmap, n_gpu_layers=self.n_gpu_layers, main_gpu=self.main_gpu,
            logits_all=logits_all, extra_buffers=self.extra_buffers,
        )

    def open(self, model_path: Path, logits_all: bool = False) -> Engine:
        from quantbench_assets.lib.engines.registry import open_engine
        from quantbench_assets.lib.engines.http import HttpEngineError

        try:
            return open_engine(self.kind, model_path, self.settings(logits_all),
                               base_url=self.base_url or None, model_tag=self.model_tag or None)
        except (ValueError, HttpEngineError) as e:
            raise dg.Failure(description=f"engine {self.kind!r}: {e}") from None


class StorageResource(dg.ConfigurableResource):
    """Catalog, artifact and drop folders (environment variables override the defaults)."""

    catalog_path: str = ""
    artifacts_dir: str = ""
    artifacts_url: str = ""  # a shared store (fsspec URL, lib/core/store.py); "" : QUANTBENCH_ARTIFACTS_URL
    incoming_dir: str = ""

    def catalog(self) -> Path:
        return Path(self.catalog_path) if self.catalog_path else paths.catalog_path()

    def artifacts(self) -> Path | str:
        """The artifact store's location: a folder, or a URL for a store shared by several machines."""
        if self.artifacts_url:
            return self.artifacts_url
        return Path(self.artifacts_dir) if self.artifacts_dir else paths.artifacts_location()

    def incoming(self) -> Path:
        return Path(self.incoming_dir) if self.incoming_dir else paths.incoming_dir()


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse: hands out connections, each taken under the file lock that lets one
    process write at a time (lib/core/warehouse.py). Bound to the resource key `duckdb`, with the field
    `database`, as dagster-duckdb's DuckDBResource names them, so run config written for it still applies."""

    database: str = ""  # "" : QUANTBENCH_WAREHOUSE, else the project's data/warehouse/quantbench.duckdb
    # many-writer mode: raw rows as Parquet parts under this folder / fsspec URL, the file untouched by
    # writers (lib/core/warehouse_parts.py); "" : QUANTBENCH_WAREHOUSE_PARTS, unset = the file alone
    parts: str = ""

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else paths.warehouse_path()

    @property
    def parts_root(self) -> str | None:
        return self.parts or paths.warehouse_parts()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator["duckdb.DuckDBPyConnection"]:  # noqa: F821
        from quantbench_assets.lib.core import warehouse, warehouse_parts

        root = self.parts_root
        opened = (warehouse_parts.connect_parts(root, self.path, read_only=read_only) if root
                  else warehouse.connect(self.path, read_only=read_only))
        with opened as con:
            yield con

    def lock(self):
        """The lock alone, for a tool that opens the file itself (dbt) while this process holds it; in
        many-writer mode the file's raw views over the parts are (re)made first, so the tool reads them."""
        from quantbench_assets.lib.core import warehouse, warehouse_parts

        root = self.parts_root
        return warehouse_parts.loaded_lock(self.path, root) if root else warehouse.lock_for(self.path)


def default_resources() -> dict:
    return {
        "engine": EngineResource(),
        "storage": StorageResource(),
        "duckdb": WarehouseResource(database=str(paths.warehouse_path())),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
