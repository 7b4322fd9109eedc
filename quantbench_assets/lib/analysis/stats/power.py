"""Power: the smallest accuracy difference a run of n items can detect, unpaired and paired."""
from __future__ import annotations

import math

from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

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
