-- optional_source for its column handling: rows written before prompt_method existed read it as null.
with source as (
    {{ optional_source('raw', 'benchmark_samples', with_provenance({
        'task': 'varchar', 'task_version': 'varchar', 'task_size': 'varchar',
        'item_id': 'varchar', 'item_group': 'varchar', 'scorer': 'varchar', 'prompt_method': 'varchar',
        'n_fewshot': 'integer', 'output': 'varchar', 'finish_reason': 'varchar', 'prompt_tokens': 'integer',
        'completion_tokens': 'integer', 'wall_ms': 'double', 'ttft_ms': 'double', 'prompt_eval_ms': 'double',
        'eval_ms': 'double'})) }}
),

renamed as (
    select
        {{- provenance_columns() }}
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
    from source
)

select * from renamed
