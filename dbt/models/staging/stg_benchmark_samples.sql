with source as (
    select * from {{ source('raw', 'benchmark_samples') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        gguf_sha256,
        task,
        task_version,
        task_size,
        item_id,
        item_group,
        scorer,
        output,
        finish_reason,
        prompt_tokens,
        completion_tokens,
        wall_ms,
        ttft_ms,
        prompt_eval_ms,
        eval_ms,
        engine,
        engine_build,
        n_threads,
        n_ctx,
        seed,
        n_gpu_layers,
        use_mmap,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
