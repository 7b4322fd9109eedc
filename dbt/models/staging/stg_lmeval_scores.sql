-- optional_source: a warehouse where no lm-eval task ran still builds (empty view).
with source as (
    {{ optional_source('raw_lmeval', 'lmeval_scores', with_provenance({
        'task': 'varchar', 'task_version': 'varchar', 'subset': 'varchar', 'n_fewshot': 'integer',
        'item_id': 'varchar', 'filter': 'varchar', 'metric': 'varchar', 'value': 'double',
        'value_json': 'varchar', 'binary': 'boolean', 'correct': 'boolean', 'target': 'varchar',
        'prediction': 'varchar', 'doc_hash': 'varchar', 'prompt_hash': 'varchar'})) }}
)

select
    {{- provenance_columns() }}
    task,
    task_version,
    subset,
    n_fewshot,
    item_id,
    "filter" as filter_name,
    metric,
    value,
    value_json,
    "binary" as is_binary,
    correct,
    target,
    prediction,
    doc_hash,
    prompt_hash,
from source
