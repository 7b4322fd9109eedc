"""Decision integrity on the real CI model: a rung and its baseline scored on different items are
not compared, and the one baseline rule decides which rung is the baseline everywhere."""
from __future__ import annotations

import duckdb
import pytest

MODEL = "smollm2-135m-instruct"


def _ladder_out_of_order(catalog: dict) -> None:
    for entry in catalog["models"]:
        if entry["name"] == MODEL:
            entry["ladder"] = ["Q8_0", "F16"]  # listed out of order: the rule, not the position, decides


@pytest.fixture
def pipeline(qb_env, smollm_base, catalog_pipeline):
    run = catalog_pipeline(_ladder_out_of_order)

    def materialize(selection, partition_key=None, run_config=None):
        result = run(selection, partition_key, run_config)
        assert result.success, [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
        return result
    materialize(["model_catalog"])
    yield materialize, qb_env / "warehouse.duckdb"


def scored(limit: int) -> dict:
    return {"ops": {"standard_benchmark_samples": {"config": {"tasks": ["arc_challenge"], "scorers": ["generate_rescore"],
                                                             "limit": limit}}}}


def test_a_baseline_and_a_rung_scored_on_different_subsets_are_not_compared(pipeline):
    materialize, db = pipeline
    for quant, limit in (("F16", 12), ("Q8_0", 3)):
        materialize(["gguf_variant", "standard_benchmark_samples", "standard_benchmark_scores"], f"{MODEL}__{quant}",
                    scored(limit))
    materialize(["variant_statistics"])
    con = duckdb.connect(str(db), read_only=True)
    try:
        baseline = con.execute("select baseline_variant from raw.catalog_models where model = ?", [MODEL]).fetchone()[0]
        rows = con.execute("select variant_a, variant_b, comparable, n_items, not_comparable_reason, mcnemar_p "
                           "from raw.variant_comparisons where model = ?", [MODEL]).fetchall()
    finally:
        con.close()
    assert baseline == f"{MODEL}__F16"
    # Before: the pair was compared on its 3 shared items and a tier followed from a 3-item delta.
    assert len(rows) == 1
    variant_a, variant_b, comparable, n_items, reason, p = rows[0]
    assert (variant_a, variant_b, comparable, n_items, p) == (f"{MODEL}__F16", f"{MODEL}__Q8_0", False, 3, None)
    assert "12 items" in reason and "3 items" in reason and "3 shared items < 10" in reason


def test_items_needed_with_no_flip_is_where_the_exact_bound_decides_and_grows_with_the_flip_rate():
    from quantbench_assets.lib.analysis.comparisons import items_needed

    # Nothing flipped in 20 items (Qwen-1.5B Q3_K_M in the demo): 99 agreeing items would show ±3 pp.
    assert items_needed(0.0) == 99 and 0.97 ** 99 < 0.05 <= 0.97 ** 98
    assert items_needed(0.03) < items_needed(0.10) and items_needed(None) is None
