"""The persistent Dagster instance the commands run through (DAGSTER_HOME, default .dagster_home/):
its instance file, its pool limits, and a materializer over the loaded definitions."""
from __future__ import annotations

import os
from pathlib import Path

from quantbench_assets.lib.core import paths

INSTANCE_YAML = """# quantbench's Dagster instance. Writers of the DuckDB file share the pool "warehouse", limited to 1
# (DuckDB takes one writer per file) by quantbench's CLI; inference runs in the pool "inference", as
# wide as the machine allows. No default limit for all pools: it would throttle "inference" too.
telemetry:
  enabled: false
python_logs:
  python_log_level: INFO
"""
# Per-pool limits live in the instance's storage, not in dagster.yaml; configure_pools sets them.
POOL_LIMITS = {"warehouse": 1}
_OLD_HEADER = "# quantbench's Dagster instance."  # files this CLI wrote (and may upgrade)

# Dagster's console logger at INFO: the DEBUG event stream (one line per engine event) is not useful in
# the log file either; everything is still stored in the instance and shown in the UI.
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def ensure_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home())))
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    # an instance file this CLI wrote earlier had default_limit: 1, which throttled "inference" to 1
    if not cfg.exists() or (cfg.read_text().startswith(_OLD_HEADER) and "default_limit:" in cfg.read_text()):
        cfg.write_text(INSTANCE_YAML)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return home


def configure_pools(instance) -> None:
    """Set POOL_LIMITS where the instance has no limit of its own (one set in the UI is kept); pools not
    named stay unlimited."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    explicit = {p.name for p in storage.get_pool_limits() if not getattr(p, "from_default", False)}
    for pool, limit in POOL_LIMITS.items():
        if pool not in explicit:
            storage.set_concurrency_slots(pool, limit)


def materializer():
    """Load the definitions once; return (materialize(selection, partition_key, run_config) -> error or None, asset names)."""
    ensure_home()
    import dagster as dg

    from quantbench_assets.lib.core.dbt_project import refresh_manifest

    stale = refresh_manifest()  # before the definitions read it: dbt assets are built from the manifest
    if stale:
        from .console import say
        say(f"dbt project changed since it was parsed ({stale[0].relative_to(paths.dbt_project_dir())}"
            f"{f' and {len(stale) - 1} more' if len(stale) > 1 else ''}): manifest refreshed")
    from quantbench_assets.definitions import defs as load_defs

    defs = load_defs()
    instance = dg.DagsterInstance.get()
    configure_pools(instance)
    assets, resources = list(defs.assets or []), dict(defs.resources or {})
    present = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}

    def materialize(selection, partition_key: str | None = None, run_config: dict | None = None) -> str | None:
        """None on success, else the first failure's message (one line)."""
        config = {**(run_config or {}), **QUIET_LOGGERS}
        result = dg.materialize(assets, selection=selection, partition_key=partition_key, instance=instance,
                                resources=resources, run_config=config, raise_on_error=False,
                                tags={"quantbench/source": "cli"})
        if result.success:
            return None
        for ev in result.all_events:
            if ev.is_step_failure:
                err = ev.step_failure_data.error
                root = err
                while root is not None and root.cause is not None:  # the innermost cause says what went wrong
                    root = root.cause
                msg = (root.message.strip().splitlines() or [""])[0] if root else ""
                print(f"FAILED {ev.step_key} [{partition_key}]: {err.to_string() if err else ''}", flush=True)
                return f"{ev.step_key}: {msg[:200]}"
        return "run failed (see the log)"

    return materialize, present
