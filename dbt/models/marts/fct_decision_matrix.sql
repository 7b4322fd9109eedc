with scored as (
    select * from {{ ref('int_variants_scored') }}
),

budgets as (
    select * from {{ ref('memory_budgets') }}
),

deployable as (
    select
        *,
        -- TR125's estimate: the weights (parameters × bits per weight / 8) plus 10% for the KV cache
        -- and runtime buffers. Shown beside the measurement, and used only where none exists.
        round(coalesce(n_parameters * bits_per_weight / 8, size_bytes) * 1.1) as estimated_memory_bytes,
    from scored
    where quality_tier in ('negligible', 'acceptable')
),

fitting as (
    select
        budgets.memory_budget_gb,
        budgets.memory_budget_bytes,
        deployable.*,
        coalesce(deployable.peak_rss_bytes, deployable.estimated_memory_bytes) as memory_required_bytes,
        case when deployable.peak_rss_bytes is not null then 'measured' else 'estimate' end as fits_on,
    from budgets
    inner join deployable
        on coalesce(deployable.peak_rss_bytes, deployable.estimated_memory_bytes) <= budgets.memory_budget_bytes
),

ranked as (
    select
        *,
        mean_rescored_accuracy / nullif(cost_per_million_tokens_usd, 0) as accuracy_per_usd,
        row_number() over (
            partition by memory_budget_gb
            order by decode_tok_per_s desc nulls last, cost_per_million_tokens_usd asc nulls last, variant
        ) as rank_in_budget,
        row_number() over (
            partition by memory_budget_gb
            order by mean_rescored_accuracy desc nulls last, size_bytes, variant
        ) as accuracy_rank,
        row_number() over (
            partition by memory_budget_gb
            order by mean_rescored_accuracy / nullif(cost_per_million_tokens_usd, 0) desc nulls last, variant
        ) as accuracy_per_usd_rank,
        row_number() over (
            partition by memory_budget_gb
            order by decode_tok_per_s desc nulls last, variant
        ) as throughput_rank,
        row_number() over (
            partition by memory_budget_gb
            order by memory_required_bytes, size_bytes, variant
        ) as size_rank,
    from fitting
),

final as (
    select
        memory_budget_gb,
        variant,
        model,
        quant_requested,
        quality_tier,
        missing_side,
        mean_rescored_accuracy,
        pooled_rescored_accuracy_ci_low,
        pooled_rescored_accuracy_ci_high,
        decode_tok_per_s,
        cost_per_million_tokens_usd,
        cost_price_id,
        accuracy_per_usd,
        size_bytes,
        peak_rss_bytes,
        estimated_memory_bytes,
        memory_required_bytes,
        fits_on,
        rank_in_budget,
        accuracy_rank = 1 and mean_rescored_accuracy is not null as is_pick_max_accuracy,
        accuracy_per_usd_rank = 1 and accuracy_per_usd is not null as is_pick_best_accuracy_per_usd,
        throughput_rank = 1 and decode_tok_per_s is not null as is_pick_fastest,
        size_rank = 1 as is_pick_smallest,
    from ranked
)

select * from final
