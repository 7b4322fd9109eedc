"""Content-addressed artifact store: a file lives at gguf/<sha[:2]>/<sha>.gguf, so identical rungs are
stored once and a half-written file never looks valid (it is written as *.partial, then renamed).

Where the store is: a folder (a plain path or a file:// URL, the default: everything as before) or any
fsspec URL (s3://bucket/prefix, gs://..., memory://... in tests). A remote store is shared by every
machine and keeps a local mirror of it (QUANTBENCH_ARTIFACTS_CACHE/<hash of the URL>): llama.cpp maps a
GGUF from a local file, so a rung is downloaded once into the mirror, by its sha256, and verified
before it is used (an explicit download, not fsspec's filecache: the check and the content address
stay ours). What a machine writes into the mirror is published to the same relative path remotely,
uploaded under a temporary name and then moved into place, so a reader never sees half an object.
Helpers that know only a file's path (the logit and token caches, the sample cache) find the store it
belongs to through the marker file at the mirror's root (`store_for`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHUNK = 1 << 20
REMOTE_MARKER = ".quantbench-remote.json"  # at a mirror's root: the URL it mirrors


class ChecksumError(ValueError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def local_folder(location: Path | str) -> Path | None:
    """The folder a location names when it is local (a path or a file:// URL), else None."""
    if isinstance(location, Path):
        return location
    text = str(location)
    if "://" not in text:
        return Path(text).expanduser()
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"{text}: a file:// URL names a folder of this machine (file:///path)")
        return Path(unquote(parts.path))
    return None


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size_bytes: int


class ArtifactStore:
    def __init__(self, root: Path | str, cache_dir: Path | str | None = None):
        """`root`: a folder or a URL. `cache_dir`: where a remote store's local mirror lives
        (default QUANTBENCH_ARTIFACTS_CACHE, else data/artifacts-cache); unused for a folder."""
        folder = local_folder(root)
        self.url: str | None = None
        if folder is not None:
            self.root = folder.resolve()
            return
        import fsspec

        self.url = str(root).rstrip("/")
        self.fs, self._fs_root = fsspec.core.url_to_fs(self.url)
        if cache_dir is None:
            from .paths import artifacts_cache_dir

            cache_dir = artifacts_cache_dir()
        self.root = (Path(cache_dir) / hashlib.sha256(self.url.encode()).hexdigest()[:16]).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / REMOTE_MARKER
        if not marker.exists():
            marker.write_text(json.dumps({"url": self.url}))

    def _inside(self, path: Path) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root):
            raise ValueError(f"path {path} escapes the artifact folder {self.root}")
        return resolved

    def subdir(self, *parts: str) -> Path:
        d = self._inside(self.root.joinpath(*parts))
        d.mkdir(parents=True, exist_ok=True)
        return d

    def path_for(self, sha256: str, suffix: str = ".gguf") -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / "gguf" / sha256[:2] / f"{sha256}{suffix}"

    def get(self, sha256: str) -> StoredFile | None:
        """The stored file, downloaded into the mirror first when only the remote store has it."""
        p = self.path_for(sha256)
        if not p.exists() and self.url and self.fetch(p):
            actual = sha256_file(p)
            if actual != sha256:
                p.unlink(missing_ok=True)
                raise ChecksumError(f"sha256 mismatch for {self._remote(p)}: expected {sha256}, got {actual}; "
                                    "the remote object is corrupt, nothing was kept")
        return StoredFile(sha256, p, p.stat().st_size) if p.exists() else None

    def partial_path(self, hint: str = "file") -> Path:
        """A temporary name inside the store (same filesystem, so the final rename is atomic)."""
        return self.subdir("tmp") / f"{hint}.{uuid.uuid4().hex[:8]}.partial"

    def ingest(self, src: Path, expected_sha256: str | None = None, *, what: str = "", move: bool = False) -> StoredFile:
        """Verify `src` and place it in the store (and publish it, for a remote store). A checksum
        mismatch stores nothing."""
        src = Path(src)
        actual = sha256_file(src)
        if expected_sha256 and actual != expected_sha256:
            if move:
                src.unlink(missing_ok=True)
            raise ChecksumError(
                f"sha256 mismatch{' for ' + what if what else ''}: expected {expected_sha256}, "
                f"got {actual} ({src}); nothing was stored"
            )
        dest = self.path_for(actual)
        if dest.exists():
            if move:
                src.unlink(missing_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".partial")
            if move:
                os.replace(src, tmp)
            else:
                try:
                    os.link(src, tmp)  # no copy when on the same filesystem
                except OSError:
                    shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        if self.url and not self.fs.exists(self._remote(dest)):  # same name, same content: upload once
            self.publish(dest)
        return StoredFile(actual, dest, dest.stat().st_size)

    # --- the remote side; for a folder store these are no-ops ---------------------------------------
    def _remote(self, path: Path) -> str:
        return f"{self._fs_root.rstrip('/')}/{self._inside(path).relative_to(self.root).as_posix()}"

    def fetch(self, path: Path) -> bool:
        """Whether the store file at `path` (in the mirror) is there, downloading it first when only
        the remote store has it."""
        if path.exists() or not self.url:
            return path.exists()
        remote = self._remote(path)
        if not self.fs.exists(remote):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            self.fs.get_file(remote, str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def publish(self, path: Path) -> None:
        """Upload the mirror file at `path` to the remote store, replacing what is there."""
        if self.url:
            remote = self._remote(path)
            tmp = f"{remote}.{uuid.uuid4().hex[:8]}.partial"
            self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(path), tmp)
            self.fs.mv(tmp, remote)

    def read_object(self, relpath: str) -> bytes | None:
        """A small remote object (a sample cache entry) by its path under the store; None if absent."""
        remote = f"{self._fs_root.rstrip('/')}/{relpath}"
        return self.fs.cat_file(remote) if self.url and self.fs.exists(remote) else None

    def write_object(self, relpath: str, data: bytes) -> None:
        if self.url:
            remote = f"{self._fs_root.rstrip('/')}/{relpath}"
            tmp = f"{remote}.{uuid.uuid4().hex[:8]}.partial"
            self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, remote)


def store_for(path: Path) -> ArtifactStore | None:
    """The remote store whose mirror holds `path` (found by the marker at the mirror's root), else
    None: a file of a folder store, or outside any store, needs no publishing."""
    for folder in Path(path).resolve().parents:
        marker = folder / REMOTE_MARKER
        if marker.is_file():
            return ArtifactStore(json.loads(marker.read_text())["url"], cache_dir=folder.parent)
    return None


def fetch_stored(path: Path) -> bool:
    """`path.exists()`, after downloading it from the remote store whose mirror it lies in."""
    store = store_for(path)
    return store.fetch(path) if store else Path(path).exists()


def publish_stored(path: Path) -> None:
    """Upload a file just written into a remote store's mirror; nothing for a folder store."""
    store = store_for(path)
    if store:
        store.publish(path)
