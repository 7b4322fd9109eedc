"""Our perplexity (lib.perplexity) against llama.cpp's own `llama-perplexity`, same GGUF, same text.

Pass: PPL within 0.5% of llama-perplexity's, and our throughput >= 0.9x its own.

llama-perplexity is built from the sources vendored in the llama-cpp-python sdist we pin (0.3.36), so
both sides run the same ggml: `pip download --no-binary` fetches the sdist into benchmarks/.build/
(git-ignored), cmake builds only the llama-perplexity target (~15-25 min on 2 shared cores).
Configured with -DGGML_NATIVE=ON like the pip build, AMX included (the CPU has it); both sides run
without llama.cpp's extra buffer types (ours: EngineSettings.extra_buffers=False, theirs:
--no-repack), because a native 0.3.36 build segfaults in ggml_backend_amx_mul_mat on multi-token
batches on these CPUs (engine.py). Flash attention off on both (llama-cpp-python's default).

Throughput is tokens through the model per second: windows x n_ctx over the time of the window loop,
decode plus scoring, on both sides (theirs from its log's timestamps, "calculating perplexity" to
"Final estimate"; ours from lib.perplexity's loop timer). Decode-only rates are printed beside them
(theirs: llama_perf_context_print's prompt eval; ours: time inside window_logits). Both sides warm up
before the loop (llama.cpp's common_init does). Runs alternate (ours, theirs, ours, ...) and the
verdict is the median of the per-pair ratios, because the machine is shared and its load drifts.

    python benchmarks/bench_perplexity.py                 # CI model Q8_0, 8 windows of 512, 1 thread
    python benchmarks/bench_perplexity.py --threads 2 --reps 3 --record
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantbench_assets.lib.core import paths  # noqa: E402
from quantbench_assets.lib.measure import perplexity as ppl  # noqa: E402
from quantbench_assets.lib.measure import ppl_windows as pw  # noqa: E402

LLAMA_CPP_PYTHON = "0.3.36"
BUILD = ROOT / "benchmarks" / ".build"
SRC = BUILD / f"llama_cpp_python-{LLAMA_CPP_PYTHON}" / "vendor" / "llama.cpp"
BUILD_DIR = BUILD / "llama.cpp-build"
BINARY = BUILD_DIR / "bin" / "llama-perplexity"
CMAKE_FLAGS = [
    "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CI_MODEL = "smollm2-135m-instruct"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def ensure_binary() -> Path:
    if BINARY.exists():
        return BINARY
    BUILD.mkdir(parents=True, exist_ok=True)
    if not SRC.exists():
        sdist = BUILD / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"
        if not sdist.exists():
            run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", str(BUILD)])
        with tarfile.open(sdist) as tar:
            tar.extractall(BUILD, filter="data")
    run(["cmake", "-S", str(SRC), "-B", str(BUILD_DIR), *CMAKE_FLAGS])
    run(["cmake", "--build", str(BUILD_DIR), "--target", "llama-perplexity", "-j", str(os.cpu_count() or 1)])
    return BINARY


def default_gguf(quant: str) -> Path:
    """The CI model's rung from the artifact store (built there by gguf_variant or the tests)."""
    from quantbench_assets.lib.catalog.acquire import acquire_base
    from quantbench_assets.lib.catalog.entries import load_catalog, variant_key
    from quantbench_assets.lib.gguf.quantize import build_rung
    from quantbench_assets.lib.core.store import ArtifactStore
    from quantbench_assets.lib.gguf.rungs import read_manifest

    store = ArtifactStore(paths.artifacts_dir())
    try:
        return Path(read_manifest(store, variant_key(CI_MODEL, quant))["path"])
    except FileNotFoundError:
        entry = load_catalog(paths.catalog_path()).get(CI_MODEL)
        return build_rung(acquire_base(entry, store), entry.base_quant, quant, store).stored.path


def _stamp(log: str, marker: str) -> float:
    """Seconds since start from llama.cpp's log prefix "m.ss.mmm.uuu" of the line holding `marker`."""
    # not anchored at a line start: unprefixed progress output (stdout) can end mid-line before it
    m = re.search(r"(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) \w " + re.escape(marker), log)
    if not m:
        raise RuntimeError(f"no log line with {marker!r}")
    mi, se, ms, us = map(int, m.groups())
    return mi * 60 + se + ms / 1e3 + us / 1e6


def theirs(binary: Path, gguf: Path, corpus: Path, n_ctx: int, windows: int, threads: int) -> dict:
    # -lv 4: llama_perf_context_print's lines are logged at a level the default verbosity hides
    cmd = [str(binary), "-m", str(gguf), "-f", str(corpus), "-c", str(n_ctx), "-b", str(n_ctx),
           "--chunks", str(windows), "-t", str(threads), "-tb", str(threads), "-fa", "off", "--no-repack", "-lv", "4"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"llama-perplexity exited {proc.returncode}:\n{log[-3000:]}")
    final = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", log)
    pe = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", log)
    if not final or not pe:
        raise RuntimeError(f"could not parse llama-perplexity output:\n{log[-3000:]}")
    eval_ms, n_tok = float(pe.group(1)), int(pe.group(2))
    loop_s = _stamp(log, "Final estimate") - _stamp(log, "perplexity: calculating perplexity")
    return {"ppl": float(final.group(1)), "ppl_se": float(final.group(2)), "tok_per_s": n_tok / loop_s,
            "eval_tok_per_s": n_tok / (eval_ms / 1000), "tokens": n_tok, "process_wall_s": wall,
            "cmd": " ".join(cmd)}


def ours(gguf: Path, corpus: Path, n_ctx: int, windows: int, threads: int) -> dict:
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine

    t0 = time.perf_counter()
    with LlamaCppEngine(gguf, EngineSettings(n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, n_threads=threads)) as eng:
        w = pw.make_windows(pw.tokenize_corpus(eng, pw.read_corpus(corpus)), n_ctx, windows,
                             eng.llm.token_bos() if pw.adds_bos(eng) else None)
        pw.window_logits(eng, w.tokens[0][:16], 8)  # warm-up, as llama.cpp's common_init does before its loop
        run_ = ppl.run_rung(eng, w)
        build = eng.build
    s = run_.perplexity()
    return {"ppl": s["ppl"], "ppl_se": s["ppl_se"], "bits_per_byte": s["bits_per_byte"], "tok_per_s": s["tok_per_s"],
            "eval_tok_per_s": run_.tokens_evaluated / s["eval_s"], "tokens": run_.tokens_evaluated,
            "process_wall_s": time.perf_counter() - t0, "engine_build": build}


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    amx = "amx_int8" in Path("/proc/cpuinfo").read_text()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores{' (AMX)' if amx else ''}, Linux {platform.release()}; load average {load}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", type=Path, help="default: the CI model's rung given by --quant")
    ap.add_argument("--quant", default="Q8_0")
    ap.add_argument("--n-ctx", type=int, default=512)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1,
                    help="1 by default: with 2 OpenMP threads on a shared 2-core machine spin-waiting dominates")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--record", action="store_true", help=f"append the result to {RESULTS.relative_to(ROOT)}")
    a = ap.parse_args()

    binary = ensure_binary()
    gguf = a.gguf or default_gguf(a.quant)
    corpus = paths.benchmarks_dir() / pw.CORPUS_RELPATH
    runs_ours, runs_theirs = [], []
    for rep in range(a.reps):
        runs_ours.append(ours(gguf, corpus, a.n_ctx, a.windows, a.threads))
        runs_theirs.append(theirs(binary, gguf, corpus, a.n_ctx, a.windows, a.threads))
        o, t = runs_ours[-1], runs_theirs[-1]
        print(f"rep {rep + 1}: ours {o['tok_per_s']:.1f} tok/s (decode {o['eval_tok_per_s']:.1f}), "
              f"llama-perplexity {t['tok_per_s']:.1f} tok/s (decode {t['eval_tok_per_s']:.1f})", flush=True)

    o, t = runs_ours[-1], runs_theirs[-1]
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    per_rep = lambda rs: ", ".join(f"{r['tok_per_s']:.1f}" for r in rs)  # noqa: E731
    ppl_diff_pct = 100 * (o["ppl"] / t["ppl"] - 1)
    # paired: each rep's ours/theirs ratio (the two ran back to back), then the median of those, so
    # a burst of load from the machine's other tenants moves one pair, not the verdict
    paired = [o_["tok_per_s"] / t_["tok_per_s"] for o_, t_ in zip(runs_ours, runs_theirs)]
    ratio = statistics.median(paired)
    eval_ratio = statistics.median(o_["eval_tok_per_s"] / t_["eval_tok_per_s"] for o_, t_ in zip(runs_ours, runs_theirs))
    ok_ppl, ok_speed = abs(ppl_diff_pct) <= 0.5, ratio >= 0.9
    lines = [
        f"| | PPL | ± SE | loop tok/s (median of {a.reps}) | decode-only tok/s (median) | loop tok/s per rep |",
        "|---|---|---|---|---|---|",
        f"| quantbench (lib.perplexity) | {o['ppl']:.4f} | {o['ppl_se']:.4f} | {med(runs_ours, 'tok_per_s'):.1f} "
        f"| {med(runs_ours, 'eval_tok_per_s'):.1f} | {per_rep(runs_ours)} |",
        f"| llama-perplexity | {t['ppl']:.4f} | {t['ppl_se']:.4f} | {med(runs_theirs, 'tok_per_s'):.1f} "
        f"| {med(runs_theirs, 'eval_tok_per_s'):.1f} | {per_rep(runs_theirs)} |",
        "",
        f"- PPL difference: {ppl_diff_pct:+.4f}% (limit ±0.5%): {'PASS' if ok_ppl else 'FAIL'}",
        f"- throughput ratio ours/theirs, loop, median of paired reps: {ratio:.3f} "
        f"(per rep {', '.join(f'{r:.2f}' for r in paired)}; limit ≥ 0.9; decode only {eval_ratio:.3f}): "
        f"{'PASS' if ok_speed else 'FAIL'}",
        f"- bits per byte (ours): {o['bits_per_byte']:.4f}",
    ]
    print("\n".join(lines))
    if a.record:
        section = [
            f"\n## Perplexity vs llama-perplexity — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n",
            f"- machine: {machine()}",
            f"- GGUF: `{gguf.name}` ({a.quant if not a.gguf else 'given'}), WikiText-2 raw test, "
            f"n_ctx {a.n_ctx}, first {a.windows} windows ({o['tokens']} tokens through the model), {a.threads} thread(s)",
            f"- ours: {o['engine_build']}, extra buffers off, flash attention off",
            f"- theirs: `llama-perplexity` built from the llama-cpp-python {LLAMA_CPP_PYTHON} sdist "
            f"({' '.join(CMAKE_FLAGS[2:])}); `{t['cmd'].replace(str(ROOT) + '/', '')}`",
            "- throughput: windows x n_ctx over the window loop (decode + scoring) on both sides; decode-only "
            "beside it (theirs: llama_perf prompt eval; ours: time in window_logits)",
            "", *lines, "",
        ]
        with open(RESULTS, "a") as f:
            f.write("\n".join(section))
        print(f"recorded in {RESULTS}")
    return 0 if ok_ppl and ok_speed else 1


if __name__ == "__main__":
    sys.exit(main())
