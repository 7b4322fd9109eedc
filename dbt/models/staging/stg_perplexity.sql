with source as (
    select * from {{ source('raw_perplexity', 'perplexity') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        gguf_sha256,
        corpus,
        corpus_sha256,
        method_version,
        n_ctx,
        n_windows,
        n_windows_available,
        n_tokens_scored,
        bytes_scored,
        nll_mean,
        ppl as perplexity,
        ppl_se as perplexity_se,
        bits_per_byte,
        eval_s,
        wall_s,
        tok_per_s,
        engine,
        engine_build,
        n_threads,
        use_mmap,
        extra_buffers,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
