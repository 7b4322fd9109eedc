-- optional_source: a warehouse where distribution_shift never ran (no base logits yet) still builds
-- (empty view), so the verdicts and decisions show KLD as null instead of being skipped.
with source as (
    {{ optional_source('raw_perplexity', 'distribution_shift', with_provenance({
        'base_variant': 'varchar', 'base_gguf_sha256': 'varchar', 'base_cache_key': 'varchar',
        'corpus': 'varchar', 'corpus_sha256': 'varchar', 'method_version': 'varchar',
        'n_windows': 'bigint', 'top_k': 'bigint', 'n_positions': 'bigint',
        'ppl': 'double', 'ppl_base': 'double', 'ppl_ratio': 'double', 'ppl_ratio_se': 'double',
        'ln_ppl_ratio': 'double', 'ln_ppl_ratio_se': 'double',
        'kld_mean': 'double', 'kld_mean_se': 'double', 'kld_median': 'double', 'kld_p99': 'double',
        'kld_max': 'double', 'same_top_pct': 'double', 'same_top_pct_se': 'double',
        'delta_p_mean_pp': 'double', 'delta_p_mean_pp_se': 'double', 'delta_p_rms_pp': 'double',
        'check_windows': 'bigint', 'kld_full_mean_check': 'double', 'kld_topk_mean_check': 'double',
        'kld_topk_gap_pct': 'double',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        base_variant,
        base_gguf_sha256,
        base_cache_key,
        corpus,
        corpus_sha256,
        method_version,
        n_windows,
        top_k,
        n_positions,
        ppl as perplexity,
        ppl_base as perplexity_base,
        ppl_ratio,
        ppl_ratio_se,
        ln_ppl_ratio,
        ln_ppl_ratio_se,
        kld_mean,
        kld_mean_se,
        kld_median,
        kld_p99,
        kld_max,
        same_top_pct,
        same_top_pct_se,
        delta_p_mean_pp,
        delta_p_mean_pp_se,
        delta_p_rms_pp,
        check_windows,
        kld_full_mean_check,
        kld_topk_mean_check,
        kld_topk_gap_pct,
    from source
)

select * from renamed
