"""Perplexity and distribution shift: llama-perplexity's arithmetic on hand cases, then the real CI
model (SmolLM2-135M rungs) on the first two 128-token windows of WikiText-2 test."""
import math

import numpy as np
import pytest

from quantbench_assets.lib.core import paths
from quantbench_assets.lib.measure import base_logits as bl
from quantbench_assets.lib.measure import perplexity as ppl
from quantbench_assets.lib.measure import ppl_math as pm
from quantbench_assets.lib.measure import ppl_windows as pw
from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
from quantbench_assets.lib.engines.llama import row_log_softmax as engine_log_softmax

N_CTX, N_WINDOWS, TOP_K = 128, 2, 64
# One thread: on the shared 2-core machines OpenMP's spin-waiting made two threads 3-4x slower
# than one (128-token eval: 4.0-5.8 s vs 1.4 s, measured 2026-11-22).
SETTINGS = EngineSettings(n_ctx=N_CTX, logits_all=True, n_threads=1)


# ─── arithmetic on hand cases ─────────────────────────────────────────────────────────────────


def test_bits_per_byte_is_the_total_nll_in_bits_over_the_bytes_predicted():
    # four tokens each given probability 1/2 carry 4 bits; over 2 bytes that is 2 bits per byte
    assert pm.bits_per_byte(4 * math.log(2), 2) == pytest.approx(2.0)
    with pytest.raises(pw.PerplexityError):
        pm.bits_per_byte(1.0, 0)


def test_a_run_summarises_ppl_its_standard_error_and_bits_per_byte_as_llama_perplexity_does():
    nll = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    windows = pw.Windows(np.zeros((2, 7), dtype=np.int32), n_available=5)
    run = ppl.RungRun(windows, nll, eval_s=[1.0, 1.0], wall_s=2.0, bytes_scored=np.array([10, 14]))
    s = run.perplexity()
    flat = nll.ravel()
    assert s["ppl"] == pytest.approx(math.exp(2.0))
    # llama.cpp: sqrt((E[x^2] - E[x]^2) / (N - 1)), scaled by PPL
    assert s["ppl_se"] == pytest.approx(math.exp(2.0) * flat.std() / math.sqrt(len(flat) - 1))
    assert s["bits_per_byte"] == pytest.approx(12.0 / math.log(2) / 24)
    assert (s["n_tokens_scored"], s["bytes_scored"], s["tok_per_s"]) == (6, 24, 7.0)


def test_windows_are_non_overlapping_with_bos_first_and_the_second_half_scored():
    tokens = np.arange(1000, dtype=np.int32)
    w = pw.make_windows(tokens, 100, 0, bos=7)
    assert w.tokens.shape == (10, 100) and w.n_available == 10
    assert (w.tokens[:, 0] == 7).all() and w.tokens[3, 1] == 301
    assert w.n_scored == 49 and w.targets[0, 0] == 51 and w.targets[0, -1] == 99
    assert pw.make_windows(tokens, 100, 3, bos=None).tokens[1, 0] == 100
    with pytest.raises(pw.PerplexityError, match="at least 1200"):
        pw.make_windows(tokens, 600, 0, bos=None)


def test_topk_kl_is_the_full_kl_when_k_is_the_vocabulary_and_never_exceeds_it_otherwise():
    rng = np.random.default_rng(0)
    base = pm.log_softmax(rng.normal(0, 3, (40, 50)).astype(np.float32))
    variant = pm.log_softmax((base + rng.normal(0, 0.5, base.shape)).astype(np.float32))
    exact = pm.full_kl(base, variant)
    for k, check in ((50, "equal"), (5, "below"), (1, "below")):
        ids, vals = pm.topk_of(base, k)
        approx = pm.topk_kl(vals, pm.mass_outside(base, ids), np.take_along_axis(variant, ids.astype(np.int64), 1),
                             pm.mass_outside(variant, ids))
        if check == "equal":
            np.testing.assert_allclose(approx, exact, rtol=1e-5, atol=1e-9)
        else:
            assert (approx <= exact + 1e-9).all() and approx.mean() < exact.mean()


def test_the_top_token_column_is_the_token_argmax_picks_even_on_ties():
    logits = np.array([[0.0, 5.0, 5.0, 1.0], [3.0, 3.0, 3.0, 3.0]], dtype=np.float32)
    ids, _ = pm.topk_of(pm.log_softmax(logits), 2)
    assert ids[:, 0].tolist() == logits.argmax(axis=1).tolist() == [1, 0]


# ─── the real CI model ────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def engines(smollm_rung):
    opened = {q: LlamaCppEngine(smollm_rung(q).stored.path, SETTINGS) for q in ("F16", "Q8_0", "Q2_K")}
    yield opened
    for e in opened.values():
        e.close()


@pytest.fixture(scope="module")
def windows(engines):
    # 40 kB of the file tokenize to ~10k tokens: plenty for two windows, and 0.3 s instead of 2.5 s
    text = pw.read_corpus(paths.benchmarks_dir() / pw.CORPUS_RELPATH)[:40_000]
    f16 = engines["F16"]
    return pw.make_windows(pw.tokenize_corpus(f16, text), N_CTX, N_WINDOWS,
                            f16.llm.token_bos() if pw.adds_bos(f16) else None)


@pytest.fixture(scope="module")
def f16_cache(engines, windows):
    return bl.build_base_logits(engines["F16"], windows, TOP_K, {"base_variant": "F16"})


@pytest.fixture(scope="module")
def q8_run(engines, windows, f16_cache):
    return ppl.run_rung(engines["Q8_0"], windows, f16_cache)


def test_perplexity_of_a_real_rung_is_finite_with_a_standard_error(q8_run, engines, windows):
    s = q8_run.perplexity()
    assert math.isfinite(s["ppl"]) and s["ppl"] > 1
    assert 0 < s["ppl_se"] < s["ppl"]
    assert s["n_tokens_scored"] == N_WINDOWS * (N_CTX // 2 - 1)
    assert 0.3 < s["bits_per_byte"] < 4  # a 135M model on Wikipedia: ~1.3
    # the last window again through Llama.eval (all logits kept) and the engine's float64 softmax:
    # the scored-half-only batch must read the same rows, in the same order
    llm = engines["Q8_0"].llm
    llm.reset()
    llm.eval(windows.tokens[-1].tolist())
    again = [-engine_log_softmax(llm.scores[windows.first + j])[t] for j, t in enumerate(windows.targets[-1])]
    np.testing.assert_allclose(q8_run.nll[-1], again, rtol=1e-4)


def test_a_rung_against_its_own_cache_has_zero_kld_and_always_the_same_top_token(engines, windows, f16_cache):
    s = ppl.run_rung(engines["F16"], windows, f16_cache, count_bytes=False).shift()
    # float16 log-probabilities in the cache leave ~1e-7 nats (second order in the rounding)
    assert 0 <= s["kld_max"] < 1e-5
    assert s["same_top_pct"] == 100.0
    assert s["ppl_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert s["delta_p_rms_pp"] < 1e-3


def test_q2_k_moves_further_from_f16_than_q8_0(engines, windows, f16_cache, q8_run):
    q8 = q8_run.shift()
    q2 = ppl.run_rung(engines["Q2_K"], windows, f16_cache, count_bytes=False).shift()
    assert q2["kld_mean"] > 5 * q8["kld_mean"] > 0
    assert q2["ppl_ratio"] > q8["ppl_ratio"]
    assert q2["same_top_pct"] < q8["same_top_pct"]
    assert q2["kld_median"] <= q2["kld_p99"] <= q2["kld_max"]


def test_the_cache_round_trips_and_is_addressed_by_base_settings_and_corpus(f16_cache, tmp_path):
    path = tmp_path / "cache.npz"
    bl.save_base_logits(path, f16_cache)
    back = bl.load_base_logits(path)
    for name in ("ids", "logprobs", "rest", "nll"):
        np.testing.assert_array_equal(getattr(back, name), getattr(f16_cache, name))
    np.testing.assert_array_equal(back.windows.tokens, f16_cache.windows.tokens)
    assert back.meta == f16_cache.meta and back.logprobs.dtype == np.float16 and back.ids.dtype == np.int32
    key = bl.cache_key("a" * 64, pw.PerplexitySettings(), "c" * 64)
    assert key != bl.cache_key("b" * 64, pw.PerplexitySettings(), "c" * 64)
    assert key != bl.cache_key("a" * 64, pw.PerplexitySettings(top_k=32), "c" * 64)
    assert key != bl.cache_key("a" * 64, pw.PerplexitySettings(), "d" * 64)


# ─── the per-window cache ─────────────────────────────────────────────────────────────────────


def _no_engine():
    raise AssertionError("the engine was opened although every window is cached")


def test_a_cached_run_is_read_back_bit_for_bit_without_the_engine(engines, windows, f16_cache, tmp_path):
    from quantbench_assets.lib.core.cache import SampleCache

    cache = SampleCache(tmp_path / "s.sqlite")
    parts = {"gguf": "q8" * 32, "corpus": "c" * 64, "build": "test-build"}
    first = ppl.run_rung(engines["Q8_0"], windows, f16_cache, count_bytes=False, cache=cache, key_parts=parts,
                         base_key="f16", log=lambda _m: None)
    plain = ppl.run_rung(engines["Q8_0"], windows, count_bytes=True, cache=cache, key_parts=parts, log=lambda _m: None)
    assert (cache.hits, cache.misses) == (0, 2 * N_WINDOWS)
    again = ppl.run_rung(_no_engine, windows, f16_cache, count_bytes=False, cache=cache, key_parts=parts,
                         base_key="f16", log=lambda _m: None)
    plain_again = ppl.run_rung(_no_engine, windows, count_bytes=True, cache=cache, key_parts=parts, log=lambda _m: None)
    assert cache.misses == 2 * N_WINDOWS and cache.hits == 2 * N_WINDOWS
    assert again.shift() == first.shift() and plain_again.perplexity() == plain.perplexity()
    # another base cache is another comparison: its windows are not reused
    with pytest.raises(AssertionError, match="every window is cached"):
        ppl.run_rung(_no_engine, windows, f16_cache, count_bytes=False, cache=cache, key_parts=parts,
                     base_key="another base", log=lambda _m: None)
    cache.close()


def test_rematerializing_a_finished_rung_loads_no_model(qb_env, smollm_rung, monkeypatch):
    """base_logits, perplexity and distribution_shift twice: the second time every window and the
    tokenized corpus come from the caches, and no engine is constructed."""
    import dagster as dg
    import duckdb
    from quantbench_assets.defs.resources import WarehouseResource

    from quantbench_assets.defs.measure import perplexity as ppl_defs
    from quantbench_assets.definitions import defs as load_defs

    smollm_rung("F16"), smollm_rung("Q8_0")
    opened = []

    class Counting(LlamaCppEngine):
        def __init__(self, *a, **kw):
            opened.append(a[0])
            super().__init__(*a, **kw)

    monkeypatch.setattr(ppl_defs, "LlamaCppEngine", Counting)
    defs = load_defs()
    model, variant = "smollm2-135m-instruct", "smollm2-135m-instruct__Q8_0"
    resources = {**defs.resources, "duckdb": WarehouseResource(database=str(qb_env / "warehouse.duckdb"))}
    cfg = {"n_windows": 2, "n_ctx": 128, "top_k": 16, "check_windows": 1}
    with dg.instance_for_test() as instance:
        def materialize(selection, partition_key=None):
            ops = {op: {"config": cfg} for op in ("base_logits", "perplexity", "distribution_shift")
                   if op in selection}
            return dg.materialize(list(defs.assets), selection=selection, partition_key=partition_key,
                                  instance=instance, resources=resources, run_config={"ops": ops})

        assert materialize(["model_catalog"]).success
        for v in (f"{model}__F16", variant):
            assert materialize(["gguf_variant"], v).success
        first = [materialize(["base_logits"], model), materialize(["perplexity", "perplexity_windows",
                                                                   "distribution_shift"], variant)]
        assert all(r.success for r in first)
        opened.clear()
        again = materialize(["perplexity", "perplexity_windows", "distribution_shift"], variant)
        assert again.success and opened == []
        mats = [e.event_specific_data.materialization for e in again.get_asset_materialization_events()]
        meta = {m.asset_key.to_user_string(): m.metadata for m in mats}
        assert meta["perplexity"]["windows_evaluated"].value == 0
        assert meta["distribution_shift"]["windows_evaluated"].value == 0
        assert meta["distribution_shift"]["model_loaded"].value is False
        # The banded tail (on by default) makes the cached KLD the full-vocabulary KLD: with only 16 exact
        # tokens a position, the top-k bound alone falls far short; with the tail it is within 1%.
        con = duckdb.connect(str(qb_env / "warehouse.duckdb"), read_only=True)
        gap = con.execute("select kld_topk_gap_pct from raw.distribution_shift where variant = ?", [variant]).fetchone()[0]
        con.close()
        assert abs(gap) < 1.0, gap
