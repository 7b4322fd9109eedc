-- optional_source for its column handling: rows written before prompt_method / failure_reason
-- existed read them as null.
with source as (
    {{ optional_source('raw', 'benchmark_scores', {
        'variant': 'varchar', 'task': 'varchar', 'task_version': 'varchar', 'item_id': 'varchar',
        'scorer': 'varchar', 'prompt_method': 'varchar', 'gold': 'varchar', 'raw_letter': 'varchar',
        'extracted_letter': 'varchar', 'raw_correct': 'boolean', 'rescored_correct': 'boolean',
        'failure_reason': 'varchar', 'chance_rate': 'double'}) }}
),

renamed as (
    select
        variant,
        task,
        task_version,
        item_id,
        scorer,
        prompt_method,
        gold as gold_letter,
        raw_letter,
        extracted_letter,
        raw_correct,
        rescored_correct,
        failure_reason,  -- why an output scored as wrong without a letter read from it (e.g. it restated the options)
        chance_rate,
    from source
)

select * from renamed
