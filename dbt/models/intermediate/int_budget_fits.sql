{#
    Every variant against every memory budget it fits: on its measured peak RSS where a memory probe
    ran (fits_on = 'measured'), else on TR125's estimate, parameters × bits per weight / 8 × 1.1
    (fits_on = 'estimate'). The estimate is shown on every row.
#}
with scored as (
    select * from {{ ref('int_variants_scored') }}
),

budgets as (
    select * from {{ ref('memory_budgets') }}
),

sized as (
    select
        *,
        round(coalesce(n_parameters * bits_per_weight / 8, size_bytes) * 1.1) as estimated_memory_bytes,
    from scored
)

select
    budgets.memory_budget_gb,
    budgets.memory_budget_bytes,
    sized.*,
    coalesce(sized.peak_rss_bytes, sized.estimated_memory_bytes) as memory_required_bytes,
    case when sized.peak_rss_bytes is not null then 'measured' else 'estimate' end as fits_on,
from budgets
inner join sized
    on coalesce(sized.peak_rss_bytes, sized.estimated_memory_bytes) <= budgets.memory_budget_bytes
