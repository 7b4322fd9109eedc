"""The hub code path (acquire_base's hf source, hub.current_revision) against a real HTTP server that speaks
the Hub protocol (quantbench_tests/hubserver.py), with huggingface-hub itself unmocked."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest

from quantbench_assets.lib.catalog.acquire import AcquireError, acquire_base
from quantbench_assets.lib.catalog.entries import HfSource, ModelEntry
from quantbench_assets.lib.gguf.info import read_gguf
from quantbench_assets.lib.catalog.hub import HubError, current_revision
from quantbench_assets.lib.core.store import ArtifactStore, ChecksumError
from quantbench_tests.hubserver import HubServer, point_huggingface_hub_at, refresh_huggingface_hub_constants

REPO = "quantbench-test/tiny-llama-gguf"
FILE = "tiny-llama-F32.gguf"
SECRET = "hf_secretvalue123456"

pytestmark = pytest.mark.timeout(60)


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A small but valid GGUF: llama architecture key, a name and one 4x8 F32 tensor."""
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"tiny-llama-{seed}")
    w.add_context_length(32)
    w.add_tensor("token_embd.weight", (np.arange(32, dtype=np.float32) + seed).reshape(4, 8))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hf_entry(revision: str, sha256: str, filename: str = FILE, repo_id: str = REPO) -> ModelEntry:
    return ModelEntry(
        name="tiny-llama", family="test", parameters=32, base_quant="F32",
        source=HfSource(kind="hf", repo_id=repo_id, filename=filename, revision=revision, sha256=sha256),
    )


@pytest.fixture
def start_hub(monkeypatch, tmp_path):
    """Start a HubServer (keyword arguments as HubServer's) and point huggingface_hub at it, online,
    with its home and cache under tmp_path; everything is stopped and restored afterwards."""
    servers = []

    def start(**kwargs) -> HubServer:
        hub = HubServer(**kwargs).start()
        servers.append(hub)
        point_huggingface_hub_at(hub.url, tmp_path / "hf-home", monkeypatch)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        return hub

    yield start
    for hub in servers:
        hub.stop()


@pytest.fixture
def gguf_v1(tmp_path) -> Path:
    return write_tiny_gguf(tmp_path / "v1.gguf", seed=0)


@pytest.fixture
def gguf_v2(tmp_path) -> Path:
    return write_tiny_gguf(tmp_path / "v2.gguf", seed=1)


def test_a_model_downloads_from_the_hub_at_a_pinned_revision_and_is_stored_by_sha256(start_hub, gguf_v1, gguf_v2,
                                                                                     tmp_path):
    hub = start_hub()
    pinned = hub.publish(REPO, {FILE: gguf_v1, "README.md": b"# tiny\n"})
    hub.publish(REPO, {FILE: gguf_v2})  # main moves on; the pin must still get v1
    expected = sha256_of(gguf_v1)
    store = ArtifactStore(tmp_path / "artifacts")

    stored = acquire_base(hf_entry(pinned, expected), store)

    assert stored.sha256 == expected
    assert stored.path == store.path_for(expected) and stored.path.read_bytes() == gguf_v1.read_bytes()
    assert read_gguf(stored.path).architecture == "llama"
    resolved = [r for r in hub.requests if "/resolve/" in r.path]
    assert [(r.method, r.status) for r in resolved] == [("HEAD", 200), ("GET", 200)]
    assert all(f"/{REPO}/resolve/{pinned}/{FILE}" == r.path for r in resolved)

    seen = len(hub.requests)
    assert acquire_base(hf_entry(pinned, expected), store) == stored  # from the store, no hub traffic
    assert len(hub.requests) == seen


def test_a_wrong_sha256_from_the_hub_stores_nothing_and_says_so(start_hub, gguf_v1, tmp_path):
    hub = start_hub()
    sha = hub.publish(REPO, {FILE: gguf_v1})
    actual = sha256_of(gguf_v1)
    wrong = "0" * 64
    store = ArtifactStore(tmp_path / "artifacts")

    with pytest.raises(ChecksumError) as err:
        acquire_base(hf_entry(sha, wrong), store)

    msg = str(err.value)
    assert "sha256 mismatch" in msg and "nothing was stored" in msg
    assert wrong in msg and actual in msg and "tiny-llama" in msg
    assert store.get(actual) is None and store.get(wrong) is None
    assert not list((tmp_path / "artifacts" / "gguf").rglob("*.gguf"))


def test_a_new_revision_on_the_hub_is_seen_by_current_revision(start_hub, gguf_v1, gguf_v2):
    hub = start_hub()
    first = hub.publish(REPO, {FILE: gguf_v1})
    assert current_revision(REPO, endpoint=hub.url) == first
    assert current_revision(REPO) == first  # HF_ENDPOINT, read at call time

    second = hub.publish(REPO, {FILE: gguf_v2})
    assert second != first
    assert current_revision(REPO) == second

    dev = hub.publish(REPO, {"notes.txt": b"wip"}, branch="dev")
    assert current_revision(REPO, branch="dev") == dev
    assert current_revision(REPO) == second  # another branch moving does not move main
    assert len(hub.requests_to(f"/api/models/{REPO}/revision/main")) == 4

    with pytest.raises(HubError, match=r"no-such-branch.*RevisionNotFoundError"):
        current_revision(REPO, branch="no-such-branch")


def test_the_hub_token_is_sent_but_never_appears_in_errors_or_logs(start_hub, gguf_v1, tmp_path, monkeypatch,
                                                                     caplog, capfd):
    hub = start_hub(token=SECRET)
    sha = hub.publish(REPO, {FILE: gguf_v1})
    expected = sha256_of(gguf_v1)
    # HF_DEBUG makes huggingface_hub log every request as a curl command: the most a log could leak.
    monkeypatch.setenv("HF_DEBUG", "1")
    refresh_huggingface_hub_constants(monkeypatch)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")

    monkeypatch.setenv("HF_TOKEN", SECRET)
    stored = acquire_base(hf_entry(sha, expected), ArtifactStore(tmp_path / "a1"))
    assert stored.sha256 == expected
    assert current_revision(REPO) == sha
    assert hub.requests and all(r.has_auth and r.status == 200 for r in hub.requests)

    errors = []
    # Right token, failing request (the file is not there).
    with pytest.raises(AcquireError) as e:
        acquire_base(hf_entry(sha, expected, filename="missing.gguf"), ArtifactStore(tmp_path / "a2"))
    errors.append(e.value)
    # A wrong token is refused; neither it nor the right one may show.
    monkeypatch.setenv("HF_TOKEN", "hf_wrongvalue987654")
    with pytest.raises(AcquireError, match="401") as e:
        acquire_base(hf_entry(sha, expected), ArtifactStore(tmp_path / "a3"))
    errors.append(e.value)
    with pytest.raises(HubError, match="401") as e:
        current_revision(REPO)
    errors.append(e.value)
    # No token at all: the gated answer says so.
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(AcquireError, match="GatedRepoError") as e:
        acquire_base(hf_entry(sha, expected), ArtifactStore(tmp_path / "a4"))
    errors.append(e.value)

    assert [r.status for r in hub.requests if r.status == 401] and not hub.requests[-1].has_auth
    out, err = capfd.readouterr()
    texts = [caplog.text, out, err, repr(hub.requests)]
    texts += [str(x) for x in errors] + [repr(x) for x in errors] + [repr(x.__cause__) for x in errors]
    assert "<TOKEN>" in caplog.text  # the debug log did show the authorization header, masked
    for text in texts:
        assert SECRET not in text and "secretvalue" not in text
        assert "wrongvalue987654" not in text


def test_a_missing_file_on_the_hub_fails_with_a_clear_error(start_hub, gguf_v1, tmp_path):
    hub = start_hub()
    sha = hub.publish(REPO, {FILE: gguf_v1})
    store = ArtifactStore(tmp_path / "artifacts")

    with pytest.raises(AcquireError) as err:
        acquire_base(hf_entry(sha, sha256_of(gguf_v1), filename="not-there.gguf"), store)

    msg = str(err.value)
    assert f"{REPO}/not-there.gguf@{sha}" in msg
    assert "RemoteEntryNotFoundError" in msg and "404" in msg and "Entry not found" in msg
    assert not (tmp_path / "artifacts" / "gguf").exists()
    assert hub.requests[-1].status == 404 and hub.requests[-1].method == "HEAD"  # no retry storm
