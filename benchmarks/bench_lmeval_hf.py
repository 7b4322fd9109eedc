"""quantbench's lm-eval path against lm-eval's own `--model hf` backend on the same GGUF file and items.

Both sides run lm-eval 0.4.13's evaluator on the same task YAMLs (data/lm_eval_tasks: ARC-Easy,
HellaSwag, MMLU, reading the offline copies) and the same seeded documents:
  quantbench   lib.tasks.lmeval_runs.run_tasks: requests answered by llama.cpp in process (QuantbenchLM,
               no sample cache, so every request is computed)
  lm-eval hf   HFLM(pretrained=<folder>, gguf_file=<file>): transformers dequantizes the GGUF into a
               PyTorch model and tokenizes with the tokenizer it rebuilds from the GGUF: an independent
               implementation of the same weights
Compared per item: the prediction of each metric (argmax of the loglikelihoods for acc, of the
length-normalised ones for acc_norm) and the items per second of the model's requests (lm-eval's set-up,
dataset loading and prompt building, timed apart). Same thread count on both sides (llama.cpp n_threads,
torch.set_num_threads).

    python benchmarks/bench_lmeval_hf.py --items 30 --threads 1 --append-results
    python benchmarks/bench_lmeval_hf.py --items 10 --threads 2 --fewshot leaderboard --append-results

`--fewshot leaderboard` runs each task with the Open LLM Leaderboard's shots (ARC 25, HellaSwag 10,
MMLU 5): long shared contexts, the setting in which lm-eval users report runs of hours.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
TASKS = ["qb_arc_easy", "qb_hellaswag", "qb_mmlu"]
SHOTS = {"zero": {t: 0 for t in TASKS},
         "leaderboard": {"qb_arc_easy": 25, "qb_hellaswag": 10, "qb_mmlu": 5}}
# (catalog model, rung): SmolLM2's F16 rung (built from its Q4_1 source) and Qwen-0.5B's published file.
MODELS = [("smollm2-135m-instruct", "F16"), ("qwen2.5-coder-0.5b-instruct", None)]


def omp_wait_policy() -> str:
    from quantbench_assets.lib.engines.omp import omp_wait_policy as policy

    return policy()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


def report(lines: list[str], append: bool) -> None:
    """Print a results section; with `append`, add it to RESULTS.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    if append:
        with open(RESULTS, "a") as f:
            f.write(text)


def gguf_for(model: str, quant: str | None) -> tuple[Path, str]:
    from quantbench_assets.lib.catalog.acquire import acquire_base
    from quantbench_assets.lib.catalog.entries import load_catalog
    from quantbench_assets.lib.core import paths
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.quantize import build_rung

    store = ArtifactStore(paths.artifacts_dir())
    entry = load_catalog(paths.catalog_path()).get(model)
    base = acquire_base(entry, store)
    if quant is None or quant == entry.base_quant:
        return Path(base.path), entry.base_quant
    return Path(build_rung(base, entry.base_quant, quant, store).stored.path), quant


class Timed:
    """Adds the time spent in the model's request methods (lm-eval's set-up is not counted)."""

    def __init__(self, lm):
        self.seconds = 0.0
        for name in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            original = getattr(lm, name)

            def timed(requests, *a, _f=original, **kw):
                t = time.perf_counter()
                try:
                    return _f(requests, *a, **kw)
                finally:
                    self.seconds += time.perf_counter() - t

            setattr(lm, name, timed)


def predictions(results: dict) -> dict[tuple[str, int], dict]:
    """(task, doc index) -> the item's per-choice loglikelihoods and acc / acc_norm predictions."""
    import numpy as np

    out = {}
    for task, samples in results["samples"].items():
        for s in samples:
            lls = np.array([ll for ll, _ in s["filtered_resps"]], dtype=float)
            chars = np.array([len(a[1]) - 1 for a in s["arguments"]], dtype=float)  # minus the " " delimiter
            out[(task, s["doc_id"])] = {"lls": lls, "acc": int(np.argmax(lls)),
                                        "acc_norm": int(np.argmax(lls / chars)), "acc_value": s["acc"]}
    return out


def merged(runs: dict[str, dict]) -> dict:
    """One results dict from per-task evaluator results."""
    out = {"results": {}, "samples": {}}
    for task, r in runs.items():
        out["results"][task] = r["results"][task]
        out["samples"][task] = r["samples"][task]
    return out


def run_quantbench(path: Path, threads: int, n: int, seed: int, shots: dict, n_ctx: int,
                   first: bool) -> tuple[dict, dict, dict]:
    """Each task through run_tasks (lm-eval's evaluator, quantbench's engine); seconds per task."""
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.tasks.lmeval import QuantbenchLM
    from quantbench_assets.lib.tasks.lmeval_runs import run_tasks

    runs, seconds, doc_ids = {}, {}, {}
    with LlamaCppEngine(path, EngineSettings(n_ctx=n_ctx, n_threads=threads, logits_all=True)) as engine:
        for task in TASKS:
            lm = QuantbenchLM(engine=engine)
            timer = Timed(lm)
            draw = {"limit": n} if first else {"n": n, "seed": seed}  # lm-eval's --limit, or a seeded draw
            run = run_tasks(lm, [task], num_fewshot=shots[task], **draw)
            runs[task], seconds[task], doc_ids[task] = run["results"], timer.seconds, run["tasks"][task]["doc_ids"]
    return merged(runs), seconds, doc_ids


def run_hf(path: Path, threads: int, doc_ids: dict, shots: dict) -> tuple[dict, dict, float]:
    import torch
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM

    from quantbench_assets.lib.tasks.lmeval import task_manager

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    lm = HFLM(pretrained=str(path.parent), gguf_file=path.name, device="cpu", dtype="float32", batch_size=1)
    load_s = time.perf_counter() - t0
    runs, seconds = {}, {}
    for name in TASKS:
        timer = Timed(lm)
        loaded = task_manager().load([name])
        for task in loaded["tasks"].values():  # the shots run_tasks sets
            task.set_config(key="num_fewshot", value=shots[name])
            task.set_fewshot_seed(seed=1234)
        runs[name] = evaluate(lm=lm, task_dict=loaded, samples={name: doc_ids[name]}, bootstrap_iters=0,
                              log_samples=True)
        seconds[name] = timer.seconds
        for method in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            vars(lm).pop(method, None)  # the next Timed wraps the model's own methods
    return merged(runs), seconds, load_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=30, help="documents per task (a seeded draw)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", nargs="*", default=[m for m, _ in MODELS])
    ap.add_argument("--fewshot", choices=sorted(SHOTS), default="zero",
                    help="zero-shot, or the Open LLM Leaderboard's shots (ARC 25, HellaSwag 10, MMLU 5)")
    ap.add_argument("--tasks", nargs="*", default=TASKS, choices=TASKS, help="a subset of the three tasks")
    ap.add_argument("--draw", choices=["seeded", "first"], default="seeded",
                    help="a seeded draw of documents, or the first n (lm-eval's --limit: MMLU's first subject)")
    ap.add_argument("--n-ctx", type=int, default=4096, help="llama.cpp's context (lm-eval hf: the model's own)")
    ap.add_argument("--append-results", action="store_true", help=f"append a section to {RESULTS.name}")
    args = ap.parse_args()

    import llama_cpp
    import torch
    import transformers

    TASKS[:] = [t for t in TASKS if t in args.tasks]  # both paths run the tasks named here
    started = datetime.now(timezone.utc)
    load = os.getloadavg()
    lines = []
    for model, quant in MODELS:
        if model not in args.models:
            continue
        path, obtained = gguf_for(model, quant)
        shots = SHOTS[args.fewshot]
        ours, ours_s, doc_ids = run_quantbench(path, args.threads, args.items, args.seed, shots, args.n_ctx,
                                               args.draw == "first")
        theirs, theirs_s, load_s = run_hf(path, args.threads, doc_ids, shots)
        p_ours, p_theirs = predictions(ours), predictions(theirs)
        assert p_ours.keys() == p_theirs.keys(), "the two paths scored different documents"
        for task in TASKS:
            keys = [k for k in p_ours if k[0] == task]
            same = {m: sum(p_ours[k][m] == p_theirs[k][m] for k in keys) for m in ("acc", "acc_norm")}
            diff = max(float(abs(p_ours[k]["lls"] - p_theirs[k]["lls"]).max()) for k in keys)
            lines.append({
                "model": model, "gguf": f"{path.name[:12]}… ({obtained})", "task": task, "items": len(keys),
                "same_acc": same["acc"], "same_acc_norm": same["acc_norm"], "max_ll_diff": diff,
                "acc_ours": ours["results"][task]["acc,none"], "acc_theirs": theirs["results"][task]["acc,none"],
                "shots": shots[task], "ours_s": ours_s[task], "theirs_s": theirs_s[task],
            })
        n_items = len(p_ours)
        ours_total, theirs_total = sum(ours_s.values()), sum(theirs_s.values())
        lines.append({"model": model, "task": "all three", "items": n_items,
                      "rate_ours": n_items / ours_total, "rate_theirs": n_items / theirs_total,
                      "ours_s": ours_total, "theirs_s": theirs_total, "hf_load_s": load_s})
        print(lines[-4:], flush=True)

    per_task = [r for r in lines if "same_acc" in r]
    rates = [r for r in lines if "rate_ours" in r]
    total = sum(r["items"] for r in per_task)
    same_acc = sum(r["same_acc"] for r in per_task)
    same_norm = sum(r["same_acc_norm"] for r in per_task)
    out = [f"\n## lm-eval tasks: quantbench vs lm-eval `--model hf` (GGUF through transformers) — "
           f"{started:%Y-%m-%d %H:%M} UTC\n",
           f"- machine: {machine()}; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at the start",
           f"- lm-eval {__import__('lm_eval').__version__}, llama-cpp-python {llama_cpp.__version__}, "
           f"transformers {transformers.__version__}, torch {torch.__version__}; {args.threads} thread(s) on both sides "
           f"(llama.cpp n_threads, torch.set_num_threads); hf: float32 on CPU, batch size 1 (lm-eval's default); "
           f"OpenMP wait for both (llama.cpp and torch read the same variables): {omp_wait_policy()}",
           f"- items: " + (f"a seeded draw (seed {args.seed}) of {args.items}" if args.draw == "seeded" else
                           f"the first {args.items} (lm-eval's --limit)") + " documents per task, the same doc indices on "
           f"both paths; shots: {', '.join(f'{t} {SHOTS[args.fewshot][t]}' for t in TASKS)}; tasks are "
           f"data/lm_eval_tasks' {', '.join(TASKS)}; llama.cpp n_ctx {args.n_ctx}",
           f"- `python benchmarks/bench_lmeval_hf.py --items {args.items} --threads {args.threads} "
           f"--fewshot {args.fewshot} --draw {args.draw}"
           + (f" --tasks {' '.join(TASKS)}" if len(TASKS) < 3 else "") + " --append-results`",
           "", "| model | GGUF | task | shots | items | same acc prediction | same acc_norm prediction "
           "| max abs Δ loglikelihood | acc quantbench | acc hf | quantbench s | lm-eval hf s | × |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in per_task:
        out.append(f"| {r['model']} | {r['gguf']} | {r['task']} | {r['shots']} | {r['items']} | {r['same_acc']} | "
                   f"{r['same_acc_norm']} | {r['max_ll_diff']:.3f} | {r['acc_ours']:.3f} | {r['acc_theirs']:.3f} | "
                   f"{r['ours_s']:.1f} | {r['theirs_s']:.1f} | {r['theirs_s'] / r['ours_s']:.1f} |")
    out += ["", f"| model | items ({len(TASKS)} task{'s' if len(TASKS) > 1 else ''}) | quantbench s | items/s | lm-eval hf s | items/s | × | hf model load s |",
            "|---|---|---|---|---|---|---|---|"]
    for r in rates:
        out.append(f"| {r['model']} | {r['items']} | {r['ours_s']:.1f} | {r['rate_ours']:.2f} | {r['theirs_s']:.1f} | "
                   f"{r['rate_theirs']:.2f} | {r['rate_ours'] / r['rate_theirs']:.1f} | {r['hf_load_s']:.1f} |")
    agree = same_acc / total if total else float("nan")
    out += ["", f"- identical acc predictions: {same_acc}/{total} ({100 * agree:.1f}%; target ≥ 98%: "
                f"{'PASS' if agree >= 0.98 else 'FAIL'}); acc_norm: {same_norm}/{total} ({100 * same_norm / total:.1f}%)"]
    for r in rates:
        ratio = r["rate_ours"] / r["rate_theirs"]
        out.append(f"- speed {r['model']}: quantbench {ratio:.1f}× lm-eval hf (target ≥ 10×: "
                   f"{'PASS' if ratio >= 10 else 'FAIL'})")
    report(out, args.append_results)


if __name__ == "__main__":
    main()
