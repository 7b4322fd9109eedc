"""Backfill a model's ladder through Celery workers: one Dagster run per variant, all launched at once.

    python deploy/celery/backfill.py --model smollm2-135m-instruct --quants F16 Q8_0 Q4_K_M Q2_K --limit 2

Each run's coordinator is `dagster job execute` on deploy/celery/definitions.py: it hands the run's
steps to the queues their tags name and waits; the workers do the work. The catalog (which registers
the partitions) and the model's base file are materialized first, in this process. With --in-process
the same runs execute one after another in this process (the single-machine reference).
Exit status: 0 when every run succeeded; the summary line names the failed partitions.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # `deploy` when run as a script
from deploy.routing import LADDER_ASSETS, ladder_config  # noqa: E402
JOBS = {"ladder": LADDER_ASSETS, "rungs": ["gguf_variant"]}


def run_config(limit: int | None, job: str, threads: int | None = None) -> dict:
    config: dict = ladder_config(limit) if job == "ladder" else {}
    if threads:
        config["resources"] = {"engine": {"config": {"n_threads": threads}}}
    return config


def prepare(model: str) -> None:
    """Sync the catalog's partitions into the instance and acquire the base file once, up front."""
    from quantbench_assets.definitions import defs as project_defs

    defs = project_defs()
    with dg.DagsterInstance.get() as instance:
        for selection, partition in ((["model_catalog"], None), (["gguf_base"], model)):
            result = dg.materialize(list(defs.assets), selection=selection, partition_key=partition,
                                    instance=instance, resources=defs.resources, raise_on_error=False)
            if not result.success:
                raise SystemExit(f"backfill: {selection[0]} failed; see the Dagster run {result.run_id}")


def run_in_process(keys: list[str], job: str, limit: int | None, threads: int | None) -> dict[str, bool]:
    from quantbench_assets.definitions import defs as project_defs

    defs = project_defs()
    ok = {}
    with dg.DagsterInstance.get() as instance:
        for key in keys:
            ok[key] = dg.materialize(list(defs.assets), selection=JOBS[job], partition_key=key, instance=instance,
                                     resources=defs.resources, run_config=run_config(limit, job, threads),
                                     raise_on_error=False).success
    return ok


def run_on_workers(keys: list[str], job: str, limit: int | None, threads: int | None,
                   log_dir: Path) -> dict[str, bool]:
    config = log_dir / "run_config.yaml"
    config.write_text(yaml.safe_dump(run_config(limit, job, threads)))
    procs = {}
    for key in keys:
        cmd = [sys.executable, "-m", "dagster", "job", "execute", "-f", str(HERE / "definitions.py"), "-j", job,
               "--tags", json.dumps({"dagster/partition": key, "quantbench/backfill": log_dir.name})]
        if run_config(limit, job, threads):
            cmd += ["-c", str(config)]
        log = open(log_dir / f"{key}.log", "w")
        procs[key] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    ok = {}
    for key, (proc, log) in procs.items():
        ok[key] = proc.wait() == 0
        log.close()
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--quants", nargs="+", required=True)
    p.add_argument("--job", choices=sorted(JOBS), default="ladder")
    p.add_argument("--limit", type=int, default=None, help="items per task (standard_benchmark_samples)")
    p.add_argument("--threads", type=int, default=None, help="engine threads per step (default: all cores)")
    p.add_argument("--in-process", action="store_true", help="no workers: run the partitions here, in turn")
    p.add_argument("--log-dir", type=Path, default=None, help="one log per coordinator (default: a temp folder)")
    args = p.parse_args(argv)
    keys = [f"{args.model}__{q}" for q in args.quants]
    prepare(args.model)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="qb-backfill-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    ok = (run_in_process(keys, args.job, args.limit, args.threads) if args.in_process
          else run_on_workers(keys, args.job, args.limit, args.threads, log_dir))
    wall = time.monotonic() - start
    failed = [k for k, good in ok.items() if not good]
    print(json.dumps({"partitions": len(keys), "failed": failed, "wall_s": round(wall, 1),
                      "mode": "in_process" if args.in_process else "workers", "logs": str(log_dir)}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
