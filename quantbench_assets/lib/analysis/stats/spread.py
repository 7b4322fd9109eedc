"""Spread: equal-variance test (Levene / Brown-Forsythe) and coefficient of variation."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ._values import _clean, _finite_or_none

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
