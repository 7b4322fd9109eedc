"""Per-sample result cache: a re-run, a resumed run after a crash, or a new report costs no inference.

Key = hash of (gguf sha256, task, task version, item id, scorer, decoding settings, engine build);
a perplexity / KLD window's key names the rung, corpus, window tokens, base cache, method version
and build instead (lib/measure/perplexity.py). Every path reads and writes it through the one loop
in lib/core/samples.py.
SQLite in WAL mode, one commit per sample: a kill -9 loses at most the sample in flight, and several
processes (parallel partitions) can write at once without the warehouse's single-writer limit.

In a shared (remote) artifact store SQLite cannot be shared (its locks need one machine's filesystem):
the file stays in this machine's mirror, and each sample is also an object of the store, at
<cache folder>/samples/<key[:2]>/<key>.json beside the file, content-addressed by its key. A miss here
reads the store before it counts as a miss, so a sample computed on any machine is computed once.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from .store import store_for


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
        self._store = store_for(self.path)  # None: a folder store, the SQLite file is all there is
        if self._store is not None:
            self._objects = self.path.parent.resolve().relative_to(self._store.root).as_posix() + "/samples"

    def get(self, key: str) -> dict | None:
        row = self._con.execute("select value from samples where key = ?", (key,)).fetchone()
        if row is None and self._store is not None:
            blob = self._store.read_object(f"{self._objects}/{key[:2]}/{key}.json")
            if blob is not None:
                row = (blob.decode(),)
                self._con.execute("insert or replace into samples (key, value) values (?, ?)", (key, row[0]))
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        blob = json.dumps(value)
        self._con.execute("insert or replace into samples (key, value) values (?, ?)", (key, blob))
        if self._store is not None:
            self._store.write_object(f"{self._objects}/{key[:2]}/{key}.json", blob.encode())

    def close(self) -> None:
        self._con.close()
