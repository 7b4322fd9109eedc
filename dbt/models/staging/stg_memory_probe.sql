with source as (
    select * from {{ source('raw_speed', 'memory_probe') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        gguf_sha256,
        hardware_id,
        use_mmap,
        extra_buffers,
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
        n_ctx,
        n_prompt,
        n_gen,
        n_threads,
        engine_build,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
