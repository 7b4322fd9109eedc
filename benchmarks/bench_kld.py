"""Our KL divergence (lib/measure: base-logit cache + kld_cache's banded tail) against llama.cpp's own
`llama-perplexity --kl-divergence-base` / `--kl-divergence`: same GGUF files, same WikiText-2 windows.

Pass: mean KLD within 1% of llama-perplexity's on every rung, with a cache far smaller than its
full-logits file. Also compared: same-top-token rate and the Δp percentiles (change of the correct
token's probability), and, for reference, the top-k-only cache (a lower bound) at the same k.

llama-perplexity comes from scripts/build_llama_tools.sh (the llama.cpp sources vendored in the
llama-cpp-python sdist we pin, so both sides run the same ggml). Both sides: no extra buffer types
(--no-repack / extra_buffers=False), flash attention off, batch = n_ctx.

    python benchmarks/bench_kld.py                                   # CI model: F16 base vs Q8_0, Q4_K_M, Q2_K
    python benchmarks/bench_kld.py --windows 8 --record
    python benchmarks/bench_kld.py --model qwen2.5-coder-1.5b-instruct --base Q4_K_M --rungs Q3_K_M Q2_K
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_perplexity import machine  # noqa: E402

from quantbench_assets.lib.core import paths  # noqa: E402
from quantbench_assets.lib.gguf import imatrix as im  # noqa: E402
from quantbench_assets.lib.measure import base_logits as bl  # noqa: E402
from quantbench_assets.lib.measure import kld_cache as kc  # noqa: E402
from quantbench_assets.lib.measure import perplexity as ppl  # noqa: E402
from quantbench_assets.lib.measure.ppl_windows import (CORPUS_RELPATH, adds_bos, make_windows,  # noqa: E402
                                                       read_corpus, tokenize_corpus)

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PERCENTILES = (("Maximum", 1.0), ("99.9%", 0.999), ("99.0%", 0.99), ("95.0%", 0.95), ("Median", 0.5),
               ("5.0%", 0.05), ("1.0%", 0.01), ("Minimum", 0.0))


def rung_path(model: str, quant: str) -> Path:
    """The rung's GGUF, built into the artifact store if it is not there yet (as gguf_variant does)."""
    from quantbench_assets.lib.catalog.acquire import acquire_base
    from quantbench_assets.lib.catalog.entries import load_catalog
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.quantize import build_rung

    entry = load_catalog(paths.catalog_path()).get(model)
    store = ArtifactStore(paths.artifacts_dir())
    return build_rung(acquire_base(entry, store), entry.base_quant, quant, store).stored.path


def llama_cmd(gguf: Path, corpus: Path, logits_file: Path, n_ctx: int, windows: int, threads: int,
              compare: bool) -> list[str]:
    return [str(im.tool("llama-perplexity")), "-m", str(gguf), "-f", str(corpus), "-c", str(n_ctx),
            "-b", str(n_ctx), "--chunks", str(windows), "-t", str(threads), "-fa", "off", "--no-repack",
            "--kl-divergence-base", str(logits_file), *(["--kl-divergence"] if compare else [])]


def _num(pattern: str, log: str) -> float:
    m = re.search(pattern, log)
    if not m:
        raise RuntimeError(f"no match for {pattern!r} in llama-perplexity's output:\n{log[-3000:]}")
    return float(m.group(1))


def parse_llama_kld(log: str) -> dict:
    out = {"kld_mean": _num(r"Mean    KLD:\s*([-\d.]+)", log), "kld_mean_se": _num(r"Mean    KLD:\s*[-\d.]+ ±\s*([-\d.]+)", log),
           "same_top_pct": _num(r"Same top p:\s*([-\d.]+)", log)}
    for name, _q in PERCENTILES:
        out[f"dp_{name}"] = _num(re.escape(name.rjust(5) if name[0].isdigit() and len(name) == 4 else name)
                                 + r"\s+Δp:\s*([-\d.]+)%", log)
    return out


def theirs(base: Path, rungs: dict[str, Path], corpus: Path, n_ctx: int, windows: int, threads: int,
           work: Path) -> tuple[dict, int]:
    logits_file = work / "base.kld"
    subprocess.run(llama_cmd(base, corpus, logits_file, n_ctx, windows, threads, False), check=True,
                   capture_output=True)
    results = {}
    for quant, path in rungs.items():
        proc = subprocess.run(llama_cmd(path, corpus, logits_file, n_ctx, windows, threads, True),
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"llama-perplexity --kl-divergence exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        results[quant] = parse_llama_kld(proc.stdout + proc.stderr)
    return results, logits_file.stat().st_size


def summary(nll: np.ndarray, base_nll: np.ndarray, kld: np.ndarray, same_top: np.ndarray) -> dict:
    s = ppl.shift_stats(nll, base_nll, kld, same_top)
    dp = 100 * (np.exp(-nll) - np.exp(-base_nll))
    return {"kld_mean": s["kld_mean"], "kld_mean_se": s["kld_mean_se"], "same_top_pct": s["same_top_pct"],
            **{f"dp_{name}": float(np.quantile(dp, q)) for name, q in PERCENTILES}}


def ours(base: Path, rungs: dict[str, Path], corpus: Path, n_ctx: int, windows: int, threads: int,
         top_k: int, bands: int, work: Path) -> tuple[dict, dict, dict]:
    """One decode per window and rung, scored twice: against the cache with its banded tail and
    against the same cache without it (the top-k-only lower bound at the same k)."""
    from dataclasses import replace

    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine
    from quantbench_assets.lib.measure.ppl_math import Normalizer, score_window
    from quantbench_assets.lib.measure.ppl_windows import window_logits

    settings = EngineSettings(n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=threads)
    with LlamaCppEngine(base, settings) as eng:
        w = make_windows(tokenize_corpus(eng, read_corpus(corpus)), n_ctx, windows,
                         eng.llm.token_bos() if adds_bos(eng) else None)
        t0 = time.perf_counter()
        compact = bl.build_base_logits(eng, w, top_k, {}, tail_bands=bands)
        build_s = time.perf_counter() - t0
        n_vocab = eng.llm.n_vocab()
    plain = replace(compact, tail_codes=None, tail_mass=None, tail_mean_lp=None)
    sizes = {"compact": bl.save_base_logits(work / "compact.npz", compact),
             "topk": bl.save_base_logits(work / "topk.npz", plain)}
    loaded = bl.load_base_logits(work / "compact.npz")  # scored from the file, as the pipeline would
    res = {}
    for quant, path in rungs.items():
        nll, bnll, k_c, k_p, same = [], [], [], [], []
        norm = Normalizer()
        with LlamaCppEngine(path, settings) as eng:
            for i in range(w.tokens.shape[0]):
                logits = window_logits(eng, w.tokens[i], w.first)
                s = score_window(logits, w.targets[i], loaded.window(i), norm)
                k_p.append(score_window(logits, w.targets[i], plain.window(i), norm).kld)
                nll.append(s.nll), bnll.append(s.base_nll), k_c.append(s.kld), same.append(s.same_top)
        cat = np.concatenate
        res[quant] = summary(cat(nll), cat(bnll), cat(k_c), cat(same)) | {"topk_kld_mean": float(cat(k_p).mean())}
    positions = w.tokens.shape[0] * w.n_scored
    meta = {"positions": positions, "n_vocab": n_vocab, "build_s": build_s,
            "bytes_per_position_raw": kc.cache_bytes_per_position(n_vocab, top_k, bands)}
    return res, sizes, meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--base", default="F16")
    ap.add_argument("--rungs", nargs="+", default=["Q8_0", "Q4_K_M", "Q2_K"])
    ap.add_argument("--n-ctx", type=int, default=512)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=64)
    ap.add_argument("--bands", type=int, default=15)
    ap.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.relative_to(ROOT)}")
    a = ap.parse_args()

    corpus = paths.benchmarks_dir() / CORPUS_RELPATH
    base = rung_path(a.model, a.base)
    rungs = {q: rung_path(a.model, q) for q in a.rungs}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        t, llama_bytes = theirs(base, rungs, corpus, a.n_ctx, a.windows, a.threads, work)
        o, sizes, meta = ours(base, rungs, corpus, a.n_ctx, a.windows, a.threads, a.top_k, a.bands, work)
    rows = ["| rung | KLD llama-perplexity | KLD ours (compact) | Δ | top-k only (k=%d) "
            "| same top p: llama / ours | Δp 1%% / median / 99%%: llama | ours |" % a.top_k,
            "|---|---|---|---|---|---|---|---|"]
    ok = True
    for q in a.rungs:
        tq, oq = t[q], o[q]
        diff = 100 * (oq["kld_mean"] / tq["kld_mean"] - 1)
        ok &= abs(diff) <= 1.0
        rows.append(
            f"| {q} | {tq['kld_mean']:.6f} ± {tq['kld_mean_se']:.6f} | {oq['kld_mean']:.6f} ± {oq['kld_mean_se']:.6f} "
            f"| {diff:+.3f}% | {oq['topk_kld_mean']:.6f} ({100 * (oq['topk_kld_mean'] / tq['kld_mean'] - 1):+.1f}%) "
            f"| {tq['same_top_pct']:.3f} / {oq['same_top_pct']:.3f} "
            f"| {tq['dp_1.0%']:.3f} / {tq['dp_Median']:.3f} / {tq['dp_99.0%']:.3f} "
            f"| {oq['dp_1.0%']:.3f} / {oq['dp_Median']:.3f} / {oq['dp_99.0%']:.3f} |")
    n = meta["positions"]
    lines = rows + [
        "",
        f"- {n} scored positions ({a.windows} windows of {a.n_ctx}); vocabulary {meta['n_vocab']:,}",
        f"- cache sizes: llama-perplexity's base file {llama_bytes / 1e6:.2f} MB "
        f"({llama_bytes / n / 1e3:.1f} kB a position); ours (top-{a.top_k} + {a.bands} bands, npz compressed) "
        f"{sizes['compact'] / 1e6:.2f} MB ({sizes['compact'] / n / 1e3:.1f} kB a position, "
        f"{meta['bytes_per_position_raw'] / 1e3:.1f} kB uncompressed) = {100 * sizes['compact'] / llama_bytes:.1f}% "
        f"of llama's; top-{a.top_k} only {sizes['topk'] / 1e6:.2f} MB",
        f"- mean KLD within 1% of llama-perplexity's on every rung: {'PASS' if ok else 'FAIL'}",
    ]
    print("\n".join(lines))
    if a.record:
        section = [f"\n## KL divergence vs llama-perplexity --kl-divergence — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n",
                   f"- machine: {machine()}",
                   f"- model {a.model}, base {a.base}; `python benchmarks/bench_kld.py --model {a.model} --base {a.base} "
                   f"--rungs {' '.join(a.rungs)} --windows {a.windows} --top-k {a.top_k} --bands {a.bands}`",
                   "- theirs: `llama-perplexity --kl-divergence-base` then `--kl-divergence`, built by "
                   "scripts/build_llama_tools.sh from the llama-cpp-python 0.3.36 sdist; KLD and Δp in its "
                   "definition (base tokens with ln p > -16), Δp in percentage points", "", *lines]
        with RESULTS.open("a") as f:
            f.write("\n".join(section) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
