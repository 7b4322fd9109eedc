"""Content-addressed artifact store: a file lives at gguf/<sha[:2]>/<sha>.gguf, so identical rungs are
stored once and a half-written file never looks valid (it is written as *.partial, then renamed)."""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


class ChecksumError(ValueError):
    pass


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    path: Path
    size_bytes: int


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

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
        p = self.path_for(sha256)
        return StoredFile(sha256, p, p.stat().st_size) if p.exists() else None

    def partial_path(self, hint: str = "file") -> Path:
        """A temporary name inside the store (same filesystem, so the final rename is atomic)."""
        return self.subdir("tmp") / f"{hint}.{uuid.uuid4().hex[:8]}.partial"

    def ingest(self, src: Path, expected_sha256: str | None = None, *, what: str = "", move: bool = False) -> StoredFile:
        """Verify `src` and place it in the store. A checksum mismatch stores nothing."""
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
        return StoredFile(actual, dest, dest.stat().st_size)
