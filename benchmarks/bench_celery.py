"""Wall time of a ladder backfill on one Celery worker vs two, on this machine.

    .venv/bin/python benchmarks/bench_celery.py --quants F16 Q8_0 Q4_K_M Q2_K --limit 10

Starts a private PostgreSQL (instance storage, deploy/postgres/dagster.yaml) and Redis (broker), then for
each worker count runs deploy/celery/backfill.py into a fresh warehouse and Dagster database. Workers
serve both queues with one process each (`--concurrency 1`), so "2 workers" means two steps at a time.
Rungs come from the shared artifact store (built before timing), so the time is evaluation + scoring +
Dagster/Celery overhead. Prints one JSON line per worker count and the ratio; with --append, adds a
section to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy import local_services  # noqa: E402

MODEL = "smollm2-135m-instruct"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def build_rungs(quants: list[str]) -> None:
    from quantbench_assets.lib.catalog.acquire import acquire_base
    from quantbench_assets.lib.catalog.entries import load_catalog
    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.quantize import build_rung

    store = ArtifactStore(paths.artifacts_dir())
    entry = load_catalog(paths.catalog_path()).get(MODEL)
    base = acquire_base(entry, store)
    for q in quants:
        build_rung(base, entry.base_quant, q, store)


def one(n_workers: int, quants: list[str], limit: int, threads: int, pg: dict, broker: str, root: Path) -> dict:
    home = root / f"home{n_workers}"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    subprocess.run(["redis-cli", "-u", f"{broker}/0", "flushdb"], capture_output=True)
    env = {**pg, "DAGSTER_HOME": str(home), "QUANTBENCH_MAX_CONCURRENT_RUNS": "8",
           "QUANTBENCH_CELERY_BROKER": f"{broker}/0", "QUANTBENCH_CELERY_BACKEND": f"{broker}/1",
           "QUANTBENCH_WAREHOUSE": str(root / f"warehouse{n_workers}.duckdb")}
    names = {f"w{i + 1}": ["cpu", "gpu"] for i in range(n_workers)}
    load_before = os.getloadavg()[0]
    with local_services.celery_workers(names, env, root):
        cmd = [sys.executable, str(ROOT / "deploy" / "celery" / "backfill.py"), "--model", MODEL, "--quants", *quants,
               "--limit", str(limit), "--threads", str(threads), "--log-dir", str(root / f"bf{n_workers}")]
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    summary = json.loads([x for x in done.stdout.splitlines() if x.startswith('{"partitions"')][-1])
    return {"workers": n_workers, "wall_s": summary["wall_s"], "failed": summary["failed"],
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quants", nargs="+", default=["F16", "Q8_0", "Q4_K_M", "Q2_K"])
    p.add_argument("--limit", type=int, default=10, help="items per task (MMLU + ARC-C) per rung")
    p.add_argument("--threads", type=int, default=1, help="engine threads per step: 1 leaves one core per worker")
    p.add_argument("--append", action="store_true", help="add the result to benchmarks/RESULTS.md")
    args = p.parse_args()
    build_rungs(args.quants)
    root = Path(tempfile.mkdtemp(prefix="qb-bench-celery-"))
    started = datetime.now(timezone.utc)
    with local_services.postgres() as pg, local_services.redis() as broker:
        rows = [one(n, args.quants, args.limit, args.threads, pg, broker, root) for n in (1, 2)]
    for r in rows:
        print(json.dumps(r))
    one_w, two_w = rows
    ratio = round(one_w["wall_s"] / two_w["wall_s"], 2) if not (one_w["failed"] or two_w["failed"]) else None
    print(json.dumps({"ratio_1_over_2": ratio, "reason": None if ratio else "a backfill had failed partitions"}))
    if args.append:
        text = (
            f"\n## Celery: a ladder backfill on one worker vs two ({started:%Y-%m-%d %H:%M} UTC)\n\n"
            f"Machine: {cpu_name()}, {os.cpu_count()} cores, shared with other sessions; "
            f"`benchmarks/bench_celery.py --quants {' '.join(args.quants)} --limit {args.limit} "
            f"--threads {args.threads}`: "
            f"{MODEL}, {len(args.quants)} partitions, each a Dagster run of gguf_variant (CPU queue, rung cached) → "
            f"standard_benchmark_samples ({args.limit} MMLU + {args.limit} ARC-C items, GPU queue, run on the CPU here) → "
            f"standard_benchmark_scores; {args.threads} engine thread(s) a step; instance on PostgreSQL 15, Redis broker, "
            f"workers with one process each.\n\n"
            "| workers | wall s | 1-min load before → after | failed |\n|---|---|---|---|\n"
            + "".join(f"| {r['workers']} | {r['wall_s']} | {r['load_before']} → {r['load_after']} | "
                      f"{len(r['failed'])} |\n" for r in rows)
            + f"\nRatio 1 worker / 2 workers: **{ratio if ratio is not None else 'null (a backfill failed)'}**.\n"
        )
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(text)
    shutil.rmtree(root, ignore_errors=True)
    return 0 if ratio else 1


if __name__ == "__main__":
    sys.exit(main())
