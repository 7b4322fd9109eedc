"""A whole run: every variant against the baseline and each rung against the next, all tests per pair."""
from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from ._values import _binary
from .difference import P_VALUE_CORRECTIONS, cohens_d, correct_pvalues, mcnemar_test, welch_test
from .intervals import wilson_interval
from .power import minimum_detectable_effect, minimum_detectable_effect_paired
from .tost import TOST_MARGINS, tost_paired_binary

def margin_label(margin: float) -> str:
    """The suffix of the TOST columns for a margin in pp: 3.0 -> "3pp", 2.5 -> "2_5pp"."""
    return f"{margin:g}".replace(".", "_") + "pp"

def compare_variants(
    baseline: Mapping[Hashable, int | bool],
    variants: Mapping[str, Mapping[Hashable, int | bool]],
    *,
    baseline_name: str = "baseline",
    order: Sequence[str] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    tost_margins_pp: Sequence[float] = TOST_MARGINS,
) -> list[dict]:
    """Compare per-item correctness across the variants of one run. Returns one row per comparison.

    `baseline` and each `variants[name]` map item_id -> 0/1. Every variant is compared with the
    baseline. If `order` is given (highest precision first, and it may include `baseline_name`),
    each pair of neighbouring rungs is compared too. A pair already covered by a vs-baseline row
    is not repeated. Each comparison uses only the item ids that both arms share.

    Keys of each row (a = reference arm, b = compared arm, differences are b − a):
      comparison ('vs_baseline' | 'adjacent'), variant_a, variant_b, n_items,
      correct_a, correct_b, acc_a, acc_b, delta_pp,
      wilson_low_a, wilson_high_a, wilson_low_b, wilson_high_b,
      welch_t, welch_df, welch_p, mcnemar_statistic, mcnemar_p, mcnemar_exact,
      only_a_correct, only_b_correct, flip_rate, cohens_d,
      mde_pp (unpaired, at acc_a), mde_paired_pp (McNemar, at the observed flip rate: post hoc),
      tost_p_<m>pp and tost_equivalent_<m>pp for each margin m (paired TOST on the 0/1 vectors),
      welch_p_holm, welch_p_bonferroni, mcnemar_p_holm, mcnemar_p_bonferroni, notes.

    The Holm/Bonferroni family is every comparison in the run, vs-baseline and adjacent rows
    together. Welch and McNemar are corrected as two separate families. They test the same
    hypothesis on the same data, so pooling them would count each comparison twice. TOST
    p-values are not adjusted: each row's equivalence claim is tested on its own.
    """
    if baseline_name in variants:
        raise ValueError(f"baseline_name {baseline_name!r} is also a variant name")
    arms: dict[str, Mapping[Hashable, int | bool]] = {baseline_name: baseline, **variants}

    pairs: list[tuple[str, str, str]] = [(baseline_name, v, "vs_baseline") for v in variants]
    if order is not None:
        unknown = [name for name in order if name not in arms]
        if unknown:
            raise ValueError(f"order names unknown variants: {unknown}")
        seen = {(a, b) for a, b, _ in pairs}
        for a, b in zip(order, order[1:]):
            if (a, b) not in seen:
                pairs.append((a, b, "adjacent"))
                seen.add((a, b))

    rows = [
        _compare_pair(arms[a], arms[b], a, b, kind, alpha, power, tost_margins_pp)
        for a, b, kind in pairs
    ]

    for test in ("welch", "mcnemar"):
        raw = [row[f"{test}_p"] for row in rows]
        for method in P_VALUE_CORRECTIONS:
            for row, adjusted in zip(rows, correct_pvalues(raw, method)):
                row[f"{test}_p_{method}"] = adjusted
    return rows

def _compare_pair(
    arm_a: Mapping[Hashable, int | bool],
    arm_b: Mapping[Hashable, int | bool],
    name_a: str,
    name_b: str,
    kind: str,
    alpha: float,
    power: float,
    tost_margins_pp: Sequence[float],
) -> dict:
    # Sorted so that the order of items (and any seeded resampling later) does not depend on
    # dict insertion order.
    shared = sorted(set(arm_a) & set(arm_b), key=lambda k: (type(k).__name__, str(k)))
    x_a = _binary([arm_a[k] for k in shared], f"{name_a} correctness")
    x_b = _binary([arm_b[k] for k in shared], f"{name_b} correctness")
    n = len(shared)
    notes: list[str] = []

    correct_a, correct_b = int(x_a.sum()), int(x_b.sum())
    acc_a = correct_a / n if n else None
    acc_b = correct_b / n if n else None
    wa = wilson_interval(correct_a, n, alpha)
    wb = wilson_interval(correct_b, n, alpha)

    welch = welch_test(x_a, x_b)
    if welch.reason:
        notes.append(f"welch: {welch.reason}")
    mc = mcnemar_test(x_a, x_b)
    if mc.reason:
        notes.append(f"mcnemar: {mc.reason}")

    row: dict = {
        "comparison": kind,
        "variant_a": name_a,
        "variant_b": name_b,
        "n_items": n,
        "correct_a": correct_a,
        "correct_b": correct_b,
        "acc_a": acc_a,
        "acc_b": acc_b,
        # From the counts, not from acc_b − acc_a, to keep subtraction noise out of tier edges.
        "delta_pp": (correct_b - correct_a) * 100.0 / n if n else None,
        "wilson_low_a": wa[0],
        "wilson_high_a": wa[1],
        "wilson_low_b": wb[0],
        "wilson_high_b": wb[1],
        "welch_t": welch.statistic,
        "welch_df": welch.df,
        "welch_p": welch.p_value,
        "mcnemar_statistic": mc.statistic,
        "mcnemar_p": mc.p_value,
        "mcnemar_exact": mc.exact,
        "only_a_correct": mc.only_a_correct,
        "only_b_correct": mc.only_b_correct,
        "flip_rate": mc.flip_rate,
        "cohens_d": cohens_d(x_a, x_b),
        "mde_pp": minimum_detectable_effect(n, acc_a, alpha=alpha, power=power) if n else None,
        "mde_paired_pp": (
            minimum_detectable_effect_paired(n, mc.flip_rate, alpha=alpha, power=power)
            if mc.flip_rate is not None else None
        ),
    }
    for margin_pp in tost_margins_pp:
        label = margin_label(margin_pp)
        result = tost_paired_binary(x_a, x_b, margin_pp / 100.0, alpha=alpha)
        row[f"tost_p_{label}"] = result.p_value
        row[f"tost_equivalent_{label}"] = result.equivalent
        if result.reason:
            notes.append(f"tost {label}: {result.reason}")
    row["notes"] = "; ".join(notes) if notes else None
    return row
