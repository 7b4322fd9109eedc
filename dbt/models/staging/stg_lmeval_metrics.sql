-- lm-eval's own aggregate per task, filter and metric (what `lm_eval --tasks` would print).
with source as (
    {{ optional_source('raw_lmeval', 'lmeval_metrics', with_provenance({
        'task': 'varchar', 'task_version': 'varchar', 'subset': 'varchar', 'n_fewshot': 'integer',
        'filter': 'varchar', 'metric': 'varchar', 'value': 'double', 'stderr': 'double',
        'stderr_null_reason': 'varchar', 'higher_is_better': 'boolean', 'aggregation': 'varchar',
        'n': 'bigint'})) }}
)

select
    variant,
    task,
    task_version,
    subset,
    n_fewshot,
    "filter" as filter_name,
    metric,
    value as lmeval_value,
    stderr as lmeval_stderr,
    stderr_null_reason,
    higher_is_better,
    aggregation,
    n,
from source
