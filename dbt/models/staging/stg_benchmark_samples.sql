-- optional_source for its column handling: rows written before prompt_method existed read it as null.
with source as (
    {{ optional_source('raw', 'benchmark_samples', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'gguf_sha256': 'varchar', 'task': 'varchar', 'task_version': 'varchar', 'task_size': 'varchar',
        'item_id': 'varchar', 'item_group': 'varchar', 'scorer': 'varchar', 'prompt_method': 'varchar',
        'n_fewshot': 'integer', 'output': 'varchar', 'finish_reason': 'varchar', 'prompt_tokens': 'integer',
        'completion_tokens': 'integer', 'wall_ms': 'double', 'ttft_ms': 'double', 'prompt_eval_ms': 'double',
        'eval_ms': 'double', 'engine': 'varchar', 'engine_build': 'varchar', 'n_threads': 'integer',
        'n_ctx': 'integer', 'seed': 'integer', 'n_gpu_layers': 'integer', 'use_mmap': 'boolean',
        'run_at': 'varchar'}) }}
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
        prompt_method,  -- chat_zero_shot (instruct models) or completion_few_shot_k<n> (base models)
        n_fewshot,
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
