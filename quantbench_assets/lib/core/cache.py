"""Per-sample result cache: a re-run, a resumed run after a crash, or a new report costs no inference.

Key = hash of (gguf sha256, task, task version, item id, scorer, decoding settings, engine build);
a perplexity / KLD window's key names the rung, corpus, window tokens, base cache, method version
and build instead (lib/measure/perplexity.py). Every path reads and writes it through the one loop
in lib/core/samples.py.
SQLite in WAL mode, one commit per sample: a kill -9 loses at most the sample in flight, and several
processes (parallel partitions) can write at once without the warehouse's single-writer limit.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path


# Bump when what a cached sample records changes (v2: completion_tokens counts sampled tokens only).
CACHE_VERSION = 2


def sample_key(**parts) -> str:
    blob = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class SampleCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma busy_timeout=60000")
        self._con.execute("create table if not exists samples (key text primary key, value text not null)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict | None:
        row = self._con.execute("select value from samples where key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        self._con.execute("insert or replace into samples (key, value) values (?, ?)", (key, json.dumps(value)))

    def close(self) -> None:
        self._con.close()
