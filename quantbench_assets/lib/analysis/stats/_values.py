"""Input handling shared by the statistics: missing values dropped, 0/1 outcomes checked."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

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
