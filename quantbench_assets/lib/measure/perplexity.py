"""Perplexity on WikiText-2 and the distribution shift of a rung against its model's base rung.

Perplexity follows llama.cpp's `llama-perplexity` (tools/perplexity/perplexity.cpp, vendored in
llama-cpp-python 0.3.36), so our figures compare with the numbers the community quotes: windows as
lib/measure/ppl_windows.py cuts them, logits of positions n_ctx/2 .. n_ctx-2 predicting tokens
n_ctx/2+1 .. n_ctx-1 (n_ctx/2 - 1 per window), PPL = exp(mean NLL) and its standard error
PPL * sqrt((E[nll^2] - E[nll]^2) / (N - 1)) (lib/measure/ppl_math.py). Bits per byte (total NLL /
ln 2 / UTF-8 bytes of the scored tokens) adds a figure that compares across tokenizers, which PPL per
token does not. Checked against a llama-perplexity built from the same sources: same GGUF, 8 windows,
PPL 24.5389 ± 1.6586 on both sides (benchmarks/RESULTS.md).

Distribution shift mirrors `llama-perplexity --kl-divergence` against the base rung's top-k
(lib/measure/base_logits.py). This module runs a rung over the windows: every window is one sample
of the shared loop (lib/core/samples.py), so its result is cached by (GGUF, corpus, window tokens,
n_ctx, base cache, method version, engine build) and a re-run of a finished rung evaluates nothing;
the engine is opened only when a window is missing. No Dagster here: defs/measure/perplexity.py
calls these functions.
"""
from __future__ import annotations

import base64
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.cache import sample_key
from ..core.samples import NoCache, run_samples
from .base_logits import BaseLogits
from .ppl_math import (
    Normalizer, bits_per_byte, full_kl, log_softmax, perplexity_stats, score_window, shift_stats,
)
from .ppl_windows import METHOD_VERSION, PerplexityError, Windows, piece_bytes, window_logits


@dataclass
class RungRun:
    """One rung over the windows: per-window sums and the per-position arrays behind the summaries."""
    windows: Windows
    nll: np.ndarray  # (n_windows, n_scored)
    eval_s: list[float]  # per window: decode time (the engine's part of the work)
    wall_s: float  # decode and scoring maths of every window, as measured when each was computed
    bytes_scored: np.ndarray  # (n_windows,)
    kld: np.ndarray | None = None
    base_nll: np.ndarray | None = None
    same_top: np.ndarray | None = None

    @property
    def tokens_evaluated(self) -> int:
        return int(self.windows.tokens.size)

    def tok_per_s(self) -> float:
        """Tokens through the model (windows x n_ctx) per second of the window loop, scoring included."""
        return self.tokens_evaluated / self.wall_s

    def perplexity(self) -> dict:
        stats = perplexity_stats(self.nll.ravel())
        n_bytes = int(self.bytes_scored.sum())
        return {
            **stats, "n_windows": self.windows.tokens.shape[0], "n_windows_available": self.windows.n_available,
            "n_tokens_scored": int(self.nll.size), "bytes_scored": n_bytes,
            "bits_per_byte": bits_per_byte(float(self.nll.sum()), n_bytes),
            "eval_s": float(sum(self.eval_s)), "wall_s": self.wall_s, "tok_per_s": self.tok_per_s(),
        }

    def window_rows(self) -> list[dict]:
        n_ctx = self.windows.n_ctx
        return [{
            "window_index": i, "first_token": i * n_ctx, "n_tokens_scored": int(self.nll.shape[1]),
            "nll_sum": float(self.nll[i].sum()), "ppl": math.exp(float(self.nll[i].mean())),
            "bytes_scored": int(self.bytes_scored[i]), "eval_ms": 1000 * self.eval_s[i],
        } for i in range(self.nll.shape[0])]

    def shift(self) -> dict:
        if self.kld is None:
            raise PerplexityError("this run was not compared with a base")
        return shift_stats(self.nll.ravel(), self.base_nll.ravel(), self.kld.ravel(), self.same_top.ravel())


# ─── cached windows ───────────────────────────────────────────────────────────────────────────


def _enc(a: np.ndarray) -> str:
    """float64 array -> text for the JSON cache, bit-exact (a re-run reproduces every figure)."""
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.float64).tobytes()).decode()


def _dec(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype=np.float64)


def window_key(parts: dict, kind: str, windows: Windows, i: int, **extra) -> str:
    """A window's cache key: `parts` names the rung, corpus and build (gguf, corpus, build), the
    window is named by its tokens (tokenizer, corpus, n_ctx and BOS rule all show in them)."""
    tokens = hashlib.sha256(np.ascontiguousarray(windows.tokens[i]).tobytes()).hexdigest()
    return sample_key(kind=kind, method=METHOD_VERSION, n_ctx=windows.n_ctx, window=i, tokens=tokens,
                      **parts, **extra)


def run_rung(engine, windows: Windows, base: BaseLogits | None = None, count_bytes: bool = True, *,
             cache=None, key_parts: dict | None = None, base_key: str | None = None,
             label: str = "windows", log: Callable[[str], None] = print) -> RungRun:
    """Score every window; against `base` too when given (its windows must be these).

    `engine`: an engine, or a zero-argument callable returning one (opened on the first window that
    is not cached). With a `cache` (and `key_parts`: gguf, corpus, build) each window's result is
    stored; `base_key` names the base cache in the keys of a comparison."""
    if base is not None and not np.array_equal(base.windows.tokens, windows.tokens):
        raise PerplexityError("the base cache was made on other windows (tokenizer, n_ctx or corpus differ)")
    if cache is not None and not key_parts:
        raise ValueError("a cached run needs key_parts (gguf, corpus, build)")
    get_engine = engine if callable(engine) else (lambda: engine)
    first, norm = windows.first, Normalizer()
    kind = "ppl_window" if base is None else "kld_window"

    def infer(i: int) -> dict:
        eng = get_engine()
        t0 = time.perf_counter()
        logits = window_logits(eng, windows.tokens[i], first)
        t1 = time.perf_counter()
        s = score_window(logits, windows.targets[i], base.window(i) if base is not None else None, norm)
        out = {"nll": _enc(s.nll), "eval_s": t1 - t0, "wall_s": time.perf_counter() - t0}
        if base is not None:
            out |= {"kld": _enc(s.kld), "same_top": _enc(s.same_top)}
        if count_bytes:
            out["bytes"] = piece_bytes(eng, windows.targets[i])
        return out

    rows = run_samples(
        range(windows.tokens.shape[0]), cache=cache if cache is not None else NoCache(), infer=infer,
        key=lambda i: window_key(key_parts or {}, kind, windows, i, base=base_key, count_bytes=count_bytes),
        row=lambda i, _k, v: v, label=label, log=log)
    n = len(rows)
    return RungRun(
        windows, np.stack([_dec(r["nll"]) for r in rows]), [r["eval_s"] for r in rows],
        float(sum(r["wall_s"] for r in rows)),
        np.array([r.get("bytes", 0) for r in rows]),
        np.stack([_dec(r["kld"]) for r in rows]) if base is not None else None,
        base.nll[:n].astype(np.float64) if base is not None else None,
        np.stack([_dec(r["same_top"]) for r in rows]).astype(bool) if base is not None else None,
    )


def truncation_check(variant_engine, base_engine, base: BaseLogits, n: int, *, cache=None,
                     key_parts: dict | None = None, base_key: str | None = None,
                     log: Callable[[str], None] = print) -> dict:
    """Full-vocabulary KL on the first n windows (the base re-evaluated) against the cached top-k KL.
    Engines as in run_rung: engines or zero-argument callables opened on the first uncached window."""
    w = base.windows
    get_v = variant_engine if callable(variant_engine) else (lambda: variant_engine)
    get_b = base_engine if callable(base_engine) else (lambda: base_engine)

    def infer(i: int) -> dict:  # window by window: full-vocabulary float64 arrays are large (Qwen: 150k wide)
        b = np.array(window_logits(get_b(), w.tokens[i], w.first))  # copied: a view until the next decode
        q = window_logits(get_v(), w.tokens[i], w.first)
        return {"full": _enc(full_kl(log_softmax(b), log_softmax(q))),
                "topk": _enc(score_window(q, w.targets[i], base.window(i)).kld)}

    rows = run_samples(range(n), cache=cache if cache is not None else NoCache(), infer=infer,
                       key=lambda i: window_key(key_parts or {}, "kld_check_window", w, i, base=base_key),
                       row=lambda i, _k, v: v, label="top-k KL check", log=log)
    full = np.concatenate([_dec(r["full"]) for r in rows])
    cached = np.concatenate([_dec(r["topk"]) for r in rows])
    return {
        "check_windows": n, "kld_full_mean_check": float(full.mean()), "kld_topk_mean_check": float(cached.mean()),
        # below 1e-6 nats both are float noise (a rung against itself): a ratio of noise means nothing
        "kld_topk_gap_pct": 100 * float(cached.mean() / full.mean() - 1) if full.mean() > 1e-6 else 0.0,
    }
