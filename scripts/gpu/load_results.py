"""Load results files from the GPU runner (scripts/gpu/device_run.py) into the warehouse's raw tables.

    .venv/bin/python scripts/gpu/load_results.py                      # every data/gpu_results/*/*.json
    .venv/bin/python scripts/gpu/load_results.py FILE... --db PATH   # these files, that warehouse

Where each table goes, and why:
- hardware, speed_summary, speed_samples: the CPU assets' own tables. Every row carries hardware_id
  (the H100's is the host profile's id salted with the backend, so it never collides with a CPU
  run), so dim_hardware, the cost mart and rpt_leaderboard_by_hardware see the GPU beside the CPU.
  The CPU decision marts keep to CPU rows (int_variant_measurements_joined: n_gpu_layers = 0).
- gpu_memory, gpu_roofline, gpu_rungs: new tables (VRAM has no column in raw.memory_probe, whose
  rows are host RSS; the roofline table also holds the synthetic speed-only models).
- gpu_perplexity(_windows), gpu_benchmark_samples/_scores: same columns as raw.perplexity(_windows)
  and raw.benchmark_samples/_scores, plus hardware_id, in tables of their own: the CPU tables have
  no hardware column, their marts pool every row of a variant, and the CPU scoring asset re-scores
  every sample of a variant, so GPU rows there would be counted as more CPU items.

Rows are replaced per (variant, hardware_id) with lib.warehouse.replace_rows, so loading twice is
harmless and no CPU row is touched. One caveat: the CPU speed_runs asset replaces raw.speed_summary
and raw.speed_samples per variant, whatever the machine; re-materializing it for a variant drops
that variant's GPU speed rows from the warehouse. Run this loader again afterwards (the committed
files under data/gpu_results/ are the record).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402

from quantbench_assets.lib import paths, warehouse  # noqa: E402

# results table -> warehouse table (schema raw)
TABLES = {
    "hardware": "hardware",
    "speed_summary": "speed_summary",
    "speed_samples": "speed_samples",
    "gpu_memory": "gpu_memory",
    "gpu_roofline": "gpu_roofline",
    "rungs": "gpu_rungs",
    "perplexity": "gpu_perplexity",
    "perplexity_windows": "gpu_perplexity_windows",
    "benchmark_samples": "gpu_benchmark_samples",
    "benchmark_scores": "gpu_benchmark_scores",
}

# DuckDB type -> polars type, for columns that are null in every incoming row
_DUCK_TO_PL = {"BIGINT": pl.Int64, "INTEGER": pl.Int64, "DOUBLE": pl.Float64, "FLOAT": pl.Float64,
               "VARCHAR": pl.Utf8, "BOOLEAN": pl.Boolean, "DOUBLE[]": pl.List(pl.Float64)}


class ResultsError(ValueError):
    pass


def default_files(root: Path | None = None) -> list[Path]:
    return sorted((root or paths.data_dir() / "gpu_results").glob("*/*.json"))


def read_results(path: Path) -> dict:
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


def _existing_types(con, table: str) -> dict[str, str]:
    if not warehouse.table_exists(con, "raw", table):
        return {}
    return {name: dtype for name, dtype, *_ in con.execute(f'describe raw."{table}"').fetchall()}


def _guess(column: str):
    if column.endswith(("_bytes", "_count", "_threads")) or column.startswith("n_"):
        return pl.Int64
    if column.endswith(("_pct", "_s", "_ms", "_gb_per_s", "_tok_per_s")):
        return pl.Float64
    return pl.Utf8


def frame(rows: list[dict], existing: dict[str, str]) -> pl.DataFrame:
    """Rows -> a frame whose all-null columns have a real type (the table's, else text): DuckDB would
    create an all-null column as INTEGER, and a later text value would not fit."""
    df = pl.DataFrame(rows, infer_schema_length=None)
    casts = {}
    for name, dtype in df.schema.items():
        if dtype == pl.Null:
            casts[name] = _DUCK_TO_PL.get(existing[name], pl.Utf8) if name in existing else _guess(name)
    return df.with_columns([pl.col(c).cast(t) for c, t in casts.items()]) if casts else df


def load(files: list[Path], db: Path, log=print) -> dict[str, int]:
    written: dict[str, int] = {}
    datasets = [(f, read_results(f)) for f in files]
    with warehouse.connect(db) as con:
        for f, data in datasets:
            for name, rows in data["tables"].items():
                if not rows or name not in TABLES:
                    continue
                table = TABLES[name]
                existing = _existing_types(con, table)
                if name == "hardware":
                    groups = {(r["hardware_id"],): [r] for r in rows}  # the latest probe of a machine wins
                    keys = ("hardware_id",)
                else:
                    groups: dict[tuple, list[dict]] = {}
                    for r in rows:
                        groups.setdefault((r["variant"], r["hardware_id"]), []).append(r)
                    keys = ("variant", "hardware_id")
                for key, group in groups.items():
                    df = frame(group, existing)
                    n = warehouse.replace_rows(con, table, df, dict(zip(keys, key)))
                    written[table] = written.get(table, 0) + n
                    existing = existing or _existing_types(con, table)
            log(f"loaded {f}")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="results files (default: data/gpu_results/*/*.json)")
    ap.add_argument("--db", type=Path, default=None, help="warehouse (default: the project's)")
    args = ap.parse_args(argv)
    files = args.files or default_files()
    if not files:
        print("no results files found", file=sys.stderr)
        return 1
    written = load(files, args.db or paths.warehouse_path())
    for table, n in sorted(written.items()):
        print(f"raw.{table}: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
