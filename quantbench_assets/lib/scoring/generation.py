"""Generation tasks: inference (stored outputs) and scoring (from stored outputs), kept apart so a new
metric never re-runs a model. JSON tasks run twice, free and grammar-constrained (a llama.cpp
grammar built from the task's JSON schema), so users see what constraining buys at each quant."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from ..scoring import metrics as gm
from ..core.cache import SampleCache, sample_key
from ..engines.base import Engine
from ..tasks.generation import GenTask, load_e2e_schema
from ..engines.json_grammar import schema_to_gbnf
from ..core.samples import run_samples

FREE, GRAMMAR = "free", "grammar"


def decodings_for(task: GenTask) -> list[str]:
    return [FREE, GRAMMAR] if task.name.endswith("_json") else [FREE]


def run_generation(engine: Engine, task: GenTask, provenance: dict, cache: SampleCache,
                   log: Callable[[str], None] = print) -> list[dict]:
    grammar = schema_to_gbnf(load_e2e_schema()) if task.name.endswith("_json") else None
    modes = decodings_for(task)
    prompts: dict[str, str] = {}  # rendered once per item, only when a mode of it needs inference

    def key(sample: tuple) -> str:
        item, mode = sample
        settings = {"temperature": 0.0, "max_tokens": item.max_tokens, "decoding": mode}
        return sample_key(gguf=provenance["gguf_sha256"], task=task.name, version=task.version, item=item.id,
                          scorer="generation", decoding=settings, build=provenance["engine_build"])

    def infer(sample: tuple) -> dict:
        item, mode = sample
        if item.id not in prompts:
            prompts[item.id] = engine.chat_prompt(item.prompt)
        g = engine.generate(prompts[item.id], max_tokens=item.max_tokens, temperature=0.0,
                            grammar=grammar if mode == GRAMMAR else None)
        return {"output": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens, "wall_ms": g.wall_ms, "ttft_ms": g.ttft_ms,
                "prompt_eval_ms": g.prompt_eval_ms, "eval_ms": g.eval_ms,
                "generated_at": datetime.now(timezone.utc).isoformat()}

    def row(sample: tuple, k: str, cached: dict) -> dict:
        item, mode = sample
        return {**provenance, "task": task.name, "task_version": task.version, "item_id": item.id,
                "decoding": mode, "max_tokens": item.max_tokens, "sample_key": k, **cached}

    return run_samples([(item, mode) for item in task.items for mode in modes], cache=cache, key=key,
                       infer=infer, row=row, label=f"{provenance['variant']} {task.name}", log=log)


def _per_item_metrics(family: str, out: str, item, schema: dict) -> dict[str, gm.MetricValue]:
    meta = item.meta
    if family == "rouge":
        return gm.rouge(out, item.references)
    if family == "bleu":
        return {"bleu": gm.bleu(out, item.references)}
    if family == "exact_match":
        return {"exact_match": gm.exact_match(out, item.references)}
    if family == "label_accuracy":
        return {"label_accuracy": gm.label_accuracy(out, meta["label"], meta["labels"])}
    if family == "length_ratio":
        return {"length_ratio": gm.length_ratio(out, item.references)}
    if family == "repetition":
        return {"repetition": gm.repetition(out)}
    if family == "refusal":
        return {"refusal": gm.refusal(out)}
    if family == "length_compliance":
        text = out
        if meta.get("format") == "json":  # the level applies to the description field
            obj, _ = gm.extract_json(out)
            text = obj.get("description", "") if isinstance(obj, dict) else ""
        return {"length_compliance": gm.length_compliance(text, meta["level"])}
    if family == "e2e_slot_check":
        return gm.e2e_slot_check(meta["mr"], out)
    if family == "json_reliability":
        return gm.json_reliability(out, schema, required=meta.get("required_nonempty"), expected=meta.get("expected"))
    if family == "e2e_key_accuracy":
        obj, _ = gm.extract_json(out)
        return {"e2e_key_accuracy": gm.e2e_key_accuracy(obj, meta["mr"])}
    return {}


BATCHED = {"bertscore", "semscore"}


def score_generation(rows: list[dict], tasks: dict[str, GenTask], models: gm.MetricModels) -> list[dict]:
    """Long format: one row per sample per metric, value or null with its reason.

    Failures count as failures: a sample whose output is empty, or (JSON tasks) holds no parseable
    JSON, scores `gm.WORST` on every quality metric and carries `failure_reason`; every sample also
    gets `failed` (1/0, the failure rate's numerator) and `truncated` (stopped at max_tokens; a
    rate beside the scores, not a failure: an 8-token classification answer that names its label is
    right although cut)."""
    schema = load_e2e_schema()
    items = {(t, it.id): it for t, task in tasks.items() for it in task.items}
    out: list[dict] = []
    failures = {id(r): gm.failure_of(r["output"], r["task"].endswith("_json")) for r in rows}

    def emit(r: dict, metric: str, mv: gm.MetricValue) -> None:
        failure = failures[id(r)]
        if failure is not None and metric in gm.WORST:
            mv = gm.worst(metric, failure)
        out.append({"variant": r["variant"], "task": r["task"], "task_version": r["task_version"],
                    "item_id": r["item_id"], "decoding": r["decoding"], "metric": metric,
                    "value": mv.value, "null_reason": mv.null_reason, "failure_reason": failure})

    batched: dict[str, list[dict]] = {m: [] for m in BATCHED}
    for r in rows:
        item = items[(r["task"], r["item_id"])]
        emit(r, "failed", gm.MetricValue(float(failures[id(r)] is not None)))
        emit(r, "truncated", gm.MetricValue(float(r.get("finish_reason") == "length")))
        for family in tasks[r["task"]].metrics:
            if family in BATCHED:
                batched[family].append(r)
                continue
            for metric, mv in _per_item_metrics(family, r["output"] or "", item, schema).items():
                emit(r, metric, mv)
    for family, rs in batched.items():
        if not rs:
            continue
        preds = [r["output"] or "" for r in rs]
        refs = [items[(r["task"], r["item_id"])].references for r in rs]
        fn = gm.bertscore if family == "bertscore" else gm.semscore
        for r, mv in zip(rs, fn(preds, refs, models)):
            emit(r, family, mv)
    return out


def summarize(scores: list[dict]) -> list[dict]:
    """Per variant x task x decoding x metric: mean with a 95% t interval (statsmodels), with its n:
    n_samples (outputs), n_values (non-null values: failures included, at their worst value) and
    n_failed (outputs that failed, see score_generation)."""
    from ..analysis.stats import t_interval

    groups: dict[tuple, list] = {}
    failed: dict[tuple, int] = {}
    for r in scores:
        g = (r["variant"], r["task"], r["decoding"], r["metric"])
        groups.setdefault(g, []).append(r["value"])
        failed[g] = failed.get(g, 0) + (r.get("failure_reason") is not None)
    out = []
    for (variant, task, decoding, metric), values in sorted(groups.items()):
        iv = t_interval(values)
        out.append({"variant": variant, "task": task, "decoding": decoding, "metric": metric,
                    "n_samples": len(values), "n_values": iv.n, "n_failed": failed[(variant, task, decoding, metric)],
                    "mean": iv.estimate, "ci_low": iv.low,
                    "ci_high": iv.high, "interval_method": "t", "interval_null_reason": iv.reason})
    return out
