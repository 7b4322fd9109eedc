with source as (
    select * from {{ source('raw_speed', 'speed_summary') }}
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
        reps,
        warmup_reps,
        mean_tok_per_s,
        sd_tok_per_s,
        cv_pct,
        ci_low_tok_per_s,
        ci_high_tok_per_s,
        median_tok_per_s,
        q1_tok_per_s,
        q3_tok_per_s,
        min_tok_per_s,
        max_tok_per_s,
        n_outliers_low + n_outliers_high as n_outliers,
        native_mean_tok_per_s,
        weight_bytes_per_token,
        effective_bandwidth_gb_per_s,
        bandwidth_gb_per_s,
        bandwidth_share_pct,
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
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
