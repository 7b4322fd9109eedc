"""Every raw table's columns and types, declared once; the warehouse writers enforce them.

lib/core/warehouse.py (replace_rows, write_partition) and lib/core/snapshot.py (replace_table) cast an
incoming frame to its table's declaration and refuse an undeclared column or a value of another
kind, so a table's type never depends on which partition happened to be written first (an all-null
column used to be created as INTEGER and refuse the next partition's text). The tables are the ones
dbt reads (dbt/models/staging/_sources*.yml) and the ones written beside them. A new column is added
here first; a table that exists with fewer columns gains it on the next write (old rows read null).

Types are DuckDB's names. PROVENANCE is what lib/gguf/rungs.provenance() puts on every result row.
"""
from __future__ import annotations

from typing import Mapping

import polars as pl


class SchemaError(ValueError):
    """A frame that does not fit its table's declaration (the message names table, column, types)."""


S, I, F, B, TS = "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "TIMESTAMP WITH TIME ZONE"
F_LIST, S_LIST, I_LIST = "DOUBLE[]", "VARCHAR[]", "BIGINT[]"

PROVENANCE: dict[str, str] = {
    "variant": S, "model": S, "quant_requested": S, "quant_obtained": S, "gguf_sha256": S, "engine": S,
    "engine_build": S, "n_threads": I, "n_ctx": I, "seed": I, "n_gpu_layers": I, "use_mmap": B,
    "extra_buffers": B, "omp_wait_policy": S, "run_at": S,
}

# One in-process vs HTTP comparison (backend_equivalence): what both of its tables carry.
EQUIVALENCE_RUN = {
    "variant": S, "model": S, "quant_obtained": S, "gguf_sha256": S, "comparison": S, "engine_a": S,
    "engine_b": S, "engine_build_a": S, "engine_build_b": S, "n_threads": I, "n_ctx": I, "seed": I,
    "run_at": S, "task": S, "task_version": S,
}

# A machine's profile (lib/measure/hardware.py), on this machine (hardware) and on others (external_hardware).
MACHINE = {
    "cpu_model": S, "cpu_simd": S, "logical_cores": I, "usable_cores": I, "physical_cores": I,
    "memory_total_bytes": I, "gpu_name": S, "gpu_count": I, "gpu_memory_bytes": I, "gpu_driver": S,
    "os": S, "machine": S, "hardware_id": S,
}
BANDWIDTH = {
    "bandwidth_gb_per_s": F, "bandwidth_threads": I, "bandwidth_all_cores_gb_per_s": F,
    "bandwidth_1t_gb_per_s": F, "bandwidth_samples_gb_per_s": F_LIST, "bandwidth_array_bytes": I,
    "bandwidth_method": S,
}

RAW: dict[str, dict[str, str]] = {
    "backend_equivalence": {
        **EQUIVALENCE_RUN, "metric": S, "unit": S, "test": S, "n_pairs": I,
        "n_differing": I, "statistic": F, "p_value": F, "reason": S, "mean_a": F, "mean_b": F, "median_a": F,
        "median_b": F, "mean_diff": F, "median_diff": F, "p_holm": F, "significant_holm": B,
    },
    "backend_equivalence_items": {
        **EQUIVALENCE_RUN, "item_id": S, "gold": S, "n_choices": I, "max_tokens": I,
        "first_engine": S, "prompt_sha256": S, "prompt_identical": B, "identical_output": B,
        "identical_answer": B, "first_difference_char": I, "output_a": S, "finish_reason_a": S,
        "prompt_tokens_a": I, "completion_tokens_a": I, "output_chars_a": I, "wall_ms_a": F, "ttft_ms_a": F,
        "prompt_eval_ms_a": F, "eval_ms_a": F, "native_decode_tok_per_s_a": F, "stream_decode_tok_per_s_a": F,
        "raw_letter_a": S, "extracted_letter_a": S, "raw_correct_a": B, "rescored_correct_a": B, "output_b": S,
        "finish_reason_b": S, "prompt_tokens_b": I, "completion_tokens_b": I, "output_chars_b": I,
        "wall_ms_b": F, "ttft_ms_b": F, "prompt_eval_ms_b": F, "eval_ms_b": F, "native_decode_tok_per_s_b": F,
        "stream_decode_tok_per_s_b": F, "raw_letter_b": S, "extracted_letter_b": S, "raw_correct_b": B,
        "rescored_correct_b": B,
    },
    "catalog_models": {
        "model": S, "family": S, "parameters": I, "source_kind": S, "source_sha256": S, "base_quant": S,
        "ladder": S, "baseline_quant": S, "baseline_variant": S, "demo": B, "engine": S, "license": S,
        "catalog_path": S, "loaded_at": S, "_all": I,
    },
    "code_execution": {
        "variant": S, "task": S, "task_version": S, "item_id": S, "decoding": S, "sample_key": S,
        "sandbox_version": S, "sandbox_python": S, "sandbox_netns": B, "sandbox_uid_drop": B,
        "limit_wall_s": F, "limit_cpu_s": I, "limit_memory_bytes": I, "limit_file_bytes": I, "limit_nproc": I,
        "audit_hook": B, "code_source": S, "code_chars": I, "passed": B, "failure_kind": S, "blocked_by": S,
        "detail": S, "tests_total": I, "tests_passed": I, "wall_ms": F, "exit_code": I, "isolation": S,
        "null_reason": S,
    },
    "determinism_runs": {
        **PROVENANCE, "task": S, "item_id": S, "rep": I, "temperature": F, "max_tokens": I, "output": S,
        "output_sha256": S, "completion_tokens": I, "finish_reason": S, "prompt_tokens": I,
        "prompt_tokens_evaluated": I, "generated_at": S,
    },
    "determinism_summary": {
        "variant": S, "task": S, "item_id": S, "n_outputs": I, "likely_cause": S, "n_distinct": I,
        "n_identical_to_reference": I, "share_identical": F, "identical_within_thread_count": B,
        "identical_across_thread_counts": B, "thread_counts": S, "reps_per_thread_count": I,
        "flag_not_deterministic": B, "reason": S,
    },
    "distribution_shift": {
        **PROVENANCE, "base_variant": S, "base_gguf_sha256": S, "base_cache_key": S, "top_k": I,
        "n_windows": I, "corpus": S, "corpus_sha256": S, "method_version": S, "n_positions": I, "ppl": F,
        "ppl_base": F, "ln_ppl_ratio": F, "ln_ppl_ratio_se": F, "ppl_ratio": F, "ppl_ratio_se": F,
        "kld_mean": F, "kld_mean_se": F, "kld_median": F, "kld_p99": F, "kld_max": F, "same_top_pct": F,
        "same_top_pct_se": F, "delta_p_mean_pp": F, "delta_p_mean_pp_se": F, "delta_p_rms_pp": F,
        "check_windows": I, "kld_full_mean_check": F, "kld_topk_mean_check": F, "kld_topk_gap_pct": F,
    },
    "external_benchmark_samples": {
        **PROVENANCE, "task": S, "task_version": S, "task_size": S, "item_id": S, "item_group": S, "scorer": S,
        "n_choices": I, "gold": S, "sample_key": S, "output": S, "finish_reason": S, "prompt_tokens": I,
        "completion_tokens": I, "wall_ms": F, "ttft_ms": F, "prompt_eval_ms": F, "eval_ms": F,
        "generated_at": S, "hardware_id": S, "hardware_class": S, "measured_on": S, "measured_date": S,
        "source_file": S,
    },
    "external_benchmark_scores": {
        "variant": S, "task": S, "task_version": S, "item_id": S, "scorer": S, "gold": S, "raw_letter": S,
        "extracted_letter": S, "raw_correct": B, "rescored_correct": B, "chance_rate": F, "hardware_id": S,
        "hardware_class": S, "measured_on": S, "measured_date": S, "source_file": S,
    },
    "external_hardware": {
        **MACHINE, "host_hardware_id": S, "device_kind": S, **BANDWIDTH, "gpu_bandwidth_read_gb_per_s": F, "gpu_bandwidth_copy_median_gb_per_s": F,
        "gpu_sm_count": I, "gpu_l2_bytes": I, "host_cpu_bandwidth_gb_per_s": F, "nvsmi_name": S,
        "nvsmi_memory_total": S, "nvsmi_driver_version": S, "nvsmi_pci_bus_id": S, "nvsmi_clocks_max_sm": S,
        "nvsmi_clocks_max_memory": S, "nvsmi_power_limit": S, "nvsmi_compute_cap": S, "nvsmi_vbios_version": S,
        "nvcc_version": S, "probed_at": S, "hardware_class": S, "measured_on": S, "measured_date": S,
        "source_file": S,
    },
    "external_memory": {
        "variant": S, "model": S, "quant_requested": S, "quant_obtained": S, "gguf_sha256": S,
        "hardware_id": S, "vram_before_bytes": I, "vram_context_bytes": I, "vram_after_load_bytes": I,
        "vram_after_workload_bytes": I, "vram_peak_bytes": I, "vram_released_bytes": I,
        "vram_peak_with_context_bytes": I, "vram_process_after_load_bytes": I, "vram_poll_samples": I,
        "vram_poll_interval_ms": I, "tensor_bytes": I, "kv_cache_bytes": I, "kv_cache_type": S,
        "vram_estimate_bytes": I, "n_parameters": I, "n_layer": I, "n_head_kv": I, "head_dim": I, "n_ctx": I,
        "n_prompt": I, "n_gen": I, "n_gpu_layers": I, "engine_build": S, "method": S, "file_size_bytes": I,
        "bits_per_weight": F, "seeds_estimate_bytes": I, "run_at": S, "hardware_class": S, "measured_on": S,
        "measured_date": S, "source_file": S,
    },
    "external_perplexity": {
        **PROVENANCE, "hardware_id": S, "corpus": S, "corpus_sha256": S, "method_version": S, "nll_mean": F,
        "ppl": F, "ppl_se": F, "n_windows": I, "n_windows_available": I, "n_tokens_scored": I,
        "bytes_scored": I, "bits_per_byte": F, "eval_s": F, "wall_s": F, "tok_per_s": F, "hardware_class": S,
        "measured_on": S, "measured_date": S, "source_file": S,
    },
    "external_perplexity_windows": {
        **PROVENANCE, "hardware_id": S, "corpus": S, "corpus_sha256": S, "method_version": S,
        "window_index": I, "first_token": I, "n_tokens_scored": I, "nll_sum": F, "ppl": F, "bytes_scored": I,
        "eval_ms": F, "hardware_class": S, "measured_on": S, "measured_date": S, "source_file": S,
    },
    "external_roofline": {
        "variant": S, "model": S, "quant": S, "gguf_sha256": S, "hardware_id": S, "synthetic": B,
        "weight_bytes_per_token": I, "tg_tok_per_s": F, "tg_sd_tok_per_s": F, "tg_cv_pct": F,
        "effective_bandwidth_gb_per_s": F, "bandwidth_copy_gb_per_s": F, "bandwidth_read_gb_per_s": F,
        "share_of_copy_pct": F, "share_of_read_pct": F, "roofline_tok_per_s": F, "ms_per_token": F,
        "run_at": S, "hardware_class": S, "measured_on": S, "measured_date": S, "source_file": S,
        "n_parameters": I, "n_embd": I, "n_layer": I, "n_ff": I, "n_head": I, "n_head_kv": I, "n_vocab": I,
        "size_bytes": I, "quant_mix": S, "pp512_tok_per_s": F, "engine_build": S, "n_gpu_layers": I,
        "flash_attn": B, "tg_samples_tok_per_s": S,
    },
    "external_rungs": {
        "variant": S, "model": S, "requested": S, "obtained": S, "sha256": S, "method": S, "size_bytes": I,
        "tensor_type_histogram": S, "n_parameters": I, "bits_per_weight": F, "quantize_s": F, "hardware_id": S,
        "hardware_class": S, "measured_on": S, "measured_date": S, "source_file": S,
    },
    "external_speed_samples": {
        **PROVENANCE, "n_batch": I, "n_ubatch": I, "flash_attn": B, "type_k": S, "hardware_id": S, "test": S,
        "test_kind": S, "n_tokens": I, "rep": I, "wall_ms": F, "tok_per_s": F, "native_ms": F,
        "native_tok_per_s": F, "hardware_class": S, "measured_on": S, "measured_date": S, "source_file": S,
    },
    "external_speed_summary": {
        **PROVENANCE, "n_batch": I, "n_ubatch": I, "flash_attn": B, "type_k": S, "hardware_id": S, "test": S,
        "test_kind": S, "n_tokens": I, "reps": I, "warmup_reps": I, "mean_tok_per_s": F, "sd_tok_per_s": F,
        "cv_pct": F, "ci_low_tok_per_s": F, "ci_high_tok_per_s": F, "median_tok_per_s": F, "q1_tok_per_s": F,
        "q3_tok_per_s": F, "min_tok_per_s": F, "max_tok_per_s": F, "n_outliers_low": I, "n_outliers_high": I,
        "native_mean_tok_per_s": F, "weight_bytes_per_token": I, "effective_bandwidth_gb_per_s": F,
        "bandwidth_gb_per_s": F, "bandwidth_share_pct": F, "hardware_class": S, "measured_on": S,
        "measured_date": S, "source_file": S,
    },
    "generation_samples": {
        **PROVENANCE, "task": S, "task_version": S, "item_id": S, "decoding": S, "max_tokens": I,
        "sample_key": S, "output": S, "finish_reason": S, "prompt_tokens": I, "completion_tokens": I,
        "wall_ms": F, "ttft_ms": F, "prompt_eval_ms": F, "eval_ms": F, "generated_at": S,
    },
    "generation_scores": {
        "variant": S, "task": S, "item_id": S, "metric": S, "value": F, "null_reason": S, "task_version": S,
        "decoding": S, "failure_reason": S,
    },
    "generation_summary": {
        "variant": S, "task": S, "decoding": S, "metric": S, "n_samples": I, "n_values": I, "n_failed": I,
        "mean": F, "ci_low": F, "ci_high": F, "interval_method": S, "interval_null_reason": S,
    },
    "gguf_inventory": {
        "variant": S, "model": S, "quant_requested": S, "quant_obtained": S, "quant_labelled": S,
        "quant_mix": S, "is_quant_fallback": B, "main_tensor_type": S, "method": S, "gguf_sha256": S,
        "base_sha256": S, "size_bytes": I, "n_parameters": I, "bits_per_weight": F, "architecture": S,
        "context_length": I, "has_chat_template": B, "n_tensors": I, "tensor_type_histogram": S, "built_at": S,
        "imatrix_calibration": S, "imatrix_calibration_sha256": S, "imatrix_sha256": S,
    },
    "hardware": {
        **MACHINE, "hardware_class": S, "hardware_class_source": S, **BANDWIDTH, "probed_at": S,
        "price_usd_per_hour": F, "price_source": S, "profiled_at": S,
    },
    "lmeval_metrics": {
        **PROVENANCE, "task": S, "task_version": S, "subset": S, "n_fewshot": I, "filter": S, "metric": S,
        "value": F, "stderr": F, "stderr_null_reason": S, "higher_is_better": B, "aggregation": S, "n": I,
    },
    "lmeval_samples": {
        **PROVENANCE, "task": S, "task_version": S, "subset": S, "n_fewshot": I, "item_id": S,
        "request_idx": I, "request_type": S, "arguments": S, "response": S, "sample_key": S, "cached": B,
        "wall_ms": F, "context_tokens_dropped": I,
    },
    "lmeval_scores": {
        **PROVENANCE, "task": S, "task_version": S, "subset": S, "n_fewshot": I, "item_id": S, "filter": S,
        "metric": S, "value": F, "value_json": S, "binary": B, "target": S, "prediction": S, "doc_hash": S,
        "prompt_hash": S, "correct": B,
    },
    "memory_probe": {
        **PROVENANCE, "peak_rss_bytes": I, "baseline_rss_bytes": I, "after_load_rss_bytes": I,
        "after_workload_rss_bytes": I, "rss_anon_bytes": I, "rss_file_bytes": I, "model_rss_bytes": I,
        "ru_maxrss_bytes": I, "peak_source": S, "n_ctx_requested": I, "n_prompt": I, "n_gen": I,
        "n_parameters": I, "tensor_bytes": I, "n_layer": I, "n_head_kv": I, "head_dim": I, "kv_cache_bytes": I,
        "kv_cache_type": S, "file_size_bytes": I, "bits_per_weight": F, "seeds_estimate_bytes": I,
        "mmap_convention": S, "hardware_id": S,
    },
    "perplexity": {
        **PROVENANCE, "corpus": S, "corpus_sha256": S, "method_version": S, "nll_mean": F, "ppl": F,
        "ppl_se": F, "n_windows": I, "n_windows_available": I, "n_tokens_scored": I, "bytes_scored": I,
        "bits_per_byte": F, "eval_s": F, "wall_s": F, "tok_per_s": F,
    },
    "perplexity_windows": {
        **PROVENANCE, "corpus": S, "corpus_sha256": S, "method_version": S, "window_index": I,
        "first_token": I, "n_tokens_scored": I, "nll_sum": F, "ppl": F, "bytes_scored": I, "eval_ms": F,
    },
    "sampling_metrics": {
        "variant": S, "task": S, "item_id": S, "rep": I, "seed": I, "temperature": F, "metric": S, "value": F,
        "null_reason": S,
    },
    "sampling_samples": {
        **PROVENANCE, "task": S, "item_id": S, "rep": I, "temperature": F, "max_tokens": I, "output": S,
        "output_sha256": S, "completion_tokens": I, "finish_reason": S, "wall_ms": F, "generated_at": S,
    },
    "sampling_variance_across_rungs": {
        "model": S, "task": S, "metric": S, "n_rungs": I, "rungs": S, "n_items": I, "within_rep_variance": F,
        "between_rung_variance": F, "between_to_within_ratio": F, "levene_statistic": F, "levene_p": F,
        "levene_center": S, "null_reason": S, "scope": S,
    },
    "sampling_variance_by_rung": {
        "variant": S, "task": S, "metric": S, "n_items": I, "reps": I, "mean": F, "mean_cv": F,
        "n_items_cv_defined": I, "within_item_sd": F, "rel_precision": F, "reps_needed": I, "null_reason": S,
    },
    "speed_samples": {
        **PROVENANCE, "n_batch": I, "n_ubatch": I, "flash_attn": B, "type_k": S, "hardware_id": S,
        "hardware_class": S, "test": S, "test_kind": S, "n_tokens": I, "rep": I, "wall_ms": F, "tok_per_s": F,
        "native_ms": F, "native_tok_per_s": F,
    },
    "speed_summary": {
        **PROVENANCE, "n_batch": I, "n_ubatch": I, "flash_attn": B, "type_k": S, "hardware_id": S,
        "hardware_class": S, "test": S, "test_kind": S, "n_tokens": I, "reps": I, "warmup_reps": I,
        "mean_tok_per_s": F, "sd_tok_per_s": F, "cv_pct": F, "ci_low_tok_per_s": F, "ci_high_tok_per_s": F,
        "median_tok_per_s": F, "q1_tok_per_s": F, "q3_tok_per_s": F, "min_tok_per_s": F, "max_tok_per_s": F,
        "n_outliers_low": I, "n_outliers_high": I, "native_mean_tok_per_s": F, "load_avg_1m": F,
        "other_cpu_share": F, "under_load": B, "load_threshold": F, "attempts": I, "weight_bytes_per_token": I,
        "effective_bandwidth_gb_per_s": F, "bandwidth_gb_per_s": F, "bandwidth_share_pct": F,
    },
    "standard_benchmark_samples": {
        **PROVENANCE, "logits_all": B, "task": S, "task_version": S, "task_size": S, "task_format": S,
        "scorer": S, "prompt_method": S, "n_fewshot": I, "item_id": S, "item_group": S, "n_choices": I,
        "gold": S, "reference": S, "sample_key": S, "choice_loglikelihoods": S, "choice_n_tokens": S,
        "choice_is_greedy": S, "choice_chars": S, "choice_bytes": S, "prompt_tokens": I,
        "completion_tokens": I, "evaluated_tokens": I, "wall_ms": F, "generated_at": S, "question": S,
        "context_tokens_dropped": I, "output": S, "finish_reason": S, "ttft_ms": F, "prompt_eval_ms": F, "eval_ms": F,
    },
    "standard_benchmark_scores": {
        "variant": S, "task": S, "task_version": S, "task_size": S, "item_id": S, "scorer": S,
        "prompt_method": S, "failure_reason": S, "metric": S, "gold": S, "prediction": S, "prediction_norm": S,
        "correct": B, "score": F, "chance_rate": F, "acc": B, "acc_norm": B, "acc_bytes": B, "mc2": F,
        "raw_correct": B, "rescored_correct": B, "answer_strict": S, "answer_flexible": S,
        "exact_match_strict": B, "exact_match_flexible": B, "prompt_level_strict": B, "prompt_level_loose": B,
        "n_instructions": I, "inst_strict_followed": I, "inst_loose_followed": I,
    },
    "variant_comparisons": {
        "model": S, "chain": S, "task": S, "scorer": S, "task_version": S, "prompt_method": S, "comparison": S,
        "baseline_variant": S, "variant_a": S, "variant_b": S, "subset_a": S, "subset_b": S, "n_items_a": I,
        "n_items_b": I, "comparable": B, "not_comparable_reason": S, "n_items": I, "correct_a": I,
        "correct_b": I, "acc_a": F, "acc_b": F, "delta_pp": F, "delta_ci_low_pp": F, "delta_ci_high_pp": F,
        "wilson_low_a": F, "wilson_high_a": F, "wilson_low_b": F, "wilson_high_b": F, "welch_t": F,
        "welch_df": F, "welch_p": F, "welch_p_holm": F, "welch_p_bonferroni": F, "mcnemar_statistic": F,
        "mcnemar_p": F, "mcnemar_exact": B, "mcnemar_p_holm": F, "mcnemar_p_bonferroni": F,
        "only_a_correct": I, "only_b_correct": I, "flip_rate": F, "cohens_d": F, "tost_p_3pp": F,
        "tost_equivalent_3pp": B, "tost_p_5pp": F, "tost_equivalent_5pp": B, "mde_pp": F, "mde_paired_pp": F,
        "items_needed": I, "underpowered": B, "notes": S, "computed_at": TS,
    },
}

_POLARS: dict[str, pl.DataType] = {
    S: pl.String(), I: pl.Int64(), F: pl.Float64(), B: pl.Boolean(), TS: pl.Datetime("us", "UTC"),
    F_LIST: pl.List(pl.Float64), S_LIST: pl.List(pl.String), I_LIST: pl.List(pl.Int64),
}


def columns(schema: str, table: str) -> dict[str, str]:
    """The declared columns of `schema.table` (name -> DuckDB type)."""
    if schema != "raw" or table not in RAW:
        raise SchemaError(f"{schema}.{table} is not a declared table (lib/core/schemas.py declares raw.*: "
                          f"{', '.join(sorted(RAW))})")
    return RAW[table]


def polars_type(duck: str) -> pl.DataType:
    return _POLARS[duck]


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype in (pl.String, pl.Categorical):
        return "text"
    if isinstance(dtype, pl.Datetime):
        return "time"
    if isinstance(dtype, pl.List):
        return "list:" + _kind(dtype.inner)
    return str(dtype)


def fits(got: pl.DataType, want: str) -> bool:
    """Whether a column of polars type `got` may be stored as `want` without changing its meaning:
    an all-null column fits anything, an integer fits a float, otherwise the kinds must agree."""
    g, w = _kind(got), _kind(polars_type(want))
    if g == "null" or g == w:
        return True
    if w == "float" and g == "int":
        return True
    return g.startswith("list:") and w.startswith("list:") and fits(got.inner, {
        "float": F, "int": I, "text": S}.get(w[5:], w[5:]))


def conform(df: pl.DataFrame, schema: str, table: str, declared: Mapping[str, str] | None = None) -> pl.DataFrame:
    """`df` cast to the declared types of `schema.table` (its own columns, in its order). Raises
    SchemaError, naming table, column, declared and received type, for a column that is not
    declared or whose values are of another kind (text where a number is declared, ...)."""
    declared = declared if declared is not None else columns(schema, table)
    casts = []
    for name, got in df.schema.items():
        if name not in declared:
            raise SchemaError(f"{schema}.{table}: column {name!r} is not declared (lib/core/schemas.py); "
                              f"got {got}. Declare it there, or fix its name")
        want = declared[name]
        if not fits(got, want):
            raise SchemaError(f"{schema}.{table}.{name}: expected {want}, got {got}")
        casts.append(pl.col(name).cast(polars_type(want), strict=True))
    return df.with_columns(casts)


def complete(df: pl.DataFrame, declared: Mapping[str, str]) -> pl.DataFrame:
    """`df` (already conformed) with every declared column, in declared order; absent ones null."""
    return df.with_columns(pl.lit(None, dtype=polars_type(t)).alias(c) for c, t in declared.items()
                           if c not in df.columns).select(list(declared))


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """`rows` as a frame of raw.`table` with every declared column in declared order, typed; a key
    the rows lack reads null. Raises SchemaError as `conform` does."""
    declared = columns("raw", table)
    return complete(conform(pl.DataFrame(rows, infer_schema_length=None), "raw", table, declared), declared)
