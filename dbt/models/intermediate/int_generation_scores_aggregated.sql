{# TR125's generation key metric: the mean of the BERTScore, SemScore and ROUGE-L means. #}
with scores as (
    {{ optional_source('raw_measurements', 'generation_scores', {
        'variant': 'varchar', 'task': 'varchar', 'item_id': 'varchar', 'metric': 'varchar', 'value': 'double',
    }) }}
),

key_metrics as (
    select * from {{ ref('generation_key_metrics') }}
),

per_component as (
    select
        scores.variant,
        scores.task,
        key_metrics.key_metric_component,
        count(distinct scores.item_id) as n_samples,
        count(scores.value) as n_scored,
        avg(scores.value) as component_mean,
    from scores
    inner join key_metrics on scores.metric = key_metrics.metric
    group by all
),

final as (
    select
        variant,
        task,
        max(n_samples) as n_samples,
        min(n_scored) as n_scored_min,
        count(component_mean) as n_key_metric_components,
        avg(component_mean) as generation_key_metric,
        max(case when key_metric_component = 'bertscore' then component_mean end) as bertscore_mean,
        max(case when key_metric_component = 'semscore' then component_mean end) as semscore_mean,
        max(case when key_metric_component = 'rouge_l' then component_mean end) as rouge_l_mean,
    from per_component
    group by variant, task
)

select * from final
