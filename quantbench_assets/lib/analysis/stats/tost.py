"""Equivalence by two one-sided tests (TOST), paired and independent, within an absolute or relative margin."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from ._values import _clean, _finite_or_none

# TR125's equivalence margins. In percentage points for accuracy, in percent of the baseline mean
# for generation metrics.
TOST_MARGINS = (3.0, 5.0)

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


def tost_paired_binary(a: Sequence[float], b: Sequence[float], margin: float, *, alpha: float = 0.05) -> TostResult:
    """Paired equivalence for 0/1 outcomes (per-item correctness) within ±margin.

    With at least one flipped item this is the t-based paired TOST. With none, the t statistic is
    undefined, but the binary case has an exact answer: |Δ| can be no larger than the share of items
    that flip (ψ), and if ψ were at least the margin the chance of seeing no flip in n items would be
    at most (1 − margin)^n. That is the p-value of H0: |Δ| ≥ margin. So 5 agreeing items prove
    nothing (p = 0.86 at ±3 pp), while 200 do (p = 0.002).
    """
    xa = np.asarray(list(a), dtype=float)
    xb = np.asarray(list(b), dtype=float)
    if xa.size != xb.size:
        raise ValueError(f"paired TOST needs equal lengths, got {xa.size} and {xb.size}")
    n = int(xa.size)
    if n >= 2 and np.isin(xa, (0.0, 1.0)).all() and np.isin(xb, (0.0, 1.0)).all() and (xa == xb).all():
        p = (1.0 - margin) ** n
        return TostResult(p, p < alpha, -margin, margin, n,
                          reason="no item flipped: exact binomial bound on the flip rate, (1 - margin)^n")
    return tost_paired(xa, xb, margin, alpha=alpha)

