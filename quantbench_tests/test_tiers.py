"""Tests for quantbench_assets.lib.analysis.tiers: TR125 quality tiers and the Pareto frontier (oracles of the SQL marts)."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from quantbench_assets.lib.analysis import tiers
from quantbench_assets.lib.analysis.tiers import TR125_THRESHOLDS, TierThresholds, classify_tier

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds_reference"


# ─── tier edges ───────────────────────────────────────────────────────────────────────────────


def test_exactly_minus_three_pp_is_negligible():
    assert classify_tier(-3.0, 0.0).tier == "negligible"


def test_a_hair_below_minus_three_pp_is_acceptable():
    assert classify_tier(-3.01, 0.0).tier == "acceptable"


def test_float_noise_from_subtracting_accuracies_does_not_push_minus_three_into_acceptable():
    delta_pp = (0.37 - 0.40) * 100
    assert delta_pp < -3.0  # the noise is real: without rounding this would be "acceptable"
    assert classify_tier(delta_pp, 0.0).tier == "negligible"
    assert tiers.benchmark_tier(delta_pp) == "negligible"


@pytest.mark.parametrize(
    "bench_pp, tier",
    [(5.0, "negligible"), (-3.0, "negligible"), (-3.1, "acceptable"), (-5.0, "acceptable"),
     (-5.1, "concerning"), (-10.0, "concerning"), (-10.1, "unacceptable"), (-40.6, "unacceptable")],
)
def test_benchmark_thresholds_are_inclusive_at_each_edge(bench_pp, tier):
    assert tiers.benchmark_tier(bench_pp) == tier


@pytest.mark.parametrize(
    "gen_pct, tier",
    [(-3.0, "negligible"), (-3.1, "acceptable"), (-8.0, "acceptable"), (-8.1, "concerning"),
     (-15.0, "concerning"), (-15.1, "unacceptable")],
)
def test_generation_thresholds_are_in_percent_and_differ_from_the_benchmark_ones(gen_pct, tier):
    assert tiers.generation_tier(gen_pct) == tier


def test_tier_is_the_worse_of_benchmark_and_generation():
    assert classify_tier(-1.0, -4.0).tier == "acceptable"  # generation side decides
    result = classify_tier(-9.5, -0.9)  # llama3.2-1b Q3_K_S in TR125
    assert (result.benchmark_tier, result.generation_tier, result.tier) == ("concerning", "negligible", "concerning")


def test_missing_generation_side_takes_the_benchmark_tier_and_is_flagged():
    result = classify_tier(-4.0, None)
    assert result.tier == "acceptable"
    assert result.one_sided and result.missing_side == "generation"
    assert result.generation_tier is None


def test_nan_counts_as_missing_and_a_measured_pair_is_not_flagged():
    assert classify_tier(float("nan"), -9.0).missing_side == "benchmark"
    assert classify_tier(float("nan"), -9.0).tier == "concerning"
    assert classify_tier(-1.0, -1.0).one_sided is False


def test_both_sides_missing_is_an_error_not_a_tier():
    with pytest.raises(ValueError):
        classify_tier(None, float("nan"))


# ─── underpowered ─────────────────────────────────────────────────────────────────────────────


def test_a_tier_claim_closer_to_its_threshold_than_the_mde_is_underpowered():
    result = classify_tier(-2.3, None, benchmark_mde_pp=9.0)
    assert result.benchmark_margin_pp == pytest.approx(0.7)
    assert result.underpowered is True


def test_a_tier_claim_further_from_every_threshold_than_the_mde_is_not_underpowered():
    result = classify_tier(-40.6, None, benchmark_mde_pp=9.0)
    assert result.benchmark_margin_pp == pytest.approx(30.6)
    assert result.underpowered is False


def test_the_generation_side_can_make_a_claim_underpowered_on_its_own():
    result = classify_tier(-40.6, -7.5, benchmark_mde_pp=9.0, generation_mde_pct=2.0)
    assert result.generation_margin_pct == pytest.approx(0.5)  # 0.5 above -8 %
    assert result.underpowered is True


def test_underpowered_is_unknown_without_an_mde():
    assert classify_tier(-2.3, -1.0).underpowered is None


# ─── thresholds as data ───────────────────────────────────────────────────────────────────────


def test_tr125_threshold_seed_loads_to_the_built_in_thresholds():
    assert TierThresholds.from_csv(SEEDS / "tr125_quality_tiers.csv") == TR125_THRESHOLDS


def test_stricter_thresholds_from_rows_change_the_tier():
    strict = TierThresholds.from_rows(
        [
            {"tier": "negligible", "min_benchmark_delta_pp": "-1", "min_generation_delta_pct": "-1", "rank": "1"},
            {"tier": "acceptable", "min_benchmark_delta_pp": "-2", "min_generation_delta_pct": "-4", "rank": "2"},
            {"tier": "unacceptable", "min_benchmark_delta_pp": "", "min_generation_delta_pct": "", "rank": "3"},
        ]
    )
    assert classify_tier(-1.5, 0.0, thresholds=strict).tier == "acceptable"
    assert classify_tier(-2.5, 0.0, thresholds=strict).tier == "unacceptable"
    assert classify_tier(-1.5, 0.0).tier == "negligible"


def test_thresholds_need_a_catch_all_tier_and_falling_minimums():
    with pytest.raises(ValueError):
        TierThresholds((tiers.Tier("negligible", 1, -3.0, -3.0), tiers.Tier("acceptable", 2, -5.0, -8.0)))
    with pytest.raises(ValueError):
        TierThresholds(
            (tiers.Tier("a", 1, -5.0, -3.0), tiers.Tier("b", 2, -3.0, -8.0), tiers.Tier("c", 3, None, None))
        )


# ─── TR125 §13.7 reproduced ───────────────────────────────────────────────────────────────────


def _tr125_rows():
    with open(SEEDS / "tr125_tiers.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", _tr125_rows(), ids=lambda r: r["variant"])
def test_tr125_published_tier_is_reproduced_for_every_variant(row):
    result = classify_tier(float(row["benchmark_delta_pp"]), float(row["generation_delta_pct"]))
    assert result.tier == row["published_tier"]


def test_tr125_tier_counts_are_18_negligible_3_acceptable_1_concerning_7_unacceptable():
    rows = _tr125_rows()
    counts = Counter(
        classify_tier(float(r["benchmark_delta_pp"]), float(r["generation_delta_pct"])).tier for r in rows
    )
    assert len(rows) == 29
    assert counts == {"negligible": 18, "acceptable": 3, "concerning": 1, "unacceptable": 7}


# ─── Pareto frontier ──────────────────────────────────────────────────────────────────────────


def test_pareto_keeps_both_of_two_identical_points():
    points = {"a": {"acc": 0.6, "cost": 1.0}, "b": {"acc": 0.6, "cost": 1.0}}
    assert tiers.pareto_frontier(points, maximize=["acc"], minimize=["cost"]) == {"a", "b"}


def test_pareto_keeps_a_single_point():
    assert tiers.pareto_frontier({"only": {"acc": 0.1}}, maximize=["acc"]) == {"only"}


def test_pareto_drops_a_point_that_is_equal_on_one_objective_and_worse_on_the_other():
    points = {"a": {"acc": 0.6, "cost": 1.0}, "b": {"acc": 0.6, "cost": 2.0}}
    assert tiers.pareto_frontier(points, maximize=["acc"], minimize=["cost"]) == {"a"}


def test_pareto_keeps_every_point_of_a_trade_off_and_drops_the_dominated_ones():
    points = {
        "F16": {"acc": 0.65, "cost": 0.0615, "mem": 3.2},
        "Q8_0": {"acc": 0.64, "cost": 0.0363, "mem": 1.6},
        "Q6_K": {"acc": 0.64, "cost": 0.0364, "mem": 1.3},
        "Q4_K_M": {"acc": 0.61, "cost": 0.0325, "mem": 0.9},
        "Q3_K_S": {"acc": 0.53, "cost": 0.0379, "mem": 0.7},
        "worse": {"acc": 0.52, "cost": 0.0400, "mem": 0.8},  # Q3_K_S beats it everywhere
    }
    frontier = tiers.pareto_frontier(points, maximize=["acc"], minimize=["cost", "mem"])
    assert frontier == {"F16", "Q8_0", "Q6_K", "Q4_K_M", "Q3_K_S"}


def test_pareto_accepts_a_list_of_rows_with_an_id_column():
    rows = [{"variant": "x", "acc": 0.5, "cost": 1.0}, {"variant": "y", "acc": 0.4, "cost": 1.0}]
    assert tiers.pareto_frontier(rows, maximize=["acc"], minimize=["cost"], id_key="variant") == {"x"}


def test_pareto_rejects_a_missing_objective_or_no_objectives():
    with pytest.raises(ValueError):
        tiers.pareto_frontier({"a": {"acc": 0.5}}, maximize=["acc"], minimize=["cost"])
    with pytest.raises(ValueError):
        tiers.pareto_frontier({"a": {"acc": 0.5}})


def test_pareto_of_no_points_is_empty():
    assert tiers.pareto_frontier({}, maximize=["acc"]) == set()
