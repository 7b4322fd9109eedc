"""WikiText-2 windows for perplexity and KL divergence, as llama.cpp's `llama-perplexity` cuts them.

- the whole file is tokenized once, with the model's own BOS rule (`add_special=true`,
  `parse_special=false`); one trailing newline is dropped, as its `-f` reader does. The tokens are
  kept in the artifact store per (GGUF, corpus, engine build), so a re-run never tokenizes again;
- the tokens are cut into non-overlapping windows of n_ctx; a window is evaluated from an empty KV
  cache, its first token replaced by BOS when the vocabulary adds one (SmolLM2's does not);
- only the second half is scored, so every scored token has at least n_ctx/2 tokens of context.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.store import ArtifactStore, publish_stored
from ..engines.decoding import decode_rows

CORPUS_NAME = "wikitext2_raw_test"
CORPUS_RELPATH = Path("wikitext2") / "wiki.test.raw"  # under the benchmarks folder
METHOD_VERSION = "1"  # stored with every row and in every cache key: bump when a formula changes
TOKENIZE_VERSION = "1"  # part of the token cache's key: bump when tokenize_corpus changes


class PerplexityError(ValueError):
    pass


@dataclass(frozen=True)
class PerplexitySettings:
    n_ctx: int = 512
    n_windows: int = 8  # first N windows of the file; 0 = every full window (llama-perplexity's default)
    # Base tokens kept per position. The top-k KL is a lower bound on the full KL; on SmolLM2 / WikiText-2
    # (510 positions, vs F16) it fell short by 29% at k=32, 12% at k=256, 5% at k=1024, for Q8_0 and
    # Q2_K alike. 256 costs 1.5 kB per position (~230 MB for the whole file).
    top_k: int = 256
    # The rest of the vocabulary in 4-bit log-probability bands with each band's exact mass
    # (kld_cache.py): the KLD then matches llama-perplexity --kl-divergence within 1% (benchmarks/RESULTS.md)
    # instead of falling 12-21% short. ~n_vocab/2 bytes a position (SmolLM2: 25 kB). 0 = top-k only.
    tail_bands: int = 15

    def __post_init__(self):
        if self.n_ctx < 8:
            raise PerplexityError(f"n_ctx must be >= 8, got {self.n_ctx}")
        if self.n_windows < 0:
            raise PerplexityError(f"n_windows must be >= 0 (0 = all), got {self.n_windows}")
        if self.top_k < 1:
            raise PerplexityError(f"top_k must be >= 1, got {self.top_k}")
        if self.tail_bands < 0:
            raise PerplexityError(f"tail_bands must be >= 0, got {self.tail_bands}")


# ─── corpus, tokens and windows ───────────────────────────────────────────────────────────────


def read_corpus(path: Path | str) -> bytes:
    """The file's bytes, less one trailing newline (llama.cpp's `-f` reader drops it)."""
    data = Path(path).read_bytes()
    return data[:-1] if data.endswith(b"\n") else data


def adds_bos(engine) -> bool:
    return engine.llm.tokenize(b"", add_bos=True) == [engine.llm.token_bos()]


def tokenize_corpus(engine, text: bytes) -> np.ndarray:
    # special=False: corpus text is data; a literal "<|endoftext|>" in it must not become a control token
    return np.asarray(engine.llm.tokenize(text, add_bos=True, special=False), dtype=np.int32)


@dataclass(frozen=True)
class CorpusTokens:
    """A corpus tokenized by one model: its tokens and the BOS id a window starts with (None: none)."""
    tokens: np.ndarray  # int32
    bos: int | None


def tokenize_for_windows(engine, text: bytes) -> CorpusTokens:
    return CorpusTokens(tokenize_corpus(engine, text), engine.llm.token_bos() if adds_bos(engine) else None)


def tokens_key(gguf_sha256: str, corpus_sha256: str, engine_build: str) -> str:
    """The tokenizer is in the GGUF, the text is the corpus, and the build decides llama.cpp's rules."""
    blob = f"{gguf_sha256}|{corpus_sha256}|{engine_build}|{TOKENIZE_VERSION}"
    return hashlib.sha256(blob.encode()).hexdigest()


def tokens_path(store: ArtifactStore, key: str) -> Path:
    path = store.subdir("tokens", key[:2]) / f"{key}.npz"
    store.fetch(path)  # a shared store's copy, when another machine tokenized it
    return path


def save_tokens(path: Path, ct: CorpusTokens) -> None:
    """Write atomically (a *.partial renamed into place): a reader never sees half a file."""
    buf = io.BytesIO()
    np.savez_compressed(buf, tokens=ct.tokens, bos=np.int64(-1 if ct.bos is None else ct.bos))
    tmp = path.with_suffix(".npz.partial")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    publish_stored(path)


def load_tokens(path: Path) -> CorpusTokens:
    with np.load(path) as z:
        bos = int(z["bos"])
        return CorpusTokens(z["tokens"], None if bos < 0 else bos)


@dataclass(frozen=True)
class Windows:
    tokens: np.ndarray  # (n_windows, n_ctx) int32, as evaluated (BOS already in place where added)
    n_available: int  # full windows in the corpus

    @property
    def n_ctx(self) -> int:
        return self.tokens.shape[1]

    @property
    def first(self) -> int:
        return self.n_ctx // 2

    @property
    def n_scored(self) -> int:
        """Scored positions per window."""
        return self.n_ctx - 1 - self.first

    @property
    def targets(self) -> np.ndarray:
        return self.tokens[:, self.first + 1:]


def make_windows(tokens: np.ndarray, n_ctx: int, n_windows: int, bos: int | None) -> Windows:
    """llama-perplexity's chunks: the first `n_windows` (0 = all) non-overlapping windows of n_ctx."""
    tokens = np.asarray(tokens, dtype=np.int32)
    if len(tokens) < 2 * n_ctx:  # llama-perplexity refuses the same case
        raise PerplexityError(f"the corpus has {len(tokens)} tokens; n_ctx={n_ctx} needs at least {2 * n_ctx}")
    available = len(tokens) // n_ctx
    n = available if n_windows == 0 else min(n_windows, available)
    win = tokens[: n * n_ctx].reshape(n, n_ctx).copy()
    if bos is not None:
        win[:, 0] = bos  # the scored half never sees the replaced token's identity beyond position 0
    return Windows(win, available)


def piece_bytes(engine, token_ids: np.ndarray) -> int:
    """UTF-8 bytes the tokens stand for (sum of their pieces), the denominator of bits per byte."""
    lengths: dict[int, int] = {}
    total = 0
    for t in token_ids.ravel().tolist():
        n = lengths.get(t)
        if n is None:
            n = lengths[t] = len(engine.llm.detokenize([t]))
        total += n
    return total


# ─── evaluating a window ──────────────────────────────────────────────────────────────────────


def window_logits(engine, window: np.ndarray, first: int) -> np.ndarray:
    """Evaluate one window from an empty KV cache; the logit rows of positions first .. n_ctx-2
    (row j predicts token first+j+1; llama-cpp-python's echo logprobs are read one position late,
    so they are not used). When the window fits one batch the rows are a view of llama.cpp's
    output buffer: use or copy them before the engine decodes again.

    The batch asks llama.cpp for logits of the scored half only, as llama-perplexity does. Llama.eval()
    with logits_all would compute the output layer for every position: on SmolLM2 that layer (49,152 x
    576) is ~21% of a token's work, so the unscored half would cost ~10% of the throughput, and it
    would hold an n_ctx x vocab float array (100 MB; 310 MB for Qwen's vocabulary)."""
    llm = engine.llm
    n = len(window)
    llm.reset()  # the Python side's token count; the KV cache is cleared below
    llm._ctx.kv_cache_clear()
    blocks = decode_rows(llm, window.tolist(), 0, first, n - 1)
    if n <= llm.n_batch:
        return next(blocks)  # llama.cpp's own buffer: valid until the next decode, no 50 MB copy
    out = np.empty((n - 1 - first, llm.n_vocab()), dtype=np.float32)
    filled = 0
    for rows in blocks:
        out[filled: filled + len(rows)] = rows
        filled += len(rows)
    return out
