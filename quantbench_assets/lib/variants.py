"""The manifest of a built rung: where its file is and how it was made. Written by gguf_variant, read
by every evaluation asset, so they never re-derive which file a partition means."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .catalog import parse_variant_key
from .store import ArtifactStore


def manifest_path(store: ArtifactStore, variant: str) -> Path:
    parse_variant_key(variant)  # validates the key before it becomes a file name
    return store.subdir("variants") / f"{variant}.json"


def write_manifest(store: ArtifactStore, variant: str, manifest: dict) -> Path:
    path = manifest_path(store, variant)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def read_manifest(store: ArtifactStore, variant: str) -> dict:
    path = manifest_path(store, variant)
    if not path.exists():
        raise FileNotFoundError(f"variant {variant!r} has not been built: no {path} (materialize gguf_variant first)")
    manifest = json.loads(path.read_text())
    if not Path(manifest["path"]).exists():
        raise FileNotFoundError(f"variant {variant!r}: its GGUF {manifest['path']} is missing; rebuild gguf_variant")
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
