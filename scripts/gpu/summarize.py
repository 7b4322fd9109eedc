"""One line per rung (and per synthetic roofline model) from GPU results files: the headline table
of data/gpu_results/<date>/summary.csv.

    .venv/bin/python scripts/gpu/summarize.py data/gpu_results/2026-11-22/*.json > data/gpu_results/2026-11-22/summary.csv
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

FIELDS = ["model", "quant", "quant_obtained", "synthetic", "gguf_sha256", "size_mb", "pp512_tok_per_s",
          "tg128_tok_per_s", "tg128_sd", "tg128_cv_pct", "weight_mb_per_token", "effective_gb_per_s",
          "share_of_copy_bw_pct", "share_of_read_bw_pct", "copy_bw_gb_per_s", "read_bw_gb_per_s",
          "vram_peak_mb", "vram_estimate_mb", "ppl", "ppl_se", "bench_items", "bench_rescored_accuracy"]


def rows_of(data: dict) -> list[dict]:
    t = data["tables"]
    out = []
    for roof in t["gpu_roofline"]:
        v = roof["variant"]
        speed = {r["test_kind"]: r for r in t["speed_summary"] if r["variant"] == v}
        rung = next((r for r in t["rungs"] if r["variant"] == v), {})
        mem = next((r for r in t["gpu_memory"] if r["variant"] == v), {})
        ppl = next((r for r in t["perplexity"] if r["variant"] == v), {})
        scores = [s for s in t["benchmark_scores"] if s["variant"] == v]
        mb = lambda x: round(x / 1e6, 1) if x is not None else None  # noqa: E731
        out.append({
            "model": roof["model"], "quant": roof["quant"], "quant_obtained": rung.get("obtained"),
            "synthetic": roof["synthetic"], "gguf_sha256": roof["gguf_sha256"],
            "size_mb": mb(rung.get("size_bytes") or roof.get("size_bytes")),
            "pp512_tok_per_s": round(speed["pp"]["mean_tok_per_s"] if speed else roof["pp512_tok_per_s"], 1),
            "tg128_tok_per_s": round(roof["tg_tok_per_s"], 2), "tg128_sd": round(roof["tg_sd_tok_per_s"], 2),
            "tg128_cv_pct": round(roof["tg_cv_pct"], 2), "weight_mb_per_token": mb(roof["weight_bytes_per_token"]),
            "effective_gb_per_s": round(roof["effective_bandwidth_gb_per_s"], 1),
            "share_of_copy_bw_pct": round(roof["share_of_copy_pct"], 2),
            "share_of_read_bw_pct": round(roof["share_of_read_pct"], 2),
            "copy_bw_gb_per_s": round(roof["bandwidth_copy_gb_per_s"], 1),
            "read_bw_gb_per_s": round(roof["bandwidth_read_gb_per_s"], 1),
            "vram_peak_mb": mb(mem.get("vram_peak_bytes")), "vram_estimate_mb": mb(mem.get("vram_estimate_bytes")),
            "ppl": round(ppl["ppl"], 4) if ppl else None, "ppl_se": round(ppl["ppl_se"], 4) if ppl else None,
            "bench_items": len(scores) or None,
            "bench_rescored_accuracy": round(sum(s["rescored_correct"] for s in scores) / len(scores), 4) if scores else None,
        })
    return out


def main(argv: list[str]) -> int:
    w = csv.DictWriter(sys.stdout, FIELDS, lineterminator="\n")
    w.writeheader()
    for f in argv:
        for r in rows_of(json.loads(Path(f).read_text())):
            w.writerow(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
