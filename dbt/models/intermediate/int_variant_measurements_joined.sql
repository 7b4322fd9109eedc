{#
    Speed, memory, perplexity, KLD and cost per variant, on this machine only (int_speed_measured's
    is_this_machine; results from other machines are never here). Every input is optional: a
    variant that was never probed keeps its row with nulls, so the decision matrix can fall back to
    estimates. Cost comes from int_speed_priced (the one implementation): this machine's configured
    price if set, else a seed price of its hardware class; with neither, null and cost_null_reason.
    speed_flag (null when trustworthy) says when a decision must not rest on the speed.
#}
with inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

speed as (
    select * from {{ ref('int_speed_measured') }}
    where is_this_machine and decode_tok_per_s is not null
    -- one machine per variant: the latest run if this machine has several ids (e.g. hardware changed)
    qualify row_number() over (partition by variant order by decode_run_at desc nulls last, hardware_id) = 1
),

priced as (
    select * from {{ ref('int_speed_priced') }}
    -- this machine's configured price first, else the seed price of its class (by price_id)
    qualify row_number() over (
        partition by variant, hardware_id
        order by price_origin = 'configuration' desc nulls last, price_id nulls last
    ) = 1
),

-- Memory, perplexity and KLD staging views are empty where their producer never ran.
memory_probes as (
    select variant, peak_rss_bytes, from {{ ref('stg_memory_probe') }}
),

perplexity_runs as (
    select variant, perplexity, from {{ ref('stg_perplexity') }}
),

distribution_shifts as (
    select variant, kld_mean, from {{ ref('stg_distribution_shift') }}
),

memory as (
    -- The worst probe (mmap on or off) is the one a budget has to hold.
    select variant, max(peak_rss_bytes) as peak_rss_bytes,
    from memory_probes
    group by variant
),

perplexity as (
    select variant, avg(perplexity) as perplexity,
    from perplexity_runs
    group by variant
),

kld as (
    select variant, avg(kld_mean) as kld_mean,
    from distribution_shifts
    group by variant
),

final as (
    select
        inventory.variant,
        speed.hardware_id as speed_hardware_id,
        speed.hardware_class as speed_hardware_class,
        speed.decode_tok_per_s,
        speed.decode_ci_low_tok_per_s,
        speed.decode_ci_high_tok_per_s,
        speed.decode_cv_pct,
        speed.prompt_tok_per_s,
        speed.under_load as speed_under_load,
        speed.other_cpu_share as speed_other_cpu_share,
        coalesce(speed.speed_overlaps_neighbour, false) as speed_overlaps_neighbour,
        speed.speed_flag,
        coalesce(speed.speed_settings_differ, false) as speed_settings_differ,
        memory.peak_rss_bytes,
        perplexity.perplexity,
        kld.kld_mean,
        priced.price_id as cost_price_id,
        priced.usd_per_hour as cost_usd_per_hour,
        priced.cost_exact as cost_per_million_tokens_usd,
        priced.cost_ci_low_exact as cost_per_million_tokens_ci_low_usd,
        priced.cost_ci_high_exact as cost_per_million_tokens_ci_high_usd,
        case when speed.variant is null then 'no decode speed measured on this machine'
             else priced.cost_null_reason end as cost_null_reason,
    from inventory
    left join speed using (variant)
    left join priced
        on priced.variant = speed.variant
        and priced.hardware_id is not distinct from speed.hardware_id
    left join memory on memory.variant = inventory.variant
    left join perplexity on perplexity.variant = inventory.variant
    left join kld on kld.variant = inventory.variant
)

select * from final
