-- optional_source: a study that runs no generation tasks still builds (empty view), and so do the
-- intermediates and marts that read it (the decision marts among them).
with source as (
    {{ optional_source('raw_measurements', 'generation_scores', {
        'variant': 'varchar', 'task': 'varchar', 'task_version': 'varchar', 'item_id': 'varchar',
        'decoding': 'varchar', 'metric': 'varchar', 'value': 'double', 'null_reason': 'varchar',
        'failure_reason': 'varchar',
    }) }}
),

renamed as (
    select
        variant,
        task,
        task_version,
        item_id,
        decoding,        -- free | grammar (JSON tasks: grammar-constrained); null on rows written before it existed
        metric,
        value,
        null_reason,     -- why value is null (e.g. no reference)
        failure_reason,  -- the output failed (empty, no JSON where JSON was asked for): value is the worst
    from source
)

select * from renamed
