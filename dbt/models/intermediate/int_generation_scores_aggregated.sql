{#
    The generation key metric per variant and task (free decoding), from a fixed component list per
    task (seed generation_key_metrics: a task's own rows, else the '*' default, TR125's mean of
    BERTScore, SemScore and ROUGE-L). Every sample counts: a failed output (empty, or no JSON where
    JSON was asked for) is scored at the metric's worst value by generation_scores, so avg() skips
    nothing but nulls with a data reason (e.g. no reference). A variant missing a component of its
    task gets a null key metric and a reason, never a mean over fewer components.
#}
with scores as (
    select variant, task, item_id, decoding, metric, value, failure_reason,
    from {{ ref('stg_generation_scores') }}
),

free_scores as (
    -- the key metric is defined on free decoding (grammar-constrained rows are a separate comparison)
    select * from scores
    where coalesce(decoding, 'free') = 'free'
),

variant_tasks as (
    select
        variant,
        task,
        count(distinct item_id) as n_samples,
        count(distinct case when failure_reason is not null then item_id end) as n_failed,
    from free_scores
    group by variant, task
),

-- the fixed list each task is judged on (its own seed rows, else the '*' defaults): one definition,
-- shared with the paired comparison (int_generation_pairs)
component_metrics as (
    select * from {{ ref('int_generation_task_components') }}
),

per_component as (
    select
        variant_tasks.variant,
        variant_tasks.task,
        component_metrics.key_metric_component,
        count(free_scores.value) as n_scored,
        avg(free_scores.value) as component_mean,
    from variant_tasks
    inner join component_metrics on component_metrics.task = variant_tasks.task
    left join free_scores
        on free_scores.variant = variant_tasks.variant
        and free_scores.task = variant_tasks.task
        and free_scores.metric = component_metrics.metric
    group by all
),

aggregated as (
    select
        variant,
        task,
        string_agg(key_metric_component, ',' order by key_metric_component) as key_metric_components,
        count(*) as n_key_metric_components,
        count(component_mean) as n_key_metric_components_measured,
        min(n_scored) as n_scored_min,
        avg(component_mean) as mean_of_measured_components,
        string_agg(case when component_mean is null then key_metric_component end, ', '
            order by key_metric_component) as missing_components,
        max(case when key_metric_component = 'bertscore' then component_mean end) as bertscore_mean,
        max(case when key_metric_component = 'semscore' then component_mean end) as semscore_mean,
        max(case when key_metric_component = 'rouge_l' then component_mean end) as rouge_l_mean,
    from per_component
    group by variant, task
),

final as (
    select
        variant_tasks.variant,
        variant_tasks.task,
        variant_tasks.n_samples,
        variant_tasks.n_failed,
        aggregated.n_scored_min,
        aggregated.key_metric_components,
        aggregated.n_key_metric_components,
        aggregated.n_key_metric_components_measured,
        case when aggregated.n_key_metric_components_measured = aggregated.n_key_metric_components
            then aggregated.mean_of_measured_components end as generation_key_metric,
        case
            when aggregated.variant is null then 'no key metric defined for task ' || variant_tasks.task
            when aggregated.missing_components is not null
                then 'missing key metric component(s): ' || aggregated.missing_components
        end as key_metric_null_reason,
        aggregated.bertscore_mean,
        aggregated.semscore_mean,
        aggregated.rouge_l_mean,
    from variant_tasks
    left join aggregated using (variant, task)
)

select * from final
