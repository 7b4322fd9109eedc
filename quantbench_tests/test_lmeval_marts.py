"""An lm-eval task's per-item rows reach the verdicts, the tiers and the decision matrix by the same
paired comparison as the built-in benchmarks (issue 17).

test_marts' known warehouse, plus eval-lm: a [F16, Q8_0, Q4_K_M] ladder scored on one lm-eval task
only (raw.lmeval_scores / lmeval_metrics, as the lmeval_samples asset writes them), 200 items of a 0/1
metric (acc) and one metric that is not 0/1 per item (f1). Q8_0 swaps two answers of F16's (equivalent);
Q4_K_M gets 15 pp less (worse, unacceptable). eval-lm's rungs are the smallest in the warehouse, so the
'smallest' decision can only name them from the lm-eval verdicts.
"""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from quantbench_assets.defs.analysis.assets import variant_statistics
from quantbench_assets.defs.resources import WarehouseResource
from quantbench_assets.lib.core import schemas
from quantbench_tests.test_marts import dbt_build, foundation_tables, query, write_warehouse

MODEL, TASK, ITEMS = "eval-lm", "qb_arc_easy", 200
# quant: (bits per weight, sha, correct item ids)
RUNGS = {
    "F16": (16.0, "e1", set(range(120))),
    "Q8_0": (8.5, "e2", set(range(1, 120)) | {150}),
    "Q4_K_M": (4.85, "e3", set(range(90))),
}
PARAMETERS = 2e8


def lmeval_tables() -> dict[str, pl.DataFrame]:
    """eval-lm's catalog and inventory rows, and its lm-eval per-item scores and aggregates."""
    base = foundation_tables()
    catalog_row = {**base["catalog_models"].row(0, named=True), "model": MODEL, "parameters": "0.2B",
                   "base_quant": "F16", "ladder": ",".join(RUNGS), "baseline_quant": "F16",
                   "baseline_variant": f"{MODEL}__F16"}
    inventory_template = base["gguf_inventory"].row(0, named=True)
    inventory, scores, metrics = [], [], []
    for quant, (bpw, sha, correct) in RUNGS.items():
        variant = f"{MODEL}__{quant}"
        inventory.append({**inventory_template, "variant": variant, "model": MODEL, "quant_requested": quant,
                          "quant_obtained": quant, "is_quant_fallback": False, "main_tensor_type": quant,
                          "gguf_sha256": sha, "size_bytes": int(PARAMETERS * bpw / 8),
                          "n_parameters": int(PARAMETERS), "bits_per_weight": bpw})
        run = {"variant": variant, "model": MODEL, "quant_requested": quant, "quant_obtained": quant,
               "gguf_sha256": sha, "engine": "llama_cpp", "engine_build": "test", "run_at": "2026-12-02T00:00:00+00:00",
               "task": TASK, "task_version": "1.0", "subset": "n200_seed1234", "n_fewshot": 0}
        for i in range(ITEMS):
            right = i in correct
            scores.append({**run, "item_id": str(i), "filter": "none", "metric": "acc", "value": float(right),
                           "binary": True, "correct": right})
            scores.append({**run, "item_id": str(i), "filter": "none", "metric": "f1", "value": 0.5 if right else 0.25,
                           "binary": False, "correct": None})
        f1 = (0.5 * len(correct) + 0.25 * (ITEMS - len(correct))) / ITEMS
        for metric, value in (("acc", len(correct) / ITEMS), ("f1", f1)):
            metrics.append({**run, "filter": "none", "metric": metric, "value": value, "aggregation": "mean",
                            "higher_is_better": True, "n": ITEMS})
    return {
        "catalog_models": pl.concat([base["catalog_models"], pl.DataFrame([catalog_row])], how="vertical_relaxed"),
        "gguf_inventory": pl.concat([base["gguf_inventory"], pl.DataFrame(inventory)], how="vertical_relaxed"),
        "standard_benchmark_samples": base["standard_benchmark_samples"],
        "standard_benchmark_scores": base["standard_benchmark_scores"],
        "lmeval_scores": schemas.frame("lmeval_scores", scores),
        "lmeval_metrics": schemas.frame("lmeval_metrics", metrics),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lmeval_marts")
    db = tmp / "warehouse.duckdb"
    write_warehouse(db, lmeval_tables())
    variant_statistics(context=dg.build_asset_context(), duckdb=WarehouseResource(database=str(db)))
    # test_marts runs the unit tests; here they would only repeat.
    build = dbt_build(db, tmp, "--exclude-resource-type", "unit_test")
    assert build.returncode == 0, build.stdout[-6000:]
    return db


def test_lmeval_per_item_rows_get_paired_verdicts_from_the_one_verdict_rule(built):
    verdicts = query(built, f"select * from marts.fct_variant_verdicts where model = '{MODEL}'")
    # Only the 0/1 metric is compared item by item; f1 has no per-item correctness.
    assert set(zip(verdicts["chain"], verdicts["task"], verdicts["scorer"])) == {("lmeval", TASK, "acc,none")}
    by_variant = {r["variant"]: r for r in verdicts.to_dicts()}
    assert (by_variant[f"{MODEL}__Q8_0"]["verdict"], by_variant[f"{MODEL}__Q8_0"]["n_shared_items"]) == ("equivalent", ITEMS)
    assert by_variant[f"{MODEL}__Q4_K_M"]["verdict"] == "worse"
    assert by_variant[f"{MODEL}__Q4_K_M"]["delta_pp"] == -15.0


def test_lmeval_deltas_set_the_tier_and_match_the_statistics(built):
    quality = query(built, f"""
        select quality.variant, quality.chain, quality.scorer, quality.accuracy_delta_pp, quality.n_shared_items,
               comparisons.accuracy_delta_pp as stats_delta_pp
        from marts.fct_variant_quality as quality
        left join marts.fct_variant_comparisons as comparisons
            on comparisons.variant = quality.variant and comparisons.chain = quality.chain
            and comparisons.task = quality.task and comparisons.scorer = quality.scorer
            and comparisons.comparison = 'vs_baseline'
        where quality.model = '{MODEL}' order by quality.variant""")
    assert quality.height == len(RUNGS) and set(quality["scorer"]) == {"acc,none"} and set(quality["chain"]) == {"lmeval"}
    compared = quality.filter(pl.col("variant") != f"{MODEL}__F16")
    assert (compared["accuracy_delta_pp"] == compared["stats_delta_pp"]).all()
    tiers = {r["variant"]: r for r in query(built, f"select * from marts.fct_quality_tiers where model = '{MODEL}'").to_dicts()}
    assert (tiers[f"{MODEL}__Q8_0"]["quality_tier"], tiers[f"{MODEL}__Q8_0"]["variant_verdict"]) == ("negligible", "equivalent")
    assert (tiers[f"{MODEL}__Q4_K_M"]["quality_tier"], tiers[f"{MODEL}__Q4_K_M"]["variant_verdict"]) == ("unacceptable", "worse")
    assert tiers[f"{MODEL}__Q4_K_M"]["benchmark_delta_pp"] == -15.0
    assert f"on {TASK} (n=200" in tiers[f"{MODEL}__Q8_0"]["verdict_evidence"]
    assert tiers[f"{MODEL}__F16"]["variant_verdict"] == "baseline"


def test_the_decision_matrix_picks_from_lmeval_verdicts(built):
    smallest = query(built, "select * from marts.fct_decision_matrix where use_case = 'smallest'").to_dicts()
    assert smallest and {r["recommended_variant"] for r in smallest} == {f"{MODEL}__Q8_0"}
    evidence = smallest[0]["evidence"]
    assert f"equivalent to F16 within ±3 pp on {TASK}" in evidence and f"{MODEL} Q4_K_M worse" in evidence
