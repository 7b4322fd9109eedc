-- optional_source: a study that runs no generation tasks still builds (empty view).
with source as (
    {{ optional_source('raw_measurements', 'generation_summary', {
        'variant': 'varchar', 'task': 'varchar', 'decoding': 'varchar', 'metric': 'varchar',
        'n_samples': 'bigint', 'n_values': 'bigint', 'n_failed': 'bigint', 'mean': 'double',
        'ci_low': 'double', 'ci_high': 'double', 'interval_method': 'varchar', 'interval_null_reason': 'varchar',
    }) }}
),

renamed as (
    select
        variant,
        task,
        decoding,
        metric,
        n_samples,   -- outputs
        n_values,    -- non-null values (failed outputs included, at their worst value)
        n_failed,
        mean,
        ci_low,      -- 95% t interval, computed in Python
        ci_high,
        interval_method,
        interval_null_reason,  -- why the interval is null (e.g. one value)
    from source
)

select * from renamed
