-- optional_source: a warehouse where the standard benchmarks never ran still builds (empty view).
with source as (
    {{ optional_source('raw_benchmarks', 'standard_benchmark_samples', with_provenance({
        'task': 'varchar', 'task_version': 'varchar', 'task_size': 'varchar',
        'task_format': 'varchar', 'item_id': 'varchar', 'item_group': 'varchar', 'scorer': 'varchar',
        'prompt_method': 'varchar', 'n_fewshot': 'integer',
        'n_choices': 'integer', 'gold': 'varchar', 'reference': 'varchar', 'choice_loglikelihoods': 'varchar',
        'choice_n_tokens': 'varchar', 'choice_is_greedy': 'varchar', 'choice_chars': 'varchar',
        'choice_bytes': 'varchar', 'output': 'varchar', 'finish_reason': 'varchar', 'prompt_tokens': 'integer',
        'evaluated_tokens': 'integer', 'completion_tokens': 'integer', 'wall_ms': 'double', 'ttft_ms': 'double',
        'prompt_eval_ms': 'double', 'eval_ms': 'double', 'logits_all': 'boolean', 'sample_key': 'varchar',
        'generated_at': 'varchar', 'context_tokens_dropped': 'integer'})) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        task,
        task_version,
        task_size,
        task_format,
        item_id,
        item_group,
        scorer,
        prompt_method,  -- how the prompt was built: loglikelihood, chat_zero_shot, completion_few_shot_k<n>, ...
        n_fewshot,
        n_choices,
        gold,
        reference,
        from_json(choice_loglikelihoods, '["DOUBLE"]') as choice_loglikelihoods,
        from_json(choice_n_tokens, '["INTEGER"]') as choice_n_tokens,
        from_json(choice_is_greedy, '["BOOLEAN"]') as choice_is_greedy,
        from_json(choice_chars, '["INTEGER"]') as choice_chars,
        from_json(choice_bytes, '["INTEGER"]') as choice_bytes,
        output,
        finish_reason,
        prompt_tokens,
        evaluated_tokens,
        completion_tokens,
        context_tokens_dropped,  -- prompt tokens cut from the start to fit n_ctx (null: not measured)
        wall_ms,
        ttft_ms,
        prompt_eval_ms,
        eval_ms,
        logits_all,
        sample_key,
        cast(generated_at as timestamp) as generated_at,
    from source
)

select * from renamed
