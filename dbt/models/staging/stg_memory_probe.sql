-- optional_source: a warehouse where memory_probe never ran still builds (empty view), so the
-- marts that size rungs from it fall back to estimates instead of being skipped.
with source as (
    {{ optional_source('raw_speed', 'memory_probe', with_provenance({
        'hardware_id': 'varchar', 'peak_rss_bytes': 'bigint', 'peak_source': 'varchar',
        'baseline_rss_bytes': 'bigint', 'model_rss_bytes': 'bigint', 'rss_anon_bytes': 'bigint',
        'rss_file_bytes': 'bigint', 'file_size_bytes': 'bigint', 'tensor_bytes': 'bigint',
        'kv_cache_bytes': 'bigint', 'kv_cache_type': 'varchar', 'seeds_estimate_bytes': 'bigint',
        'n_parameters': 'bigint', 'bits_per_weight': 'double', 'n_layer': 'bigint', 'n_head_kv': 'bigint',
        'head_dim': 'bigint', 'n_prompt': 'bigint', 'n_gen': 'bigint',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        hardware_id,
        peak_rss_bytes,
        peak_source,
        baseline_rss_bytes,
        model_rss_bytes,
        rss_anon_bytes,
        rss_file_bytes,
        file_size_bytes,
        tensor_bytes,
        kv_cache_bytes,
        kv_cache_type,
        seeds_estimate_bytes,
        n_parameters,
        bits_per_weight,
        n_layer,
        n_head_kv,
        head_dim,
        n_prompt,
        n_gen,
    from source
)

select * from renamed
