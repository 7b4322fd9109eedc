"""Any lm-eval task run on quantbench's engine into warehouse rows (the lmeval_samples asset).

`run_tasks`: lm-eval builds the requests of any task found in the configured folders (its own YAML
format), the engine answers them (lmeval.QuantbenchLM, through the per-sample cache keyed by the task's
version and the exact request), and lm-eval's own filters, `process_results` and aggregations score
them. `lmeval_rows` flattens the result into three tables. Documents are named by their index in the
task's evaluation split; a stored id list holds such indices.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np

from .lmeval import QuantbenchLM, task_dirs, task_manager


def task_version(task) -> str:
    """The YAML's `metadata: {version: ...}` (lm-eval's own notion of a task's version)."""
    v = (task.config.metadata or {}).get("version")
    return str(v if v is not None else getattr(task, "VERSION", None))


def draw_doc_subset(n_docs: int, n: int, seed: int) -> list[int]:
    """A seeded draw of document indices, in dataset order (store it with `write_doc_subset`)."""
    return sorted(random.Random(seed).sample(range(n_docs), min(n, n_docs)))


def subset_file(task, name: str) -> Path:
    """The stored id list `subsets/<task>__<name>.txt` beside the task's YAML (one doc index a line)."""
    source = (task.config.metadata or {}).get("config_source")
    if not source or source == "inline":
        raise FileNotFoundError(f"task {task.config.task!r} has no YAML folder to hold subset {name!r}")
    return Path(source).parent / "subsets" / f"{task.config.task}__{name}.txt"


def write_doc_subset(task, name: str, n: int, seed: int) -> Path:
    path = subset_file(task, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(map(str, draw_doc_subset(len(task.eval_docs), n, seed))) + "\n")
    return path


def _select_docs(task, subset: str | None, n: int | None, seed: int, limit: int | None) -> tuple[list[int], str]:
    """(doc indices, subset label): a stored id list, a seeded draw of n, or everything; then the first `limit`."""
    n_docs = len(task.eval_docs)
    if subset:
        path = subset_file(task, subset)
        if not path.exists():
            raise FileNotFoundError(f"no stored subset {path}")
        ids = [int(line) for line in path.read_text().split() if line.strip()]
        bad = [i for i in ids if not 0 <= i < n_docs]
        if bad:
            raise ValueError(f"{path}: doc indices {bad[:3]} outside the task's {n_docs} documents")
        label = subset
    elif n is not None:
        ids, label = draw_doc_subset(n_docs, n, seed), f"seed{seed}_n{n}"
    else:
        ids, label = list(range(n_docs)), "all"
    if limit is not None:
        ids, label = ids[:limit], f"{label}_first{limit}"
    return ids, label


def _jsonable(v):
    return json.loads(json.dumps(v, default=str))


def _number(v) -> float | None:
    if isinstance(v, (bool, int, float, np.integer, np.floating, np.bool_)):
        return float(v)
    return None


def run_tasks(lm: QuantbenchLM, names: list[str], include_path: list[str] | None = None,
              num_fewshot: int | None = None, fewshot_seed: int = 1234, subset: str | None = None,
              n: int | None = None, seed: int = 1234, limit: int | None = None,
              bootstrap_iters: int = 0, fewshot_per_task: dict[str, int] | None = None) -> dict:
    """Run lm-eval tasks on `lm` with lm-eval's own evaluator: its requests, filters, process_results
    and aggregations. Returns {"results": lm-eval's results, "tasks": {name: {version, subset,
    n_fewshot, doc_ids}}, "index_s": seconds to index the task folders}. `fewshot_per_task` gives some
    tasks their own shots over `num_fewshot` (the Open LLM Leaderboard's ARC 25 / HellaSwag 10 / MMLU 5
    in one run)."""
    from lm_eval.evaluator import evaluate

    t0 = time.perf_counter()
    tm = task_manager(include_path)
    index_s = time.perf_counter() - t0
    unknown = [t for t in names if t not in tm.all_tasks]
    if unknown:
        raise KeyError(f"unknown lm-eval task(s) {unknown} in {[str(p) for p in task_dirs(include_path)]}")
    loaded = tm.load(names)
    per_task = dict(fewshot_per_task or {})
    stray = sorted(set(per_task) - set(loaded["tasks"]))
    if stray:
        raise KeyError(f"few-shot settings for task(s) {stray} not in this run: {sorted(loaded['tasks'])}")
    meta = {}
    for name, task in loaded["tasks"].items():
        shots = per_task.get(name, num_fewshot)
        # as lm-eval's simple_evaluate does: a task that fixes 0 shots keeps 0
        if shots is not None and task.get_config("num_fewshot") != 0:
            task.set_config(key="num_fewshot", value=shots)
        elif task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=fewshot_seed)
        ids, label = _select_docs(task, subset, n, seed, limit)
        if not ids:
            raise ValueError(f"task {name!r}: the selection of documents is empty")
        meta[name] = {"version": task_version(task), "subset": label, "n_fewshot": task.get_config("num_fewshot"),
                      "doc_ids": ids, "output_type": task.get_config("output_type"),
                      "aggregations": {m: getattr(f, "__name__", str(f)) for m, f in (task.aggregation() or {}).items()}}
    lm.task_versions.update({k: v["version"] for k, v in meta.items()})
    results = evaluate(lm=lm, task_dict=loaded, samples={k: v["doc_ids"] for k, v in meta.items()},
                       bootstrap_iters=bootstrap_iters, log_samples=True)
    return {"results": results, "tasks": meta, "index_s": index_s}


def lmeval_rows(run: dict, request_log: list[dict], provenance: dict) -> dict[str, list[dict]]:
    """Three tables: `samples` (one row per request: arguments, answer, cache key, time), `scores`
    (one per document, filter and metric: the value lm-eval's process_results gave it) and `metrics`
    (one per task, filter and metric: lm-eval's own aggregate and standard error)."""
    results, tasks = run["results"], run["tasks"]
    common = lambda t: {**provenance, "task": t, "task_version": tasks[t]["version"],  # noqa: E731
                        "subset": tasks[t]["subset"], "n_fewshot": tasks[t]["n_fewshot"]}
    samples = []
    for r in request_log:
        if r["task"] not in tasks:
            continue
        doc_id = tasks[r["task"]]["doc_ids"][r["doc_id"]] if r["doc_id"] is not None else None
        samples.append({**common(r["task"]), "item_id": str(doc_id), "request_idx": r["request_idx"],
                        "request_type": r["request_type"], "arguments": json.dumps(_jsonable(r["arguments"])),
                        "response": json.dumps(_jsonable(r["response"])), "sample_key": r["sample_key"],
                        "cached": r["cached"], "wall_ms": r["wall_ms"],
                        "context_tokens_dropped": r.get("context_tokens_dropped")})
    scores = []
    for task_name, logged in results.get("samples", {}).items():
        if task_name not in tasks:
            continue
        for s in logged:
            for metric in s["metrics"]:
                value = s[metric]
                number = _number(value)
                scores.append({**common(task_name), "item_id": str(s["doc_id"]), "filter": s["filter"],
                               "metric": metric, "value": number,
                               "value_json": None if number is not None else json.dumps(_jsonable(value)),
                               "binary": number in (0.0, 1.0),
                               "target": json.dumps(_jsonable(s["target"])),
                               "prediction": json.dumps(_jsonable(s["filtered_resps"])),
                               "doc_hash": s["doc_hash"], "prompt_hash": s["prompt_hash"]})
    # A metric is 0/1 per item only if every item's value is: a mean of 0/1 values then gets a Wilson interval.
    groups: dict[tuple, list[dict]] = {}
    for r in scores:
        groups.setdefault((r["task"], r["filter"], r["metric"]), []).append(r)
    for rows in groups.values():
        binary = all(r["binary"] for r in rows)
        for r in rows:
            r["binary"] = binary
            r["correct"] = bool(r["value"]) if binary else None
    metrics = []
    for task_name, res in results.get("results", {}).items():
        if task_name not in tasks:
            continue
        hib = results.get("higher_is_better", {}).get(task_name, {})
        for key, value in res.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            stderr = res.get(f"{metric}_stderr,{filt}")
            agg = tasks[task_name]["aggregations"].get(metric)
            metrics.append({**common(task_name), "filter": filt, "metric": metric, "value": _number(value),
                            "stderr": _number(stderr),
                            "stderr_null_reason": None if _number(stderr) is not None else
                            "lm-eval gave no standard error (bootstrap off, or not defined for this aggregation)",
                            "higher_is_better": hib.get(metric), "aggregation": agg,
                            "n": len(tasks[task_name]["doc_ids"])})
    return {"samples": samples, "scores": scores, "metrics": metrics}


# ─── the shipped tasks' stored subsets: the same items as quantbench's own task files ─────────────

# qb_* task -> quantbench task under data/tasks, whose documents come from the qb_* task itself
# (mc_docs.item_refs names them).
_SHIPPED = {"qb_arc_easy": "arc_easy", "qb_arc_challenge": "arc_challenge", "qb_hellaswag": "hellaswag",
            "qb_truthfulqa_mc1": "truthfulqa_mc1", "qb_truthfulqa_mc2": "truthfulqa_mc2", "qb_mmlu": "mmlu",
            "qb_gsm8k": "gsm8k", "qb_ifeval": "ifeval"}


def write_shipped_subsets(sizes: tuple[str, ...] = ("demo", "seed_study")) -> list[Path]:
    """subsets/<qb task>__<size>.txt for the shipped tasks: the documents of quantbench's stored id
    lists (data/tasks/subsets), as doc indices, so both task systems score the same items."""
    from .benchmarks import load_spec, subset_path
    from .mc_docs import item_refs

    tm = task_manager()
    written = []
    for name, qb_name in _SHIPPED.items():
        task = tm.load([name])["tasks"][name]
        spec = load_spec(qb_name)
        # the same documents: quantbench's item ids are names for lm-eval's doc indices
        index = {item_id: i for i, (item_id, _) in enumerate(item_refs(spec)[0])}
        for size in sizes:
            stored = subset_path(spec, size)
            if not stored.exists():
                continue
            ids = [line.strip() for line in stored.read_text().splitlines() if line.strip()]
            path = subset_file(task, size)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{index[i]}\n" for i in ids))
            written.append(path)
    return written
