"""Importance-matrix rungs against plain ones: KL divergence and same-top-token rate vs the base rung,
with and without the matrix, on the same WikiText-2 windows; the difference is paired by position.

The matrix comes from llama-imatrix on data/calibration/gsm8k_train_400.txt (GSM8K *train* problems:
not the WikiText-2 test text the KLD is measured on); the rungs from llama-quantize --imatrix
(lib/gguf/imatrix.py; tools from scripts/build_llama_tools.sh). KLD is llama-perplexity's
definition, from the compact base cache (lib/measure/kld_cache.py).

    python benchmarks/bench_imatrix.py                     # SmolLM2: F16 base; Q4_K_M, Q2_K with and without
    python benchmarks/bench_imatrix.py --model qwen2.5-coder-1.5b-instruct --base Q4_K_M --quants Q3_K_M Q2_K --record
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_perplexity import machine  # noqa: E402

from quantbench_assets.lib.catalog.acquire import acquire_base  # noqa: E402
from quantbench_assets.lib.catalog.entries import load_catalog  # noqa: E402
from quantbench_assets.lib.core import paths  # noqa: E402
from quantbench_assets.lib.core.store import ArtifactStore  # noqa: E402
from quantbench_assets.lib.gguf import imatrix as im  # noqa: E402
from quantbench_assets.lib.gguf.quantize import build_rung  # noqa: E402
from quantbench_assets.lib.measure import base_logits as bl  # noqa: E402
from quantbench_assets.lib.measure.ppl_math import Normalizer, mean_se, score_window  # noqa: E402
from quantbench_assets.lib.measure.ppl_windows import (CORPUS_RELPATH, adds_bos, make_windows, read_corpus,  # noqa: E402
                                                       tokenize_corpus, window_logits)

RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def score(path: Path, w, cache, settings) -> tuple[np.ndarray, np.ndarray]:
    from quantbench_assets.lib.engines.llama import LlamaCppEngine

    kld, same = [], []
    norm = Normalizer()
    with LlamaCppEngine(path, settings) as eng:
        for i in range(w.tokens.shape[0]):
            s = score_window(window_logits(eng, w.tokens[i], w.first), w.targets[i], cache.window(i), norm)
            kld.append(s.kld), same.append(s.same_top)
    return np.concatenate(kld), np.concatenate(same)


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of b - a over the same positions and its standard error (llama.cpp's formula)."""
    return mean_se(b.astype(np.float64) - a.astype(np.float64))


def main() -> int:
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--base", default="F16")
    ap.add_argument("--quants", nargs="+", default=["Q4_K_M", "Q2_K"])
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--n-ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=64, help="calibration windows for llama-imatrix")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()

    entry = load_catalog(paths.catalog_path()).get(a.model)
    store = ArtifactStore(paths.artifacts_dir())
    base_file = acquire_base(entry, store)
    t0 = time.perf_counter()
    settings_im = im.ImatrixSettings(chunks=a.chunks, threads=a.threads)
    rungs = {}
    for q in a.quants:
        rungs[q] = build_rung(base_file, entry.base_quant, q, store)
        rungs[f"{q}-imat"], matrix = im.build_imatrix_rung(base_file, entry.base_quant, f"{q}-imat", store,
                                                           settings=settings_im)
    build_s = time.perf_counter() - t0
    base = build_rung(base_file, entry.base_quant, a.base, store)
    settings = EngineSettings(n_ctx=a.n_ctx, n_batch=a.n_ctx, logits_all=True, n_threads=a.threads)
    with LlamaCppEngine(base.stored.path, settings) as eng:
        w = make_windows(tokenize_corpus(eng, read_corpus(paths.benchmarks_dir() / CORPUS_RELPATH)), a.n_ctx,
                         a.windows, eng.llm.token_bos() if adds_bos(eng) else None)
        cache = bl.build_base_logits(eng, w, 64, {}, tail_bands=15)
    scored = {q: score(r.stored.path, w, cache, settings) for q, r in rungs.items()}
    n = len(next(iter(scored.values()))[0])
    lines = ["| rung | obtained (mix) | bits/weight | KLD ± SE | same top % | with matrix: KLD ± SE | same top % "
             "| Δ KLD (imat − plain), paired, 95% CI | Δ KLD % | Δ same top pp, 95% CI |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for q in a.quants:
        p, m = rungs[q], rungs[f"{q}-imat"]
        (kp, sp), (km, sm) = scored[q], scored[f"{q}-imat"]
        dk, dk_se = paired(kp, km)
        ds, ds_se = paired(sp, sm)
        kp_m, kp_se = mean_se(kp)
        km_m, km_se = mean_se(km)
        lines.append(
            f"| {q} | {p.info.quant_obtained} ({p.info.quant_mix}) | {p.info.bits_per_weight:.2f} / {m.info.bits_per_weight:.2f} "
            f"| {kp_m:.4f} ± {kp_se:.4f} | {100 * sp.mean():.2f} | {km_m:.4f} ± {km_se:.4f} | {100 * sm.mean():.2f} "
            f"| {dk:+.4f} [{dk - 1.96 * dk_se:+.4f}, {dk + 1.96 * dk_se:+.4f}] | {100 * dk / kp_m:+.1f}% "
            f"| {100 * ds:+.2f} [{100 * (ds - 1.96 * ds_se):+.2f}, {100 * (ds + 1.96 * ds_se):+.2f}] |")
    lines += ["", f"- {n} scored positions ({a.windows} windows of {a.n_ctx}) of WikiText-2 test; base {a.base}; "
              f"KLD in llama-perplexity's definition (compact cache, top-64 + 15 bands)",
              f"- matrix: llama-imatrix on the base file, {a.chunks} chunks of {a.n_ctx} tokens of "
              f"{matrix.calibration} (sha256 {matrix.calibration_sha256[:16]}…), matrix sha256 {matrix.sha256[:16]}…; "
              f"rungs and matrix built in {build_s:.0f} s (cached ones reused)"]
    print("\n".join(lines))
    if a.record:
        with RESULTS.open("a") as f:
            f.write("\n".join([f"\n## Importance-matrix rungs — {a.model} — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n",
                               f"- machine: {machine()}",
                               f"- `python benchmarks/bench_imatrix.py --model {a.model} --base {a.base} --quants "
                               f"{' '.join(a.quants)} --windows {a.windows} --chunks {a.chunks}`", "", *lines]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
