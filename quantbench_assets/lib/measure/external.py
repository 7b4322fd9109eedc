"""Results measured on another machine (e.g. the lent H100 whose runs are committed under
data/gpu_results/<date>/), read into tables of their own: raw.external_<table>.

A results file is what scripts/gpu/device_run.py writes: {"results_version", "meta", "tables",
"annotations"}, each table in the shape of the corresponding raw table of this pipeline (its
benchmark_samples/benchmark_scores are TR125's generate_rescore rows and letter readings as
lib/scoring/tr125.py returns them, what the benchmark chain stores for that scorer). Nothing
here writes to a table another asset owns: speed_runs, memory_probe, perplexity and the benchmark
assets keep raw.speed_summary, raw.hardware, ... for this machine alone, so re-running them never
touches these rows and these rows never enter this machine's leaderboard, cost or decisions.

Every row is labelled with where and when it was measured: hardware_id (the device's, salted with
its backend by the device runner, so it never equals a CPU id), hardware_class (lib.hardware's rule
applied to the device's profile), measured_on (the device's name), measured_date (the run's date)
and source_file. Rows are replaced per (hardware_id) for the hardware table and per
(variant, hardware_id) elsewhere, so loading twice never duplicates.
"""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ..core import paths
from ..core import warehouse
from ..measure.hardware import derive_hardware_class

# results-file table -> warehouse table (schema raw)
TABLES = {
    "hardware": "external_hardware",
    "speed_summary": "external_speed_summary",
    "speed_samples": "external_speed_samples",
    "gpu_memory": "external_memory",
    "gpu_roofline": "external_roofline",
    "rungs": "external_rungs",
    "perplexity": "external_perplexity",
    "perplexity_windows": "external_perplexity_windows",
    "benchmark_samples": "external_benchmark_samples",
    "benchmark_scores": "external_benchmark_scores",
}
LABELS = ("hardware_class", "measured_on", "measured_date", "source_file")


class ResultsError(ValueError):
    pass


def default_files(root: Path | None = None) -> list[Path]:
    return sorted((root or paths.data_dir() / "gpu_results").glob("*/*.json"))


def read_results(path: Path) -> dict:
    """A results file, validated: a hardware row, every row on that hardware, positive speeds."""
    data = json.loads(Path(path).read_text())
    if "tables" not in data or "results_version" not in data:
        raise ResultsError(f"{path}: not a results file of scripts/gpu/device_run.py")
    hw = data["tables"].get("hardware") or []
    if not hw:
        raise ResultsError(f"{path}: no hardware row (the bandwidth probe failed on the device?)")
    hids = {r["hardware_id"] for r in hw}
    for name, rows in data["tables"].items():
        for r in rows:
            if name != "hardware" and r.get("hardware_id") not in hids:
                raise ResultsError(f"{path}: a {name} row has hardware_id {r.get('hardware_id')!r}, not the file's {hids}")
    for r in data["tables"].get("speed_summary", []):
        if not r["mean_tok_per_s"] or r["mean_tok_per_s"] <= 0:
            raise ResultsError(f"{path}: {r['variant']} {r['test']} has no positive tok/s")
    return data


def labels(path: Path, data: dict) -> dict[str, dict]:
    """hardware_id -> the labels every row measured on it carries."""
    ann = data.get("annotations") or {}
    date = ann.get("date") or (data.get("meta") or {}).get("started_at", "")[:10] or Path(path).parent.name
    try:
        source = str(Path(path).resolve().relative_to(paths.PROJECT_ROOT))
    except ValueError:
        source = str(path)
    out = {}
    for hw in data["tables"]["hardware"]:
        name = hw.get("gpu_name") if hw.get("device_kind", "gpu" if hw.get("gpu_name") else "cpu") == "gpu" \
            else hw.get("cpu_model")
        out[hw["hardware_id"]] = {"hardware_class": derive_hardware_class(hw), "measured_on": name or "unknown machine",
                                  "measured_date": date, "source_file": source}
    return out


def load(con, files: list[Path], log=print) -> dict[str, int]:
    """Write every file's tables into raw.external_*, labelled; returns rows written per table."""
    written: dict[str, int] = {}
    datasets = [(f, read_results(f)) for f in files]  # validate everything before writing anything
    for f, data in datasets:
        by_hw = labels(f, data)
        for name, rows in data["tables"].items():
            if not rows or name not in TABLES:
                continue
            table = TABLES[name]
            keys = ("hardware_id",) if name == "hardware" else ("variant", "hardware_id")
            groups: dict[tuple, list[dict]] = {}
            for r in rows:
                groups.setdefault(tuple(r[k] for k in keys), []).append({**r, **by_hw[r["hardware_id"]]})
            for key, group in groups.items():
                # the writer types all-null columns from lib/core/schemas.py
                n = warehouse.replace_rows(con, table, pl.DataFrame(group, infer_schema_length=None),
                                           dict(zip(keys, key)))
                written[table] = written.get(table, 0) + n
        log(f"loaded {f}")
    return written


def clear(con) -> dict[str, int]:
    """Remove every external row (the user opted out): rows removed per table."""
    removed = {}
    for table in TABLES.values():
        if warehouse.table_exists(con, "raw", table):
            removed[table] = con.execute(f'select count(*) from raw."{table}"').fetchone()[0]
            con.execute(f'delete from raw."{table}"')
    return removed
