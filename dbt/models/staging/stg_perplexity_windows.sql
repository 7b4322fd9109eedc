-- optional_source: a warehouse where perplexity never ran still builds (empty view).
with source as (
    {{ optional_source('raw_perplexity', 'perplexity_windows', with_provenance({
        'corpus': 'varchar', 'corpus_sha256': 'varchar', 'method_version': 'varchar',
        'window_index': 'bigint', 'first_token': 'bigint', 'n_tokens_scored': 'bigint', 'nll_sum': 'double',
        'ppl': 'double', 'bytes_scored': 'bigint', 'eval_ms': 'double',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        corpus,
        corpus_sha256,
        method_version,
        window_index,
        first_token,
        n_tokens_scored,
        nll_sum,
        ppl as perplexity,
        bytes_scored,
        eval_ms,
    from source
)

select * from renamed
