{#
    The generation side of the comparison model: each rung's per-item key metric (TR125: the mean of
    the BERTScore, SemScore and ROUGE-L components) paired with its baseline's on the same task and
    item. An item counts only when both sides have every key-metric component, so a rung is never
    compared on fewer components than its baseline.
#}
with scores as (
    select variant, task, item_id, decoding, metric, value, from {{ ref('stg_generation_scores') }}
),

components as (
    select * from {{ ref('int_generation_task_components') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

per_component as (
    select scores.variant, scores.task, scores.item_id, components.key_metric_component, avg(scores.value) as value,
    from scores
    inner join components on components.task = scores.task and components.metric = scores.metric
    where coalesce(scores.decoding, 'free') = 'free' and scores.value is not null
    group by all
),

per_item as (
    select
        per_component.variant,
        per_component.task,
        per_component.item_id,
        count(*) = any_value(required.n_components) as is_complete,
        avg(per_component.value) as key_metric,
    from per_component
    inner join (select task, count(distinct key_metric_component) as n_components from components group by task) as required
        using (task)
    group by all
),

final as (
    select
        variants.model,
        rung.variant,
        variants.baseline_variant,
        rung.task,
        count(*) filter (where rung.is_complete) as n_rung_items,
        count(base.item_id) as n_shared_items,
        avg(rung.key_metric) filter (where base.item_id is not null) as key_metric,
        avg(base.key_metric) filter (where base.item_id is not null) as baseline_key_metric,
    from per_item as rung
    inner join variants on variants.variant = rung.variant
    left join per_item as base
        on base.variant = variants.baseline_variant
        and base.task = rung.task
        and base.item_id = rung.item_id
        and base.is_complete
        and rung.is_complete
    group by all
)

select * from final
