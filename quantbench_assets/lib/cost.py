"""Cost per million generated tokens: what an hour of the hardware costs, spread over what it produces.

The seed study's formula (and fct_cost_per_million_tokens computes the same in SQL):
    $ / 1M tokens = hourly rate / (tok/s x 3600) x 1e6
Generation throughput is tg (single-stream decode), so the figure is for one request at a time on
the whole machine; batching several streams would lower it.
"""
from __future__ import annotations

from collections.abc import Iterable


def cost_per_million_tokens(usd_per_hour: float, tok_per_s: float) -> float:
    if tok_per_s <= 0:
        raise ValueError(f"tok/s must be positive, got {tok_per_s}")
    if usd_per_hour < 0:
        raise ValueError(f"an hourly rate cannot be negative, got {usd_per_hour}")
    return usd_per_hour / (tok_per_s * 3600) * 1e6


def savings_pct(baseline_cost: float, cost: float) -> float:
    """How much cheaper than the baseline rung, in percent of the baseline's cost (negative: dearer)."""
    if baseline_cost <= 0:
        raise ValueError("baseline cost must be positive")
    return (baseline_cost - cost) / baseline_cost * 100


def baseline_quant(quants: Iterable[str]) -> str | None:
    """TR125's baseline: F16 of the same model if present, else Q8_0; None if neither was measured."""
    present = set(quants)
    for q in ("F16", "Q8_0"):
        if q in present:
            return q
    return None
