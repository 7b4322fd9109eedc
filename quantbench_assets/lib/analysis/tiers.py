"""TR125's quality tiers and the Pareto frontier, as test oracles for the SQL marts that the pipeline runs.

The pipeline assigns tiers in dbt (fct_quality_tiers) and draws Pareto fronts in dbt
(fct_pareto_frontier); tests check these functions and the marts against the same data. Which rung
is the baseline is lib/gguf/ladder.py's.

Quality tiers (TR125, "Quality Tier System"): a variant gets a tier from its benchmark accuracy
delta in percentage points and another from its generation-quality delta in percent, both
measured against the baseline. Its tier is the worse of the two. The thresholds are data
(`TierThresholds`), loadable from a CSV seed with columns
tier, min_benchmark_delta_pp, min_generation_delta_pct, rank.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Deltas are rounded to this many decimals before they meet a threshold. A delta is a difference
# of two accuracies, so it carries binary floating-point noise: 0.37 − 0.40 is
# −0.030000000000000027, which makes −3.0 pp read as −3.0000000000000027 and would drop an
# exactly-at-threshold variant a tier. Six decimals removes that noise (~1e-15) and is still far
# finer than any real resolution (one item of 485 is 0.206 pp).
DELTA_DECIMALS = 6


@dataclass(frozen=True)
class Tier:
    name: str
    rank: int  # 1 = best
    min_benchmark_delta_pp: float | None  # None only for the catch-all (worst) tier
    min_generation_delta_pct: float | None


@dataclass(frozen=True)
class TierThresholds:
    """Tiers best first. The last tier is the catch-all, with no minimum on either side."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        tiers = tuple(sorted(self.tiers, key=lambda t: t.rank))
        object.__setattr__(self, "tiers", tiers)
        if len(tiers) < 2:
            raise ValueError("need at least one bounded tier and the catch-all tier")
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names repeat: {names}")
        if len({t.rank for t in tiers}) != len(tiers):
            raise ValueError("tier ranks repeat")
        *bounded, catch_all = tiers
        if catch_all.min_benchmark_delta_pp is not None or catch_all.min_generation_delta_pct is not None:
            raise ValueError(f"the worst tier ({catch_all.name}) must have no minimum: it is the catch-all")
        for t in bounded:
            if t.min_benchmark_delta_pp is None or t.min_generation_delta_pct is None:
                raise ValueError(f"tier {t.name} needs both minimums; only the worst tier may leave them out")
        for axis in ("min_benchmark_delta_pp", "min_generation_delta_pct"):
            values = [getattr(t, axis) for t in bounded]
            if any(x <= y for x, y in zip(values, values[1:])):
                raise ValueError(f"{axis} must fall strictly from the best tier to the worst: {values}")

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, object]]) -> TierThresholds:
        """From dicts with keys tier, min_benchmark_delta_pp, min_generation_delta_pct, rank.
        An empty string or None means "no minimum" (the catch-all tier)."""

        def number(value: object) -> float | None:
            if value is None or (isinstance(value, str) and value.strip() == ""):
                return None
            return float(value)  # type: ignore[arg-type]

        return cls(
            tuple(
                Tier(
                    name=str(row["tier"]).strip(),
                    rank=int(row["rank"]),  # type: ignore[arg-type]
                    min_benchmark_delta_pp=number(row["min_benchmark_delta_pp"]),
                    min_generation_delta_pct=number(row["min_generation_delta_pct"]),
                )
                for row in rows
            )
        )

    @classmethod
    def from_csv(cls, path: str | Path) -> TierThresholds:
        with open(path, newline="", encoding="utf-8") as f:
            return cls.from_rows(csv.DictReader(f))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tiers)

    def rank(self, name: str) -> int:
        for t in self.tiers:
            if t.name == name:
                return t.rank
        raise KeyError(name)


# TR125's published thresholds. data/seeds_reference/tr125_quality_tiers.csv holds the same table.
TR125_THRESHOLDS = TierThresholds(
    (
        Tier("negligible", 1, -3.0, -3.0),
        Tier("acceptable", 2, -5.0, -8.0),
        Tier("concerning", 3, -10.0, -15.0),
        Tier("unacceptable", 4, None, None),
    )
)

_AXES = {"benchmark": "min_benchmark_delta_pp", "generation": "min_generation_delta_pct"}


def _normalise(delta: float | None) -> float | None:
    """None and NaN mean "not measured". Anything else is rounded (see DELTA_DECIMALS)."""
    if delta is None:
        return None
    value = float(delta)
    if math.isnan(value):
        return None
    return round(value, DELTA_DECIMALS)


def _tier_on_axis(delta: float, axis: str, thresholds: TierThresholds) -> str:
    attr = _AXES[axis]
    for t in thresholds.tiers[:-1]:
        if delta >= getattr(t, attr):  # ">=": exactly at a threshold stays in the better tier
            return t.name
    return thresholds.tiers[-1].name


def _margin_to_nearest_threshold(delta: float, axis: str, thresholds: TierThresholds) -> float:
    attr = _AXES[axis]
    return min(abs(delta - getattr(t, attr)) for t in thresholds.tiers[:-1])


def benchmark_tier(delta_pp: float, thresholds: TierThresholds = TR125_THRESHOLDS) -> str:
    """Tier from the benchmark accuracy delta alone (percentage points, negative = loss)."""
    value = _normalise(delta_pp)
    if value is None:
        raise ValueError("benchmark delta is missing")
    return _tier_on_axis(value, "benchmark", thresholds)


def generation_tier(delta_pct: float, thresholds: TierThresholds = TR125_THRESHOLDS) -> str:
    """Tier from the generation-quality delta alone (percent change vs baseline)."""
    value = _normalise(delta_pct)
    if value is None:
        raise ValueError("generation delta is missing")
    return _tier_on_axis(value, "generation", thresholds)


@dataclass(frozen=True)
class TierAssignment:
    tier: str
    benchmark_tier: str | None
    generation_tier: str | None
    missing_side: str | None  # "benchmark" or "generation" when only one side was measured
    benchmark_margin_pp: float | None  # distance to the nearest benchmark threshold
    generation_margin_pct: float | None  # distance to the nearest generation threshold
    underpowered: bool | None  # None when no MDE was given for a measured side

    @property
    def one_sided(self) -> bool:
        return self.missing_side is not None


def classify_tier(
    benchmark_delta_pp: float | None,
    generation_delta_pct: float | None,
    *,
    thresholds: TierThresholds = TR125_THRESHOLDS,
    benchmark_mde_pp: float | None = None,
    generation_mde_pct: float | None = None,
) -> TierAssignment:
    """The quality tier of one variant: the worse of its benchmark and generation tiers.

    If one side is missing (None or NaN), the tier comes from the other side and `missing_side`
    says which side was missing. If both are missing, it raises ValueError: there is nothing to classify.

    Underpowered: the claim "this variant is in tier T" can be told apart from the neighbouring
    tier only if the delta sits at least one MDE away from the threshold between them. For each
    measured side with an MDE, the margin is the distance from the delta to the nearest threshold
    on that side's axis. The result is underpowered when any such margin is below that side's MDE.
    """
    bench = _normalise(benchmark_delta_pp)
    gen = _normalise(generation_delta_pct)
    if bench is None and gen is None:
        raise ValueError("both deltas are missing: nothing to classify")

    bench_tier = _tier_on_axis(bench, "benchmark", thresholds) if bench is not None else None
    gen_tier = _tier_on_axis(gen, "generation", thresholds) if gen is not None else None
    present = [t for t in (bench_tier, gen_tier) if t is not None]
    tier = max(present, key=thresholds.rank)  # higher rank number = worse tier

    bench_margin = _margin_to_nearest_threshold(bench, "benchmark", thresholds) if bench is not None else None
    gen_margin = _margin_to_nearest_threshold(gen, "generation", thresholds) if gen is not None else None
    checks = [
        margin < mde
        for margin, mde in ((bench_margin, benchmark_mde_pp), (gen_margin, generation_mde_pct))
        if margin is not None and mde is not None
    ]
    return TierAssignment(
        tier=tier,
        benchmark_tier=bench_tier,
        generation_tier=gen_tier,
        missing_side="benchmark" if bench is None else ("generation" if gen is None else None),
        benchmark_margin_pp=bench_margin,
        generation_margin_pct=gen_margin,
        underpowered=any(checks) if checks else None,
    )


# ─── Pareto frontier ──────────────────────────────────────────────────────────────────────────


def pareto_frontier(
    points: Mapping[Hashable, Mapping[str, float]] | Iterable[Mapping[str, object]],
    maximize: Sequence[str] = (),
    minimize: Sequence[str] = (),
    *,
    id_key: str = "id",
) -> set:
    """Ids of the points that no other point dominates.

    q dominates p when q is at least as good as p on every objective and strictly better on one.
    So two identical points are both on the frontier, and a single point is always on it.
    `points` is either {id: {objective: value}} or an iterable of dicts that carry `id_key`.
    """
    objectives = [*maximize, *minimize]
    if not objectives:
        raise ValueError("give at least one objective to maximize or minimize")
    if set(maximize) & set(minimize):
        raise ValueError(f"objectives both maximized and minimized: {set(maximize) & set(minimize)}")

    if isinstance(points, Mapping):
        items = list(points.items())
    else:
        items = []
        for row in points:
            if id_key not in row:
                raise ValueError(f"a point has no {id_key!r} key: {row}")
            items.append((row[id_key], row))
        ids = [pid for pid, _ in items]
        if len(set(ids)) != len(ids):
            raise ValueError("point ids repeat")

    # Every objective becomes "larger is better".
    vectors: dict[Hashable, tuple[float, ...]] = {}
    for pid, values in items:
        vec = []
        for name in objectives:
            value = values.get(name)
            if value is None or math.isnan(float(value)):
                raise ValueError(f"point {pid!r} has no value for objective {name!r}")
            vec.append(float(value) if name in maximize else -float(value))
        vectors[pid] = tuple(vec)

    def dominates(q: tuple[float, ...], p: tuple[float, ...]) -> bool:
        return all(x >= y for x, y in zip(q, p)) and any(x > y for x, y in zip(q, p))

    return {
        pid for pid, p in vectors.items()
        if not any(dominates(q, p) for qid, q in vectors.items() if qid != pid)
    }
