{#
    Speed, memory, perplexity, KLD and cost per variant. Every input is optional: a variant that
    was never probed keeps its row with nulls, so the decision matrix can fall back to estimates.
    The raw tables are read here rather than their staging models so that these marts also build
    on a warehouse the speed and perplexity assets have not written yet.
#}
with inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

speed_runs as (
    {{ optional_source('raw_speed', 'speed_summary', {
        'variant': 'varchar', 'test_kind': 'varchar', 'mean_tok_per_s': 'double', 'run_at': 'timestamp',
        'n_gpu_layers': 'bigint',
    }) }}
),

memory_probes as (
    {{ optional_source('raw_speed', 'memory_probe', {'variant': 'varchar', 'peak_rss_bytes': 'bigint'}) }}
),

perplexity_runs as (
    {{ optional_source('raw_perplexity', 'perplexity', {'variant': 'varchar', 'ppl': 'double'}) }}
),

distribution_shifts as (
    {{ optional_source('raw_perplexity', 'distribution_shift', {'variant': 'varchar', 'kld_mean': 'double'}) }}
),

{# One price answers "what does a million tokens cost" in the decision marts; fct_cost_per_million_tokens
   has every price. The default is the seed study's own rate, which reproduces its $/1M figures. #}
reference_price as (
    select * from {{ ref('hardware_prices') }}
    where price_id = '{{ var("reference_price_id", "tr125_rtx4080_laptop") }}'
),

speed as (
    -- The latest run per test: a re-run after an engine upgrade replaces, not averages, the old one.
    select
        variant,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_tok_per_s,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'pp') as prompt_tok_per_s,
    from speed_runs
    -- CPU runs only: GPU rows (scripts/gpu/load_results.py) sit in rpt_leaderboard_by_hardware
    where coalesce(n_gpu_layers, 0) = 0
    group by variant
),

memory as (
    -- The worst probe (mmap on or off) is the one a budget has to hold.
    select variant, max(peak_rss_bytes) as peak_rss_bytes,
    from memory_probes
    group by variant
),

perplexity as (
    select variant, avg(ppl) as perplexity,
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
        speed.decode_tok_per_s,
        speed.prompt_tok_per_s,
        memory.peak_rss_bytes,
        perplexity.perplexity,
        kld.kld_mean,
        reference_price.price_id as cost_price_id,
        -- lib/cost.py: $ / 1M tokens = hourly rate / (decode tok/s × 3600) × 1e6
        reference_price.usd_per_hour / (nullif(speed.decode_tok_per_s, 0) * 3600) * 1e6
            as cost_per_million_tokens_usd,
    from inventory
    left join speed using (variant)
    left join memory using (variant)
    left join perplexity using (variant)
    left join kld using (variant)
    left join reference_price on true
)

select * from final
