"""Benchmark inference (stored outputs) and scoring (from stored outputs) for multiple-choice tasks.

Inference and scoring are separate on purpose: a new scoring rule re-reads stored outputs and never
re-runs the model. Every sample passes through the per-sample cache, so an interrupted run resumes.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from .cache import SampleCache, sample_key
from .engine import Engine
from .mc import extract_letter, raw_letter
from .progress import Progress
from .tasks import Task, mc_question_text

SCORER_GENERATE = "generate_rescore"


def run_mc_generation(engine: Engine, task: Task, provenance: dict, cache: SampleCache,
                      log: Callable[[str], None] = print, max_tokens: int | None = None) -> list[dict]:
    """Greedy generation for each item (TR125's method). One row per item, outputs not yet scored."""
    max_tokens = max_tokens or task.spec.max_tokens
    decoding = {"temperature": 0.0, "max_tokens": max_tokens, "chat": True}
    progress = Progress(len(task.items), f"{provenance['variant']} {task.name}", log)
    rows = []
    for item in task.items:
        key = sample_key(gguf=provenance["gguf_sha256"], task=task.name, version=task.version, item=item.item_id,
                         scorer=SCORER_GENERATE, decoding=decoding, build=provenance["engine_build"])
        cached = cache.get(key)
        if cached is None:
            prompt = engine.chat_prompt([{"role": "user", "content": mc_question_text(item, task.spec)}])
            g = engine.generate(prompt, max_tokens=max_tokens, temperature=0.0)
            cached = {
                "output": g.text, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens, "wall_ms": g.wall_ms, "ttft_ms": g.ttft_ms,
                "prompt_eval_ms": g.prompt_eval_ms, "eval_ms": g.eval_ms,
                "generated_at": datetime.now(timezone.utc).isoformat(),
            }
            cache.put(key, cached)
        rows.append({
            **provenance, "task": task.name, "task_version": task.version, "task_size": task.size,
            "item_id": item.item_id, "item_group": item.group, "scorer": SCORER_GENERATE,
            "n_choices": len(item.choices), "gold": item.gold_letter, "sample_key": key, **cached,
        })
        progress.step()
    return rows


def score_mc_generation(rows: list[dict]) -> list[dict]:
    """Raw (exact letter) and rescored (extracted letter) correctness for stored outputs."""
    out = []
    for r in rows:
        n = int(r["n_choices"])
        raw = raw_letter(r["output"] or "", n)
        rescored = extract_letter(r["output"] or "", n)
        out.append({
            "variant": r["variant"], "task": r["task"], "task_version": r["task_version"], "item_id": r["item_id"],
            "scorer": r["scorer"], "gold": r["gold"], "raw_letter": raw, "extracted_letter": rescored,
            "raw_correct": raw == r["gold"], "rescored_correct": rescored == r["gold"],
            "chance_rate": 1.0 / n,
        })
    return out

