"""Tests for quantbench_assets.lib.analysis.stats.

Known answers are worked out independently of the code under test: from textbook formulas here,
or from published values such as Wilson for 8/10 and TR125's 9.0 pp MDE at n = 485.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from quantbench_assets.lib.analysis import stats

Z975 = 1.959963984540054  # standard normal quantile at 0.975
Z80 = 0.8416212335729143  # at 0.80


# ─── Wilson ───────────────────────────────────────────────────────────────────────────────────


def test_wilson_interval_for_8_of_10_matches_the_published_value():
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)


@pytest.mark.parametrize("successes, n", [(0, 20), (13, 40), (485, 485)])
def test_wilson_interval_matches_the_score_formula(successes, n):
    p = successes / n
    denom = 1 + Z975**2 / n
    centre = (p + Z975**2 / (2 * n)) / denom
    half = Z975 / denom * math.sqrt(p * (1 - p) / n + Z975**2 / (4 * n**2))
    low, high = stats.wilson_interval(successes, n)
    assert low == pytest.approx(centre - half, abs=1e-9)
    assert high == pytest.approx(centre + half, abs=1e-9)


def test_wilson_interval_with_no_trials_is_none_not_a_number():
    assert stats.wilson_interval(0, 0) == (None, None)


def test_wilson_interval_rejects_more_successes_than_trials():
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


# ─── intervals for means ──────────────────────────────────────────────────────────────────────


def test_t_interval_matches_mean_plus_minus_t_times_standard_error():
    # mean 3, sd sqrt(2.5), se sqrt(0.5), t(0.975, 4) = 2.776445
    result = stats.t_interval([1, 2, 3, 4, 5])
    assert result.estimate == 3.0
    assert result.low == pytest.approx(3 - 2.776445105 * math.sqrt(0.5), abs=1e-6)
    assert result.high == pytest.approx(3 + 2.776445105 * math.sqrt(0.5), abs=1e-6)
    assert result.reason is None


def test_t_interval_of_one_value_is_none_with_a_reason_after_dropping_missing_values():
    result = stats.t_interval([0.7, None, float("nan")])
    assert (result.low, result.high) == (None, None)
    assert result.n == 1
    assert result.estimate == 0.7
    assert "at least 2" in result.reason


def test_bootstrap_interval_is_reproducible_for_a_seed_and_changes_with_it():
    values = np.random.default_rng(7).normal(0.6, 0.1, size=60)
    first = stats.bootstrap_interval(values, n_boot=500, seed=3)
    again = stats.bootstrap_interval(values, n_boot=500, seed=3)
    other = stats.bootstrap_interval(values, n_boot=500, seed=4)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)


def test_bootstrap_interval_agrees_with_the_t_interval_on_a_large_normal_sample():
    values = np.random.default_rng(11).normal(0.5, 0.2, size=400)
    boot = stats.bootstrap_interval(values, n_boot=2000, seed=0)
    t = stats.t_interval(values)
    assert boot.low < values.mean() < boot.high
    assert boot.low == pytest.approx(t.low, abs=0.006)
    assert boot.high == pytest.approx(t.high, abs=0.006)


def test_bootstrap_interval_of_constant_values_has_zero_width_and_says_so():
    result = stats.bootstrap_interval([0.8] * 10)
    assert (result.low, result.high) == (0.8, 0.8)
    assert "equal" in result.reason


def test_bootstrap_interval_of_one_value_is_none():
    result = stats.bootstrap_interval([0.8])
    assert (result.low, result.high) == (None, None)
    assert result.reason


# ─── difference tests ─────────────────────────────────────────────────────────────────────────


def test_welch_test_matches_the_welch_satterthwaite_formulas():
    a, b = [1, 2, 3, 4], [2, 4, 6, 8, 10]
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 5
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 4)
    result = stats.welch_test(a, b)
    assert result.statistic == pytest.approx(t)  # positive: b is higher
    assert result.df == pytest.approx(df)
    assert result.p_value == pytest.approx(2 * sps.t.sf(abs(t), df))


def test_welch_test_with_two_constant_groups_has_no_p_value_and_says_why():
    result = stats.welch_test([1, 1, 1], [0, 0, 0])
    assert result.p_value is None
    assert "zero variance" in result.reason


def test_welch_test_with_one_value_in_a_group_has_no_p_value():
    assert stats.welch_test([1], [0, 1, 1]).p_value is None


def test_cohens_d_uses_the_pooled_standard_deviation_and_is_negative_for_a_loss():
    # both groups have sd sqrt(2.5); b is lower by 1
    assert stats.cohens_d([1, 2, 3, 4, 5], [0, 1, 2, 3, 4]) == pytest.approx(-1 / math.sqrt(2.5))


def test_cohens_d_is_none_when_both_groups_are_constant():
    assert stats.cohens_d([1, 1, 1], [0, 0, 0]) is None


def _paired(both, only_a, only_b, neither):
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return a, b


def test_mcnemar_counts_each_direction_and_uses_the_exact_binomial_for_few_flips():
    a, b = _paired(both=5, only_a=3, only_b=1, neither=1)
    result = stats.mcnemar_test(a, b)
    assert (result.both_correct, result.only_a_correct, result.only_b_correct, result.both_wrong) == (5, 3, 1, 1)
    assert result.flip_rate == pytest.approx(0.4)
    assert result.exact is True
    # two-sided binomial on 4 discordant pairs, 1 in the minority: 2 * (1 + 4) / 16
    assert result.p_value == pytest.approx(0.625)


def test_mcnemar_uses_chi_square_with_continuity_correction_for_many_flips():
    a, b = _paired(both=100, only_a=30, only_b=10, neither=60)
    result = stats.mcnemar_test(a, b)
    assert result.exact is False
    assert result.statistic == pytest.approx((abs(30 - 10) - 1) ** 2 / 40)  # 9.025
    assert result.p_value == pytest.approx(sps.chi2.sf(9.025, 1))


def test_mcnemar_on_identical_outcomes_has_p_one_and_no_flips():
    a, b = _paired(both=7, only_a=0, only_b=0, neither=3)
    result = stats.mcnemar_test(a, b)
    assert result.p_value == pytest.approx(1.0)
    assert result.flip_rate == 0.0


def test_flip_rate_counts_changes_in_both_directions():
    a, b = _paired(both=2, only_a=1, only_b=2, neither=5)
    assert stats.flip_rate(a, b) == pytest.approx(0.3)
    assert stats.flip_rate([], []) is None


def test_mcnemar_rejects_vectors_of_different_length_or_non_binary_values():
    with pytest.raises(ValueError):
        stats.mcnemar_test([1, 0], [1])
    with pytest.raises(ValueError):
        stats.mcnemar_test([1, 2], [1, 0])


# ─── multiple comparisons ─────────────────────────────────────────────────────────────────────


def test_holm_on_known_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert stats.correct_pvalues([0.01, 0.04, 0.03, 0.005], "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bonferroni_multiplies_by_the_family_size_and_caps_at_one():
    assert stats.correct_pvalues([0.01, 0.04, 0.3, 0.005], "bonferroni") == pytest.approx([0.04, 0.16, 1.0, 0.02])


def test_missing_p_values_stay_missing_and_do_not_count_in_the_family():
    assert stats.correct_pvalues([0.01, None, 0.04], "holm") == [pytest.approx(0.02), None, pytest.approx(0.04)]
    assert stats.correct_pvalues([None, None], "bonferroni") == [None, None]


def test_correct_pvalues_rejects_an_unknown_method():
    with pytest.raises(ValueError):
        stats.correct_pvalues([0.01], "fdr_bh")


# ─── equivalence ──────────────────────────────────────────────────────────────────────────────


def _flipped_pairs(n, flips_each_way):
    a = np.array([1] * (n // 2) + [0] * (n - n // 2))
    b = a.copy()
    b[:flips_each_way] = 0  # lost
    b[n // 2 : n // 2 + flips_each_way] = 1  # gained
    return a, b


def test_paired_tost_on_0_1_vectors_matches_the_hand_computed_one_sided_tests():
    # 200 items, 10 flips each way: mean difference 0, sd of the 0/±1 differences sqrt(20/199)
    a, b = _flipped_pairs(200, 10)
    se = math.sqrt(20 / 199 / 200)
    for margin, equivalent in ((0.03, False), (0.05, True)):
        expected_p = sps.t.sf(margin / se, df=199)  # both one-sided tests are equal at mean 0
        result = stats.tost_paired(a, b, margin)
        assert result.p_value == pytest.approx(expected_p, rel=1e-9)
        assert result.equivalent is equivalent
        assert (result.low, result.high) == (-margin, margin)


def test_paired_tost_with_no_flips_has_no_answer_rather_than_a_false_certainty():
    result = stats.tost_paired([1, 1, 0, 1, 0], [1, 1, 0, 1, 0], 0.03)
    assert result.p_value is None and result.equivalent is None
    assert "zero variance" in result.reason


def test_binary_paired_tost_with_no_flips_uses_the_exact_bound_few_items_prove_nothing_many_do():
    few = stats.tost_paired_binary([1, 1, 0, 1, 0], [1, 1, 0, 1, 0], 0.03)
    assert few.p_value == pytest.approx(0.97 ** 5) and few.equivalent is False
    many = stats.tost_paired_binary([1, 0] * 100, [1, 0] * 100, 0.03)
    assert many.p_value == pytest.approx(0.97 ** 200) and many.equivalent is True
    assert "no item flipped" in many.reason
    # With a flip it is the t-based paired TOST, unchanged.
    a, b = [1, 0] * 100, [1, 0] * 99 + [0, 0]
    assert stats.tost_paired_binary(a, b, 0.03).p_value == pytest.approx(stats.tost_paired(a, b, 0.03).p_value)


def test_relative_tost_margin_is_a_share_of_the_baseline_mean_and_matches_welch_by_hand():
    rng = np.random.default_rng(5)
    a = rng.normal(0.60, 0.05, size=250)
    b = rng.normal(0.598, 0.06, size=250)
    result = stats.tost(a, b, 0.03, relative=True)
    width = 0.03 * a.mean()
    assert (result.low, result.high) == (pytest.approx(-width), pytest.approx(width))
    va, vb = a.var(ddof=1) / 250, b.var(ddof=1) / 250
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 249 + vb**2 / 249)
    diff = b.mean() - a.mean()
    p_lower = sps.t.sf((diff + width) / se, df)
    p_upper = sps.t.sf((width - diff) / se, df)
    assert result.p_value == pytest.approx(max(p_lower, p_upper), rel=1e-9)
    assert result.equivalent == bool(max(p_lower, p_upper) < 0.05)


def test_tost_with_too_few_values_is_none_with_a_reason():
    result = stats.tost([0.5], [0.5, 0.6], 0.03)
    assert result.p_value is None and result.reason


# ─── power ────────────────────────────────────────────────────────────────────────────────────


def test_mde_at_485_items_and_half_accuracy_is_the_nine_points_tr125_reports():
    # Closed-form inversion of Cohen's h, not the root-finder used in the code.
    h = (Z975 + Z80) * math.sqrt(2 / 485)
    expected = (0.5 - math.sin(math.asin(math.sqrt(0.5)) - h / 2) ** 2) * 100
    mde = stats.minimum_detectable_effect(485, 0.5)
    assert mde == pytest.approx(expected, abs=1e-3)  # statsmodels solves for h to ~1e-6
    assert round(mde) == 9  # TR125 §16.1: 9.0 pp


def test_mde_shrinks_as_the_item_count_grows():
    assert stats.minimum_detectable_effect(100) > stats.minimum_detectable_effect(400) > stats.minimum_detectable_effect(1600)


def test_mde_is_none_when_no_drop_could_be_detected():
    assert stats.minimum_detectable_effect(5, 0.05) is None
    assert stats.minimum_detectable_effect(1, 0.5) is None


def test_paired_mde_round_trips_through_connors_sample_size_formula():
    psi = 0.10
    delta = stats.minimum_detectable_effect_paired(485, psi) / 100
    n = (Z975 * math.sqrt(psi) + Z80 * math.sqrt(psi - delta**2)) ** 2 / delta**2
    assert n == pytest.approx(485, rel=1e-6)


def test_paired_mde_is_smaller_than_unpaired_when_few_items_flip():
    assert stats.minimum_detectable_effect_paired(485, 0.10) < stats.minimum_detectable_effect(485, 0.5)


def test_paired_mde_is_none_without_flips():
    assert stats.minimum_detectable_effect_paired(485, 0.0) is None


# ─── spread ───────────────────────────────────────────────────────────────────────────────────


def test_levene_with_median_centre_is_anova_on_absolute_deviations_from_the_median():
    groups = [[10.0, 12.0, 11.0, 30.0], [9.0, 10.0, 10.5, 11.0, 9.5], [5.0, 20.0, 35.0]]
    deviations = [np.abs(np.asarray(g) - np.median(g)) for g in groups]
    expected = sps.f_oneway(*deviations)
    result = stats.levene_test(groups)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)


def test_levene_needs_two_groups_of_two():
    assert stats.levene_test([[1.0, 2.0]]).p_value is None
    assert stats.levene_test([[1.0, 2.0], [3.0]]).p_value is None


def test_coefficient_of_variation_is_sample_sd_over_mean():
    # mean 5, sum of squared deviations 32, sample sd sqrt(32/7)
    assert stats.coefficient_of_variation([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7) / 5)


def test_coefficient_of_variation_is_none_for_a_zero_mean_or_one_value():
    assert stats.coefficient_of_variation([-1, 1]) is None
    assert stats.coefficient_of_variation([3.0]) is None


# ─── compare_variants ─────────────────────────────────────────────────────────────────────────


def _ladder():
    items = range(40)
    f16 = {i: int(i < 30) for i in items}  # 30/40
    q8 = dict(f16)  # identical
    q4 = dict(f16)
    for i in (0, 1, 2, 3):
        q4[i] = 0  # 4 lost
    q4[35] = 1  # 1 gained -> 27/40
    q2 = {i: int(i < 14) for i in items}  # 14/40: lost 16
    return f16, {"Q8_0": q8, "Q4_K_M": q4, "Q2_K": q2}


def test_compare_variants_gives_one_row_per_variant_plus_each_new_adjacent_pair():
    f16, variants = _ladder()
    rows = stats.compare_variants(f16, variants, baseline_name="F16", order=["F16", "Q8_0", "Q4_K_M", "Q2_K"])
    pairs = [(r["comparison"], r["variant_a"], r["variant_b"]) for r in rows]
    assert pairs == [
        ("vs_baseline", "F16", "Q8_0"),
        ("vs_baseline", "F16", "Q4_K_M"),
        ("vs_baseline", "F16", "Q2_K"),
        # F16 -> Q8_0 is already a vs-baseline row
        ("adjacent", "Q8_0", "Q4_K_M"),
        ("adjacent", "Q4_K_M", "Q2_K"),
    ]


def test_compare_variants_counts_accuracy_delta_and_flips_for_a_known_ladder():
    f16, variants = _ladder()
    row = stats.compare_variants(f16, variants, baseline_name="F16")[1]
    assert row["variant_b"] == "Q4_K_M"
    assert (row["n_items"], row["acc_a"], row["acc_b"]) == (40, 0.75, 0.675)
    assert row["delta_pp"] == pytest.approx(-7.5)
    assert (row["only_a_correct"], row["only_b_correct"]) == (4, 1)
    assert row["flip_rate"] == pytest.approx(5 / 40)
    assert row["mcnemar_exact"] is True
    assert row["mcnemar_p"] == pytest.approx(2 * 6 / 32)  # binomial, 1 of 5 discordant
    assert (row["wilson_low_a"], row["wilson_high_a"]) == pytest.approx(stats.wilson_interval(30, 40))
    assert row["mde_pp"] == pytest.approx(stats.minimum_detectable_effect(40, 0.75))


def test_compare_variants_aligns_each_comparison_on_the_shared_item_ids():
    baseline = {f"q{i}": 1 for i in range(10)}
    variant = {f"q{i}": 0 for i in range(5, 15)}  # overlaps on q5..q9 only
    row = stats.compare_variants(baseline, {"Q4_K_M": variant})[0]
    assert row["n_items"] == 5
    assert (row["acc_a"], row["acc_b"], row["delta_pp"]) == (1.0, 0.0, -100.0)


def test_compare_variants_corrects_p_values_across_every_comparison_of_the_run():
    f16, variants = _ladder()
    rows = stats.compare_variants(f16, variants, baseline_name="F16", order=["F16", "Q8_0", "Q4_K_M", "Q2_K"])
    for test in ("welch", "mcnemar"):
        raw = [r[f"{test}_p"] for r in rows]
        family = sum(p is not None for p in raw)
        assert family == 5
        for r in rows:
            if r[f"{test}_p"] is None:
                assert r[f"{test}_p_bonferroni"] is None
                continue
            assert r[f"{test}_p_bonferroni"] == pytest.approx(min(1.0, r[f"{test}_p"] * family))
            assert r[f"{test}_p"] <= r[f"{test}_p_holm"] <= r[f"{test}_p_bonferroni"]


def test_compare_variants_reports_the_promised_columns_and_explains_gaps():
    f16, variants = _ladder()
    rows = stats.compare_variants(f16, variants, baseline_name="F16")
    expected = {
        "comparison", "variant_a", "variant_b", "n_items", "correct_a", "correct_b", "acc_a", "acc_b",
        "delta_pp", "wilson_low_a", "wilson_high_a", "wilson_low_b", "wilson_high_b", "welch_t",
        "welch_df", "welch_p", "mcnemar_statistic", "mcnemar_p", "mcnemar_exact", "only_a_correct",
        "only_b_correct", "flip_rate", "cohens_d", "mde_pp", "mde_paired_pp", "tost_p_3pp",
        "tost_equivalent_3pp", "tost_p_5pp", "tost_equivalent_5pp", "welch_p_holm",
        "welch_p_bonferroni", "mcnemar_p_holm", "mcnemar_p_bonferroni", "notes",
    }
    assert all(set(r) == expected for r in rows)
    identical = rows[0]  # F16 vs Q8_0: no item changed: the t-based TOST is undefined, the exact bound is not
    assert identical["welch_p"] == pytest.approx(1.0)
    n = identical["n_items"]
    assert identical["tost_p_3pp"] == pytest.approx(0.97 ** n) and identical["tost_equivalent_3pp"] is False
    assert "no item flipped" in identical["notes"]
    assert rows[1]["notes"] is None


def test_compare_variants_rejects_an_order_naming_an_unknown_variant():
    f16, variants = _ladder()
    with pytest.raises(ValueError):
        stats.compare_variants(f16, variants, baseline_name="F16", order=["F16", "Q5_K_M"])
