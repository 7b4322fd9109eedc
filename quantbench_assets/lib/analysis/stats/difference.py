"""Difference tests between two arms (Welch, McNemar), effect size, flip rate and p-value correction."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttest_ind

from ._values import _clean, _finite_or_none, _isnan, _paired_binary

# Below this many discordant pairs McNemar's chi-square approximation to the binomial is poor,
# so the exact binomial test is used (the usual rule of thumb is b + c < 25).
MCNEMAR_EXACT_BELOW = 25

P_VALUE_CORRECTIONS = ("holm", "bonferroni")

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
