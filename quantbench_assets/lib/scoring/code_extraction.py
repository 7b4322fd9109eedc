"""Code extraction: the Python a completion holds (its fenced block, or the raw text)."""
from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(completion: str | None, entry_point: str | None = None) -> tuple[str, str]:
    """(code, how): the fenced block that defines `entry_point` (python-tagged first), else the first
    python/untagged fenced block, else the raw completion. how is 'fenced' | 'fenced_unclosed' | 'raw' | 'empty'."""
    text = completion or ""
    blocks = []
    for m in _FENCE.finditer(text):
        lang, body = m.group(1).lower(), m.group(2)
        blocks.append((lang, body, m.group(0).endswith("```")))
    pyish = [b for b in blocks if b[0] in ("python", "py", "python3", "")]
    if pyish:
        chosen = None
        if entry_point:
            chosen = next((b for b in pyish if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b[1])), None)
        chosen = chosen or pyish[0]
        return chosen[1].strip("\n") + "\n", "fenced" if chosen[2] else "fenced_unclosed"
    if not text.strip():
        return "", "empty"
    return text.strip("\n") + "\n", "raw"
