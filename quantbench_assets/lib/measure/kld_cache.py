"""A compact base-logit cache whose KL divergence agrees with `llama-perplexity --kl-divergence`.

llama.cpp keeps the base's whole log-probability vector (16 bits a token: 98 kB a position for
SmolLM2's 49,152-token vocabulary) and sums, over every token j with ln p_j > -16,

    KLD = sum_j p_j (ln p_j - ln q_j)                                  (tools/perplexity/perplexity.cpp)

The top-k cache of lib/measure/perplexity.py keeps the k likeliest tokens and coarsens the rest into
one bucket, which only bounds this from below (12% under at k=256 on SmolLM2). Here the tail keeps a
4-bit code per vocabulary token instead of its log-probability:

- code 0: the token is in the top k (stored exactly: id and float16 log-probability) or its ln p is
  at or below the floor (-16, llama.cpp's cut: such tokens count in neither KLD);
- codes 1..B: the token's ln p falls in band b of B equal-width bands between the floor and the
  largest tail log-probability of that position; per position and band the cache keeps the exact
  band mass P_b = sum p_j and the band's mean log-probability L_b = mean ln p_j.

The band's share of the KLD is then estimated as

    KLD_b = sum_{j in b} p_j (ln p_j - ln q_j)  ~  P_b (L_b - mean_{j in b} ln q_j),

which is exact when the log-ratio ln p_j - ln q_j does not co-vary with p_j inside the band: both
P_b and sum_b p_j ln p_j (the entropy part) are carried exactly, and only the p-weighting of ln q_j
within a band (at most (0 - floor) / B nats wide) is replaced by an even weighting. Narrower bands
shrink that residual; benchmarks/bench_kld.py measures it against llama-perplexity itself.

Size: k x 6 bytes + vocab / 2 bytes + B x 8 bytes a position (SmolLM2, k=64, B=15: 25 kB, a quarter
of llama.cpp's, before compression; the codes are mostly the deepest bands and compress well).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOOR = -16.0  # llama.cpp's cut: base tokens with ln p <= -16 are left out of its KLD
MAX_BANDS = 15  # 4-bit codes, 0 reserved


@dataclass
class Tail:
    """Per scored position of one window: the packed band codes of every vocabulary token, and each
    band's exact mass and mean base log-probability."""
    codes: np.ndarray  # (n, ceil(vocab / 2)) uint8: two 4-bit codes a byte, low nibble first
    mass: np.ndarray  # (n, B) float64
    mean_lp: np.ndarray  # (n, B) float64
    n_vocab: int

    @property
    def n_bands(self) -> int:
        return self.mass.shape[1]

    @property
    def nbytes(self) -> int:
        return self.codes.nbytes + self.mass.size * 4 + self.mean_lp.size * 4  # stored as float32


def pack4(codes: np.ndarray) -> np.ndarray:
    """(n, V) uint8 codes < 16 -> (n, ceil(V/2)) uint8, low nibble first."""
    n, v = codes.shape
    if v % 2:
        codes = np.concatenate([codes, np.zeros((n, 1), dtype=np.uint8)], axis=1)
    return (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)


def unpack4(packed: np.ndarray, n_vocab: int) -> np.ndarray:
    out = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = packed & 0x0F
    out[:, 1::2] = packed >> 4
    return out[:, :n_vocab]


def encode_tail(logprobs: np.ndarray, top_ids: np.ndarray, n_bands: int = MAX_BANDS,
                floor: float = FLOOR) -> Tail:
    """Band the base's tokens outside its top k. `logprobs`: (n, V) base log-probabilities (float32
    is enough: the bands are coarse, the masses are summed in float64); `top_ids`: (n, k)."""
    if not 1 <= n_bands <= MAX_BANDS:
        raise ValueError(f"n_bands must be 1..{MAX_BANDS} (4-bit codes, 0 reserved), got {n_bands}")
    n, v = logprobs.shape
    lp = np.array(logprobs, dtype=np.float32, copy=True)
    np.put_along_axis(lp, top_ids.astype(np.int64), -np.inf, axis=1)  # the top k are kept exactly
    hi = lp.max(axis=1, keepdims=True)
    width = np.maximum(hi - floor, 1e-6) / n_bands
    band = np.ceil((lp - floor) / width)  # ln p in (floor, hi] -> 1..B
    codes = np.where(lp > floor, np.clip(band, 1, n_bands), 0).astype(np.uint8)
    offs = (np.arange(n, dtype=np.int64) * (n_bands + 1))[:, None]
    flat = (codes.astype(np.int64) + offs).ravel()
    size = n * (n_bands + 1)
    inside = np.where(codes > 0, lp, 0.0).astype(np.float64).ravel()
    mass = np.bincount(flat, weights=np.exp(inside) * (codes.ravel() > 0), minlength=size).reshape(n, -1)[:, 1:]
    lp_sum = np.bincount(flat, weights=inside, minlength=size).reshape(n, -1)[:, 1:]
    count = np.bincount(flat, minlength=size).reshape(n, -1)[:, 1:]
    mean_lp = np.divide(lp_sum, count, out=np.zeros_like(lp_sum), where=count > 0)
    return Tail(pack4(codes), mass, mean_lp, v)


def tail_kl(tail: Tail, q_logprobs: np.ndarray) -> np.ndarray:
    """The bands' estimated share of llama.cpp's KLD per position (see the module docstring)."""
    n, b = tail.mass.shape
    codes = unpack4(tail.codes, tail.n_vocab).astype(np.int64)
    flat = (codes + (np.arange(n, dtype=np.int64) * (b + 1))[:, None]).ravel()
    size = n * (b + 1)
    q_sum = np.bincount(flat, weights=q_logprobs.astype(np.float64).ravel(), minlength=size).reshape(n, -1)[:, 1:]
    count = np.bincount(flat, minlength=size).reshape(n, -1)[:, 1:]
    mean_q = np.divide(q_sum, count, out=np.zeros_like(q_sum), where=count > 0)
    return (tail.mass * (tail.mean_lp - mean_q)).sum(axis=1)


def head_kl(p_top: np.ndarray, q_top: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """The top k's exact share: sum over the stored tokens above the floor of p (ln p - ln q)."""
    lp = p_top.astype(np.float64)
    keep = lp > floor
    return np.where(keep, np.exp(lp) * (lp - q_top.astype(np.float64)), 0.0).sum(axis=1)


def kld(p_top: np.ndarray, top_ids: np.ndarray, tail: Tail, q_logprobs: np.ndarray) -> np.ndarray:
    """llama.cpp's per-position KLD from the compact cache and the variant's full log-probabilities."""
    q_top = np.take_along_axis(q_logprobs, top_ids.astype(np.int64), axis=1)
    return head_kl(p_top, q_top) + tail_kl(tail, q_logprobs)


def llama_kld(p_logprobs: np.ndarray, q_logprobs: np.ndarray, floor: float = FLOOR) -> np.ndarray:
    """llama.cpp's definition on full vectors (the reference the compact cache is checked against):
    sum over base tokens with ln p > floor of p (ln p - ln q); not renormalized, as there."""
    lp = p_logprobs.astype(np.float64)
    return np.where(lp > floor, np.exp(lp) * (lp - q_logprobs.astype(np.float64)), 0.0).sum(axis=1)


def llama_cache_bytes_per_position(n_vocab: int) -> int:
    """llama-perplexity --kl-divergence-base: uint16 per token (rounded up to even) plus 8 bytes of scale."""
    return 2 * (2 * ((n_vocab + 1) // 2) + 4)


def cache_bytes_per_position(n_vocab: int, top_k: int, n_bands: int) -> int:
    """ids int32 + float16 log-probs for the top k, 4-bit codes, float32 mass and mean per band."""
    return top_k * 6 + (n_vocab + 1) // 2 + n_bands * 8
