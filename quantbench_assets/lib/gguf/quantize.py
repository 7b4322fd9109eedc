"""Build a quant rung with llama.cpp's own quantizer (llama_cpp.llama_model_quantize).

The output is written as a *.partial file in the store and only renamed into place after the
quantizer reports success and the header reads back, so a disk-full or a crash leaves nothing that
looks like a valid rung.
"""
from __future__ import annotations

import ctypes
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..gguf.info import GGUFInfo, file_type_code, read_gguf
from ..gguf.quant_types import nominal_bits_per_weight, split_imatrix
from ..core.store import ArtifactStore, StoredFile


LOW_SPACE_BYTES = 64 << 20


class QuantizeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rung:
    stored: StoredFile
    info: GGUFInfo
    requested: str
    method: str  # "source file" or "requantized from Q4_K_M"
    imatrix: dict | None = None  # an -imat rung: calibration text name and sha256, matrix sha256 (imatrix.py)


def estimate_output_bytes(n_parameters: int, quant: str) -> int:
    """Upper-bound size guess for the free-space check (bits per weight of the type, plus headroom)."""
    # at least 4.5: small models' low-bit rungs fall back to wider types (SmolLM2's "Q2_K" is ~5.1 bpw)
    bpw = max(nominal_bits_per_weight(quant), 4.5)
    # small models keep F32 norms and a large embedding: pad generously
    return int(n_parameters * bpw / 8 * 1.25) + (16 << 20)


def quantize_file(src: Path, dst: Path, quant: str, threads: int = 0) -> None:
    import llama_cpp

    try:
        ftype = file_type_code(quant)
    except ValueError as e:
        raise QuantizeError(str(e)) from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        # llama.cpp says why only in its C log; a full disk (the common case, seen on a 50 MB tmpfs)
        # is visible from here, while the partial output still occupies the space.
        free = shutil.disk_usage(dst.parent).free
        why = (f"only {free / 1e6:.1f} MB left free in {dst.parent}: the disk is full"
               if free < LOW_SPACE_BYTES else "llama.cpp's reason is in its log on stderr")
        raise QuantizeError(f"llama_model_quantize({src.name} -> {quant}) returned {rc}; {why}")


def _index_path(store: ArtifactStore, base: StoredFile, quant: str) -> Path:
    import llama_cpp

    return store.subdir("rungs") / f"{base.sha256}__{quant}__llama-cpp-python-{llama_cpp.__version__}.json"


def build_rung(base: StoredFile, base_quant: str, quant: str, store: ArtifactStore, threads: int = 0,
               min_free_bytes: int | None = None) -> Rung:
    if quant == base_quant:
        return Rung(base, read_gguf(base.path), quant, "source file")
    if split_imatrix(quant)[1]:  # llama-quantize --imatrix: the Python API takes no matrix
        from .imatrix import build_imatrix_rung  # imports this module

        return build_imatrix_rung(base, base_quant, quant, store, threads)[0]
    method = f"requantized from {base_quant}"
    # llama.cpp's quantizer is deterministic for a given input and version: reuse an earlier build.
    index = _index_path(store, base, quant)
    if store.fetch(index):
        cached = store.get(json.loads(index.read_text())["sha256"])
        if cached is not None:
            return Rung(cached, read_gguf(cached.path), quant, method)
    base_info = read_gguf(base.path)
    need = estimate_output_bytes(base_info.n_parameters, quant)
    tmp_dir = store.subdir("tmp")
    free = shutil.disk_usage(tmp_dir).free if min_free_bytes is None else min_free_bytes
    if free < need:
        raise QuantizeError(
            f"not enough disk space to quantize to {quant}: need about {need / 1e6:.0f} MB, "
            f"{free / 1e6:.0f} MB free in {tmp_dir}"
        )
    partial = store.partial_path(f"{quant}")
    try:
        quantize_file(base.path, partial, quant, threads)
        try:
            info = read_gguf(partial)
        except Exception as e:
            raise QuantizeError(f"quantizer output for {quant} does not read back: {e}") from e
        stored = store.ingest(partial, what=f"{quant} rung", move=True)
    except OSError as e:
        raise QuantizeError(f"quantizing to {quant} failed: {e}") from e
    finally:
        partial.unlink(missing_ok=True)
    info.path = str(stored.path)
    index.write_text(json.dumps({"sha256": stored.sha256, "base_sha256": base.sha256, "quant": quant}))
    store.publish(index)
    return Rung(stored, info, quant, method)
