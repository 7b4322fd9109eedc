"""The compact base-logit cache (lib/measure/kld_cache.py): its KLD against llama.cpp's definition
computed on full vectors, on synthetic distributions and on the real CI model's rungs."""
import numpy as np
import pytest

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.measure import base_logits as bl
from quantbench_assets.lib.measure import kld_cache as kc
from quantbench_assets.lib.measure import perplexity as ppl
from quantbench_assets.lib.measure.ppl_math import full_kl, log_softmax, mass_outside, topk_kl, topk_of
from quantbench_assets.lib.measure.ppl_windows import (CORPUS_RELPATH, adds_bos, make_windows, read_corpus,
                                                       tokenize_corpus, window_logits)


def _pair(rng, n=40, v=5000, noise=0.6):
    """A peaked base distribution with a heavy tail, and a perturbed variant (a low-bit rung's shape)."""
    base = rng.standard_normal((n, v)).astype(np.float32) * 3
    base[:, :5] += 12
    var = base + rng.standard_normal((n, v)).astype(np.float32) * noise
    return log_softmax(base), log_softmax(var)


def test_pack4_round_trips_odd_widths():
    codes = np.random.default_rng(0).integers(0, 16, size=(3, 7)).astype(np.uint8)
    assert np.array_equal(kc.unpack4(kc.pack4(codes), 7), codes)


def test_band_masses_are_exact_and_the_floor_is_llamas():
    lb, _ = _pair(np.random.default_rng(1))
    ids, _ = topk_of(lb, 16)
    tail = kc.encode_tail(lb, ids, 15)
    outside = np.exp(lb.astype(np.float64))
    np.put_along_axis(outside, ids.astype(np.int64), 0.0, axis=1)
    above = np.where(lb > kc.FLOOR, outside, 0.0).sum(axis=1)
    assert np.allclose(tail.mass.sum(axis=1), above, rtol=1e-5)
    codes = kc.unpack4(tail.codes, lb.shape[1])
    assert (codes[lb <= kc.FLOOR] == 0).all()
    assert (np.take_along_axis(codes, ids.astype(np.int64), axis=1) == 0).all()


def test_compact_kld_matches_llamas_definition_where_topk_alone_falls_short():
    lb, lq = _pair(np.random.default_rng(2))
    ref = kc.llama_kld(lb, lq).mean()
    ids, vals = topk_of(lb, 16)
    est = kc.kld(vals.astype(np.float16), ids, kc.encode_tail(lb, ids, 15), lq).mean()
    topk_only = topk_kl(vals.astype(np.float16), mass_outside(lb, ids).astype(np.float32),
                            np.take_along_axis(lq, ids.astype(np.int64), axis=1), mass_outside(lq, ids)).mean()
    assert abs(est / ref - 1) < 0.01
    assert topk_only / ref - 1 < -0.05  # the case the tail is for
    # one band is a coarse estimate: more bands must do at least as well here
    one = kc.kld(vals.astype(np.float16), ids, kc.encode_tail(lb, ids, 1), lq).mean()
    assert abs(est / ref - 1) <= abs(one / ref - 1)


def test_a_rung_against_itself_scores_about_zero():
    lb, _ = _pair(np.random.default_rng(3))
    ids, vals = topk_of(lb, 16)
    assert abs(kc.kld(vals.astype(np.float16), ids, kc.encode_tail(lb, ids), lb).mean()) < 1e-3


def test_band_count_is_checked():
    lb, _ = _pair(np.random.default_rng(4), n=2, v=50)
    ids, _ = topk_of(lb, 4)
    with pytest.raises(ValueError, match="n_bands"):
        kc.encode_tail(lb, ids, 16)


def test_sizes_against_llamas_file():
    assert kc.llama_cache_bytes_per_position(49152) == 98312
    assert kc.cache_bytes_per_position(49152, 64, 15) < kc.llama_cache_bytes_per_position(49152) / 3


def test_real_rungs_kld_through_the_base_cache_within_1pct_of_llamas(smollm_rung, tmp_path):
    """SmolLM2 F16 base vs its Q2_K rung, one window of 256: the cache with its banded tail (saved and
    loaded) gives llama.cpp's KLD within 1%; the top-k-only cache of the same k falls well short."""
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine

    corpus = paths.benchmarks_dir() / CORPUS_RELPATH
    settings = EngineSettings(n_ctx=256, n_batch=256, logits_all=True, n_threads=2)
    with LlamaCppEngine(smollm_rung("F16").stored.path, settings) as base_eng:
        w = make_windows(tokenize_corpus(base_eng, read_corpus(corpus)), 256, 1,
                         base_eng.llm.token_bos() if adds_bos(base_eng) else None)
        base_rows = np.array(window_logits(base_eng, w.tokens[0], w.first))
        cache = bl.build_base_logits(base_eng, w, 64, {}, tail_bands=15)
        plain = bl.build_base_logits(base_eng, w, 64, {})
    with LlamaCppEngine(smollm_rung("Q2_K").stored.path, settings) as eng:
        q_rows = np.array(window_logits(eng, w.tokens[0], w.first))
        bl.save_base_logits(tmp_path / "c.npz", cache)
        loaded = bl.load_base_logits(tmp_path / "c.npz")
        with_tail = ppl.run_rung(eng, w, loaded, count_bytes=False, log=lambda _m: None).kld.mean()
        top_only = ppl.run_rung(eng, w, plain, count_bytes=False, log=lambda _m: None).kld.mean()
    lb, lq = log_softmax(base_rows), log_softmax(q_rows)
    ref = kc.llama_kld(lb, lq).mean()
    assert ref > 0.05  # a real shift: Q2_K on this model is the cliff
    assert abs(with_tail / ref - 1) < 0.01, (with_tail, ref)
    assert top_only / ref - 1 < -0.05
    assert abs(ref / full_kl(lb, lq).mean() - 1) < 0.02  # llama's floor drops little here
