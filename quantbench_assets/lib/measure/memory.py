"""Peak memory of a variant, measured in a process of its own.

In the calling process the figure would include everything already loaded there (Dagster, pytest,
other models), so `probe_memory` starts `python -m quantbench_assets.lib.measure.memory <gguf> ...`, which
loads the model the way the engine does, runs a fixed workload (a prompt of n_prompt tokens, then
n_gen single-token decodes) and prints its own peak as JSON.

The peak is VmHWM from /proc/self/status (the high-water mark of this process's own address space).
getrusage's ru_maxrss is reported beside it but not used: Linux carries the parent's high-water mark
into a child across fork+exec, so a child of a large process reports the parent's peak.

mmap convention (docs/PLATFORM_NOTES.md): with mmap the weights are file-backed pages, shared with the page cache
and counted in RSS once touched; without it they are copied into anonymous memory. Both are
measured; every row says which. Extra buffer types (weight repacking) are off, as in the engine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _status_bytes(*keys: str) -> dict[str, int]:
    """Fields of /proc/self/status in bytes (VmHWM, VmRSS, RssAnon, RssFile)."""
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in keys:
                out[name] = int(value.split()[0]) * 1024  # reported in kB
    except OSError:
        pass
    return out


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


# ─── KV cache and the seeds' estimate: arithmetic on GGUF metadata ───────────────────────────


def _ints(value) -> list[int] | int:
    """A metadata value as llama.cpp prints it ("3", "[3, 3, 0]") or as gguf-py returns it."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else int(float(value))
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else int(value)


def attention_shape(metadata: dict) -> dict:
    """n_layer, per-layer KV heads and head dims from GGUF metadata (llama.cpp's key names)."""
    arch = metadata["general.architecture"]
    n_layer = _ints(metadata[f"{arch}.block_count"])
    n_head = _ints(metadata[f"{arch}.attention.head_count"])
    n_head_kv = _ints(metadata.get(f"{arch}.attention.head_count_kv", metadata[f"{arch}.attention.head_count"]))
    heads = n_head if isinstance(n_head, list) else [n_head] * n_layer  # per layer in some architectures
    kv_heads = n_head_kv if isinstance(n_head_kv, list) else [n_head_kv] * n_layer
    head_dim = _ints(metadata[f"{arch}.embedding_length"]) // max(heads)
    k_len = metadata.get(f"{arch}.attention.key_length")
    v_len = metadata.get(f"{arch}.attention.value_length")
    return {"architecture": arch, "n_layer": n_layer, "n_head": max(heads), "n_head_kv": kv_heads,
            "head_dim_k": _ints(k_len) if k_len is not None else head_dim,
            "head_dim_v": _ints(v_len) if v_len is not None else head_dim}


def model_facts(gguf_path: Path | str) -> dict:
    """Metadata, parameter count and tensor bytes through llama.cpp's own loader (vocab only: no
    weights are read; gguf-py would take seconds parsing the vocabulary arrays in Python)."""
    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(str(gguf_path), vocab_only=True, verbose=False)
    try:
        model = llm._model.model
        return {"metadata": dict(llm.metadata), "n_parameters": int(llama_cpp.llama_model_n_params(model)),
                "tensor_bytes": int(llama_cpp.llama_model_size(model))}
    finally:
        llm.close()


def kv_cache_bytes(shape: dict, n_ctx: int, bytes_per_element: int = 2) -> int:
    """K and V for every layer at n_ctx positions (f16: 2 bytes). An upper bound for models with
    sliding-window layers, whose caches llama.cpp sizes to the window."""
    per_position = sum(h * (shape["head_dim_k"] + shape["head_dim_v"]) for h in shape["n_head_kv"])
    return int(per_position * n_ctx * bytes_per_element)


def seeds_memory_estimate(n_parameters: int, bits_per_weight: float) -> int:
    """The seed study's rule: params x bits per weight / 8 x 1.1 (10% for everything else)."""
    return int(n_parameters * bits_per_weight / 8 * 1.1)


# ─── the isolated process ─────────────────────────────────────────────────────────────────────


def measure_in_this_process(gguf_path: str, use_mmap: bool, n_ctx: int, n_prompt: int, n_gen: int,
                            threads: int | None, seed: int = 1234) -> dict:
    import llama_cpp  # before the baseline: its shared library belongs to the baseline, not to the model
    import numpy as np

    from ..engines.llama import EngineSettings, LlamaCppEngine

    baseline = _rss()  # interpreter + numpy + llama_cpp, before the model
    settings = EngineSettings(n_ctx=n_ctx, n_threads=threads, use_mmap=use_mmap, seed=seed)
    with LlamaCppEngine(gguf_path, settings) as eng:
        after_load = _rss()
        llm = eng.llm
        n_ctx_actual = int(llm.n_ctx())
        if n_prompt + n_gen > n_ctx_actual:
            raise ValueError(f"workload of {n_prompt}+{n_gen} tokens does not fit n_ctx={n_ctx_actual}")
        ids = np.random.default_rng(seed).integers(0, llm.n_vocab(), size=n_prompt + n_gen).tolist()
        llm.reset()
        llm.eval(ids[:n_prompt])
        for tok in ids[n_prompt:]:
            llm.eval([tok])
        status = _status_bytes("VmHWM", "VmRSS", "RssAnon", "RssFile")
        after_workload = _rss()
        build = eng.build
        shape = attention_shape(eng.metadata())
        n_params = int(llama_cpp.llama_model_n_params(llm._model.model))
        tensor_bytes = int(llama_cpp.llama_model_size(llm._model.model))
    peak = status.get("VmHWM") or after_workload
    return {
        "peak_rss_bytes": peak, "baseline_rss_bytes": baseline, "after_load_rss_bytes": after_load,
        "after_workload_rss_bytes": after_workload, "rss_anon_bytes": status.get("RssAnon"),
        "rss_file_bytes": status.get("RssFile"), "model_rss_bytes": peak - baseline,
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_source": "VmHWM" if "VmHWM" in status else "rss after workload",
        "n_ctx": n_ctx_actual, "n_ctx_requested": n_ctx, "n_prompt": n_prompt, "n_gen": n_gen,
        "use_mmap": use_mmap, "extra_buffers": settings.extra_buffers, "n_threads": settings.threads(),
        "engine_build": build, "pid": os.getpid(),
        "n_parameters": n_params, "tensor_bytes": tensor_bytes, "n_layer": shape["n_layer"],
        "n_head_kv": max(shape["n_head_kv"]), "head_dim": shape["head_dim_k"],
        "kv_cache_bytes": kv_cache_bytes(shape, n_ctx_actual), "kv_cache_type": "f16",
    }


def probe_memory(gguf_path: Path | str, use_mmap: bool, n_ctx: int = 2048, n_prompt: int = 512, n_gen: int = 128,
                 threads: int | None = None, timeout_s: float = 900, python: str = sys.executable) -> dict:
    """Run the workload in a fresh interpreter; return its JSON plus the arithmetic beside it."""
    cmd = [python, "-m", "quantbench_assets.lib.measure.memory", str(gguf_path), "--mmap", str(int(use_mmap)),
           "--n-ctx", str(n_ctx), "--n-prompt", str(n_prompt), "--n-gen", str(n_gen)]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"memory probe failed (exit {out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    bpw = round(result["tensor_bytes"] * 8 / result["n_parameters"], 4)  # as the inventory reports it
    result.update({
        "file_size_bytes": Path(gguf_path).stat().st_size, "bits_per_weight": bpw,
        "seeds_estimate_bytes": seeds_memory_estimate(result["n_parameters"], bpw),
        "mmap_convention": "mmap: weights are file-backed pages counted in RSS once touched"
                           if use_mmap else "no mmap: weights copied into anonymous memory",
    })
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Peak RSS of loading a GGUF and running a fixed workload (JSON).")
    ap.add_argument("gguf")
    ap.add_argument("--mmap", type=int, choices=(0, 1), required=True)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--n-prompt", type=int, default=512)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    result = measure_in_this_process(args.gguf, bool(args.mmap), args.n_ctx, args.n_prompt, args.n_gen, args.threads)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
