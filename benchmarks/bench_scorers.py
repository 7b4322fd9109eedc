"""Items per second of quantbench's multiple-choice scorers against lm-eval's `gguf` backend talking to
llama-cpp-python's server, on the same GGUF, threads and items (MMLU and ARC-Challenge demo subsets).

Paths compared (each item scored from scratch: a fresh sample cache per run):
  quantbench loglikelihood      one request per choice, in process, KV prefix reuse
  quantbench letter_logits      one forward pass per item, next-token logprobs of " A".." D"
  quantbench generate_rescore   TR125's greedy generation (16 tokens, chat template) + letter extraction
  lm-eval → quantbench bridge   lm-eval's own task code on the same engine (lib/tasks/lmeval.py)
  lm-eval --model gguf          lm-eval 0.4.13's gguf backend posting echo+logprobs completions to
                                `python -m llama_cpp.server` on 127.0.0.1 (1-4 s per request:
                                docs/PLATFORM_NOTES.md, "lm-eval's gguf backend")

Both servers and engines run with llama.cpp's extra buffer types off (these AMX machines segfault
in ggml_backend_amx_mul_mat with them on), so the server is started through this script (`--serve`),
which applies the same switch as EngineSettings(extra_buffers=False) before the model loads.

    python benchmarks/bench_scorers.py --mmlu 20 --arc 20 --threads 1 --append-results
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEFAULT_VARIANT = "smollm2-135m-instruct__Q8_0"
LM_EVAL_TASK = {"mmlu": "qb_mmlu", "arc_challenge": "qb_arc_challenge"}
SCORERS = ("loglikelihood", "letter_logits", "generate_rescore")


def serve(model: str, threads: int, port: int, n_ctx: int) -> None:
    """llama-cpp-python's server (its own __main__), with extra buffer types off before the model loads."""
    from llama_cpp.server.__main__ import main

    from quantbench_assets.lib.engines import llama as engine

    # the engine's switch for Llama()'s defaults (named model_params, formerly _model_params)
    params = getattr(engine, "model_params", None) or getattr(engine, "_model_params")

    sys.argv = ["llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port),
                "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx),
                "--logits_all", "true"]
    with params(use_extra_bufts=False):
        main()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def load_tasks(n_mmlu: int, n_arc: int):
    from quantbench_assets.lib.tasks.benchmarks import load_task

    return [load_task("mmlu", "demo", n_mmlu), load_task("arc_challenge", "demo", n_arc)]


def doc_indices(task) -> list[int]:
    """Row numbers of the task's items in the dataset as lm-eval's json loader reads it (files sorted)."""
    from quantbench_assets.lib.tasks.benchmarks import load_all_items

    index = {it.item_id: i for i, it in enumerate(load_all_items(task.spec))}
    return [index[it.item_id] for it in task.items]


def bench_quantbench(gguf: Path, sha256: str, threads: int, tasks) -> tuple[list[dict], str]:
    from quantbench_assets.lib.core.cache import SampleCache
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.scoring.benchmark_scoring import score_samples
    from quantbench_assets.lib.scoring.scorers import run_scorer

    out = []
    with LlamaCppEngine(gguf, EngineSettings(n_threads=threads, logits_all=True)) as engine, \
            tempfile.TemporaryDirectory() as tmp:
        prov = {"variant": "bench", "gguf_sha256": sha256, "engine_build": engine.build, "n_ctx": engine.settings.n_ctx}
        for task in tasks:
            for scorer in SCORERS:
                cache = SampleCache(Path(tmp) / f"{task.name}-{scorer}.sqlite")  # fresh: no hits
                t0 = time.perf_counter()
                rows = run_scorer(engine, task, scorer, prov, cache, log=lambda _: None)
                wall = time.perf_counter() - t0
                cache.close()
                scores = score_samples(rows)
                acc_norm = [s["acc_norm"] for s in scores if s["acc_norm"] is not None]
                out.append({"path": f"quantbench {scorer}", "task": task.name, "items": len(rows), "wall_s": wall,
                            "acc": sum(bool(s["correct"]) for s in scores) / len(scores),
                            "acc_norm": sum(acc_norm) / len(acc_norm) if acc_norm else None})
            out.append(bench_lm_eval(task, "lm-eval → quantbench bridge", engine=engine))
        return out, engine.build


def bench_lm_eval(task, label: str, engine=None, base_url: str | None = None) -> dict:
    import lm_eval

    from quantbench_assets.lib.tasks.lmeval import QuantbenchLM, local_tasks, task_manager

    name = LM_EVAL_TASK[task.name]
    if engine is not None:
        model = QuantbenchLM(engine=engine)
    else:
        from lm_eval.models.gguf import GGUFLM

        model = GGUFLM(base_url=base_url)
    # Time the model's requests apart from lm-eval's set-up (dataset load, prompt building), which
    # for MMLU's 57 files costs seconds that would swamp 20 items.
    request_s = [0.0]
    loglikelihood = model.loglikelihood

    def timed(requests, *a, **kw):
        t = time.perf_counter()
        try:
            return loglikelihood(requests, *a, **kw)
        finally:
            request_s[0] += time.perf_counter() - t

    model.loglikelihood = timed
    t0 = time.perf_counter()
    res = lm_eval.simple_evaluate(model=model, tasks=local_tasks([name]), task_manager=task_manager(),
                                  samples={name: doc_indices(task)}, log_samples=True, bootstrap_iters=0)
    wall = time.perf_counter() - t0
    docs = res["samples"][name]
    questions = {it.question for it in task.items}
    assert all(d["doc"]["question"] in questions for d in docs), f"{name}: lm-eval scored other items"
    metrics = res["results"][name]
    return {"path": label, "task": task.name, "items": len(docs), "wall_s": request_s[0], "with_setup_s": wall,
            "acc": metrics["acc,none"], "acc_norm": metrics.get("acc_norm,none")}


def bench_gguf_server(gguf: Path, threads: int, tasks, port: int) -> list[dict]:
    log = open(Path(tempfile.gettempdir()) / f"bench_scorers_server_{port}.log", "w")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(gguf), "--threads", str(threads),
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/v1/models", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited with {server.returncode}; see {log.name}")
                time.sleep(0.5)
        else:
            raise RuntimeError(f"llama_cpp.server did not answer in 120 s; see {log.name}")
        return [bench_lm_eval(task, "lm-eval --model gguf (server)", base_url=url) for task in tasks]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the server and nothing else
            server.wait(timeout=30)
        log.close()


def table(rows: list[dict]) -> str:
    base = {r["task"]: r["items"] / r["wall_s"] for r in rows if r["path"].startswith("lm-eval --model gguf")}
    lines = ["| path | task | items | scoring s | items/s | × lm-eval gguf | with lm-eval set-up s | acc | acc_norm |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rate = r["items"] / r["wall_s"]
        ratio = f"{rate / base[r['task']]:.1f}" if r["task"] in base else "n/a"
        norm = f"{r['acc_norm']:.3f}" if r["acc_norm"] is not None else ""
        setup = f"{r['with_setup_s']:.1f}" if "with_setup_s" in r else ""
        lines.append(f"| {r['path']} | {r['task']} | {r['items']} | {r['wall_s']:.1f} | {rate:.2f} | {ratio} | "
                     f"{setup} | {r['acc']:.3f} | {norm} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", metavar="GGUF", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=DEFAULT_VARIANT, help="a built variant (gguf_variant's manifest)")
    ap.add_argument("--mmlu", type=int, default=20, help="MMLU items (first N of the demo subset)")
    ap.add_argument("--arc", type=int, default=20, help="ARC-Challenge items (first N of the demo subset)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--skip-server", action="store_true", help="only the in-process paths")
    ap.add_argument("--append-results", action="store_true", help=f"append a section to {RESULTS.name}")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.threads, args.port, 2048)
        return

    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import read_manifest

    manifest = read_manifest(ArtifactStore(paths.artifacts_dir()), args.variant)
    gguf = Path(manifest["path"])
    tasks = load_tasks(args.mmlu, args.arc)
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc)
    rows, build = bench_quantbench(gguf, manifest["sha256"], args.threads, tasks)
    if not args.skip_server:
        rows += bench_gguf_server(gguf, args.threads, tasks, args.port)
    order = {p: i for i, p in enumerate(["quantbench loglikelihood", "quantbench letter_logits",
                                         "quantbench generate_rescore", "lm-eval → quantbench bridge",
                                         "lm-eval --model gguf (server)"])}
    rows.sort(key=lambda r: (r["task"], order[r["path"]]))
    text = table(rows)
    print(text)
    section = (
        f"\n## Scorer throughput: quantbench vs lm-eval gguf ({started:%Y-%m-%d %H:%M} UTC)\n\n"
        f"`python benchmarks/bench_scorers.py --mmlu {args.mmlu} --arc {args.arc} --threads {args.threads}`. "
        f"Machine: {machine()}; load average before the run {load_before[0]:.1f} (2 cores shared with other "
        f"jobs). GGUF {args.variant} (sha256 {manifest['sha256'][:12]}…, {manifest['method']}); {build}; "
        f"n_threads={args.threads}, n_ctx=2048, extra buffer types off on every path; items: the first "
        f"{args.mmlu} MMLU and {args.arc} ARC-Challenge items of the demo subsets, scored from scratch. "
        f"'scoring s': time in the scorer (quantbench) or in the model's loglikelihood requests (lm-eval "
        f"paths); lm-eval's own set-up (dataset load, prompt building) is shown apart.\n\n{text}\n"
    )
    if args.append_results:
        with open(RESULTS, "a") as fh:
            fh.write(section)
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
