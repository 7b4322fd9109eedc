"""Multiple-choice answers from generated text: TR125's raw (exact letter) and rescored (regex) scoring.

Raw accuracy counts only an output that is exactly the gold letter (after trimming whitespace and a
trailing period). Rescoring extracts the intended letter from common answer shapes, in this order:
  1. a leading letter:            "B", "B)", "(B)", "B.", "B: Paris"
  2. an explicit answer phrase:   "The answer is B", "Answer: (B)", "answer is: B"
  3. the first standalone letter among the valid choices ("I think C is right")
The third rule can misread the article "A" in prose; it is TR125's rule and is kept so results are
comparable, and the raw metric remains beside it.
"""
from __future__ import annotations

import re

from .tasks import LETTERS


def _valid(n_choices: int) -> str:
    return LETTERS[:n_choices]


def raw_letter(text: str, n_choices: int = 5) -> str | None:
    t = text.strip().rstrip(".").strip()
    return t if len(t) == 1 and t in _valid(n_choices) else None


def extract_letter(text: str, n_choices: int = 5) -> str | None:
    valid = _valid(n_choices)
    cls = f"[{valid}]"
    t = text.strip()
    m = re.match(rf"^\(?({cls})\)?(?=$|[\s.):,;])", t)
    if m:
        return m.group(1)
    m = re.search(rf"answer\s*(?:is)?\s*:?\s*\(?({cls})\)?(?=$|[\s.):,;])", t, flags=re.IGNORECASE)
    if m:
        return m.group(1)
    m = re.search(rf"(?<![A-Za-z])({cls})(?![A-Za-z])", t)
    return m.group(1) if m else None
