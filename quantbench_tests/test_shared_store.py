"""The artifact store at a URL (lib/core/store.py): a folder or file:// URL is the store as before; any
fsspec URL (memory:// here, an object store in production) is shared by machines that each keep a local
mirror, with content addresses, sha256 checks on the way down and atomic publishing on the way up.
"Two machines" below are two stores on one URL with different mirror folders."""
import json
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest

from quantbench_assets.lib.core.cache import SampleCache
from quantbench_assets.lib.core.store import ArtifactStore, ChecksumError, sha256_file, store_for
from quantbench_assets.lib.gguf.rungs import TYPE_KEYS, read_manifest, write_manifest
from quantbench_assets.lib.measure import base_logits as bl
from quantbench_assets.lib.measure.ppl_windows import Windows


@pytest.fixture
def url():
    """A fresh bucket on fsspec's in-process memory filesystem, removed afterwards."""
    u = f"memory://qb-{uuid.uuid4().hex[:8]}/artifacts"
    yield u
    fs = fsspec.filesystem("memory")
    if fs.exists(u):
        fs.rm(u, recursive=True)


def _blob(tmp_path, data=b"GGUF" + bytes(range(256)) * 64) -> Path:
    p = tmp_path / "model.gguf"
    p.write_bytes(data)
    return p


def test_a_file_url_is_the_same_folder_store_as_a_plain_path(tmp_path):
    folder = tmp_path / "second-folder"
    by_url, by_path = ArtifactStore(folder.as_uri()), ArtifactStore(folder)
    assert by_url.url is None and by_url.root == by_path.root == folder.resolve()
    stored = by_url.ingest(_blob(tmp_path))
    assert stored.path == by_path.path_for(stored.sha256) and stored.path.is_file()
    assert by_path.get(stored.sha256) == stored
    assert store_for(stored.path) is None  # nothing to publish for a folder store


def test_a_rung_published_by_one_machine_is_fetched_and_verified_by_another(tmp_path, url):
    a = ArtifactStore(url, cache_dir=tmp_path / "machine-a")
    b = ArtifactStore(url, cache_dir=tmp_path / "machine-b")
    src = _blob(tmp_path)
    stored = a.ingest(src, sha256_file(src))
    fs = fsspec.filesystem("memory")
    remote = f"{url}/gguf/{stored.sha256[:2]}/{stored.sha256}.gguf"
    assert fs.cat_file(remote) == src.read_bytes()
    assert not [p for p in fs.find(url) if p.endswith(".partial")]
    assert b.get("0" * 64) is None
    got = b.get(stored.sha256)  # downloaded into b's mirror: a local file llama.cpp can map
    assert got.path.is_relative_to(tmp_path / "machine-b") and got.path.read_bytes() == src.read_bytes()
    assert got.size_bytes == stored.size_bytes


def test_a_corrupt_remote_object_is_refused_and_not_kept(tmp_path, url):
    a = ArtifactStore(url, cache_dir=tmp_path / "a")
    stored = a.ingest(_blob(tmp_path))
    fsspec.filesystem("memory").pipe_file(f"{url}/gguf/{stored.sha256[:2]}/{stored.sha256}.gguf", b"not the model")
    b = ArtifactStore(url, cache_dir=tmp_path / "b")
    with pytest.raises(ChecksumError, match="corrupt"):
        b.get(stored.sha256)
    assert not b.path_for(stored.sha256).exists()


def test_an_upload_that_fails_leaves_no_object_under_the_final_name(tmp_path, url, monkeypatch):
    a = ArtifactStore(url, cache_dir=tmp_path / "a")

    def crash(*_a, **_k):
        raise OSError("connection lost")

    monkeypatch.setattr(a.fs, "mv", crash)
    with pytest.raises(OSError):
        a.ingest(_blob(tmp_path))
    assert not [p for p in a.fs.find(url) if p.endswith(".gguf")]


def test_a_manifest_points_each_machine_at_its_own_copy_of_the_rung(tmp_path, url):
    a = ArtifactStore(url, cache_dir=tmp_path / "a")
    stored = a.ingest(_blob(tmp_path))
    manifest = {"variant": "tiny-model__Q8_0", "model": "tiny-model", "requested": "Q8_0", "sha256": stored.sha256,
                "path": str(stored.path), **{k: None for k in TYPE_KEYS}}
    write_manifest(a, "tiny-model__Q8_0", manifest)
    (tmp_path / "a").rename(tmp_path / "a-gone")  # machine a's disk is not reachable from machine b
    b = ArtifactStore(url, cache_dir=tmp_path / "b")
    got = read_manifest(b, "tiny-model__Q8_0")
    assert Path(got["path"]) == b.path_for(stored.sha256)
    assert Path(got["path"]).read_bytes() == (tmp_path / "model.gguf").read_bytes()
    with pytest.raises(FileNotFoundError, match="has not been built"):
        read_manifest(b, "tiny-model__Q4_K_M")


def test_a_base_logit_cache_built_on_one_machine_is_read_on_another(tmp_path, url):
    a = ArtifactStore(url, cache_dir=tmp_path / "a")
    key = "ab" + "0" * 62
    n, m, k = 2, 3, 4
    cache = bl.BaseLogits(Windows(np.arange(2 * 8, dtype=np.int32).reshape(2, 8), 2),
                          np.ones((n, m, k), np.int32), np.zeros((n, m, k), np.float16),
                          np.zeros((n, m), np.float32), np.full((n, m), 0.5, np.float32), {"top_k": k})
    bl.save_base_logits(bl.cache_path(a, key), cache)
    b = ArtifactStore(url, cache_dir=tmp_path / "b")
    assert not (b.root / "logits" / "ab" / f"{key}.npz").exists()
    path = bl.cache_path(b, key)
    assert path.exists() and path.is_relative_to(b.root)
    assert np.array_equal(bl.load_base_logits(path).nll, cache.nll)


def test_a_sample_computed_on_one_machine_is_a_hit_on_another(tmp_path, url):
    a = ArtifactStore(url, cache_dir=tmp_path / "a")
    b = ArtifactStore(url, cache_dir=tmp_path / "b")
    ca, cb = SampleCache(a.subdir("cache") / "samples.sqlite"), SampleCache(b.subdir("cache") / "samples.sqlite")
    ca.put("k" * 64, {"output": "B", "wall_ms": 12.5})
    assert cb.get("k" * 64) == {"output": "B", "wall_ms": 12.5} and cb.hits == 1
    assert cb.get("z" * 64) is None and cb.misses == 1
    remote = json.loads(fsspec.filesystem("memory").cat_file(f"{url}/cache/samples/kk/{'k' * 64}.json"))
    assert remote == {"output": "B", "wall_ms": 12.5}
    ca.close()
    cb.close()


def test_the_artifact_url_is_configured_by_the_environment(monkeypatch, tmp_path):
    from quantbench_assets.defs.resources import StorageResource

    monkeypatch.delenv("QUANTBENCH_ARTIFACTS_URL", raising=False)
    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_DIR", str(tmp_path / "art"))
    assert StorageResource().artifacts() == (tmp_path / "art").resolve()
    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_URL", "memory://shared/artifacts")
    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_CACHE", str(tmp_path / "mirror"))
    assert StorageResource().artifacts() == "memory://shared/artifacts"
    store = ArtifactStore(StorageResource().artifacts())
    assert store.url == "memory://shared/artifacts" and store.root.is_relative_to((tmp_path / "mirror").resolve())
    assert StorageResource(artifacts_dir=str(tmp_path / "x")).artifacts() == tmp_path / "x"


def test_a_rung_built_on_one_machine_is_opened_by_llama_cpp_on_another(qb_env, smollm_base, url, monkeypatch):
    """Machine a runs gguf_variant with the store at a URL and the many-writer warehouse; machine b
    (its own mirror, a's disk out of reach) reads the manifest, gets a verified local copy of the rung
    and llama.cpp loads it; the inventory row reads back from the Parquet parts."""
    import dagster as dg

    from quantbench_assets.defs.catalog.assets import model_catalog
    from quantbench_assets.defs.gguf.assets import gguf_variant
    from quantbench_assets.defs.resources import EngineResource, WarehouseResource, default_resources
    from quantbench_assets.lib.core.warehouse_parts import connect_parts

    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_URL", url)
    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_CACHE", str(qb_env / "machine-a"))
    ArtifactStore(url).ingest(smollm_base.path, smollm_base.sha256)  # the base already in the shared store
    parts = str(qb_env / "parts")
    resources = {**default_resources(), "duckdb": WarehouseResource(database=str(qb_env / "w.duckdb"), parts=parts)}
    key = "smollm2-135m-instruct__Q8_0"
    with dg.instance_for_test() as instance:
        assets = [model_catalog, gguf_variant]
        assert dg.materialize(assets, selection=["model_catalog"], instance=instance, resources=resources).success
        assert dg.materialize(assets, selection=["gguf_variant"], partition_key=key, instance=instance,
                              resources=resources).success
    (qb_env / "machine-a").rename(qb_env / "machine-a-unreachable")
    monkeypatch.setenv("QUANTBENCH_ARTIFACTS_CACHE", str(qb_env / "machine-b"))
    b = ArtifactStore(url)
    manifest = read_manifest(b, key)
    assert Path(manifest["path"]).is_relative_to(qb_env / "machine-b") and sha256_file(Path(manifest["path"])) == manifest["sha256"]
    with EngineResource(n_ctx=128).open(Path(manifest["path"])) as eng:
        assert len(eng.llm.tokenize(b"Hello")) > 0
    with connect_parts(parts) as con:
        assert con.execute("select gguf_sha256 from raw.gguf_inventory where variant = ?", [key]).fetchall() == [
            (manifest["sha256"],)]
    assert not (qb_env / "w.duckdb").exists()
