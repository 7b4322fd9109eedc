"""Per-window maths of perplexity and KL divergence, and llama-perplexity's summary statistics.

Pure numpy on logit rows; the engine side is lib/measure/ppl_windows.py. The base rung is kept as
its top-k (see `topk_kl` for the exact definition and `truncation_error` for how far it sits from
the full-vocabulary KL).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kld_cache

from .ppl_windows import PerplexityError


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
    tail: object | None = None  # kld_cache.Tail: the rest of the vocabulary, banded (llama.cpp's KLD)


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


def base_window(logits: np.ndarray, targets: np.ndarray, k: int, norm: Normalizer | None = None,
                tail_bands: int = 0) -> BaseWindow:
    lse, z, e = (norm or Normalizer())(logits)
    ids, top = topk_of(logits, k)  # the logits' order is the log-probabilities' order
    tail = kld_cache.encode_tail(logits - lse[:, None].astype(np.float32), ids, tail_bands) if tail_bands else None
    np.put_along_axis(e, ids.astype(np.int64), 0.0, axis=1)
    rest = e.sum(axis=1, dtype=np.float64) / z  # summed directly: 1 - sum(top-k) cancels when small
    nll = lse - logits[np.arange(len(targets)), targets]
    return BaseWindow(ids, (top - lse[:, None]).astype(np.float16), rest.astype(np.float32), nll.astype(np.float32),
                      tail)


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
        if base.tail is not None:  # banded full vocabulary: llama-perplexity's KLD (kld_cache.py)
            out.kld = kld_cache.kld(base.logprobs, ids, base.tail, logits - lse[:, None].astype(np.float32))
        else:
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
