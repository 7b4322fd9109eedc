-- optional_source: a warehouse where the standard benchmarks never ran still builds (empty view).
with source as (
    {{ optional_source('raw_benchmarks', 'standard_benchmark_scores', {
        'variant': 'varchar', 'task': 'varchar', 'task_version': 'varchar', 'task_size': 'varchar',
        'item_id': 'varchar', 'scorer': 'varchar', 'prompt_method': 'varchar', 'metric': 'varchar', 'gold': 'varchar',
        'prediction': 'varchar', 'prediction_norm': 'varchar', 'correct': 'boolean', 'score': 'double',
        'chance_rate': 'double', 'acc': 'boolean', 'acc_norm': 'boolean', 'acc_bytes': 'boolean',
        'mc2': 'double', 'raw_correct': 'boolean', 'rescored_correct': 'boolean', 'answer_strict': 'varchar',
        'answer_flexible': 'varchar', 'exact_match_strict': 'boolean', 'exact_match_flexible': 'boolean',
        'prompt_level_strict': 'boolean', 'prompt_level_loose': 'boolean', 'n_instructions': 'integer',
        'inst_strict_followed': 'integer', 'inst_loose_followed': 'integer', 'failure_reason': 'varchar'}) }}
),

renamed as (
    select
        variant,
        task,
        task_version,
        task_size,
        item_id,
        scorer,
        prompt_method,
        metric as primary_metric,
        gold,
        prediction,
        prediction_norm,
        correct,
        score as primary_score,
        chance_rate,
        acc,
        acc_norm,
        acc_bytes,
        mc2,
        raw_correct,
        rescored_correct,
        answer_strict,
        answer_flexible,
        exact_match_strict,
        exact_match_flexible,
        prompt_level_strict,
        prompt_level_loose,
        n_instructions,
        inst_strict_followed,
        inst_loose_followed,
        failure_reason,
    from source
)

select * from renamed
