"""Confidence intervals: Wilson for proportions, Student-t and bootstrap for means."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from ._values import _clean

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

def _too_few(x: np.ndarray, kind: str) -> Interval | None:
    """The interval of fewer than 2 values: the mean of one (None of none), no bounds, and why."""
    n = int(x.size)
    if n >= 2:
        return None
    return Interval(float(x.mean()) if n else None, None, None, n, reason=f"n={n}: a {kind} interval needs at least 2 values")


def t_interval(values: Iterable[float | None], alpha: float = 0.05) -> Interval:
    """Student-t interval for the mean of a generation metric. Missing values are dropped."""
    x = _clean(values)
    if (few := _too_few(x, "t")) is not None:
        return few
    n = int(x.size)
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
    if (few := _too_few(x, "bootstrap")) is not None:
        return few
    n = int(x.size)
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
