"""The one per-sample loop every inference path uses: key → cache → infer on a miss → row.

A sample is computed at most once per cache key: a re-run, a resumed run after a crash, or a new
scoring rule reads the stored value instead of calling the model. Callers supply what differs
between tasks (how an item is keyed, inferred and turned into a row); the loop owns the cache
discipline and the progress line, so every path counts hits and misses the same way.
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Callable, Iterable, TypeVar

from .cache import SampleCache
from .progress import Progress

T = TypeVar("T")


def run_samples(items: Iterable[T], *, cache: SampleCache, key: Callable[[T], str],
                infer: Callable[[T], dict], row: Callable[[T, str, dict], dict], label: str,
                log: Callable[[str], None] = print) -> list[dict]:
    """One row per item: `row(item, key, value)` where value is the cached or freshly inferred dict.

    `infer` must return a JSON-serialisable dict; it is stored under `key` before the row is built,
    so a kill between samples loses at most the sample in flight. The cache counts hits and misses
    (a miss is exactly one `infer` call)."""
    items = list(items)
    progress = Progress(len(items), label, log)
    rows = []
    for item in items:
        k = key(item)
        value = cache.get(k)
        if value is None:
            value = infer(item)
            cache.put(k, value)
        rows.append(row(item, k, value))
        progress.step()
    return rows


class NoCache:
    """A cache that keeps nothing: the same loop for a trial run that must not store its samples."""
    hits = misses = 0

    def get(self, key: str) -> None:
        self.misses += 1
        return None

    def put(self, key: str, value: dict) -> None:
        pass


class Lazy:
    """A context manager entered on first call, e.g. an engine: a loop whose every sample is cached
    never calls it, so a re-run of finished work does not even load the model."""

    def __init__(self, open_fn: Callable[[], object]):
        self._open, self._stack, self._value, self.opened = open_fn, ExitStack(), None, False

    def __call__(self):
        if not self.opened:
            self._value = self._stack.enter_context(self._open())
            self.opened = True
        return self._value

    def __enter__(self) -> "Lazy":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()
