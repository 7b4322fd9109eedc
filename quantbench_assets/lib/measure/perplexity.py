"""Perplexity on WikiText-2 and the distribution shift of a rung against its model's base rung.

Perplexity follows llama.cpp's `llama-perplexity` (tools/perplexity/perplexity.cpp, vendored in
llama-cpp-python 0.3.36), so our figures compare with the numbers the community quotes:
- the whole file is tokenized once, with the model's own BOS rule (`add_special=true`,
  `parse_special=false`); one trailing newline is dropped, as its `-f` reader does;
- the tokens are cut into non-overlapping windows of n_ctx; a window is evaluated from an empty KV
  cache, its first token replaced by BOS when the vocabulary adds one (SmolLM2's does not);
- only the second half is scored, so every scored token has at least n_ctx/2 tokens of context:
  logits of positions n_ctx/2 .. n_ctx-2 predict tokens n_ctx/2+1 .. n_ctx-1 (n_ctx/2 - 1 per window);
- PPL = exp(mean NLL) and its standard error is PPL * sqrt((E[nll^2] - E[nll]^2) / (N - 1)).
Bits per byte (total NLL / ln 2 / UTF-8 bytes of the scored tokens) adds a figure that compares
across tokenizers, which PPL per token does not. Checked against a llama-perplexity built from the
same sources: same GGUF, 8 windows, PPL 24.5389 ± 1.6586 on both sides (benchmarks/RESULTS.md).

Distribution shift mirrors `llama-perplexity --kl-divergence`, except that the base is not stored as
full-vocabulary logits (SmolLM2: 49,152 x 2 bytes per position, 14 GB for WikiText-2) but as its top-k;
see `topk_kl` for the exact definition and `truncation_error` for how far it sits from the full KL.
No Dagster here: the assets in defs/measure/perplexity.py call these functions.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.store import ArtifactStore

CORPUS_NAME = "wikitext2_raw_test"
CORPUS_RELPATH = Path("wikitext2") / "wiki.test.raw"  # under the benchmarks folder
METHOD_VERSION = "1"  # stored with every row and in the cache key: bump when a formula changes

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

    def __post_init__(self):
        if self.n_ctx < 8:
            raise PerplexityError(f"n_ctx must be >= 8, got {self.n_ctx}")
        if self.n_windows < 0:
            raise PerplexityError(f"n_windows must be >= 0 (0 = all), got {self.n_windows}")
        if self.top_k < 1:
            raise PerplexityError(f"top_k must be >= 1, got {self.top_k}")


# ─── corpus and windows ───────────────────────────────────────────────────────────────────────


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


# ─── per-window maths (pure numpy) ────────────────────────────────────────────────────────────


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float32, with the normalizer summed in float64 (as llama.cpp does)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, dtype=np.float64)).astype(np.float32)
    return shifted - lse[:, None]


def topk_of(logprobs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest per row, descending; ties broken by lower token id, so the
    first column is the same token np.argmax picks."""
    k = min(k, logprobs.shape[1])
    part = np.argpartition(-logprobs, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(logprobs, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int32), np.take_along_axis(vals, order, axis=1)


def mass_outside(logprobs: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Probability outside `ids` per row, summed directly (1 - sum(top-k) cancels when it is small)."""
    p = np.exp(logprobs)
    np.put_along_axis(p, ids, 0.0, axis=1)
    return p.sum(axis=1, dtype=np.float64)


@dataclass
class BaseWindow:
    """What the cache keeps of one window of the base rung: per scored position its top-k token ids,
    their log-probabilities, the probability left outside them, and the NLL of the correct token."""
    ids: np.ndarray  # (n, k) int32
    logprobs: np.ndarray  # (n, k) float16
    rest: np.ndarray  # (n,) float32
    nll: np.ndarray  # (n,) float32


class Normalizer:
    """Per-row log-sum-exp of a window's logits, keeping exp(logit - row max) in a scratch buffer that
    is reused from window to window: a fresh (n_scored x vocab) float array per window (50 MB for
    SmolLM2) costs ~0.1 s of page faults, 5% of a window's decode on these machines (measured)."""

    def __init__(self):
        self._buf: np.ndarray | None = None

    def __call__(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lse float64 (n,), z = sum of exp(logit - max) float64 (n,), that exp array (scratch))."""
        if self._buf is None or self._buf.shape != logits.shape:
            self._buf = np.empty(logits.shape, dtype=np.float32)
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(np.subtract(logits, m, out=self._buf), out=self._buf)
        z = e.sum(axis=1, dtype=np.float64)
        return m[:, 0].astype(np.float64) + np.log(z), z, e


def base_window(logits: np.ndarray, targets: np.ndarray, k: int, norm: Normalizer | None = None) -> BaseWindow:
    lse, z, e = (norm or Normalizer())(logits)
    ids, top = topk_of(logits, k)  # the logits' order is the log-probabilities' order
    np.put_along_axis(e, ids.astype(np.int64), 0.0, axis=1)
    rest = e.sum(axis=1, dtype=np.float64) / z  # summed directly: 1 - sum(top-k) cancels when small
    nll = lse - logits[np.arange(len(targets)), targets]
    return BaseWindow(ids, (top - lse[:, None]).astype(np.float16), rest.astype(np.float32), nll.astype(np.float32))


def topk_kl(p_logprobs: np.ndarray, p_rest: np.ndarray, q_logprobs: np.ndarray, q_rest: np.ndarray) -> np.ndarray:
    """Top-k KL divergence KL_k(P || Q) per position, in nats.

    For each position let S be the base's k most likely tokens. P (the base) and Q (the variant) are
    both coarsened to k + 1 outcomes: the tokens of S, and one bucket "rest" for every other token,
    P_rest = 1 - sum_{j in S} P_j and Q_rest = 1 - sum_{j in S} Q_j (each summed directly). Then

        KL_k(P || Q) = sum_{j in S} P_j (ln P_j - ln Q_j) + P_rest (ln P_rest - ln Q_rest),

    with 0 ln 0 = 0. Coarsening never raises KL (data processing), and the gap is exactly
    P_rest * KL(P restricted to the rest || Q restricted to the rest): a lower bound on the full KL
    that is tight when the base puts little mass, or the same shape, outside its top-k.

    The stored top-k log-probabilities are float16; P is renormalized over its k + 1 buckets so that a
    rung compared with itself scores ~0 (second order in the rounding) rather than the rounding itself.
    (llama.cpp's own KLD is not exact either: it stores every base log-probability in 16 bits over a
    16-nat range and skips base tokens below ln p = -16.)
    """
    p = np.exp(p_logprobs.astype(np.float64))
    pr = np.maximum(p_rest.astype(np.float64), 0.0)
    z = p.sum(axis=1) + pr
    p, pr = p / z[:, None], pr / z
    lq = q_logprobs.astype(np.float64)
    qr = np.maximum(q_rest.astype(np.float64), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        head = np.where(p > 0, p * (np.log(p) - lq), 0.0).sum(axis=1)
        tail = np.where(pr > 0, pr * (np.log(pr) - np.log(qr)), 0.0)
    return head + tail


def full_kl(p_logprobs: np.ndarray, q_logprobs: np.ndarray) -> np.ndarray:
    """Exact KL(P || Q) over the whole vocabulary per position, in nats (float64)."""
    lp = p_logprobs.astype(np.float64)
    return (np.exp(lp) * (lp - q_logprobs.astype(np.float64))).sum(axis=1)


@dataclass
class WindowScores:
    nll: np.ndarray  # (n,) float64: -ln q(correct token)
    top1: np.ndarray  # (n,) int32
    kld: np.ndarray | None = None  # (n,) top-k KL against the base
    base_nll: np.ndarray | None = None
    same_top: np.ndarray | None = None  # (n,) bool


def score_window(logits: np.ndarray, targets: np.ndarray, base: BaseWindow | None = None,
                 norm: Normalizer | None = None) -> WindowScores:
    lse, z, e = (norm or Normalizer())(logits)
    rows = np.arange(len(targets))
    out = WindowScores(nll=lse - logits[rows, targets], top1=logits.argmax(axis=1).astype(np.int32))
    if base is not None:
        ids = base.ids.astype(np.int64)
        q_k = np.take_along_axis(logits, ids, axis=1) - lse[:, None]
        np.put_along_axis(e, ids, 0.0, axis=1)
        out.kld = topk_kl(base.logprobs, base.rest, q_k, e.sum(axis=1, dtype=np.float64) / z)
        out.base_nll = base.nll.astype(np.float64)
        out.same_top = out.top1 == base.ids[:, 0]
    return out


# ─── statistics (llama-perplexity's formulas) ─────────────────────────────────────────────────


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean and its standard error as llama.cpp computes it: sqrt((E[x^2] - E[x]^2) / (n - 1))."""
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean())
    var = float((x * x).mean()) - m * m
    return m, math.sqrt(var / (len(x) - 1)) if var > 0 and len(x) > 1 else 0.0


def perplexity_stats(nll: np.ndarray) -> dict:
    m, se = mean_se(nll)
    ppl = math.exp(m)
    return {"nll_mean": m, "ppl": ppl, "ppl_se": ppl * se}


def bits_per_byte(nll_sum: float, n_bytes: int) -> float:
    """Total NLL (nats) over the bytes it predicted, in bits: nll / ln 2 / bytes."""
    if n_bytes <= 0:
        raise PerplexityError("bits per byte needs a positive byte count")
    return nll_sum / math.log(2) / n_bytes


def shift_stats(nll: np.ndarray, base_nll: np.ndarray, kld: np.ndarray, same_top: np.ndarray) -> dict:
    """llama-perplexity --kl-divergence's summary: PPL ratio, KLD distribution, same-top and Δp."""
    n = len(nll)
    q_m, q_se = mean_se(nll)
    b_m, b_se = mean_se(base_nll)
    cov = (float((nll * base_nll).mean()) - q_m * b_m) / (n - 1) if n > 1 else 0.0
    ln_ratio = q_m - b_m
    ln_ratio_se = math.sqrt(max(q_se ** 2 + b_se ** 2 - 2 * cov, 0.0))
    kld_m, kld_se = mean_se(kld)
    same = float(np.mean(same_top))
    dp = np.exp(-nll) - np.exp(-base_nll)  # change of the correct token's probability
    dp_m, dp_se = mean_se(dp)
    return {
        "n_positions": n,
        "ppl": math.exp(q_m), "ppl_base": math.exp(b_m),
        "ln_ppl_ratio": ln_ratio, "ln_ppl_ratio_se": ln_ratio_se,
        "ppl_ratio": math.exp(ln_ratio), "ppl_ratio_se": math.exp(ln_ratio) * ln_ratio_se,
        "kld_mean": kld_m, "kld_mean_se": kld_se, "kld_median": float(np.median(kld)),
        "kld_p99": float(np.quantile(kld, 0.99)), "kld_max": float(np.max(kld)),
        "same_top_pct": 100 * same,
        "same_top_pct_se": 100 * math.sqrt(same * (1 - same) / (n - 1)) if n > 1 else 0.0,
        "delta_p_mean_pp": 100 * dp_m, "delta_p_mean_pp_se": 100 * dp_se,
        "delta_p_rms_pp": 100 * math.sqrt(float((dp * dp).mean())),
    }


# ─── running a rung over the windows ──────────────────────────────────────────────────────────


def window_logits(engine, window: np.ndarray, first: int) -> np.ndarray:
    """Evaluate one window from an empty KV cache; the logit rows of positions first .. n_ctx-2
    (row j predicts token first+j+1; llama-cpp-python's echo logprobs are read one position late,
    FACTS.md, so they are not used). When the window fits one batch the rows are a view of llama.cpp's
    output buffer: use or copy them before the engine decodes again.

    The batch asks llama.cpp for logits of the scored half only, as llama-perplexity does. Llama.eval()
    with logits_all would compute the output layer for every position: on SmolLM2 that layer (49,152 x
    576) is ~21% of a token's work, so the unscored half would cost ~10% of the throughput, and it
    would hold an n_ctx x vocab float array (100 MB; 310 MB for Qwen's vocabulary)."""
    llm = engine.llm
    n, n_vocab = len(window), llm.n_vocab()
    llm.reset()  # the Python side's token count; the KV cache is cleared below
    llm._ctx.kv_cache_clear()
    one_batch = n <= llm.n_batch
    out = None if one_batch else np.empty((n - 1 - first, n_vocab), dtype=np.float32)
    filled = 0
    for start in range(0, n, llm.n_batch):
        chunk = window[start: start + llm.n_batch].tolist()
        llm._batch.set_batch(chunk, n_past=start, logits_all=False)
        wanted = [first <= start + j < n - 1 for j in range(len(chunk))]
        for j, w in enumerate(wanted):
            llm._batch.batch.logits[j] = w
        llm._ctx.decode(llm._batch)
        k = sum(wanted)
        if not k:
            continue
        rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(k, n_vocab))  # in batch order
        if one_batch:
            return rows  # llama.cpp's own buffer: valid until the next decode, no 50 MB copy
        out[filled: filled + k] = rows
        filled += k
    return out


@dataclass
class RungRun:
    """One rung over the windows: per-window sums and the per-position arrays behind the summaries."""
    windows: Windows
    nll: np.ndarray  # (n_windows, n_scored)
    eval_s: list[float]  # per window: decode time (the engine's part of the work)
    wall_s: float  # everything, scoring maths included
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


def run_rung(engine, windows: Windows, base: "BaseLogits | None" = None,
             progress: Callable[[int], None] | None = None, count_bytes: bool = True) -> RungRun:
    """Score every window with `engine`; against `base` too when given (its windows must be these)."""
    if base is not None and not np.array_equal(base.windows.tokens, windows.tokens):
        raise PerplexityError("the base cache was made on other windows (tokenizer, n_ctx or corpus differ)")
    n, first, m = windows.tokens.shape[0], windows.first, windows.n_scored
    nll = np.empty((n, m))
    compare = base is not None
    kld = np.empty((n, m)) if compare else None
    base_nll = np.empty((n, m)) if compare else None
    same = np.empty((n, m), dtype=bool) if compare else None
    eval_s: list[float] = []
    norm = Normalizer()
    t_all = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        logits = window_logits(engine, windows.tokens[i], first)
        eval_s.append(time.perf_counter() - t0)
        s = score_window(logits, windows.targets[i], base.window(i) if compare else None, norm)
        nll[i] = s.nll
        if compare:
            kld[i], base_nll[i], same[i] = s.kld, s.base_nll, s.same_top
        if progress:
            progress(1)
    wall = time.perf_counter() - t_all
    nbytes = np.array([piece_bytes(engine, windows.targets[i]) for i in range(n)]) if count_bytes else np.zeros(n)
    return RungRun(windows, nll, eval_s, wall, nbytes, kld, base_nll, same)


# ─── the base-logit cache ─────────────────────────────────────────────────────────────────────


@dataclass
class BaseLogits:
    windows: Windows
    ids: np.ndarray  # (n_windows, n_scored, k) int32
    logprobs: np.ndarray  # (n_windows, n_scored, k) float16
    rest: np.ndarray  # (n_windows, n_scored) float32
    nll: np.ndarray  # (n_windows, n_scored) float32
    meta: dict = field(default_factory=dict)

    def window(self, i: int) -> BaseWindow:
        return BaseWindow(self.ids[i], self.logprobs[i], self.rest[i], self.nll[i])

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.windows.tokens, self.ids, self.logprobs, self.rest, self.nll))


def build_base_logits(engine, windows: Windows, top_k: int, meta: dict,
                      progress: Callable[[int], None] | None = None) -> BaseLogits:
    n, m = windows.tokens.shape[0], windows.n_scored
    k = min(top_k, engine.llm.n_vocab())
    ids = np.empty((n, m, k), dtype=np.int32)
    lps = np.empty((n, m, k), dtype=np.float16)
    rest = np.empty((n, m), dtype=np.float32)
    nll = np.empty((n, m), dtype=np.float32)
    norm = Normalizer()
    for i in range(n):
        w = base_window(window_logits(engine, windows.tokens[i], windows.first), windows.targets[i], k, norm)
        ids[i], lps[i], rest[i], nll[i] = w.ids, w.logprobs, w.rest, w.nll
        if progress:
            progress(1)
    return BaseLogits(windows, ids, lps, rest, nll, {**meta, "top_k": k})


def cache_key(base_sha256: str, settings: PerplexitySettings, corpus_sha256: str) -> str:
    """Content address of a cache: the base file, the settings and the corpus decide its contents."""
    spec = {"base_sha256": base_sha256, "corpus_sha256": corpus_sha256, "method_version": METHOD_VERSION,
            **asdict(settings)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def cache_path(store: ArtifactStore, key: str) -> Path:
    return store.subdir("logits", key[:2]) / f"{key}.npz"


def save_base_logits(path: Path, cache: BaseLogits) -> int:
    """Write atomically (a *.partial renamed into place); returns the file size."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf, tokens=cache.windows.tokens, n_available=np.int64(cache.windows.n_available), ids=cache.ids,
        logprobs=cache.logprobs, rest=cache.rest, nll=cache.nll, meta=np.array(json.dumps(cache.meta)),
    )
    tmp = path.with_suffix(".npz.partial")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path.stat().st_size


def load_base_logits(path: Path) -> BaseLogits:
    with np.load(path) as z:
        windows = Windows(z["tokens"], int(z["n_available"]))
        return BaseLogits(windows, z["ids"], z["logprobs"], z["rest"], z["nll"], json.loads(str(z["meta"])))


# ─── how much the top-k truncation costs ──────────────────────────────────────────────────────


def truncation_error(base_logits_rows: np.ndarray, variant_logits_rows: np.ndarray, ks: list[int]) -> list[dict]:
    """Compare the cached top-k KL (float16 storage included) with the exact full-vocabulary KL on
    the same positions, for each k. Rows are the raw logits of the scored positions of a window."""
    lp_b, lp_q = log_softmax(base_logits_rows), log_softmax(variant_logits_rows)
    exact = full_kl(lp_b, lp_q)
    out = []
    for k in ks:
        ids, vals = topk_of(lp_b, k)
        approx = topk_kl(vals.astype(np.float16), mass_outside(lp_b, ids).astype(np.float32),
                         np.take_along_axis(lp_q, ids.astype(np.int64), axis=1), mass_outside(lp_q, ids))
        out.append({
            "top_k": int(ids.shape[1]), "n_positions": len(exact), "kld_full_mean": float(exact.mean()),
            "kld_topk_mean": float(approx.mean()),
            "kld_topk_rel_error_pct": 100 * float(approx.mean() / exact.mean() - 1) if exact.mean() > 0 else 0.0,
            "kld_abs_error_p99": float(np.quantile(np.abs(approx - exact), 0.99)),
        })
    return out
