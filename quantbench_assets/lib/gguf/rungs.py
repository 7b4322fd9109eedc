"""The manifest of a built rung: where its file is and how it was made. Written by gguf_variant, read
by every evaluation asset, so they never re-derive which file a partition means."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..catalog.entries import parse_variant_key
from ..gguf.info import GGUFInfo, read_gguf
from ..gguf.quant_types import is_fallback
from ..core.store import ArtifactStore

# Manifest keys derived from the GGUF's tensors. A manifest written before they existed (its "obtained"
# was the header's label) has them recomputed from the file on read: reading a header is cheap.
TYPE_KEYS = ("obtained", "labelled", "mix", "is_fallback", "has_chat_template")


def obtained_fields(info: GGUFInfo, requested: str) -> dict:
    """What a rung is, from its tensors, for the manifest (and, renamed, the inventory row)."""
    return {
        "obtained": info.quant_obtained, "labelled": info.file_type, "mix": info.quant_mix,
        "is_fallback": is_fallback(requested, info.quant_obtained),
        "has_chat_template": bool(info.chat_template),
    }


def manifest_path(store: ArtifactStore, variant: str) -> Path:
    parse_variant_key(variant)  # validates the key before it becomes a file name
    return store.subdir("variants") / f"{variant}.json"


def write_manifest(store: ArtifactStore, variant: str, manifest: dict) -> Path:
    path = manifest_path(store, variant)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)
    store.publish(path)  # a shared store: every machine reads the same manifest
    return path


def read_manifest(store: ArtifactStore, variant: str) -> dict:
    path = manifest_path(store, variant)
    if not store.fetch(path):
        raise FileNotFoundError(f"variant {variant!r} has not been built: no {path} (materialize gguf_variant first)")
    manifest = json.loads(path.read_text())
    if store.url and not Path(manifest["path"]).exists():
        # "path" is where the building machine keeps the file: here it is this machine's mirror copy
        stored = store.get(manifest["sha256"])
        if stored is not None:
            manifest["path"] = str(stored.path)
    if not Path(manifest["path"]).exists():
        raise FileNotFoundError(f"variant {variant!r}: its GGUF {manifest['path']} is missing; rebuild gguf_variant")
    if any(k not in manifest for k in TYPE_KEYS):
        manifest |= obtained_fields(read_gguf(Path(manifest["path"])), manifest["requested"])
        write_manifest(store, variant, manifest)  # so the next reader skips the header parse
    return manifest


def provenance(manifest: dict, engine_build: str, settings: dict, run_at: str, engine: str = "llama_cpp") -> dict:
    """The columns every result row carries. `engine`: the engine's kind (lib.engines.ENGINE_KINDS)."""
    return {
        "variant": manifest["variant"], "model": manifest["model"], "quant_requested": manifest["requested"],
        "quant_obtained": manifest["obtained"], "gguf_sha256": manifest["sha256"], "engine": engine,
        "engine_build": engine_build, "n_threads": settings["n_threads"], "n_ctx": settings["n_ctx"],
        "seed": settings["seed"], "n_gpu_layers": settings["n_gpu_layers"], "use_mmap": settings["use_mmap"],
        "extra_buffers": settings["extra_buffers"],
        "omp_wait_policy": settings.get("omp_wait_policy"), "run_at": run_at,
    }
