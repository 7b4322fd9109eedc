"""The real dbt project, statistics asset and Great Expectations checks on a small known warehouse.

Two models, with answers chosen so that every decision is known in advance:
- tiny-lm, a 4-rung ladder (F16 baseline). Per task, 200 items: F16 and Q8_0 both get 120 right
  (two items swap: the flip rate is 1 %), Q4_K_M gets exactly 3 pp less (114) and Q2_K 15 pp less.
  Generation key metric: Q4_K_M −4 % (acceptable), Q2_K −25 %. Speed, measured memory and cost
  exist for tiny-lm only; its Q4_K_M measures 2.5 GB although its estimate is 0.67 GB.
- twin-lm: Q8_0 baseline, and Q3_K_S and Q2_K byte-identical (llama.cpp's fallback types), both
  exactly 5 pp below; no generation data, so its tiers are one-sided.
- split-lm: a [BF16, Q8_0] ladder (the baseline is BF16, not Q8_0) whose two rungs were scored on
  disjoint subsets (BF16 on "seed_study" items 0-99, Q8_0 on "demo" items 100-199): not comparable.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from quantbench_assets.defs.resources import WarehouseResource

from quantbench_assets.defs.analysis.assets import variant_statistics
from quantbench_assets.defs.analysis.quality_checks import MART_CHECKS
from quantbench_assets.lib.core import paths
from quantbench_assets.lib.core import warehouse
from quantbench_assets.lib.gguf.ladder import baseline_quant
from quantbench_assets.lib.analysis.tiers import TR125_THRESHOLDS, TierThresholds

TASKS = ("mmlu", "arc_challenge")
ITEMS = 200

# variant: (model, quant, parameters, bits per weight, sha, correct item ids per task)
LADDER = {
    "tiny-lm__F16": ("tiny-lm", "F16", 1e9, 16.0, "a1", set(range(120))),
    "tiny-lm__Q8_0": ("tiny-lm", "Q8_0", 1e9, 8.5, "a2", set(range(1, 120)) | {150}),
    "tiny-lm__Q4_K_M": ("tiny-lm", "Q4_K_M", 1e9, 4.85, "a3", set(range(114))),
    "tiny-lm__Q2_K": ("tiny-lm", "Q2_K", 1e9, 2.6, "a4", set(range(90))),
    "twin-lm__Q8_0": ("twin-lm", "Q8_0", 3e9, 8.5, "b1", set(range(100))),
    "twin-lm__Q3_K_S": ("twin-lm", "Q3_K_S", 3e9, 3.5, "b2", set(range(90))),
    "twin-lm__Q2_K": ("twin-lm", "Q2_K", 3e9, 3.5, "b2", set(range(90))),
}
# variant: (quant, bits per weight, sha, subset name, scored item ids, correct item ids)
SPLIT = {
    "split-lm__BF16": ("BF16", 16.0, "c1", "seed_study", range(0, 100), set(range(0, 60))),
    "split-lm__Q8_0": ("Q8_0", 8.5, "c2", "demo", range(100, 200), set(range(100, 130))),
}
GENERATION_KEY_METRIC = {"tiny-lm__F16": 0.8, "tiny-lm__Q8_0": 0.8, "tiny-lm__Q4_K_M": 0.768, "tiny-lm__Q2_K": 0.6}
DECODE_TOK_PER_S = {"tiny-lm__F16": 20.0, "tiny-lm__Q8_0": 35.0, "tiny-lm__Q4_K_M": 50.0, "tiny-lm__Q2_K": 60.0}
PEAK_RSS_BYTES = {"tiny-lm__F16": 2_300_000_000, "tiny-lm__Q8_0": 1_200_000_000, "tiny-lm__Q4_K_M": 2_500_000_000}
USD_PER_HOUR = 0.035  # the hardware_prices seed's reference row (the seed study's rate)
KLD_MEAN = {"tiny-lm__Q8_0": 0.001, "tiny-lm__Q4_K_M": 0.02, "tiny-lm__Q2_K": 0.3}

# The marts of this issue and everything upstream of them. Other models read tables (the engine and
# study tables) with a plain source(), so they cannot build on a foundation-only warehouse.
MARTS = ("fct_decision_matrix", "fct_pareto_frontier", "fct_diminishing_returns", "rpt_quantization_leaderboard",
         "fct_variant_comparisons")


def foundation_tables() -> dict[str, pl.DataFrame]:
    """raw.catalog_models, gguf_inventory, standard_benchmark_samples and standard_benchmark_scores
    (TR125's generate_rescore rows), shaped as the catalog, artifacts, benchmark and scoring assets
    write them."""
    catalog = pl.DataFrame([
        {"model": m, "family": "test", "parameters": p, "source_kind": "local", "source_sha256": None,
         "base_quant": base, "ladder": ",".join(ladder), "baseline_quant": baseline_quant(ladder),
         "baseline_variant": f"{m}__{baseline_quant(ladder)}", "demo": True, "engine": "llama_cpp",
         "license": "apache-2.0", "catalog_path": "test", "loaded_at": "2026-11-22T00:00:00+00:00", "_all": 1}
        for m, p, base, ladder in (("tiny-lm", "1B", "F16", ["F16", "Q8_0", "Q4_K_M", "Q2_K"]),
                                   ("twin-lm", "3B", "Q8_0", ["Q8_0", "Q3_K_S", "Q2_K"]),
                                   ("split-lm", "1B", "BF16", ["Q8_0", "BF16"]))
    ])
    inventory = pl.DataFrame([
        {"variant": v, "model": m, "quant_requested": q, "quant_obtained": "Q3_K" if sha == "b2" else q,
         "is_quant_fallback": q == "Q2_K" and sha == "b2",
         "main_tensor_type": q, "method": "requantize", "gguf_sha256": sha, "base_sha256": "base",
         "size_bytes": int(params * bpw / 8), "n_parameters": int(params), "bits_per_weight": bpw,
         "architecture": "llama", "context_length": 2048, "has_chat_template": True, "n_tensors": 10,
         "tensor_type_histogram": "{}", "built_at": "2026-11-22T00:00:00+00:00"}
        for v, (m, q, params, bpw, sha, _) in LADDER.items()
    ] + [
        {"variant": v, "model": "split-lm", "quant_requested": q, "quant_obtained": q, "main_tensor_type": q,
         "method": "requantize", "gguf_sha256": sha, "base_sha256": "base", "size_bytes": int(1e9 * bpw / 8),
         "n_parameters": int(1e9), "bits_per_weight": bpw, "architecture": "llama", "context_length": 2048,
         "has_chat_template": True, "n_tensors": 10, "tensor_type_histogram": "{}",
         "built_at": "2026-11-22T00:00:00+00:00"}
        for v, (q, bpw, sha, _, _, _) in SPLIT.items()
    ])
    samples, scores = [], []
    arms = [(v, m, q, sha, "test", range(ITEMS), correct) for v, (m, q, _, _, sha, correct) in LADDER.items()]
    arms += [(v, "split-lm", q, sha, subset, items, correct) for v, (q, _, sha, subset, items, correct) in SPLIT.items()]
    for v, m, q, sha, subset, items, correct in arms:
        for task in TASKS:
            for i in items:
                right = i in correct
                samples.append({
                    "variant": v, "model": m, "quant_requested": q, "quant_obtained": q, "gguf_sha256": sha,
                    "engine": "llama_cpp", "engine_build": "test", "n_threads": 1, "n_ctx": 2048, "seed": 1,
                    "n_gpu_layers": 0, "use_mmap": True, "extra_buffers": False, "run_at": "2026-11-22T00:00:00+00:00",
                    "task": task, "task_version": "1", "task_size": subset, "item_id": str(i), "item_group": "g",
                    "scorer": "generate_rescore", "n_choices": 4, "gold": "A", "sample_key": f"{v}{task}{i}",
                    "output": "A" if right else "B", "finish_reason": "stop", "prompt_tokens": 50,
                    "completion_tokens": 1, "wall_ms": 10.0, "ttft_ms": 5.0, "prompt_eval_ms": 4.0, "eval_ms": 1.0,
                    "generated_at": "2026-11-22T00:00:00+00:00",
                })
                scores.append({
                    "variant": v, "task": task, "task_version": "1", "task_size": subset, "item_id": str(i),
                    "scorer": "generate_rescore", "metric": "rescored_accuracy", "gold": "A",
                    "prediction": "A" if right else "B", "correct": right, "score": float(right),
                    "raw_correct": right, "rescored_correct": right, "chance_rate": 0.25,
                })
    return {"catalog_models": catalog, "gguf_inventory": inventory,
            "standard_benchmark_samples": pl.DataFrame(samples), "standard_benchmark_scores": pl.DataFrame(scores)}


def measurement_tables() -> dict[str, pl.DataFrame]:
    """The optional inputs, in the shapes the marts read (other assets own them)."""
    generation = pl.DataFrame([
        {"variant": v, "task": "e2e", "item_id": str(i), "metric": metric, "value": value, "null_reason": None}
        for v, value in GENERATION_KEY_METRIC.items() for i in range(10) for metric in ("bertscore_f1", "semscore", "rougeL")
    ])
    speed = pl.DataFrame([  # an older, slower tg run must be superseded by the latest one
        {"variant": v, "test": test, "test_kind": kind, "mean_tok_per_s": rate, "run_at": run_at,
         # timed on the seed study's class of machine, so its price (USD_PER_HOUR) applies
         "hardware_id": "tr125-rig", "hardware_class": "gpu-rtx-4080-laptop"}
        for v, tg in DECODE_TOK_PER_S.items()
        for test, kind, rate, run_at in (("tg128", "tg", tg, "2026-11-22T10:00:00"), ("tg128", "tg", tg / 2, "2026-11-21T10:00:00"),
                                         ("pp512", "pp", 10 * tg, "2026-11-22T10:00:00"))
    ])
    memory = pl.DataFrame([  # the mmap-off probe is smaller: the budget must hold the larger one
        {"variant": v, "use_mmap": mmap, "peak_rss_bytes": b if mmap else b // 2}
        for v, b in PEAK_RSS_BYTES.items() for mmap in (True, False)
    ])
    # the distribution_shift asset also writes the base rung against its own compressed cache (~0)
    kld = pl.DataFrame([{"variant": v, "base_variant": "tiny-lm__F16", "kld_mean": k}
                        for v, k in {"tiny-lm__F16": -5e-08, **KLD_MEAN}.items()])
    # bits_per_byte: stg_perplexity, which the marts read, requires it as the perplexity asset writes it
    ppl = pl.DataFrame([{"variant": v, "ppl": 8.0 + 10 * k, "bits_per_byte": 1.0} for v, k in KLD_MEAN.items()])
    return {"generation_scores": generation, "speed_summary": speed, "memory_probe": memory,
            "distribution_shift": kld, "perplexity": ppl}


def write_warehouse(db: Path, tables: dict[str, pl.DataFrame]) -> None:
    con = duckdb.connect(str(db))
    con.execute("create schema if not exists raw")
    for name, df in tables.items():
        con.register("frame", df.to_arrow())
        con.execute(f"create table raw.{name} as select * from frame")
        con.unregister("frame")
    con.close()


def cost(variant: str) -> float:
    return USD_PER_HOUR / (DECODE_TOK_PER_S[variant] * 3600) * 1e6


def dbt_build(db: Path, target: Path, *extra: str) -> subprocess.CompletedProcess:
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "QUANTBENCH_WAREHOUSE": str(db), "DO_NOT_TRACK": "1",
           "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    project = paths.dbt_project_dir()
    # A private target and log folder: the project's own target/ holds the manifest Dagster loads.
    return subprocess.run(
        ["dbt", "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(target / "target"), "--log-path", str(target / "logs"),
         "--select", *[f"+{mart}" for mart in MARTS], "--indirect-selection", "cautious", *extra],
        env=env, capture_output=True, text=True, timeout=240,
    )


def query(db: Path, sql: str) -> pl.DataFrame:
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(sql).pl()


@dataclass(frozen=True)
class Builds:
    foundation_only: Path
    foundation_only_build: subprocess.CompletedProcess
    full: Path
    full_build: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Builds:
    """dbt build on the foundation tables alone (kept as a copy), then on the same file once the
    measurements and the statistics exist. One file path for both lets dbt's second parse be partial."""
    tmp = tmp_path_factory.mktemp("marts")
    db = tmp / "warehouse.duckdb"
    write_warehouse(db, foundation_tables())
    # Unit tests mock their inputs, so the full build below runs them; here they would only repeat.
    foundation_only_build = dbt_build(db, tmp, "--exclude-resource-type", "unit_test")
    foundation_only = tmp / "foundation_only.duckdb"
    shutil.copyfile(db, foundation_only)
    write_warehouse(db, measurement_tables())
    result = variant_statistics(context=dg.build_asset_context(), duckdb=WarehouseResource(database=str(db)))
    # Per task: tiny-lm 3 vs baseline + 2 adjacent, twin-lm 2 + 1, split-lm one "not comparable" row.
    assert result.metadata["rows"] == len(TASKS) * (5 + 3 + 1)
    return Builds(foundation_only, foundation_only_build, db, dbt_build(db, tmp))


@pytest.fixture(scope="module")
def built(builds) -> Path:
    assert builds.full_build.returncode == 0, builds.full_build.stdout[-6000:]
    return builds.full


# ─── dbt build ────────────────────────────────────────────────────────────────────────────────


def test_dbt_build_passes_every_model_and_data_test_on_a_foundation_only_warehouse(builds):
    build, db = builds.foundation_only_build, builds.foundation_only
    assert build.returncode == 0, build.stdout[-6000:]
    assert "ERROR=0" in build.stdout
    leaderboard = query(db, "select * from marts.rpt_quantization_leaderboard")
    assert leaderboard.height == len(LADDER) + len(SPLIT)
    assert leaderboard["decode_tok_per_s"].null_count() == leaderboard.height  # no speed table: null, not 0
    assert query(db, "select count(*) as n from marts.fct_variant_comparisons")["n"][0] == 0
    # No paired comparison yet (variant_statistics has not run): no rung gets a tier, and each says why.
    tiers = query(db, "select * from marts.fct_quality_tiers where not is_baseline")
    assert tiers.height == len(LADDER) + len(SPLIT) - 3
    assert tiers["quality_tier"].null_count() == tiers.height
    assert all("materialize variant_statistics" in reason for reason in tiers["tier_reason"])


def test_dbt_build_on_the_full_warehouse_passes_its_tests_and_unit_tests(builds, built):
    assert "ERROR=0" in builds.full_build.stdout and " unit tests" in builds.full_build.stdout
    assert query(built, "select count(*) as n from marts.fct_variant_quality")["n"][0] == (len(LADDER) + len(SPLIT)) * 2 + 4


def test_the_tier_seed_is_tr125s_table():
    seed = paths.dbt_project_dir() / "seeds" / "quality_tier_thresholds.csv"
    reference = paths.PROJECT_ROOT / "data" / "seeds_reference" / "tr125_quality_tiers.csv"
    assert seed.read_text() == reference.read_text()
    assert TierThresholds.from_csv(seed) == TR125_THRESHOLDS


# ─── marts ────────────────────────────────────────────────────────────────────────────────────


def test_baseline_is_f16_if_present_else_q8_0_and_identical_rungs_point_at_each_other(built):
    dim = {r["variant"]: r for r in query(built, "select * from marts.dim_model_variants").to_dicts()}
    assert sorted(v for v, r in dim.items() if r["is_baseline"]) == ["split-lm__BF16", "tiny-lm__F16", "twin-lm__Q8_0"]
    assert {r["baseline_variant"] for r in dim.values() if r["model"] == "split-lm"} == {"split-lm__BF16"}
    assert (dim["twin-lm__Q3_K_S"]["rung_label"], dim["twin-lm__Q2_K"]["rung_label"]) == ("Q3_K_S = Q2_K (obtained Q3_K)",) * 2
    assert dim["twin-lm__Q2_K"]["is_quant_fallback"] and not dim["twin-lm__Q3_K_S"]["is_quant_fallback"]
    assert dim["twin-lm__Q2_K"]["identical_to"] == "twin-lm__Q3_K_S"
    assert dim["twin-lm__Q3_K_S"]["identical_to"] == "twin-lm__Q2_K"
    assert (dim["twin-lm__Q2_K"]["is_duplicate_rung"], dim["twin-lm__Q3_K_S"]["is_duplicate_rung"]) == (True, False)
    assert dim["tiny-lm__Q8_0"]["identical_to"] is None
    assert [dim[f"tiny-lm__{q}"]["ladder_position"] for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K")] == [1, 2, 3, 4]


def test_exactly_minus_three_pp_is_negligible_and_the_generation_side_makes_it_acceptable(built):
    tiers = {r["variant"]: r for r in query(built, "select * from marts.fct_quality_tiers").to_dicts()}
    q4 = tiers["tiny-lm__Q4_K_M"]
    assert (q4["benchmark_delta_pp"], q4["generation_delta_pct"]) == (-3.0, -4.0)
    assert (q4["benchmark_tier"], q4["generation_tier"], q4["quality_tier"]) == ("negligible", "acceptable", "acceptable")
    assert tiers["tiny-lm__Q8_0"]["quality_tier"] == "negligible"
    assert tiers["tiny-lm__Q2_K"]["quality_tier"] == "unacceptable"
    for twin in ("twin-lm__Q3_K_S", "twin-lm__Q2_K"):  # exactly −5 pp, generation never measured
        assert (tiers[twin]["benchmark_delta_pp"], tiers[twin]["quality_tier"]) == (-5.0, "acceptable")
        assert tiers[twin]["missing_side"] == "generation"
    assert tiers["tiny-lm__Q4_K_M"]["missing_side"] is None


def test_budget_fits_on_measured_memory_where_probed_and_on_the_estimate_elsewhere(built):
    fits = query(built, "select * from intermediate.int_budget_fits order by memory_budget_gb, variant")
    at_2gb = {r["variant"]: r for r in fits.filter(pl.col("memory_budget_gb") == 2).to_dicts()}
    # Q4_K_M's estimate (0.67 GB) would fit; its measured 2.5 GB does not; F16 measures 2.3 GB.
    assert "tiny-lm__Q4_K_M" not in at_2gb and "tiny-lm__F16" not in at_2gb
    assert at_2gb["tiny-lm__Q8_0"]["fits_on"] == "measured"
    assert at_2gb["twin-lm__Q3_K_S"]["fits_on"] == "estimate"
    assert at_2gb["twin-lm__Q3_K_S"]["estimated_memory_bytes"] == pytest.approx(3e9 * 3.5 / 8 * 1.1)
    assert "twin-lm__Q8_0" in set(fits.filter(pl.col("memory_budget_gb") == 4)["variant"])  # estimate 3.5 GB fits in 4 GiB


def test_decision_matrix_decides_per_budget_and_use_case_in_verdict_words(built):
    matrix = query(built, "select * from marts.fct_decision_matrix")
    rows = {(r["use_case"], r["budget_label"]): r for r in matrix.to_dicts()}
    # Budgets with the same answer are one row; each use case covers 2-24 GB without a gap.
    for use_case in ("smallest", "fastest", "most_accurate"):
        ranges = sorted((r["budget_low_gb"], r["budget_high_gb"]) for r in matrix.filter(pl.col("use_case") == use_case).to_dicts())
        assert ranges[0][0] == 2 and ranges[-1][1] == 24
    smallest = rows[("smallest", "2 GB")]
    # Q8_0 is shown equivalent to F16; Q2_K is smaller but shown worse, and the evidence says so.
    assert (smallest["recommended_variant"], smallest["verdict"]) == ("tiny-lm__Q8_0", "equivalent")
    assert "equivalent to F16 within ±3 pp on arc_challenge (n=200, Δ +0.0 pp" in smallest["evidence"]
    assert "tiny-lm Q2_K worse" in smallest["evidence"]
    # Q4_K_M (exactly −3 pp, 6 of 200 items lost, not significant after Holm) is undecided, so it is
    # never the pick of a use case that needs a rung shown equivalent.
    picked = set(matrix.filter(pl.col("use_case") != "most_accurate")["recommended_variant"])
    assert "tiny-lm__Q4_K_M" not in picked and "tiny-lm__Q2_K" not in picked
    assert set(matrix["verdict"]) <= {"baseline", "equivalent", "undecided"}
    # Most accurate is decided on the items pick and each other contender were both scored on, never on
    # pooled accuracies over different items. 4-24 GB: split-lm BF16 and tiny-lm F16 both pool 0.60, but
    # on the 200 items they share (0-99 of each task) F16 answered all and BF16 60%: F16 is named, BF16
    # runner-up. Yet tiny-lm Q8_0 answered the same 400 items exactly as well as F16 (0.600 both): before,
    # only the runner-up was compared and F16 was declared the most accurate; now no winner is named.
    most = rows[("most_accurate", "4–24 GB")]
    assert (most["recommended_variant"], most["runner_up_variant"], most["verdict"]) == \
        ("tiny-lm__F16", "split-lm__BF16", "undecided")
    assert "on the 200 items both were scored on, 1.000 (CI 0.981–1.000) vs 0.600 (CI 0.531–0.665)" in most["evidence"]
    assert "; not shown more accurate than tiny-lm Q8_0 (on 400 shared items, 0.600 vs 0.600), " in most["evidence"]
    assert most["evidence"].endswith("either: undecided")
    assert "KLD" not in most["evidence"]  # a baseline against its own cache is no finding
    # 2 GB: tiny-lm Q8_0 pools 0.60 over items 0-199 and split-lm Q8_0 0.30 over items 100-199; on those
    # 200 shared items it is 0.21 vs 0.30, intervals overlapping: no winner is named.
    most = rows[("most_accurate", "2 GB")]
    assert (most["recommended_variant"], most["runner_up_variant"], most["verdict"]) == \
        ("tiny-lm__Q8_0", "split-lm__Q8_0", "undecided")
    assert "on the 200 items both were scored on, 0.210 (CI 0.159–0.272) vs 0.300 (CI 0.241–0.367) for split-lm Q8_0: " \
           "not distinguishable, undecided" in most["evidence"]
    # The speeds in this warehouse carry no spread: the fastest pick cannot be trusted and says so.
    assert {r["verdict"] for r in matrix.filter(pl.col("use_case") == "fastest").to_dicts()} == {"undecided"}


def test_a_rung_scored_on_other_items_than_its_baseline_is_not_comparable_and_gets_no_tier(built):
    verdicts = query(built, "select * from marts.fct_variant_verdicts where variant = 'split-lm__Q8_0'")
    assert set(verdicts["verdict"]) == {"not comparable"}
    reason = verdicts["verdict_reason"][0]
    assert "seed_study (100 items)" in reason and "demo (100 items)" in reason and "0 shared items" in reason
    tier = query(built, "select * from marts.fct_quality_tiers where variant = 'split-lm__Q8_0'").to_dicts()[0]
    assert tier["quality_tier"] is None and "not comparable" in tier["tier_reason"]
    quality = query(built, "select * from marts.fct_variant_quality where variant = 'split-lm__Q8_0'")
    assert quality["accuracy_delta_pp"].null_count() == quality.height


def test_an_underpowered_comparison_reads_undecided_with_the_items_needed(built):
    q4 = query(built, "select * from marts.fct_variant_verdicts where variant = 'tiny-lm__Q4_K_M' and task = 'mmlu'").to_dicts()[0]
    assert (q4["n_shared_items"], q4["delta_pp"], q4["n_lost_items"], q4["n_gained_items"]) == (200, -3.0, 6, 0)
    assert q4["verdict"] == "undecided" and q4["items_needed"] > 200
    assert f"about {q4['items_needed']} paired items would decide" in q4["verdict_reason"]
    assert q4["right_to_wrong_rate"] == pytest.approx(0.03) and q4["wrong_to_right_rate"] == 0.0
    assert q4["kld_mean"] == 0.02  # measured against tiny-lm's baseline, F16
    verdict = {r["variant"]: r["verdict"] for r in query(built, "select * from marts.fct_variant_verdicts where task = 'mmlu'").to_dicts()}
    assert (verdict["tiny-lm__Q8_0"], verdict["tiny-lm__Q2_K"], verdict["twin-lm__Q3_K_S"]) == ("equivalent", "worse", "worse")
    # Its TR125 tier is a point estimate the statistics do not settle: the tier mart says so.
    tier = query(built, "select * from marts.fct_quality_tiers where variant = 'tiny-lm__Q4_K_M'").to_dicts()[0]
    assert (tier["quality_tier"], tier["variant_verdict"]) == ("acceptable", "undecided")
    assert tier["tier_reason"].startswith("provisional") and f"~{q4['items_needed']} paired items" in tier["tier_reason"]


def test_the_tier_marts_and_the_statistics_read_the_same_paired_rows(built):
    pairs = query(built, """
        select quality.variant, quality.task, quality.accuracy_delta_pp, quality.n_shared_items,
               comparisons.accuracy_delta_pp as stats_delta_pp, comparisons.n_items as stats_n
        from marts.fct_variant_quality as quality
        inner join marts.fct_variant_comparisons as comparisons
            on comparisons.variant = quality.variant and comparisons.task = quality.task
            and comparisons.scorer = quality.scorer and comparisons.comparison = 'vs_baseline'
        where comparisons.comparable""")
    assert pairs.height == len(TASKS) * 5
    assert (pairs["accuracy_delta_pp"] == pairs["stats_delta_pp"]).all() and (pairs["n_shared_items"] == pairs["stats_n"]).all()


def test_tr125_reproduction_runs_through_the_tier_mart(built, builds):
    """The dbt unit test feeds TR125's 29 variants to fct_quality_tiers; its fixtures must be TR125's rows."""
    import csv

    reference = list(csv.DictReader((paths.PROJECT_ROOT / "data" / "seeds_reference" / "tr125_tiers.csv").open()))
    fixtures = paths.dbt_project_dir() / "tests" / "fixtures"
    given = list(csv.DictReader((fixtures / "tr125_variant_quality.csv").open()))
    expected = {r["variant"]: r["quality_tier"] for r in csv.DictReader((fixtures / "tr125_published_tiers.csv").open())}
    assert expected == {r["variant"]: r["published_tier"] for r in reference} and len(expected) == 29
    deltas = {(r["variant"], r["task_kind"]): r["accuracy_delta_pp"] or r["generation_delta_pct"] for r in given}
    for r in reference:
        assert float(deltas[(r["variant"], "benchmark")]) == float(r["benchmark_delta_pp"])
        assert float(deltas[(r["variant"], "generation")]) == float(r["generation_delta_pct"])
    assert "PASS tr125_published_tiers_are_reproduced_for_all_29_variants" in builds.full_build.stdout.replace("fct_quality_tiers::", "")


def test_pareto_frontier_on_size_and_on_cost(built):
    frontier = query(built, "select * from marts.fct_pareto_frontier where is_on_frontier")
    on = {f: set(frontier.filter(pl.col("frontier") == f)["variant"]) for f in ("quality_vs_size", "quality_vs_cost")}
    # F16 is as accurate as Q8_0 but larger and dearer; every twin-lm rung loses to tiny-lm Q4_K_M.
    assert on["quality_vs_size"] == {"tiny-lm__Q8_0", "tiny-lm__Q4_K_M", "tiny-lm__Q2_K"}
    assert on["quality_vs_cost"] == {"tiny-lm__Q8_0", "tiny-lm__Q4_K_M", "tiny-lm__Q2_K"}


def test_diminishing_returns_steps_between_distinct_rungs_only(built):
    steps = query(built, "select * from marts.fct_diminishing_returns order by model, higher_variant")
    pairs = set(zip(steps["lower_variant"], steps["higher_variant"]))
    assert pairs == {("tiny-lm__Q8_0", "tiny-lm__F16"), ("tiny-lm__Q4_K_M", "tiny-lm__Q8_0"),
                     ("tiny-lm__Q2_K", "tiny-lm__Q4_K_M"), ("twin-lm__Q3_K_S", "twin-lm__Q8_0"),
                     ("split-lm__Q8_0", "split-lm__BF16")}
    # split-lm's rungs share no items: the step has no accuracy gain rather than one from other items.
    assert steps.filter(pl.col("lower_variant") == "split-lm__Q8_0")["accuracy_gain_pp"].to_list() == [None]
    step = steps.filter(pl.col("lower_variant") == "tiny-lm__Q2_K").to_dicts()[0]
    assert (step["accuracy_gain_pp"], step["n_shared_items"]) == (pytest.approx(12.0), 400)
    assert step["speed_loss_tok_per_s"] == pytest.approx(10.0)
    assert step["generation_gain_pct"] == pytest.approx((0.768 - 0.6) / 0.6 * 100)
    assert step["cost_increase_usd_per_million"] == pytest.approx(cost("tiny-lm__Q4_K_M") - cost("tiny-lm__Q2_K"))


def test_leaderboard_reads_first_with_accuracy_interval_tier_speed_and_cost(built):
    board = {r["variant"]: r for r in query(built, "select * from marts.rpt_quantization_leaderboard").to_dicts()}
    q4 = board["tiny-lm__Q4_K_M"]
    assert q4["accuracy"] == pytest.approx(0.57)
    assert q4["accuracy_ci_low"] < 0.57 < q4["accuracy_ci_high"]
    assert (q4["quality_tier"], q4["decode_tok_per_s"], q4["size_gb"]) == ("acceptable", 50.0, 0.606)
    assert q4["cost_per_million_tokens_usd"] == pytest.approx(cost("tiny-lm__Q4_K_M"), abs=1e-6)
    assert (q4["kld_mean"], q4["perplexity"]) == (0.02, 8.2)
    assert board["tiny-lm__F16"]["quality_tier"] == "baseline"
    assert board["twin-lm__Q2_K"]["kld_mean"] is None


# ─── statistics ───────────────────────────────────────────────────────────────────────────────


def test_variant_statistics_gives_raw_and_corrected_p_values_tost_mde_and_underpowered_flags(built):
    rows = query(built, "select * from raw.variant_comparisons")
    # Per task: tiny-lm 3 vs baseline + 2 new adjacent pairs; twin-lm 2 + 1; split-lm 1 not comparable.
    assert rows.height == len(TASKS) * (5 + 3 + 1)
    assert query(built, "select count(*) as n from marts.fct_variant_comparisons")["n"][0] == rows.height
    rows = rows.filter(pl.col("comparable"))
    assert (rows["mcnemar_p_holm"] >= rows["mcnemar_p"] - 1e-12).all()
    assert (rows["mcnemar_p_bonferroni"] >= rows["mcnemar_p_holm"] - 1e-12).all()
    by_pair = {(r["task"], r["variant_a"], r["variant_b"]): r for r in rows.to_dicts()}
    q8 = by_pair[("mmlu", "tiny-lm__F16", "tiny-lm__Q8_0")]
    assert (q8["delta_pp"], q8["flip_rate"]) == (0.0, 0.01)
    # 200 items cannot detect 3 pp unpaired, but the paired TOST shows equivalence: not underpowered.
    assert q8["mde_pp"] > 3 and q8["tost_equivalent_3pp"] and q8["tost_equivalent_5pp"]
    assert not q8["underpowered"]
    q2 = by_pair[("mmlu", "tiny-lm__F16", "tiny-lm__Q2_K")]
    assert q2["delta_pp"] == -15.0 and q2["mcnemar_p_holm"] < 0.001 and q2["tost_equivalent_5pp"] is False
    assert not q2["underpowered"]  # a difference, shown
    twins = by_pair[("mmlu", "twin-lm__Q3_K_S", "twin-lm__Q2_K")]  # same answers: no flip, no t-test
    # No item flipped in 200: the t-based TOST is undefined, the exact binomial bound (0.97^200) shows equivalence.
    assert twins["comparison"] == "adjacent" and twins["mcnemar_p"] == 1.0
    assert twins["tost_p_3pp"] == pytest.approx(0.97 ** 200) and twins["tost_equivalent_3pp"]
    assert not twins["underpowered"]


# ─── Great Expectations checks ────────────────────────────────────────────────────────────────


def run_checks(db: Path) -> dict[str, dg.AssetCheckResult]:
    resource = WarehouseResource(database=str(db))
    return {check.check_key.asset_key.path[-1]: check(duckdb=resource) for check in MART_CHECKS}


def test_great_expectations_checks_pass_on_the_built_marts(built):
    results = run_checks(built)
    assert set(results) == {"fct_variant_quality", "fct_quality_tiers", "dim_model_variants", "rpt_quantization_leaderboard"}
    failed = {mart: r.metadata["failures"] for mart, r in results.items() if not r.passed}
    assert not failed


def test_great_expectations_checks_fail_on_an_unknown_tier_a_second_baseline_and_a_missed_interval(built, tmp_path):
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(built.read_bytes())
    con = duckdb.connect(str(broken))
    con.execute("update marts.fct_quality_tiers set quality_tier = 'fine' where variant = 'tiny-lm__Q2_K'")
    con.execute("update marts.dim_model_variants set is_baseline = true where variant = 'tiny-lm__Q8_0'")
    con.execute("update marts.fct_variant_quality set rescored_accuracy_ci_high = 0.5 where variant = 'tiny-lm__F16'")
    con.execute("update marts.rpt_quantization_leaderboard set accuracy = 1.2 where variant = 'tiny-lm__F16'")
    con.close()
    results = run_checks(broken)
    assert not any(r.passed for r in results.values())
    assert results["fct_quality_tiers"].metadata["failures"].value[0]["examples"] == ["fine"]


# ─── Python oracles against the SQL the pipeline runs ────────────────────────────────────────


def test_the_tier_oracle_and_the_tier_mart_agree_on_the_same_deltas(built):
    from quantbench_assets.lib.analysis.tiers import classify_tier

    rows = query(built, "select * from marts.fct_quality_tiers where quality_tier is not null").to_dicts()
    assert len(rows) >= 6
    for r in rows:
        assert classify_tier(r["benchmark_delta_pp"], r["generation_delta_pct"]).tier == r["quality_tier"], r["variant"]


def test_the_pareto_oracle_and_the_pareto_mart_agree_on_the_same_points(built):
    from quantbench_assets.lib.analysis.tiers import pareto_frontier

    points = query(built, "select * from marts.fct_pareto_frontier")
    for frontier in ("quality_vs_size", "quality_vs_cost"):
        rows = points.filter(pl.col("frontier") == frontier).to_dicts()
        expected = pareto_frontier(rows, maximize=["quality"], minimize=["cost"], id_key="variant")
        assert expected == {r["variant"] for r in rows if r["is_on_frontier"]}, frontier
