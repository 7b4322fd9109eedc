"""The base-logit cache: the base rung's top-k next-token log-probabilities on the WikiText-2 windows,
built once per model and settings, content-addressed in the artifact store, read by every rung's
KL divergence (llama-perplexity --kl-divergence keeps the full vocabulary: 14 GB for SmolLM2 on
WikiText-2; the top-k is ~230 MB)."""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.store import ArtifactStore, publish_stored
from .kld_cache import Tail
from .ppl_math import BaseWindow, Normalizer, base_window
from .ppl_windows import METHOD_VERSION, PerplexitySettings, Windows, window_logits


@dataclass
class BaseLogits:
    windows: Windows
    ids: np.ndarray  # (n_windows, n_scored, k) int32
    logprobs: np.ndarray  # (n_windows, n_scored, k) float16
    rest: np.ndarray  # (n_windows, n_scored) float32
    nll: np.ndarray  # (n_windows, n_scored) float32
    meta: dict = field(default_factory=dict)
    # optional banded tail (kld_cache.py): (n_windows, n_scored, vocab/2) uint8 codes, (.., bands) mass/mean
    tail_codes: np.ndarray | None = None
    tail_mass: np.ndarray | None = None
    tail_mean_lp: np.ndarray | None = None

    def window(self, i: int) -> BaseWindow:
        tail = None if self.tail_codes is None else Tail(
            self.tail_codes[i], self.tail_mass[i], self.tail_mean_lp[i], int(self.meta["n_vocab"]))
        return BaseWindow(self.ids[i], self.logprobs[i], self.rest[i], self.nll[i], tail)

    @property
    def nbytes(self) -> int:
        arrays = (self.windows.tokens, self.ids, self.logprobs, self.rest, self.nll,
                  self.tail_codes, self.tail_mass, self.tail_mean_lp)
        return sum(a.nbytes for a in arrays if a is not None)


def build_base_logits(engine, windows: Windows, top_k: int, meta: dict,
                      progress: Callable[[int], None] | None = None, tail_bands: int = 0) -> BaseLogits:
    """`tail_bands` > 0 adds kld_cache's banded tail, so the KLD is llama-perplexity's, not a lower bound."""
    n, m = windows.tokens.shape[0], windows.n_scored
    k = min(top_k, engine.llm.n_vocab())
    ids = np.empty((n, m, k), dtype=np.int32)
    lps = np.empty((n, m, k), dtype=np.float16)
    rest = np.empty((n, m), dtype=np.float32)
    nll = np.empty((n, m), dtype=np.float32)
    norm = Normalizer()
    tails = []
    for i in range(n):
        w = base_window(window_logits(engine, windows.tokens[i], windows.first), windows.targets[i], k, norm,
                        tail_bands)
        ids[i], lps[i], rest[i], nll[i] = w.ids, w.logprobs, w.rest, w.nll
        tails.append(w.tail)
        if progress:
            progress(1)
    if not tail_bands:
        return BaseLogits(windows, ids, lps, rest, nll, {**meta, "top_k": k})
    return BaseLogits(windows, ids, lps, rest, nll, {**meta, "top_k": k, "tail_bands": tail_bands,
                                                     "n_vocab": engine.llm.n_vocab()},
                      np.stack([t.codes for t in tails]), np.stack([t.mass for t in tails]).astype(np.float32),
                      np.stack([t.mean_lp for t in tails]).astype(np.float32))


def cache_key(base_sha256: str, settings: PerplexitySettings, corpus_sha256: str) -> str:
    """Content address of a cache: the base file, the settings and the corpus decide its contents."""
    spec = {"base_sha256": base_sha256, "corpus_sha256": corpus_sha256, "method_version": METHOD_VERSION,
            **asdict(settings)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def cache_path(store: ArtifactStore, key: str) -> Path:
    """The cache's file, downloaded into the mirror when a shared (remote) store already has it."""
    path = store.subdir("logits", key[:2]) / f"{key}.npz"
    store.fetch(path)
    return path


def save_base_logits(path: Path, cache: BaseLogits) -> int:
    """Write atomically (a *.partial renamed into place); returns the file size."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf, tokens=cache.windows.tokens, n_available=np.int64(cache.windows.n_available), ids=cache.ids,
        logprobs=cache.logprobs, rest=cache.rest, nll=cache.nll, meta=np.array(json.dumps(cache.meta)),
        **({} if cache.tail_codes is None else {"tail_codes": cache.tail_codes, "tail_mass": cache.tail_mass,
                                                "tail_mean_lp": cache.tail_mean_lp}),
    )
    tmp = path.with_suffix(".npz.partial")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    publish_stored(path)  # other machines of a shared store reuse it
    return path.stat().st_size


def load_base_logits(path: Path) -> BaseLogits:
    with np.load(path) as z:
        windows = Windows(z["tokens"], int(z["n_available"]))
        tail = [z[k] if k in z.files else None for k in ("tail_codes", "tail_mass", "tail_mean_lp")]
        return BaseLogits(windows, z["ids"], z["logprobs"], z["rest"], z["nll"], json.loads(str(z["meta"])), *tail)
