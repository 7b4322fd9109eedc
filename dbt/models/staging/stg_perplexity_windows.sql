with source as (
    select * from {{ source('raw_perplexity', 'perplexity_windows') }}
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
        window_index,
        first_token,
        n_tokens_scored,
        nll_sum,
        ppl as perplexity,
        bytes_scored,
        eval_ms,
        engine_build,
        n_threads,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
