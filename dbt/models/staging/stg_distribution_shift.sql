with source as (
    select * from {{ source('raw_perplexity', 'distribution_shift') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        gguf_sha256,
        base_variant,
        base_gguf_sha256,
        base_cache_key,
        corpus,
        corpus_sha256,
        method_version,
        n_ctx,
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
        engine_build,
        n_threads,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
