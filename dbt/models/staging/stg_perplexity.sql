-- optional_source: a warehouse where perplexity never ran still builds (empty view), so the marts
-- that show perplexity beside accuracy keep their rows with a null.
with source as (
    {{ optional_source('raw_perplexity', 'perplexity', with_provenance({
        'corpus': 'varchar', 'corpus_sha256': 'varchar', 'method_version': 'varchar',
        'n_windows': 'bigint', 'n_windows_available': 'bigint', 'n_tokens_scored': 'bigint',
        'bytes_scored': 'bigint', 'nll_mean': 'double', 'ppl': 'double', 'ppl_se': 'double',
        'bits_per_byte': 'double', 'eval_s': 'double', 'wall_s': 'double', 'tok_per_s': 'double',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        corpus,
        corpus_sha256,
        method_version,
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
    from source
)

select * from renamed
