{#
    The generation side of the comparison model: each rung's per-item key metric (TR125: the mean of
    the BERTScore, SemScore and ROUGE-L components) paired with its baseline's on the same task and
    item. An item counts only when both sides have every key-metric component, so a rung is never
    compared on fewer components than its baseline.
#}
with scores as (
    {{ optional_source('raw_measurements', 'generation_scores', {
        'variant': 'varchar', 'task': 'varchar', 'item_id': 'varchar', 'metric': 'varchar', 'value': 'double',
    }) }}
),

key_metrics as (
    select * from {{ ref('generation_key_metrics') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

n_required as (
    select count(distinct key_metric_component) as n_components from key_metrics
),

per_component as (
    select scores.variant, scores.task, scores.item_id, key_metrics.key_metric_component, avg(scores.value) as value,
    from scores
    inner join key_metrics on scores.metric = key_metrics.metric
    where scores.value is not null
    group by all
),

per_item as (
    select
        per_component.variant,
        per_component.task,
        per_component.item_id,
        count(*) = any_value(n_required.n_components) as is_complete,
        avg(per_component.value) as key_metric,
    from per_component
    cross join n_required
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
