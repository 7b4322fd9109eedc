{# The key-metric components each generation task is judged on, and the metrics that feed each:
   a task's own rows of the generation_key_metrics seed, else the '*' default rows (TR125's mean of
   BERTScore, SemScore and ROUGE-L). Tasks are those that have generation scores. #}
with scores as (
    select task, from {{ ref('stg_generation_scores') }}
),

key_metrics as (
    select * from {{ ref('generation_key_metrics') }}
),

tasks as (
    select distinct task from scores
)

select distinct
    tasks.task,
    key_metrics.key_metric_component,
    key_metrics.metric,
from tasks
inner join key_metrics
    on key_metrics.task = tasks.task
    or (key_metrics.task = '*' and not exists (select 1 from key_metrics as own where own.task = tasks.task))
