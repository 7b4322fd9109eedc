"""Multiple-choice answers from generated text: TR125's raw (exact letter) and rescored (regex) scoring.

Raw accuracy counts only an output that is exactly the gold letter (after trimming whitespace and a
trailing period). Rescoring extracts the intended letter from common answer shapes, in this order:
  1. a leading letter:            "B", "B)", "(B)", "B.", "B: Paris"
  2. an explicit answer phrase:   "The answer is B", "Answer: (B)", "answer is: B"
  3. the first standalone letter among the valid choices ("I think C is right")
The third rule can misread the article "A" in prose; it is TR125's rule and is kept so results are
comparable, and the raw metric remains beside it.

Before any rule runs, an output that restates the prompt is a failure (`restatement`): a model that
cannot follow the prompt (a base model asked zero-shot) echoes "A. Cryptocurrencies ... B. ...", and
rule 1 or 3 would otherwise read a letter out of the echoed options and call it an answer.
"""
from __future__ import annotations

import re

from ..tasks.benchmarks import LETTERS


# A line that starts like an option: "A. ...", "(B) ...", "C) ...", "D: ...".
_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[ \t]*[.):][ \t]*\S", re.MULTILINE)  # within one line
_PROMPT_LINE = re.compile(r"^\s*Question\s*:", re.MULTILINE | re.IGNORECASE)
QUESTION_ECHO_CHARS = 60  # this many leading characters of the question, found in the output, is an echo
QUESTION_ECHO_MIN = 20    # shorter questions ("The pleura") occur in honest answers


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def restatement(text: str, question: str | None = None) -> str | None:
    """Why `text` restates the prompt instead of answering it, or None. Restated: two or more
    option lines with different letters, a "Question:" line, or the question's opening words."""
    letters = {m.group(1) for m in _OPTION_LINE.finditer(text)}
    if len(letters) >= 2:
        return f"restates the options ({len(letters)} option lines: {', '.join(sorted(letters))})"
    if _PROMPT_LINE.search(text):
        return "restates the prompt (a 'Question:' line)"
    q = _norm(question or "")
    if len(q) >= QUESTION_ECHO_MIN and q[:QUESTION_ECHO_CHARS] in _norm(text):
        return "restates the question"
    return None


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
