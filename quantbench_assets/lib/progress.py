"""Progress for long loops: items done / total, rate and ETA, at most every `every_s` seconds."""
from __future__ import annotations

import time
from typing import Callable


class Progress:
    def __init__(self, total: int, label: str, emit: Callable[[str], None], every_s: float = 10.0):
        self.total, self.label, self.emit, self.every_s = total, label, emit, every_s
        self.done = 0
        self.t0 = self._last = time.monotonic()

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done == self.total:
            self._last = now
            elapsed = now - self.t0
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            self.emit(f"{self.label}: {self.done}/{self.total} ({rate:.2f}/s, ETA {eta:.0f}s)")
