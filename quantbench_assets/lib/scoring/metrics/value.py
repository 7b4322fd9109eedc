"""The value every metric returns, and the text helpers several metric families share."""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class MetricValue:
    value: float | None
    null_reason: str | None = None
    detail: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.value is None and not self.null_reason:
            raise ValueError("a metric without a value must say why (null_reason)")
        if self.value is not None and isinstance(self.value, float) and math.isnan(self.value):
            raise ValueError("NaN is not a metric value: return None with a reason")

    @classmethod
    def null(cls, reason: str, detail: Mapping[str, Any] | None = None) -> "MetricValue":
        return cls(None, reason, detail)

    def row(self, metric: str) -> dict:
        return {"metric": metric, "value": self.value, "null_reason": self.null_reason}


def as_references(references: str | Sequence[str]) -> list[str]:
    """One reference or several, as a list without missing ones."""
    return [references] if isinstance(references, str) else [r for r in references if r is not None]


def words(text: str) -> list[str]:
    return text.split()


def fold_text(text: str) -> str:
    """Lowercase, accents stripped, dashes and apostrophes unified, whitespace collapsed: the form
    E2E slot values and JSON string fields are compared in."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    return " ".join(text.lower().split())

