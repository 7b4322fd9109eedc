"""The cost of one evaluated token: quantbench's engine (llama.cpp in process) against transformers'
float32 forward (what lm-eval's `--model hf` runs) on the same GGUF file, same threads.

This is the per-token half of bench_lmeval_hf.py's items/s ratio: that ratio is (tokens lm-eval hf
evaluates / tokens quantbench evaluates) x (this ratio). Both sides evaluate the same random token ids
from an empty cache, one sequence of n tokens, and compute the logit row of the last position only
(as scoring does: quantbench asks llama.cpp for the rows it reads; lm-eval hf computes every row, so
its side here is a lower bound on its cost). Best of 3 per length.

    python benchmarks/bench_token_cost.py --threads 2 --lengths 64,512,1024 --append-results
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.bench_lmeval_hf import MODELS, gguf_for, machine, report  # noqa: E402


def ours(path: Path, threads: int, lengths: list[int], reps: int = 3) -> dict[int, float]:
    import numpy as np

    from quantbench_assets.lib.engines.decoding import decode_rows
    from quantbench_assets.lib.engines.llama import EngineSettings, LlamaCppEngine

    out = {}
    with LlamaCppEngine(path, EngineSettings(n_ctx=max(lengths), n_threads=threads)) as engine:
        llm = engine.llm
        for n in lengths:
            tokens = [int(t) for t in np.random.default_rng(n).integers(100, 20000, n)]
            best = float("inf")
            for _ in range(reps):
                llm._ctx.kv_cache_seq_rm(-1, 0, -1)
                t = time.perf_counter()
                for _rows in decode_rows(llm, tokens, 0, n - 1, n):
                    pass
                best = min(best, time.perf_counter() - t)
            out[n] = n / best
    return out


def theirs(path: Path, threads: int, lengths: list[int], reps: int = 3) -> dict[int, float]:
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    out = {}
    with torch.no_grad():
        for n in lengths:
            ids = torch.tensor([np.random.default_rng(n).integers(100, 20000, n)])
            best = float("inf")
            for _ in range(reps):
                t = time.perf_counter()
                model(ids, logits_to_keep=1)
                best = min(best, time.perf_counter() - t)
            out[n] = n / best
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", default="64,512,1024", help="tokens per sequence, comma-separated")
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]

    import llama_cpp
    import torch
    import transformers

    started, load = datetime.now(timezone.utc), os.getloadavg()
    rows = []
    for model, quant in MODELS:
        path, obtained = gguf_for(model, quant)
        a, b = ours(path, args.threads, lengths), theirs(path, args.threads, lengths)
        rows += [(model, obtained, path.name[:12], n, a[n], b[n]) for n in lengths]
        print(rows[-len(lengths):], flush=True)
    out = [f"\n## Cost of an evaluated token: llama.cpp vs transformers float32 — {started:%Y-%m-%d %H:%M} UTC\n",
           f"- machine: {machine()}; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} at the start",
           f"- llama-cpp-python {llama_cpp.__version__} (extra buffers off, flash attention off), transformers "
           f"{transformers.__version__}, torch {torch.__version__}; {args.threads} thread(s) on both sides; "
           "random token ids, empty cache, last row's logits only, best of 3",
           f"- `python benchmarks/bench_token_cost.py --threads {args.threads} --lengths {args.lengths} --append-results`",
           "", "| model | GGUF | tokens | quantbench tok/s | transformers tok/s | × |", "|---|---|---|---|---|---|"]
    out += [f"| {m} | {sha}… ({q}) | {n} | {a:.0f} | {b:.0f} | {a / b:.2f} |" for m, q, sha, n, a, b in rows]
    report(out, args.append_results)


if __name__ == "__main__":
    main()
