with source as (
    select * from {{ source('raw_speed', 'speed_samples') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        gguf_sha256,
        hardware_id,
        test,
        test_kind,
        n_tokens,
        rep,
        wall_ms,
        tok_per_s,
        native_ms,
        native_tok_per_s,
        engine,
        engine_build,
        n_threads,
        n_batch,
        n_ubatch,
        n_ctx,
        n_gpu_layers,
        use_mmap,
        extra_buffers,
        flash_attn,
        type_k,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
