"""A small Hugging Face Hub-compatible HTTP server for tests, on 127.0.0.1 and an ephemeral port.

It speaks the part of the Hub protocol that huggingface-hub 2.4 uses to download one file and to read
which commit a branch points at, so the real client code runs unmocked against it:

    HEAD|GET /{ns}/{name}/resolve/{revision}/{path}   hf_hub_download (get_hf_file_metadata, then http_get)
    GET      /api/models/{ns}/{name}                  HfApi.model_info() (default branch)
    GET      /api/models/{ns}/{name}/revision/{rev}   HfApi.model_info(revision=...)
    GET      /api/models/{ns}/{name}/refs             HfApi.list_repo_refs()

and, for dataset repos (publish(..., repo_type="dataset")), what `datasets.load_dataset("ns/name")` uses:

    HEAD|GET /datasets/{ns}/{name}/resolve/{revision}/{path}     file downloads
    GET      /api/datasets/{ns}/{name}[/revision/{rev}]          HfApi.dataset_info() / repo_info()
    GET      /api/datasets/{ns}/{name}/tree/{rev}[/{path}]       HfApi.list_repo_tree() (HfFileSystem globs)
    POST     /api/datasets/{ns}/{name}/paths-info/{rev}          HfApi.get_paths_info() (HfFileSystem.info)

Protocol points taken from huggingface_hub/file_download.py and utils/_http.py (2.4):
- the metadata HEAD must carry X-Repo-Commit (else FileMetadataError) and an ETag (used as the blob name
  in the cache); Content-Length is the expected size that http_get checks the body against. Every file is
  answered directly with 200 (no redirect): a same-origin redirect would be followed and the final response
  would then need the same headers anyway, and there is no CDN here to hand off to.
- errors are told apart by the X-Error-Code header (RepoNotFound, RevisionNotFound, EntryNotFound,
  GatedRepo); a 401 whose X-Error-Message is "Invalid credentials in Authorization header" is a bad token.
  4xx answers are final: the client retries only on 408/429/5xx and network errors, which this server
  never produces on purpose, so failures come back at once.
- GET honours a single "Range: bytes=a-b" (http_get sends one when it resumes after a dropped connection).

Repos are named "namespace/name"; a model route never serves a dataset repo and vice versa, as on the
Hub. The dataset viewer's API (datasets-server.<host>) is not served: datasets treats it as absent. Files are bytes or paths on disk; a path is hashed
when published and read at request time, so do not change it afterwards.

    with HubServer(token="hf_...") as hub:
        sha = hub.publish("org/tiny", {"tiny.gguf": path})
        point_huggingface_hub_at(hub.url, tmp_path / "hf-home", monkeypatch)
"""
from __future__ import annotations

import hashlib
import hmac
import importlib.util
import itertools
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping, Union
from urllib.parse import unquote, urlsplit

FileData = Union[bytes, str, os.PathLike]
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str        # path and query as sent (the Hub protocol puts no secrets in URLs)
    has_auth: bool   # whether an Authorization header came with it; its value is never kept
    status: int


@dataclass(frozen=True)
class _Blob:
    sha256: str
    size: int
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def of(cls, value: FileData) -> "_Blob":
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)
            return cls(hashlib.sha256(data).hexdigest(), len(data), data=data)
        path = Path(value).resolve()
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
        return cls(h.hexdigest(), path.stat().st_size, path=path)

    def chunks(self, start: int, end: int):
        """Bytes [start, end) in chunks, read lazily so a large file is never held in memory."""
        if self.data is not None:
            yield self.data[start:end]
            return
        with open(self.path, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                block = f.read(min(_CHUNK, left))
                if not block:
                    return
                left -= len(block)
                yield block


@dataclass(frozen=True)
class _Commit:
    sha: str
    files: dict[str, _Blob]
    created: datetime


class HubServer:
    """A Hub lookalike in a background thread. `url` is what HF_ENDPOINT / endpoint= should be set to.

    repos: {repo_id: {commit_sha: {filename: bytes | path}}} loaded as-is;
    refs:  {repo_id: {branch_or_tag: commit_sha}} ("main" is a branch, other names listed in `tags` are tags).
    token: if set, every request must carry `Authorization: Bearer <token>` (401 otherwise), as for a gated
    repo. It is compared in constant time and never logged.
    """

    def __init__(
        self,
        repos: Mapping[str, Mapping[str, Mapping[str, FileData]]] | None = None,
        refs: Mapping[str, Mapping[str, str]] | None = None,
        *,
        tags: Mapping[str, set[str]] | None = None,
        token: str | None = None,
    ):
        self.token = token
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._commits: dict[str, dict[str, _Commit]] = {}
        self._branches: dict[str, dict[str, str]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._datasets: set[str] = set()  # repo ids published as dataset repos
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for repo_id, commits in (repos or {}).items():
            for sha, files in commits.items():
                self.add_commit(repo_id, sha, files)
        for repo_id, names in (refs or {}).items():
            for name, sha in names.items():
                self.set_ref(repo_id, name, sha, tag=name in (tags or {}).get(repo_id, set()))

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "HubServer":
        if self._httpd is None:
            self._httpd = _Server(("127.0.0.1", 0), _Handler)
            self._httpd.hub = self
            # Short poll so stop() returns at once instead of after the default 0.5 s.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                name="hubserver", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started (use `with HubServer() as hub:`)")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---- content -----------------------------------------------------------------------------------
    def add_commit(self, repo_id: str, sha: str, files: Mapping[str, FileData]) -> str:
        _check_repo_id(repo_id)
        if not _SHA1_RE.match(sha):
            raise ValueError(f"commit sha must be 40 lowercase hex digits, got {sha!r}")
        commit = _Commit(sha, {name: _Blob.of(v) for name, v in files.items()}, datetime.now(timezone.utc))
        with self._lock:
            self._commits.setdefault(repo_id, {})[sha] = commit
            self._branches.setdefault(repo_id, {})
            self._tags.setdefault(repo_id, {})
        return sha

    def set_ref(self, repo_id: str, name: str, sha: str, *, tag: bool = False) -> None:
        with self._lock:
            if sha not in self._commits.get(repo_id, {}):
                raise KeyError(f"{repo_id} has no commit {sha}")
            (self._tags if tag else self._branches)[repo_id][name] = sha

    def publish(self, repo_id: str, files: Mapping[str, FileData], branch: str = "main", *,
                replace: bool = False, repo_type: str = "model") -> str:
        """Commit `files` on top of `branch` (like an upload: other files stay unless replace=True),
        move the branch to the new commit and return its sha. repo_type: "model" or "dataset"."""
        _check_repo_id(repo_id)
        if repo_type not in ("model", "dataset"):
            raise ValueError(f"repo_type must be 'model' or 'dataset', got {repo_type!r}")
        blobs = {name: _Blob.of(v) for name, v in files.items()}  # hash outside the lock
        with self._lock:
            parent_sha = self._branches.get(repo_id, {}).get(branch)
            parent = self._commits.get(repo_id, {}).get(parent_sha) if parent_sha else None
            tree = {} if replace or parent is None else dict(parent.files)
            tree.update(blobs)
            seed = [repo_id, branch, parent_sha or "", str(next(self._counter))]
            seed += [f"{n}:{b.sha256}" for n, b in sorted(tree.items())]
            sha = hashlib.sha1("\n".join(seed).encode()).hexdigest()
            self._commits.setdefault(repo_id, {})[sha] = _Commit(sha, tree, datetime.now(timezone.utc))
            self._branches.setdefault(repo_id, {})[branch] = sha
            self._tags.setdefault(repo_id, {})
            if repo_type == "dataset":
                self._datasets.add(repo_id)
        return sha

    def head(self, repo_id: str, branch: str = "main") -> str:
        with self._lock:
            return self._branches[repo_id][branch]

    def requests_to(self, fragment: str) -> list[LoggedRequest]:
        return [r for r in list(self.requests) if fragment in r.path]

    # ---- lookups used by the handler (under the lock) -----------------------------------------------
    def _resolve(self, repo_id: str, revision: str) -> _Commit | None:
        commits = self._commits[repo_id]
        ref = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
        sha = self._branches[repo_id].get(ref) or self._tags[repo_id].get(ref)
        if sha is None and revision in commits:
            sha = revision
        return commits.get(sha) if sha else None

    def _auth_error(self, header: str | None) -> tuple[int, dict[str, str], str] | None:
        if self.token is None:
            return None
        if header is None:
            return 401, {"X-Error-Code": "GatedRepo"}, (
                "Access to this model is restricted. You must have access to it and be authenticated to access it.")
        if not hmac.compare_digest(header.encode(), f"Bearer {self.token}".encode()):
            return 401, {}, "Invalid credentials in Authorization header"
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so shutdown never waits on a client's idle keep-alive socket.
    protocol_version = "HTTP/1.0"
    server_version = "quantbench-hubserver/1"

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_POST(self) -> None:
        self._handle(head=False)

    def log_message(self, format: str, *args) -> None:
        pass  # the structured request log replaces stderr lines

    # ---- dispatch ------------------------------------------------------------------------------------
    def _handle(self, head: bool) -> None:
        self._logged = False
        try:
            self._route(self.server.hub, head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away mid-body (e.g. a resumed download); nothing to answer
        finally:
            if not self._logged:  # a bug in this server: keep a trace of the request anyway
                self._log(500)

    def _log(self, status: int) -> None:
        # Logged as the status line goes out, i.e. before the client can see the answer, so a test that
        # reads the log right after the client call returns never races the handler thread.
        self._logged = True
        self.server.hub.requests.append(
            LoggedRequest(self.command, self.path, "Authorization" in self.headers, status))

    def _route(self, hub: HubServer, head: bool) -> int:
        # Split before unquoting: a revision is quoted with safe="" ("refs%2Fpr%2F1" is one segment).
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("models", "datasets"):
            kind = parts[1][:-1]
            repo_id, rest = "/".join(parts[2:4]), parts[4:]
            if self.command == "POST":
                if kind == "dataset" and len(rest) == 2 and rest[0] == "paths-info":
                    return self._paths_info(hub, repo_id, rest[1])
            elif not rest:
                return self._api(hub, head, repo_id, "info", "main", kind)
            elif len(rest) == 2 and rest[0] == "revision":
                return self._api(hub, head, repo_id, "info", rest[1], kind)
            elif rest == ["refs"]:
                return self._api(hub, head, repo_id, "refs", None, kind)
            elif kind == "dataset" and len(rest) >= 2 and rest[0] == "tree":
                return self._tree(hub, head, repo_id, rest[1], "/".join(rest[2:]))
        elif self.command != "POST" and len(parts) >= 6 and parts[0] == "datasets" and parts[3] == "resolve":
            return self._resolve_file(hub, head, "/".join(parts[1:3]), parts[4], "/".join(parts[5:]), "dataset")
        elif self.command != "POST" and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve_file(hub, head, "/".join(parts[:2]), parts[3], "/".join(parts[4:]), "model")
        return self._error(head, 404, {}, f"Not Found: {self.command} {urlsplit(self.path).path}")

    def _check(self, hub: HubServer, repo_id: str, kind: str = "model") -> tuple[int, dict[str, str], str] | None:
        denied = hub._auth_error(self.headers.get("Authorization"))
        if denied:
            return denied
        if repo_id not in hub._commits or (repo_id in hub._datasets) != (kind == "dataset"):
            return 404, {"X-Error-Code": "RepoNotFound"}, "Repository not found"
        return None

    def _api(self, hub: HubServer, head: bool, repo_id: str, what: str, revision: str | None,
             kind: str = "model") -> int:
        with hub._lock:
            problem = self._check(hub, repo_id, kind)
            if problem:
                return self._error(head, *problem)
            if what == "refs":
                def ref(name, sha, kind):
                    return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}
                body = {
                    "branches": [ref(n, s, "heads") for n, s in sorted(hub._branches[repo_id].items())],
                    "tags": [ref(n, s, "tags") for n, s in sorted(hub._tags[repo_id].items())],
                    "converts": [],
                }
            else:
                commit = hub._resolve(repo_id, revision)
                if commit is None:
                    return self._error(head, 404, {"X-Error-Code": "RevisionNotFound"}, f"Invalid rev id: {revision}")
                body = {
                    "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                    "id": repo_id, "author": repo_id.split("/")[0],
                    "sha": commit.sha,
                    "lastModified": commit.created.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "private": False, "disabled": False,
                    "gated": "manual" if hub.token else False,
                    "siblings": [{"rfilename": name} for name in sorted(commit.files)],
                }
                body.update({"modelId": repo_id, "tags": ["gguf"], "library_name": "gguf"} if kind == "model"
                            else {"tags": [], "downloads": 0, "likes": 0})
        return self._json(head, body)

    def _commit_or_error(self, hub: HubServer, head: bool, repo_id: str, revision: str, kind: str) -> _Commit | int:
        """The commit a revision names, or the status of the error answered instead."""
        with hub._lock:
            problem = self._check(hub, repo_id, kind)
            commit = None if problem else hub._resolve(repo_id, revision)
        if problem:
            return self._error(head, *problem)
        if commit is None:
            return self._error(head, 404, {"X-Error-Code": "RevisionNotFound"}, f"Invalid rev id: {revision}")
        return commit

    def _entries(self, commit: _Commit) -> dict[str, dict]:
        """Every file and folder of a commit as the tree API lists them, by path."""
        out = {}
        for name, blob in commit.files.items():
            out[name] = {"type": "file", "path": name, "size": blob.size,
                         "oid": hashlib.sha1(blob.sha256.encode()).hexdigest()}
            folder = name
            while "/" in folder:
                folder = folder.rsplit("/", 1)[0]
                out[folder] = {"type": "directory", "path": folder, "size": 0,
                               "oid": hashlib.sha1(folder.encode()).hexdigest()}
        return out

    def _tree(self, hub: HubServer, head: bool, repo_id: str, revision: str, path: str) -> int:
        recursive = "recursive=true" in (urlsplit(self.path).query or "").lower()
        commit = self._commit_or_error(hub, head, repo_id, revision, "dataset")
        if isinstance(commit, int):
            return commit
        entries = self._entries(commit)
        path = path.strip("/")
        if path and entries.get(path, {}).get("type") != "directory":
            return self._error(head, 404, {"X-Error-Code": "EntryNotFound"}, f"Entry not found: {path}")
        prefix = f"{path}/" if path else ""
        listed = [e for p, e in sorted(entries.items())
                  if p.startswith(prefix) and (recursive or "/" not in p[len(prefix):])]
        return self._json(head, listed)

    def _paths_info(self, hub: HubServer, repo_id: str, revision: str) -> int:
        from urllib.parse import parse_qs

        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        commit = self._commit_or_error(hub, False, repo_id, revision, "dataset")
        if isinstance(commit, int):
            return commit
        entries = self._entries(commit)
        return self._json(False, [entries[p.strip("/")] for p in form.get("paths", []) if p.strip("/") in entries])

    def _json(self, head: bool, body) -> int:
        payload = json.dumps(body).encode()
        self._start(200, {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(payload))})
        if not head:
            self.wfile.write(payload)
        return 200

    def _resolve_file(self, hub: HubServer, head: bool, repo_id: str, revision: str, filename: str,
                      kind: str = "model") -> int:
        commit = self._commit_or_error(hub, head, repo_id, revision, kind)
        if isinstance(commit, int):
            return commit
        with hub._lock:
            blob = commit.files.get(filename)
            if blob is None:
                # The Hub names the commit on a missing entry too; the client caches the absence under it.
                return self._error(head, 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit.sha},
                                   f"Entry not found: {filename}")
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{blob.sha256}"',  # the Hub's ETag of an LFS file is its sha256; the client names the blob by it
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        start, end, status = 0, blob.size, 200
        rng = self.headers.get("Range")
        if rng and not head:
            parsed = _parse_range(rng, blob.size)
            if parsed is None:
                headers["Content-Range"] = f"bytes */{blob.size}"
                return self._error(head, 416, headers, f"Range not satisfiable: {rng}")
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{blob.size}"
        headers["Content-Length"] = str(end - start)
        self._start(status, headers)
        if not head:
            for block in blob.chunks(start, end):
                self.wfile.write(block)
        return status

    # ---- responses -----------------------------------------------------------------------------------
    def _start(self, status: int, headers: dict[str, str]) -> None:
        self._log(status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _error(self, head: bool, status: int, headers: dict[str, str], message: str) -> int:
        payload = json.dumps({"error": message}).encode()
        self._start(status, {**headers, "X-Error-Message": message, "Content-Type": "application/json",
                             "Content-Length": str(len(payload))})
        if not head:
            self.wfile.write(payload)
        return status


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """'bytes=a-b' / 'bytes=a-' / 'bytes=-n' -> [start, end) or None if unsatisfiable or not a single range."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (m[1] == "" and m[2] == ""):
        return None
    if m[1] == "":
        start, end = max(size - int(m[2]), 0), size
    else:
        start = int(m[1])
        end = min(int(m[2]) + 1, size) if m[2] else size
    return (start, end) if start < end else None


def _check_repo_id(repo_id: str) -> None:
    if not re.fullmatch(r"[\w.\-]+/[\w.\-]+", repo_id):
        raise ValueError(f"repo_id must be 'namespace/name', got {repo_id!r}")


# ---- pointing huggingface_hub at the server, in this process -----------------------------------------

def point_huggingface_hub_at(endpoint: str, home: Path, monkeypatch) -> None:
    """Make huggingface_hub in *this* process talk to `endpoint`, online, with all state under `home`.

    huggingface_hub reads its environment once, at import, into `huggingface_hub.constants` (ENDPOINT,
    HUGGINGFACE_CO_URL_TEMPLATE, HF_HUB_OFFLINE, timeouts, cache and token paths). The supported way to
    change the endpoint afterwards is the `endpoint=` argument (HfApi(endpoint=...), hf_hub_download(
    endpoint=...)); quantbench_assets.lib.catalog.hub uses it. Code that relies on HF_ENDPOINT alone (acquire.py's
    hf_hub_download call today) only sees a value set before import, and the server's port is known only
    once it runs. So: set the environment (for subprocesses and anything reading it at call time), then
    re-derive the constants module from that environment exactly as an import would, and patch the values
    that differ through `monkeypatch`, which restores them at teardown. Patching constants.ENDPOINT and
    HUGGINGFACE_CO_URL_TEMPLATE is also what huggingface_hub's own test-suite does.
    """
    # Import first, under the real environment: a first import while the variables below are set would
    # bake them in as the "original" values (and into import-time tables such as the trusted Hub
    # origins), which monkeypatch could then not restore.
    import huggingface_hub.file_download  # noqa: F401
    import huggingface_hub.hf_api  # noqa: F401

    home = Path(home)
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),  # no login file from the real home leaks in
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",       # else the user-agent probe fetches /api/agent-harnesses
        "HF_HUB_DISABLE_XET": "1",             # this server never offers Xet; keep to plain HTTP
        "HF_HUB_ETAG_TIMEOUT": "5",            # fail fast if something hangs (the server answers at once)
        "HF_HUB_DOWNLOAD_TIMEOUT": "5",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_CACHE", "HUGGINGFACE_ASSETS_CACHE",
              "HUGGINGFACE_CO_STAGING", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(k, raising=False)
    refresh_huggingface_hub_constants(monkeypatch)


def refresh_huggingface_hub_constants(monkeypatch) -> None:
    """Recompute huggingface_hub.constants from the current environment and patch what changed."""
    import huggingface_hub.constants as live

    spec = importlib.util.spec_from_file_location("_hf_constants_probe", live.__file__)
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    for name, value in vars(fresh).items():
        if name.isupper() and hasattr(live, name) and getattr(live, name) != value:
            monkeypatch.setattr(live, name, value)


def point_datasets_at(endpoint: str, home: Path, monkeypatch) -> None:
    """Make `datasets` (and lm-eval's dataset loading through it) read from `endpoint`, online, with its
    cache under `home`. Call after point_huggingface_hub_at: datasets also reads its environment once,
    at import, into `datasets.config`."""
    import datasets.config as cfg

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(Path(home) / "datasets"))
    monkeypatch.setattr(cfg, "HF_ENDPOINT", endpoint)
    monkeypatch.setattr(cfg, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(cfg, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(cfg, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(cfg, "HF_DATASETS_CACHE", Path(home) / "datasets")
