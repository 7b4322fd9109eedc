"""Failures count as failures: when an output is one, and the worst value it then scores.

An empty output, or a JSON task's output with no parseable JSON value, scores every quality metric's
worst value (`WORST`), never a null that `avg()` would skip. What "parseable JSON" means
(`extract_json`) is part of that rule, so it lives here; the JSON metrics build on it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .value import MetricValue

# The worst value of each quality metric: what a failed output (empty, or no JSON where JSON was
# asked for) scores. Metrics not listed have no "worse" direction and are computed on the text.
WORST: dict[str, float] = {
    "rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "bleu": 0.0, "bertscore": -1.0, "semscore": -1.0,
    "exact_match": 0.0, "label_accuracy": 0.0, "length_compliance": 0.0, "e2e_slot_coverage": 0.0,
    "json_parse": 0.0, "json_schema_compliance": 0.0, "json_field_completeness": 0.0, "json_key_accuracy": 0.0,
    "e2e_key_accuracy": 0.0, "json_extraneous": 1.0,
}
EMPTY_OUTPUT, NO_JSON = "empty output", "no parseable JSON"


def failure_of(output: str | None, wants_json: bool) -> str | None:
    """Why an output is a failure (it then scores WORST on every quality metric), or None."""
    if not (output or "").strip():
        return EMPTY_OUTPUT
    if wants_json and extract_json(output)[0] is None:
        return NO_JSON
    return None


def worst(metric: str, failure: str) -> "MetricValue":
    return MetricValue(WORST[metric], detail={"failure": failure})


def extract_json(text: str) -> tuple[Any | None, bool | None]:
    """(parsed object or array, extraneous_text_flag).

    The first JSON object/array in `text` (stdlib raw_decode at each '{' or '['). The flag is True
    when anything but whitespace surrounds it, a Markdown code fence included (the task asks for
    JSON only, so a consumer would have to strip it); None when no JSON value was found.
    """
    stripped = text.strip()
    try:
        obj = json.loads(stripped)
        if isinstance(obj, (dict, list)):
            return obj, False
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[{\[]", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, (dict, list)):
            return obj, True  # whole-text parse failed, so something surrounds it
    return None, None
