"""The generation key metric, as the pipeline computes it (dbt, int_generation_scores_aggregated):
a fixed component list per task (seed generation_key_metrics), every output counted (failures at the
worst value, in n_failed), and a variant missing a component gets no key metric, with a reason,
rather than a mean over fewer components than its baseline's."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse


def _rows(variant: str, values: dict[str, list[float]], task: str = "summarization") -> list[dict]:
    return [{"variant": variant, "task": task, "task_version": "1", "item_id": str(i), "decoding": "free",
             "metric": metric, "value": v, "null_reason": None,
             "failure_reason": "empty output" if v in (-1.0,) else None}
            for metric, vs in values.items() for i, v in enumerate(vs)]


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("keymetric")
    db = tmp / "warehouse.duckdb"
    rows = (_rows("m__F16", {"bertscore": [0.9, 0.8], "semscore": [0.7, 0.6], "rougeL": [0.5, 0.4]})
            # one empty output: the worst value on every component, counted as failed
            + _rows("m__Q2_K", {"bertscore": [0.9, -1.0], "semscore": [0.7, -1.0], "rougeL": [0.5, 0.0]})
            # SemScore never computed for this rung: no key metric rather than a mean of two
            + _rows("m__Q4_K_M", {"bertscore": [0.9, 0.8], "rougeL": [0.5, 0.4]})
            # a task with its own list (classification: label accuracy)
            + _rows("m__F16", {"label_accuracy": [1.0, 0.0], "refusal": [0.0, 0.0]}, task="classification")
            # grammar-constrained rows never enter the free key metric
            + [{**r, "decoding": "grammar", "value": 0.0}
               for r in _rows("m__F16", {"bertscore": [0.1], "semscore": [0.1], "rougeL": [0.1]})])
    with warehouse.connect(db) as con:
        warehouse.replace_rows(con, "generation_scores", pl.DataFrame(rows, infer_schema_length=None), {"task_version": "1"})
    project = paths.dbt_project_dir()
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    out = subprocess.run(["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
                          "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"),
                          "--indirect-selection", "cautious",
                          "--select", "generation_key_metrics", "stg_generation_scores", "int_generation_task_components",
                          "int_generation_scores_aggregated"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
    with duckdb.connect(str(db), read_only=True) as con:
        df = con.execute("select * from intermediate.int_generation_scores_aggregated").pl()
    return {(r["variant"], r["task"]): r for r in df.to_dicts()}


def test_the_key_metric_is_the_mean_of_the_tasks_fixed_components(aggregated):
    f16 = aggregated[("m__F16", "summarization")]
    assert f16["key_metric_components"] == "bertscore,rouge_l,semscore" and f16["n_key_metric_components"] == 3
    assert f16["generation_key_metric"] == pytest.approx((0.85 + 0.65 + 0.45) / 3)  # grammar rows left out
    assert f16["n_samples"] == 2 and f16["n_failed"] == 0 and f16["key_metric_null_reason"] is None
    cls = aggregated[("m__F16", "classification")]
    assert cls["key_metric_components"] == "label_accuracy" and cls["generation_key_metric"] == pytest.approx(0.5)


def test_a_failed_output_counts_at_its_worst_value_and_in_n_failed(aggregated):
    q2 = aggregated[("m__Q2_K", "summarization")]
    assert q2["n_samples"] == 2 and q2["n_failed"] == 1
    assert q2["generation_key_metric"] == pytest.approx(((0.9 - 1) / 2 + (0.7 - 1) / 2 + 0.25) / 3)
    assert q2["generation_key_metric"] < aggregated[("m__F16", "summarization")]["generation_key_metric"]


def test_a_variant_missing_a_component_has_no_key_metric_and_says_why(aggregated):
    q4 = aggregated[("m__Q4_K_M", "summarization")]
    assert q4["generation_key_metric"] is None
    assert q4["key_metric_null_reason"] == "missing key metric component(s): semscore"
    assert q4["key_metric_components"] == "bertscore,rouge_l,semscore" and q4["n_key_metric_components_measured"] == 2
