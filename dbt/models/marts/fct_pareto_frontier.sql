with scored as (
    select * from {{ ref('int_variants_scored') }}
),

points as (
    select
        'quality_vs_cost' as frontier,
        variant,
        model,
        quant_requested,
        mean_rescored_accuracy as quality,
        cost_per_million_tokens_usd as cost,
    from scored
    where mean_rescored_accuracy is not null and cost_per_million_tokens_usd is not null

    union all

    select
        'quality_vs_size' as frontier,
        variant,
        model,
        quant_requested,
        mean_rescored_accuracy as quality,
        size_bytes::double as cost,
    from scored
    where mean_rescored_accuracy is not null and size_bytes is not null
),

-- q dominates p when q is at least as good on both axes and strictly better on one, so
-- identical points never dominate each other: both stay on the frontier.
dominance as (
    select
        points.frontier,
        points.variant,
        count(rival.variant) as n_dominated_by,
        arg_max(rival.variant, rival.quality) as dominated_by,
    from points
    left join points as rival
        on rival.frontier = points.frontier
        and rival.variant != points.variant
        and rival.quality >= points.quality
        and rival.cost <= points.cost
        and (rival.quality > points.quality or rival.cost < points.cost)
    group by points.frontier, points.variant
),

final as (
    select
        points.frontier,
        points.variant,
        points.model,
        points.quant_requested,
        points.quality,
        points.cost,
        dominance.n_dominated_by = 0 as is_on_frontier,
        dominance.n_dominated_by,
        dominance.dominated_by,
    from points
    inner join dominance using (frontier, variant)
)

select * from final
