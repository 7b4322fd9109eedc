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


def _dur(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Steps:
    """One line per finished step of a known plan: `[i/N] label: ok in 12s · 3/s · ETA 4m10s`.

    Each step carries an estimated weight (roughly its seconds); the rate of weight per second so far
    scales the remaining weight into the ETA, so a slow machine gets a proportionally longer ETA."""

    def __init__(self, weights: list[float], emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.weights = [max(float(w), 1e-6) for w in weights]
        self.emit, self.clock = emit, clock
        self.i = 0
        self.t0 = clock()
        self._step_t0 = self.t0

    @property
    def total(self) -> int:
        return len(self.weights)

    def start(self) -> None:
        self._step_t0 = self.clock()

    def done(self, label: str, ok: bool = True, note: str = "") -> str:
        now = self.clock()
        took = now - self._step_t0
        self.i += 1
        done_w = sum(self.weights[: self.i])
        left_w = sum(self.weights[self.i:])
        elapsed = now - self.t0
        eta = left_w * (elapsed / done_w) if done_w > 0 and elapsed > 0 else float("nan")
        width = len(str(self.total))
        line = (f"[{self.i:>{width}}/{self.total}] {label}: {'ok' if ok else 'FAILED'} in {_dur(took)}"
                f"{' · ' + note if note else ''} · elapsed {_dur(elapsed)}"
                f"{' · ETA ' + _dur(eta) if self.i < self.total and eta == eta else ''}")
        self.emit(line)
        self._step_t0 = now
        return line

    def skip(self, label: str, why: str) -> str:
        """A step that cannot run (its input failed): counted as done, its weight leaves the ETA."""
        self.i += 1
        self.weights[self.i - 1] = 1e-6
        line = f"[{self.i:>{len(str(self.total))}}/{self.total}] {label}: skipped ({why})"
        self.emit(line)
        return line
