"""What changed since the automation last looked: catalog entries, dropped files, hub revisions, the
engine build. Pure decisions (no Dagster): the sensors in defs/catalog/automation.py turn a plan into
partition requests and run requests, and store `WatchState` as their cursor.

A variant is (re-)evaluated when
- its partition does not exist yet (a new model, a new rung in a ladder, a GGUF dropped into the
  incoming folder);
- what determines its results changed: the entry's source, base quant or engine, or the bytes of a
  local file under the same name. Notes, licence, family or a longer ladder do not re-run the rungs
  already built: a new rung is a new partition, and a re-run would only cost a re-quantization;
- the tracked branch of its hub repo moved;
- the engine build changed (the per-sample cache is keyed by build, so this really recomputes).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..catalog.entries import Catalog, HfSource, LocalSource, ModelEntry

# Run reasons, also the value of the run tag "quantbench/trigger".
NEW_VARIANT = "new_variant"
ENTRY_CHANGED = "catalog_entry_changed"
HUB_REVISION = "hub_revision"
ENGINE_BUILD = "engine_build"


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_stamp(path: Path) -> str | None:
    """Size and mtime: enough to notice a file replaced under the same name, without hashing GBs."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def entry_fingerprint(entry: ModelEntry) -> str:
    """Hash of the fields a rung's results depend on (see the module docstring)."""
    parts = {"source": entry.source.model_dump(mode="json"), "base_quant": entry.base_quant, "engine": entry.engine}
    if isinstance(entry.source, LocalSource):
        parts["file"] = file_stamp(Path(entry.source.path))
    return _digest(parts)


def incoming_files(folder: Path) -> dict[str, str]:
    folder = Path(folder)
    if not folder.exists():
        return {}
    return {f.name: file_stamp(f) or "" for f in sorted(folder.glob("*.gguf"))}


@dataclass
class WatchState:
    """The new-model sensor's cursor (JSON)."""

    entries: dict[str, str] = field(default_factory=dict)    # model -> entry_fingerprint
    variants: list[str] = field(default_factory=list)        # variant keys already handled
    revisions: dict[str, str] = field(default_factory=dict)  # model -> commit of its tracked branch
    incoming: dict[str, str] = field(default_factory=dict)   # dropped file name -> file_stamp
    generation: int = 0  # bumped whenever runs are requested; part of every run key

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "WatchState":
        """An empty or unreadable cursor starts afresh: existing partitions are then only recorded,
        never re-run, so a reset cursor cannot trigger a re-evaluation of the whole catalog."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            return cls(entries=dict(raw.get("entries", {})), variants=list(raw.get("variants", [])),
                       revisions=dict(raw.get("revisions", {})), incoming=dict(raw.get("incoming", {})),
                       generation=int(raw.get("generation", 0)))
        except (ValueError, TypeError, AttributeError):
            return cls()


@dataclass(frozen=True)
class VariantRun:
    variant: str
    reason: str
    run_key: str


@dataclass
class WatchPlan:
    new_models: list[str]
    new_variants: list[str]
    runs: list[VariantRun]
    moved_revisions: dict[str, tuple[str, str]]  # model -> (previous, current)
    state: WatchState
    notes: list[str]


def tracked(catalog: Catalog) -> list[ModelEntry]:
    return [m for m in catalog.models if isinstance(m.source, HfSource) and m.source.track_branch]


def poll_revisions(catalog: Catalog, previous: dict[str, str],
                   lookup: Callable[[str, str], str]) -> tuple[dict[str, str], list[str]]:
    """Current commit of each tracked entry's branch. A hub that cannot be asked keeps the previous
    value (so nothing re-runs) and yields a note: one unreachable repo must not stop the sensor."""
    revisions, notes = {}, []
    for m in tracked(catalog):
        src = m.source
        try:
            revisions[m.name] = lookup(src.repo_id, src.track_branch)
        except Exception as e:  # lib.hub.HubError, already redacted; anything else is reported the same way
            notes.append(f"{m.name}: could not poll {src.repo_id}@{src.track_branch}: {e}")
            if m.name in previous:
                revisions[m.name] = previous[m.name]
    return revisions, notes


def plan_changes(catalog: Catalog, previous: WatchState, *, known_models: Iterable[str],
                 known_variants: Iterable[str], revisions: dict[str, str],
                 incoming: dict[str, str] | None = None) -> WatchPlan:
    known_models, known_variants = set(known_models), set(known_variants)
    # A rung is new when this sensor has not handled it yet (per the cursor), not merely when its
    # partition is missing: a tick that added partitions but whose runs or cursor were lost is then
    # retried with the same plan and run keys. Without a cursor, existing partitions count as handled.
    handled = set(previous.variants) if previous.entries else known_variants
    generation = previous.generation + 1
    new_models, new_variants, notes = [], [], []
    moved: dict[str, tuple[str, str]] = {}
    reasons: dict[str, str] = {}  # variant -> first reason found
    for m in catalog.models:
        if m.name not in known_models:
            new_models.append(m.name)
        for key in m.partition_keys():
            if key not in known_variants:
                new_variants.append(key)
            if key not in handled:
                reasons.setdefault(key, NEW_VARIANT)
        before = previous.entries.get(m.name)
        if before is not None and before != entry_fingerprint(m):
            for key in m.partition_keys():
                reasons.setdefault(key, ENTRY_CHANGED)
        old_rev, new_rev = previous.revisions.get(m.name), revisions.get(m.name)
        if old_rev and new_rev and old_rev != new_rev:
            moved[m.name] = (old_rev, new_rev)
            for key in m.partition_keys():
                reasons.setdefault(key, HUB_REVISION)
            if new_rev != m.source.revision:
                notes.append(f"{m.name}: {m.source.repo_id}@{m.source.track_branch} moved to {new_rev}; the catalog "
                             f"still pins {m.source.revision} (update revision and sha256 to evaluate the new file)")
    gone = sorted(set(previous.entries) - {m.name for m in catalog.models})
    if gone:
        notes.append(f"left the catalog (partitions kept, nothing re-run): {gone}")
    now_incoming = incoming or {}
    dropped = sorted(n for n, stamp in now_incoming.items() if previous.incoming.get(n) != stamp)
    if dropped:
        notes.append(f"new or replaced files in the incoming folder: {dropped}")
    runs = [VariantRun(key, reason, f"{key}@g{generation}") for key, reason in reasons.items()]
    state = WatchState(
        entries={m.name: entry_fingerprint(m) for m in catalog.models},
        variants=sorted(set(previous.variants) | set(catalog.partition_keys())),
        revisions=dict(revisions), incoming=dict(now_incoming),
        generation=generation if runs else previous.generation,
    )
    return WatchPlan(new_models, new_variants, runs, moved, state, notes)


def live_variants(existing: Iterable[str], catalog: Catalog) -> list[str]:
    """Existing partitions whose model and rung are still in the catalog (others cannot be rebuilt)."""
    wanted = set(catalog.partition_keys())
    return [k for k in existing if k in wanted]


def plan_engine_rebuild(previous_build: str | None, build: str, variants: Iterable[str]) -> list[VariantRun]:
    """Every live variant again when the engine build changed; nothing on the first look (no baseline)."""
    if previous_build is None or previous_build == build:
        return []
    # Both builds in the key: going back to an earlier build (a downgrade) still gets its own runs.
    tag = f"{_digest(previous_build)[:8]}-{_digest(build)[:8]}"
    return [VariantRun(k, ENGINE_BUILD, f"{k}@build-{tag}") for k in variants]
