"""Statistics for comparing quant variants: intervals, difference tests, equivalence tests and power.

The functions wrap statsmodels and scipy and add what those libraries leave to the caller:
what to return when a test cannot be run, and the direction of every difference.

Conventions used throughout:
- `a` is the reference arm (the baseline, or the higher-precision rung of an adjacent pair) and
  `b` is the arm compared with it. Differences are b − a, so a quality loss is negative.
- When a quantity cannot be computed (too few values, zero variance, n = 0), the result is None
  and a `reason` string says why. It is never a default number that could pass for a result.
- Binary per-item correctness is 0/1. Accuracies are proportions (0–1); names ending in `_pp`
  are percentage points.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_confint, proportion_effectsize
from statsmodels.stats.weightstats import DescrStatsW, ttest_ind, ttost_ind, ttost_paired

# Below this many discordant pairs McNemar's chi-square approximation to the binomial is poor,
# so the exact binomial test is used (the usual rule of thumb is b + c < 25).
MCNEMAR_EXACT_BELOW = 25

# TR125's equivalence margins. In percentage points for accuracy, in percent of the baseline mean
# for generation metrics.
TOST_MARGINS = (3.0, 5.0)

P_VALUE_CORRECTIONS = ("holm", "bonferroni")


# ─── helpers ──────────────────────────────────────────────────────────────────────────────────


def _clean(values: Iterable[float | None]) -> np.ndarray:
    """A float array with None and NaN dropped. Generation metrics can be missing per sample."""
    kept = [float(v) for v in values if v is not None and not _isnan(v)]
    return np.asarray(kept, dtype=float)


def _isnan(value: object) -> bool:
    try:
        return math.isnan(value)  # type: ignore[arg-type]
    except TypeError:
        return False


def _finite_or_none(value: object) -> float | None:
    if value is None:
        return None
    value = float(value)  # type: ignore[arg-type]
    return value if math.isfinite(value) else None


def _binary(values: Sequence[int | bool], name: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.size and not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only 0/1 (correct/incorrect)")
    return arr


def _paired_binary(correct_a: Sequence[int | bool], correct_b: Sequence[int | bool]):
    a = _binary(correct_a, "correct_a")
    b = _binary(correct_b, "correct_b")
    if a.size != b.size:
        raise ValueError(
            f"paired outcomes need one value per item in both arms: got {a.size} and {b.size}"
        )
    return a, b


# ─── intervals ────────────────────────────────────────────────────────────────────────────────


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion: (low, high), or (None, None) when n = 0.

    Wilson rather than Wald because Wald collapses to zero width at 0/n and n/n and undercovers
    at the small n of a quick run.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return (None, None)
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return (float(low), float(high))


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a mean. `low`/`high` are None when it cannot be computed."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    reason: str | None = None


def t_interval(values: Iterable[float | None], alpha: float = 0.05) -> Interval:
    """Student-t interval for the mean of a generation metric. Missing values are dropped."""
    x = _clean(values)
    n = int(x.size)
    if n < 2:
        return Interval(
            float(x.mean()) if n else None, None, None, n,
            reason=f"n={n}: a t interval needs at least 2 values",
        )
    low, high = DescrStatsW(x).tconfint_mean(alpha=alpha)
    reason = "zero variance: the interval has zero width" if np.ptp(x) == 0 else None
    return Interval(float(x.mean()), float(low), float(high), n, reason)


def bootstrap_interval(
    values: Iterable[float | None],
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    method: str = "percentile",
) -> Interval:
    """Bootstrap interval for the mean (scipy.stats.bootstrap). Missing values are dropped.

    Percentile by default: BCa needs a jackknife, which is O(n²) memory, and it returns NaN
    on constant data.
    """
    x = _clean(values)
    n = int(x.size)
    if n < 2:
        return Interval(
            float(x.mean()) if n else None, None, None, n,
            reason=f"n={n}: a bootstrap interval needs at least 2 values",
        )
    mean = float(x.mean())
    if np.ptp(x) == 0:
        # Every resample has the same mean. scipy would warn and return NaN.
        return Interval(mean, mean, mean, n, reason="all values equal: the interval has zero width")
    result = sps.bootstrap(
        (x,),
        np.mean,
        n_resamples=n_boot,
        confidence_level=1.0 - alpha,
        method=method,
        rng=np.random.default_rng(seed),
        vectorized=True,
        batch=min(n_boot, max(1, 2_000_000 // n)),  # caps memory at about 16 MB per batch
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), n)


# ─── difference tests ─────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class WelchResult:
    statistic: float | None  # positive when mean(b) > mean(a)
    p_value: float | None
    df: float | None
    n_a: int
    n_b: int
    reason: str | None = None


def welch_test(a: Iterable[float | None], b: Iterable[float | None]) -> WelchResult:
    """Two-sided Welch t-test of mean(b) − mean(a) (statsmodels ttest_ind, usevar='unequal')."""
    xa, xb = _clean(a), _clean(b)
    na, nb = int(xa.size), int(xb.size)
    if na < 2 or nb < 2:
        return WelchResult(None, None, None, na, nb, reason=f"n_a={na}, n_b={nb}: need 2+ per group")
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return WelchResult(
            None, None, None, na, nb,
            reason="zero variance in both groups: the t statistic is undefined",
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        stat, p, df = ttest_ind(xb, xa, alternative="two-sided", usevar="unequal")
    return WelchResult(_finite_or_none(stat), _finite_or_none(p), _finite_or_none(df), na, nb)


def cohens_d(a: Iterable[float | None], b: Iterable[float | None]) -> float | None:
    """(mean(b) − mean(a)) / pooled SD (ddof=1). None with fewer than 2 values per group or zero SD.

    On 0/1 data d is bounded and small by construction (TR125 §"t-tests on binary data"), so
    compare benchmark d only with benchmark d.
    """
    xa, xb = _clean(a), _clean(b)
    na, nb = xa.size, xb.size
    if na < 2 or nb < 2:
        return None
    pooled_var = ((na - 1) * xa.var(ddof=1) + (nb - 1) * xb.var(ddof=1)) / (na + nb - 2)
    if pooled_var <= 0:
        return None
    return float((xb.mean() - xa.mean()) / math.sqrt(pooled_var))


@dataclass(frozen=True)
class McNemarResult:
    statistic: float | None
    p_value: float | None
    exact: bool
    n: int
    both_correct: int
    only_a_correct: int  # right in a, wrong in b: items b lost
    only_b_correct: int  # wrong in a, right in b: items b gained
    both_wrong: int
    flip_rate: float | None
    reason: str | None = None


def flip_rate(correct_a: Sequence[int | bool], correct_b: Sequence[int | bool]) -> float | None:
    """Share of items whose correctness differs between the two arms. None when there are no items.

    Two variants with equal accuracy can still disagree on many items. The flip rate shows that
    churn, and it is the discordant proportion that the paired tests and the paired MDE use.
    """
    a, b = _paired_binary(correct_a, correct_b)
    if a.size == 0:
        return None
    return float(np.mean(a != b))


def mcnemar_test(
    correct_a: Sequence[int | bool],
    correct_b: Sequence[int | bool],
    exact: bool | None = None,
) -> McNemarResult:
    """McNemar's test for paired 0/1 outcomes on the same items, aligned by position.

    exact=None picks the exact binomial test when there are fewer than MCNEMAR_EXACT_BELOW
    discordant pairs, and otherwise the chi-square test with continuity correction.
    """
    a, b = _paired_binary(correct_a, correct_b)
    n = int(a.size)
    both = int(np.sum((a == 1) & (b == 1)))
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    neither = int(np.sum((a == 0) & (b == 0)))
    use_exact = (only_a + only_b) < MCNEMAR_EXACT_BELOW if exact is None else bool(exact)
    if n == 0:
        return McNemarResult(None, None, use_exact, 0, 0, 0, 0, 0, None, reason="no items")
    result = mcnemar([[both, only_a], [only_b, neither]], exact=use_exact, correction=True)
    return McNemarResult(
        statistic=_finite_or_none(result.statistic),
        p_value=_finite_or_none(result.pvalue),
        exact=use_exact,
        n=n,
        both_correct=both,
        only_a_correct=only_a,
        only_b_correct=only_b,
        both_wrong=neither,
        flip_rate=(only_a + only_b) / n,
    )


def correct_pvalues(pvals: Sequence[float | None], method: str = "holm") -> list[float | None]:
    """Holm or Bonferroni adjusted p-values (statsmodels multipletests), in input order.

    None entries (tests that could not run) stay None and are not counted in the family.
    """
    if method not in P_VALUE_CORRECTIONS:
        raise ValueError(f"method must be one of {P_VALUE_CORRECTIONS}, got {method!r}")
    present = [i for i, p in enumerate(pvals) if p is not None and not _isnan(p)]
    adjusted: list[float | None] = [None] * len(pvals)
    if not present:
        return adjusted
    raw = np.asarray([float(pvals[i]) for i in present])  # type: ignore[arg-type]
    if ((raw < 0) | (raw > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    _, corrected, _, _ = multipletests(raw, method=method)
    for i, p in zip(present, corrected):
        adjusted[i] = float(p)
    return adjusted


# ─── equivalence (TOST) ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class TostResult:
    """Two one-sided tests: is b − a inside (low, high)? `equivalent` means p < alpha."""

    p_value: float | None
    equivalent: bool | None
    low: float | None  # the absolute bounds actually tested, in the data's units
    high: float | None
    n: int
    reason: str | None = None


def _bounds(margin: float, relative: bool, reference_mean: float) -> tuple[float, float] | None:
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if not relative:
        return (-margin, margin)
    if reference_mean == 0:
        return None
    # A relative margin becomes absolute at the observed baseline mean. The TOST then treats that
    # mean as fixed, which slightly understates uncertainty: the usual practical approximation.
    width = margin * abs(reference_mean)
    return (-width, width)


def _tost_result(p, bounds, n, alpha) -> TostResult:
    p = _finite_or_none(p)
    if p is None:
        return TostResult(None, None, bounds[0], bounds[1], n, reason="TOST p-value undefined")
    return TostResult(p, p < alpha, bounds[0], bounds[1], n)


def _zero_variance_tost(bounds, n) -> TostResult:
    # statsmodels returns t = ±inf and p = 0 here, which would claim equivalence from, e.g.,
    # 5 items that all agree. A t-based test has no answer without variance, so return none.
    return TostResult(
        None, None, bounds[0], bounds[1], n,
        reason="zero variance of the differences (e.g. no item flipped): t-based TOST undefined",
    )


def tost_paired(
    a: Sequence[float],
    b: Sequence[float],
    margin: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
) -> TostResult:
    """Paired TOST on the same items: is mean(b − a) within ±margin? (statsmodels ttost_paired)

    For accuracy pass the 0/1 correctness of both arms item by item, with margin=0.03 for ±3 pp.
    TOST on the paired difference of the 0/1 vectors uses only the items that flipped, which is
    why it can confirm equivalence where an unpaired test cannot. With relative=True the margin
    is a fraction of mean(a), e.g. 0.03 for ±3 % of the baseline's mean metric.
    """
    xa = np.asarray(list(a), dtype=float)
    xb = np.asarray(list(b), dtype=float)
    if xa.size != xb.size:
        raise ValueError(f"paired TOST needs equal lengths, got {xa.size} and {xb.size}")
    keep = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[keep], xb[keep]
    n = int(xa.size)
    if n < 2:
        return TostResult(None, None, None, None, n, reason=f"n={n}: TOST needs at least 2 pairs")
    bounds = _bounds(margin, relative, float(xa.mean()))
    if bounds is None:
        return TostResult(None, None, None, None, n, reason="baseline mean is 0: no relative margin")
    if np.ptp(xb - xa) == 0:
        return _zero_variance_tost(bounds, n)
    p, _, _ = ttost_paired(xb, xa, bounds[0], bounds[1])
    return _tost_result(p, bounds, n, alpha)


def tost(
    a: Iterable[float | None],
    b: Iterable[float | None],
    margin: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    usevar: str = "unequal",
) -> TostResult:
    """Independent-samples TOST (statsmodels ttost_ind): is mean(b) − mean(a) within ±margin?

    Use it when the arms are not the same items. For the same items, tost_paired has more power.
    """
    xa, xb = _clean(a), _clean(b)
    n = int(min(xa.size, xb.size))
    if n < 2:
        return TostResult(None, None, None, None, n, reason="TOST needs at least 2 values per group")
    bounds = _bounds(margin, relative, float(xa.mean()))
    if bounds is None:
        return TostResult(None, None, None, None, n, reason="baseline mean is 0: no relative margin")
    if np.ptp(xa) == 0 and np.ptp(xb) == 0:
        return _zero_variance_tost(bounds, n)
    p, _, _ = ttost_ind(xb, xa, bounds[0], bounds[1], usevar=usevar)
    return _tost_result(p, bounds, n, alpha)


# ─── power ────────────────────────────────────────────────────────────────────────────────────


def minimum_detectable_effect(
    n_per_arm: int,
    baseline_rate: float = 0.5,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float | None:
    """Smallest accuracy drop (pp) below `baseline_rate` that a two-sided test of two independent
    proportions detects with `power`, at n items per arm.

    statsmodels gives the detectable Cohen's h. h is on the arcsine scale, so it is converted
    back to a drop in accuracy by root-finding proportion_effectsize(baseline, p) = h.
    Returns None when even a drop to 0 % would not be detected.
    """
    if not 0.0 <= baseline_rate <= 1.0:
        raise ValueError(f"baseline_rate must be a proportion, got {baseline_rate}")
    if n_per_arm < 2:
        return None
    h = float(
        NormalIndPower().solve_power(
            effect_size=None, nobs1=n_per_arm, alpha=alpha, power=power, ratio=1.0,
            alternative="two-sided",
        )
    )
    if proportion_effectsize(baseline_rate, 0.0) < h:
        return None
    p_detectable = optimize.brentq(
        lambda p: proportion_effectsize(baseline_rate, p) - h, 0.0, baseline_rate, xtol=1e-12
    )
    return float((baseline_rate - p_detectable) * 100.0)


def minimum_detectable_effect_paired(
    n_items: int,
    discordant_rate: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float | None:
    """Smallest accuracy difference (pp) that McNemar's test detects on n paired items, given the
    share of items expected to flip (discordant_rate, ψ).

    Why this approximation holds: McNemar's test uses only the discordant pairs. If δ is the
    difference between the two one-way flip rates (the accuracy difference), the mean of the
    paired 0/1 differences has variance ψ/n under H0 and (ψ − δ²)/n under H1. Connor (1987,
    Biometrics 43:207–211) uses these to size McNemar designs:
        n = (z_{1−α/2}·√ψ + z_{1−β}·√(ψ − δ²))² / δ².
    This function solves that equation for δ at a fixed n. ψ must be assumed in advance, or
    taken from a pilot run. ψ taken from the same data is post hoc and only describes resolution.
    Returns None when ψ is 0 (no flips, nothing to detect) or when no δ ≤ ψ is detectable.
    """
    if not 0.0 <= discordant_rate <= 1.0:
        raise ValueError(f"discordant_rate must be a proportion, got {discordant_rate}")
    if n_items < 2 or discordant_rate == 0.0:
        return None
    z_alpha = sps.norm.ppf(1.0 - alpha / 2.0)
    z_beta = sps.norm.ppf(power)
    psi, n = discordant_rate, float(n_items)

    def shortfall(delta: float) -> float:
        return z_alpha * math.sqrt(psi / n) + z_beta * math.sqrt(max(psi - delta * delta, 0.0) / n) - delta

    if shortfall(psi) > 0:  # even with every flip in one direction, not detectable
        return None
    return float(optimize.brentq(shortfall, 0.0, psi, xtol=1e-12) * 100.0)


# ─── spread ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class LeveneResult:
    statistic: float | None
    p_value: float | None
    reason: str | None = None


def levene_test(groups: Sequence[Iterable[float | None]], center: str = "median") -> LeveneResult:
    """Test for equal variances across groups (scipy.stats.levene). Missing values are dropped.

    The median centre (Brown–Forsythe) is the default because latency and throughput samples
    are skewed, and the mean-centred test gives false alarms on skewed data.
    """
    cleaned = [_clean(g) for g in groups]
    if len(cleaned) < 2 or any(g.size < 2 for g in cleaned):
        return LeveneResult(None, None, reason="need at least 2 groups of at least 2 values")
    with np.errstate(divide="ignore", invalid="ignore"):
        stat, p = sps.levene(*cleaned, center=center)
    stat, p = _finite_or_none(stat), _finite_or_none(p)
    if p is None:
        return LeveneResult(None, None, reason="no spread within any group: statistic undefined")
    return LeveneResult(stat, p)


def coefficient_of_variation(values: Iterable[float | None], ddof: int = 1) -> float | None:
    """Sample SD / mean (scipy.stats.variation). None for n < 2 or a mean of 0."""
    x = _clean(values)
    if x.size < 2 or x.mean() == 0:
        return None
    return _finite_or_none(sps.variation(x, ddof=ddof))


# ─── a whole run ──────────────────────────────────────────────────────────────────────────────


def _margin_label(margin: float) -> str:
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
        label = _margin_label(margin_pp)
        result = tost_paired(x_a, x_b, margin_pp / 100.0, alpha=alpha)
        row[f"tost_p_{label}"] = result.p_value
        row[f"tost_equivalent_{label}"] = result.equivalent
        if result.reason:
            notes.append(f"tost {label}: {result.reason}")
    row["notes"] = "; ".join(notes) if notes else None
    return row
