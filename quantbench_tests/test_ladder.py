"""The one baseline rule (lib/gguf/ladder.py) and the precision order of quant types.

Moved here from test_tiers.py, test_perplexity.py and test_speed_memory_cost.py, where three
different baseline rules were tested; their assertions hold for the one rule, except where the
old rules disagreed with TR125's (noted at each test)."""
from __future__ import annotations

import pytest

from quantbench_assets.lib.gguf import ladder
from quantbench_assets.lib.catalog.entries import load_catalog


def test_f16_is_the_baseline_when_present():
    assert ladder.baseline_quant(["Q4_K_M", "Q8_0", "F16", "F32"]) == "F16"
    assert ladder.baseline_quant(["Q2_K", "Q8_0", "F16", "F32"]) == "F16"  # was perplexity.choose_base's test


def test_bf16_is_the_baseline_of_a_ladder_without_f16():
    # Finding 3: with [BF16, Q8_0, ...] KL divergence used BF16 while tiers and cost used Q8_0.
    assert ladder.baseline_quant(["BF16", "Q8_0", "Q4_K_M"]) == "BF16"
    assert ladder.baseline_quant(["F32", "BF16", "Q8_0"]) == "BF16"


def test_q8_0_is_the_baseline_without_a_16_bit_rung():
    assert ladder.baseline_quant(["Q4_K_M", "Q6_K", "Q8_0", "Q2_K"]) == "Q8_0"
    assert ladder.baseline_quant(["Q2_K", "Q4_K_M", "Q8_0"]) == "Q8_0"


def test_the_highest_precision_rung_is_the_baseline_without_f16_or_q8_0():
    assert ladder.baseline_quant(["Q2_K", "Q3_K_S", "Q6_K", "Q4_K_M"]) == "Q6_K"
    assert ladder.baseline_quant(["Q3_K_S", "IQ4_XS"]) == "IQ4_XS"
    # The cost module's old rule returned None here and priced no savings; TR125's rule has a baseline.
    assert ladder.baseline_quant(["Q4_K_M"]) == "Q4_K_M"


def test_baseline_quant_reads_fp16_and_lowercase_and_returns_the_name_as_given():
    assert ladder.baseline_quant(["q4_k_m", "fp16"]) == "fp16"


def test_baseline_quant_rejects_no_quants_or_only_unknown_ones():
    with pytest.raises(ValueError):
        ladder.baseline_quant([])
    with pytest.raises(ValueError):
        ladder.baseline_quant(["MYSTERY_4BIT"])


def test_precision_order_matches_tr125s_ladder():
    rungs = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_S", "Q2_K"]
    ranks = [ladder.precision_rank(q) for q in rungs]
    assert ranks == sorted(ranks) and None not in ranks


def test_the_catalog_names_each_models_baseline_once(tmp_path):
    catalog = tmp_path / "models.yaml"
    catalog.write_text(
        "models:\n"
        "  - name: m-bf16\n    family: f\n    parameters: 1000\n    base_quant: BF16\n"
        "    source: {kind: local, path: m.gguf}\n    ladder: [Q8_0, BF16, Q4_K_M]\n"
    )
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    entry = load_catalog(catalog).get("m-bf16")
    assert (entry.baseline_quant, entry.baseline_variant) == ("BF16", "m-bf16__BF16")
