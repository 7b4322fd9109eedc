"""Determinism and sampling variance: the summaries on known inputs, and the assets on the real CI
model (2 prompts x 3 repetitions, 16 tokens)."""
import numpy as np
import pytest
from scipy import stats as sps

from quantbench_assets.lib.measure.sampling import (reps_needed, summarize_determinism, variance_across_rungs,
                                                  variance_by_rung)


def det_row(variant, item, threads, rep, out):
    return {"variant": variant, "task": "qa", "item_id": item, "n_threads": threads, "rep": rep,
            "output_sha256": out}


def test_a_rung_whose_outputs_differ_across_thread_counts_is_flagged_and_a_stable_one_is_not():
    rows = [det_row("m__Q8_0", i, t, r, f"same-{i}") for i in ("a", "b") for t in (1, 2) for r in range(3)]
    rows += [det_row("m__Q2_K", "a", t, r, "x") for t in (1, 2) for r in range(3)]
    rows += [det_row("m__Q2_K", "b", 1, r, "y") for r in range(3)] + [det_row("m__Q2_K", "b", 2, r, "z") for r in range(3)]
    summary = summarize_determinism(rows)
    verdict = {r["variant"]: r for r in summary if r["item_id"] == "*"}
    assert verdict["m__Q8_0"]["share_identical"] == 1.0 and verdict["m__Q8_0"]["flag_not_deterministic"] is False
    q2 = verdict["m__Q2_K"]
    assert q2["flag_not_deterministic"] is True and q2["share_identical"] == pytest.approx(9 / 12)
    assert "1 of 2 prompts (b)" in q2["reason"]
    b = next(r for r in summary if r["variant"] == "m__Q2_K" and r["item_id"] == "b")
    assert b["identical_within_thread_count"] is True and b["identical_across_thread_counts"] is False
    assert b["n_distinct"] == 2 and b["likely_cause"] == "thread_count"
    # outputs that change with how much of the prompt was evaluated (a cached prefix) name that cause
    cached = [{**det_row("m__Q4", "a", t, r, "first" if r == 0 else "cached"), "prompt_tokens_evaluated": 58 if r == 0 else 1}
              for t in (1, 2) for r in range(3)]
    (item, verdict_q4) = summarize_determinism(cached)
    assert item["likely_cause"] == "prefix_cache_reuse" and verdict_q4["likely_cause"] == "prefix_cache_reuse"
    assert "prefix_cache_reuse" in verdict_q4["reason"]


def metric_rows(variant, item, values, metric="rouge1"):
    return [{"variant": variant, "task": "qa", "item_id": item, "metric": metric, "rep": r, "value": v}
            for r, v in enumerate(values)]


def test_cv_reps_needed_and_levene_on_within_item_residuals():
    rng = np.random.default_rng(0)
    a1, a2 = 0.5 + rng.normal(0, 0.01, 8), 0.2 + rng.normal(0, 0.01, 8)   # rung A: tight
    b1, b2 = 0.5 + rng.normal(0, 0.10, 8), 0.2 + rng.normal(0, 0.10, 8)   # rung B: wide
    rows = (metric_rows("m__A", "i1", a1) + metric_rows("m__A", "i2", a2)
            + metric_rows("m__B", "i1", b1) + metric_rows("m__B", "i2", b2))
    by_rung = {r["variant"]: r for r in variance_by_rung(rows, rel_precision=0.05)}
    cv_a = np.mean([np.std(a1, ddof=1) / np.mean(a1), np.std(a2, ddof=1) / np.mean(a2)])
    assert by_rung["m__A"]["mean_cv"] == pytest.approx(cv_a)
    assert by_rung["m__A"]["reps_needed"] == reps_needed(cv_a, 0.05) == max(2, int(np.ceil((1.959964 * cv_a / 0.05) ** 2)))
    assert by_rung["m__B"]["reps_needed"] > by_rung["m__A"]["reps_needed"]
    (across,) = variance_across_rungs(rows)
    residuals_a = np.concatenate([a1 - a1.mean(), a2 - a2.mean()])
    residuals_b = np.concatenate([b1 - b1.mean(), b2 - b2.mean()])
    expected = sps.levene(residuals_a, residuals_b, center="median")
    assert across["levene_p"] == pytest.approx(expected.pvalue) and across["levene_p"] < 0.01
    assert across["within_rep_variance"] == pytest.approx(np.mean([np.var(x, ddof=1) for x in (a1, a2, b1, b2)]))
    assert across["n_rungs"] == 2 and across["null_reason"] is None
    single = variance_across_rungs(metric_rows("m__A", "i1", a1))
    assert single[0]["levene_p"] is None and "one rung" in single[0]["null_reason"]
    assert reps_needed(None, 0.05) is None


def test_determinism_and_sampling_assets_on_the_real_model(qb_env, smollm_rung):
    import dagster as dg
    import duckdb
    from quantbench_assets.defs.resources import WarehouseResource

    from quantbench_assets.definitions import defs as load_defs

    smollm_rung("Q8_0")
    defs = load_defs()
    key = "smollm2-135m-instruct__Q8_0"
    db = qb_env / "warehouse.duckdb"
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(db))}
    tiny = {"tasks": ["qa"], "items_per_task": 2, "reps": 3, "max_tokens": 16}
    with dg.instance_for_test() as instance:
        def materialize(selection, partition_key=None, run_config=None):
            return dg.materialize(list(defs.assets), selection=selection, partition_key=partition_key,
                                  instance=instance, resources=resources, run_config=run_config)
        assert materialize(["model_catalog"]).success
        assert materialize(["gguf_variant"], key).success
        det = materialize(["determinism_check"], key,
                          {"ops": {"determinism_check": {"config": {**tiny, "thread_counts": [1, 2]}}}})
        assert det.success
        samp = materialize(["sampling_variance"], key, {"ops": {"sampling_variance": {"config": tiny}}})
        assert samp.success
        assert materialize(["sampling_variance_across_rungs"]).success
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("select n_threads, rep, item_id, completion_tokens from raw.determinism_runs").fetchall()
    verdict = con.execute("select share_identical, flag_not_deterministic, reason from raw.determinism_summary "
                          "where item_id = '*'").fetchone()
    samples = con.execute("select item_id, rep, seed, temperature from raw.sampling_samples order by item_id, rep").fetchall()
    by_rung = con.execute("select metric, n_items, reps, mean_cv, reps_needed, null_reason "
                          "from raw.sampling_variance_by_rung").pl()
    across = con.execute("select n_rungs, levene_p, null_reason from raw.sampling_variance_across_rungs").fetchall()
    con.close()
    assert len(runs) == 2 * 3 * 2 and {r[0] for r in runs} == {1, 2} and max(r[3] for r in runs) <= 16
    share, flagged, reason = verdict
    assert 0 < share <= 1 and flagged == (share < 1) and (reason is None) == (share == 1)
    assert len(samples) == 6 and [s[2] for s in samples[:3]] == [1000, 1001, 1002] and samples[0][3] == 0.7
    assert set(by_rung["metric"]) >= {"output_chars", "completion_tokens"}
    assert (by_rung["reps"] == 3).all() and (by_rung["n_items"] == 2).all()
    # a CV is a number or null with its reason
    assert by_rung.filter(by_rung["mean_cv"].is_null() & by_rung["null_reason"].is_null()).height == 0
    assert all(a[0] == 1 and a[1] is None and "one rung" in a[2] for a in across)
